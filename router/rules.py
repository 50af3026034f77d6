"""Rules: the model of one YAML rule, the index that finds candidate rules fast, and matching.

A rule mirrors a Plug&Pay rule: a trigger, optional scopes (``products``, ``checkouts``, ``upsells``,
``source_rules``, ``first_only``; all given must hold) and an optional ``when`` condition. Rules are indexed
by trigger and, when scoped, by product and checkout id, so matching an event only looks at rules that
can apply to it; the cost does not grow with unrelated rules. ``explain`` evaluates every rule of the
trigger and says why each one did or did not match (for ``simulate`` and the admin API).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from router.events import Event
from router.templates import Condition, RenderError

UPSELL_ITEM_TYPES = frozenset({"upsell", "one-click-upsell", "one_click_upsell", "downsell"})


@dataclass(frozen=True)
class Action:
    connector: str
    index: int
    fields: Any  # compiled tree: the connector's action keys, templates in place of templated strings
    for_each: Any = None  # compiled jinja expression, or None
    for_each_source: str | None = None
    where: str = ""


@dataclass(frozen=True)
class Rule:
    name: str
    triggers: tuple[str, ...]
    actions: tuple[Action, ...]
    products: frozenset[str] | None = None
    checkouts: frozenset[str] | None = None
    upsells: frozenset[str] | None = None
    source_rules: frozenset[str] | None = None
    first_only: bool = False
    when: Condition | None = None
    schedule: tuple[float, ...] | None = None
    position: int = 0
    where: str = ""

    @property
    def per_webhook(self) -> bool:
        """Rules scoped by Plug&Pay rule id run once per webhook, the others once per business event."""
        return self.source_rules is not None

    @property
    def needs_checkout(self) -> bool:
        return self.checkouts is not None


@dataclass(frozen=True)
class Outcome:
    rule: Rule
    matched: bool
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule.name, "matched": self.matched, "reason": self.reason}


def _ids(values: Iterable[Any]) -> set[str]:
    return {str(v) for v in values if v is not None}


def product_ids(kind: str, data: Mapping[str, Any]) -> set[str]:
    """Products an event is about: every order line's product, or the subscription's product."""
    if kind == "order":
        return _ids(item.get("product_id") for item in data.get("items") or () if isinstance(item, Mapping))
    if kind == "subscription":
        product = data.get("product")
        pid = product.get("id") if isinstance(product, Mapping) else data.get("product_id")
        return _ids([pid])
    return set()


def upsell_product_ids(data: Mapping[str, Any]) -> set[str]:
    return _ids(
        item.get("product_id")
        for item in data.get("items") or ()
        if isinstance(item, Mapping) and str(item.get("type") or "").lower() in UPSELL_ITEM_TYPES
    )


def checkout_id(data: Mapping[str, Any]) -> str | None:
    checkout = data.get("checkout")
    if isinstance(checkout, Mapping) and checkout.get("id") is not None:
        return str(checkout["id"])
    value = data.get("checkout_id")
    return None if value is None else str(value)


def check_scopes(rule: Rule, event: Event, data: Mapping[str, Any]) -> str:
    """Empty when every scope holds, else the reason the first one fails."""
    if rule.source_rules is not None and (event.rule_id or "") not in rule.source_rules:
        return f"source_rules: webhook came from Plug&Pay rule {event.rule_id or 'none'}"
    if rule.products is not None:
        found = product_ids(event.triggerable_type, data)
        if not found & rule.products:
            return f"products: {event.triggerable_type} has products {sorted(found) or 'none'}"
    if rule.checkouts is not None:
        found_checkout = checkout_id(data)
        if found_checkout not in rule.checkouts:
            return f"checkouts: order came through checkout {found_checkout or 'unknown'}"
    if rule.upsells is not None:
        found = upsell_product_ids(data)
        if not found & rule.upsells:
            return f"upsells: upsell lines have products {sorted(found) or 'none'}"
    if rule.first_only and data.get("is_first") is False:
        return "first_only: not the customer's first order (is_first is false)"
    return ""


def evaluate(rule: Rule, event: Event, data: Mapping[str, Any], context: Mapping[str, Any]) -> Outcome:
    reason = check_scopes(rule, event, data)
    if reason:
        return Outcome(rule, False, reason)
    if rule.when is not None:
        try:
            if not rule.when.evaluate(context):
                return Outcome(rule, False, f"when: {rule.when.source!r} is false")
        except RenderError as exc:
            return Outcome(rule, False, f"error: {exc}")
    return Outcome(rule, True)


@dataclass
class RuleSet:
    """Rules indexed by trigger, then by product and checkout for scoped rules."""

    rules: Sequence[Rule]
    _by_trigger: dict[str, list[Rule]] = field(init=False)
    _general: dict[str, list[Rule]] = field(init=False)
    _by_product: dict[str, dict[str, list[Rule]]] = field(init=False)
    _by_checkout: dict[str, dict[str, list[Rule]]] = field(init=False)

    def __post_init__(self) -> None:
        self._by_trigger = defaultdict(list)
        self._general = defaultdict(list)
        self._by_product = defaultdict(lambda: defaultdict(list))
        self._by_checkout = defaultdict(lambda: defaultdict(list))
        for rule in self.rules:
            for trigger in rule.triggers:
                self._by_trigger[trigger].append(rule)
                if rule.products is not None:
                    for pid in rule.products:
                        self._by_product[trigger][pid].append(rule)
                elif rule.checkouts is not None:
                    for cid in rule.checkouts:
                        self._by_checkout[trigger][cid].append(rule)
                else:
                    self._general[trigger].append(rule)

    def for_trigger(self, trigger: str) -> list[Rule]:
        return self._by_trigger.get(trigger, [])

    def needs_checkout(self, trigger: str) -> bool:
        return any(rule.needs_checkout for rule in self.for_trigger(trigger))

    def candidates(self, event: Event, data: Mapping[str, Any]) -> list[Rule]:
        """Rules that may match: general ones plus those indexed under the event's products/checkout."""
        trigger = event.trigger
        found: list[Rule] = list(self._general.get(trigger, ()))
        by_product = self._by_product.get(trigger)
        if by_product:
            seen: set[int] = set()
            for pid in product_ids(event.triggerable_type, data):
                for rule in by_product.get(pid, ()):
                    if id(rule) not in seen:
                        seen.add(id(rule))
                        found.append(rule)
        by_checkout = self._by_checkout.get(trigger)
        if by_checkout:
            cid = checkout_id(data)
            if cid is not None:
                found.extend(by_checkout.get(cid, ()))
        found.sort(key=lambda r: r.position)
        return found

    def match(self, event: Event, data: Mapping[str, Any], context: Mapping[str, Any]) -> list[Outcome]:
        """Outcomes of the candidate rules (matched, or failed a condition / raised)."""
        return [evaluate(rule, event, data, context) for rule in self.candidates(event, data)]

    def explain(self, event: Event, data: Mapping[str, Any], context: Mapping[str, Any]) -> list[Outcome]:
        """Outcomes of every rule, with a reason for each miss (slow path, for humans)."""
        outcomes = []
        for rule in self.rules:
            if event.trigger not in rule.triggers:
                outcomes.append(
                    Outcome(rule, False, f"trigger: listens to {', '.join(rule.triggers)}, not {event.trigger}")
                )
            else:
                outcomes.append(evaluate(rule, event, data, context))
        return outcomes
