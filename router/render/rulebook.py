"""Rules: the model of one YAML rule, the index that finds candidate rules fast, and matching.

A rule mirrors a Plug&Pay rule: a trigger, optional scopes (``products``, ``checkouts``, ``upsells``,
``source_rules``, ``first_only``; all given must hold) and an optional ``when`` condition. Rules are indexed
by trigger and then by the most selective scope they have (product, upsell product, checkout or Plug&Pay
rule id), so matching an event only looks at the universal rules of its trigger and the rules filed under
its own products, checkout and rule id: the cost does not grow with unrelated rules. ``explain`` evaluates
every rule and says why each one did or did not match (for ``simulate``, rule tests and the admin API).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from router.events import Event
from router.render.templates import Condition, RenderError

# Order line types that count as an upsell for the ``upsells`` scope (the API's ItemType enum, plus the
# underscore spelling some exports use).
UPSELL_ITEM_TYPES = frozenset({"upsell", "one-click-upsell", "one_click_upsell", "downsell"})
_FALSE = (False, 0, "0", "false", "False", "no")


@dataclass(frozen=True)
class Action:
    connector: str
    index: int
    fields: Any  # compiled tree: the connector's action keys, templates in place of templated strings
    for_each: Any = None  # compiled jinja expression, or None
    for_each_source: str | None = None
    where: str = ""  # file:line of the action
    for_each_where: str = ""  # file:line of its for_each


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
    description: str | None = None
    context: Mapping[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # ``rule`` in templates and conditions; built once, shared by every event.
        context = {"name": self.name, "description": self.description, "triggers": list(self.triggers)}
        object.__setattr__(self, "context", context)

    @property
    def per_webhook(self) -> bool:
        """Rules scoped by Plug&Pay rule id run once per webhook, the others once per business event."""
        return self.source_rules is not None

    @property
    def needs_checkout(self) -> bool:
        return self.checkouts is not None

    @property
    def scopes(self) -> dict[str, Any]:
        """The scopes this rule sets (for display)."""
        found: dict[str, Any] = {}
        for key in ("products", "checkouts", "upsells", "source_rules"):
            value = getattr(self, key)
            if value is not None:
                found[key] = sorted(value, key=_id_order)
        if self.first_only:
            found["first_only"] = True
        return found


@dataclass(frozen=True)
class Outcome:
    """Whether one rule matched one event; ``reason`` says why not, ``error`` is set when ``when`` raised."""

    rule: Rule
    matched: bool
    reason: str = ""
    error: str | None = None

    @property
    def unknown(self) -> bool:
        """The rule could not be decided (data it needs was not available): it did not run."""
        return self.reason.startswith("unknown:")

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rule": self.rule.name, "matched": self.matched, "reason": self.reason}
        if self.unknown:
            out["unknown"] = True
        if self.error is not None:
            out["error"] = self.error
        return out


def _id_order(value: str) -> tuple[int, int | str]:
    return (0, int(value)) if value.isdigit() else (1, value)


def _ids(values: Iterable[Any]) -> set[str]:
    return {str(v).strip() for v in values if v is not None and not isinstance(v, bool) and str(v).strip()}


def _lines(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    items = data.get("items")
    if not isinstance(items, list):
        return []
    return [item for item in items if isinstance(item, Mapping)]


def _line_product(item: Mapping[str, Any]) -> Any:
    pid = item.get("product_id")
    if pid is None and isinstance(item.get("product"), Mapping):
        pid = item["product"].get("id")
    return pid


def product_ids(kind: str, data: Mapping[str, Any]) -> set[str]:
    """Products an event is about: every order line's product, or the subscription's product."""
    if kind == "order":
        return _ids(_line_product(item) for item in _lines(data))
    if kind == "subscription":
        product = data.get("product")
        pid = product.get("id") if isinstance(product, Mapping) else data.get("product_id")
        return _ids([pid])
    return set()


def upsell_product_ids(data: Mapping[str, Any]) -> set[str]:
    """Products of the order lines sold as upsell, one-click upsell or downsell."""
    return _ids(
        _line_product(item) for item in _lines(data) if str(item.get("type") or "").lower() in UPSELL_ITEM_TYPES
    )


def checkout_id(data: Mapping[str, Any]) -> str | None:
    """The checkout an order came through: ``checkout.id`` of the ``checkout`` include (no source shows a
    top-level ``checkout_id`` on an order; that name is only a list filter)."""
    checkout = data.get("checkout")
    if isinstance(checkout, Mapping) and checkout.get("id") is not None:
        return str(checkout["id"])
    return None


# The outcome of a rule whose scope needs data the API did not give (a rejected or ignored include): the rule
# does not run, and says so; it is never silently a "no match".
UNKNOWN_CHECKOUT = "unknown: checkout not available"
# The rules outside an event's scope whose reason routing records (``RuleSet.outcomes``); the rest are not
# looked at, so a shop with thousands of per-product rules pays a bounded amount per event.
EXPLAINED = 50


def first_only_reason(data: Mapping[str, Any]) -> str:
    """Empty when the object may be a first purchase, else why ``first_only`` rejects it.

    Orders carry ``is_first``; when it is missing, an order whose ``source`` is ``recurring`` is a renewal.
    Subscriptions and affiliates have no such notion and pass.
    """
    value = data.get("is_first")
    if value is None:
        if data.get("source") == "recurring":
            return "first_only: a renewal (source is recurring)"
        return ""
    if value in _FALSE:
        return "first_only: not the customer's first order (is_first is false)"
    return ""


class Facts:
    """What the scopes of many rules look at in one event, each worked out at most once per event."""

    def __init__(self, event: Event, data: Mapping[str, Any], missing: frozenset[str] = frozenset()):
        self.event = event
        self.data = data
        self.missing = missing  # includes that were needed but the API did not give

    @cached_property
    def products(self) -> set[str]:
        return product_ids(self.event.triggerable_type, self.data)

    @cached_property
    def upsells(self) -> set[str]:
        return upsell_product_ids(self.data)

    @cached_property
    def checkout(self) -> str | None:
        return checkout_id(self.data)

    @cached_property
    def first_only(self) -> str:
        return first_only_reason(self.data)


def check_scopes(rule: Rule, event: Event, data: Mapping[str, Any], facts: Facts | None = None) -> str:
    """Empty when every scope holds, else the reason the first failing one gives."""
    if rule.source_rules is not None and (event.rule_id or "") not in rule.source_rules:
        return f"source_rules: webhook came from Plug&Pay rule {event.rule_id or 'none'}"
    facts = facts or Facts(event, data)
    if rule.products is not None and rule.products.isdisjoint(facts.products):
        shown = sorted(facts.products, key=_id_order) or "none"
        return f"products: {event.triggerable_type} has products {shown}"
    if rule.checkouts is not None and facts.checkout is None and "checkout" in facts.missing:
        return UNKNOWN_CHECKOUT
    if rule.checkouts is not None and facts.checkout not in rule.checkouts:
        return f"checkouts: {event.triggerable_type} came through checkout {facts.checkout or 'unknown'}"
    if rule.upsells is not None and rule.upsells.isdisjoint(facts.upsells):
        return f"upsells: upsell lines have products {sorted(facts.upsells, key=_id_order) or 'none'}"
    if rule.first_only:
        return facts.first_only
    return ""


def evaluate(
    rule: Rule, event: Event, data: Mapping[str, Any], context: Mapping[str, Any], facts: Facts | None = None
) -> Outcome:
    """One rule against one event: scopes first, then ``when``. Never raises for a bad condition."""
    reason = check_scopes(rule, event, data, facts)
    if reason:
        return Outcome(rule, False, reason)
    if rule.when is not None:
        try:
            if not rule.when.evaluate(context, rule.context):
                return Outcome(rule, False, f"when: {rule.when.source!r} is false")
        except RenderError as exc:
            message = f"rule {rule.name!r}: {exc}"
            return Outcome(rule, False, f"error: {message}", error=message)
    return Outcome(rule, True)


def _index_dimension(rule: Rule) -> tuple[str, frozenset[str]] | None:
    """The most selective scope to file a rule under; None for rules every event of the trigger must see."""
    if rule.products is not None:
        return "product", rule.products
    if rule.upsells is not None:
        return "product", rule.upsells  # an upsell's product is one of the order's products
    if rule.checkouts is not None:
        return "checkout", rule.checkouts
    if rule.source_rules is not None:
        return "source", rule.source_rules
    return None


@dataclass
class RuleSet:
    """Rules indexed by trigger, then by product, checkout or Plug&Pay rule id for scoped rules."""

    rules: Sequence[Rule]
    _by_trigger: dict[str, list[Rule]] = field(init=False, repr=False)
    _general: dict[str, list[Rule]] = field(init=False, repr=False)
    _scoped: dict[str, dict[str, dict[str, list[Rule]]]] = field(init=False, repr=False)
    _checkout_triggers: frozenset[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._by_trigger = defaultdict(list)
        self._general = defaultdict(list)
        self._scoped = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
        for rule in self.rules:
            dimension = _index_dimension(rule)
            for trigger in rule.triggers:
                self._by_trigger[trigger].append(rule)
                if dimension is None:
                    self._general[trigger].append(rule)
                else:
                    kind, keys = dimension
                    for key in keys:
                        self._scoped[trigger][kind][key].append(rule)
        self._checkout_triggers = frozenset(
            trigger for trigger, rules in self._by_trigger.items() if any(r.needs_checkout for r in rules)
        )
        # Plain dicts from here on: a lookup of a missing key must not grow the index.
        self._by_trigger = dict(self._by_trigger)
        self._general = dict(self._general)
        self._scoped = {t: {k: dict(v) for k, v in kinds.items()} for t, kinds in self._scoped.items()}

    @property
    def triggers(self) -> frozenset[str]:
        """Every trigger some rule listens to."""
        return frozenset(self._by_trigger)

    def for_trigger(self, trigger: str) -> list[Rule]:
        return self._by_trigger.get(trigger, [])

    def needs_checkout(self, trigger: str) -> bool:
        """Whether some rule of this trigger is scoped by checkout (so the order's checkout must be fetched)."""
        return trigger in self._checkout_triggers

    def candidates(self, event: Event, data: Mapping[str, Any], facts: Facts | None = None) -> list[Rule]:
        """Rules that may match, in config order: the trigger's universal rules plus those filed under the
        event's products, checkout and Plug&Pay rule id."""
        trigger = event.trigger
        general = self._general.get(trigger, [])
        scoped = self._scoped.get(trigger)
        if not scoped:
            return list(general)
        facts = facts or Facts(event, data)
        found: dict[int, Rule] = {}
        by_product = scoped.get("product")
        if by_product:
            for pid in facts.products:
                for rule in by_product.get(pid, ()):
                    found[id(rule)] = rule
        by_checkout = scoped.get("checkout")
        if by_checkout:
            if facts.checkout is None and "checkout" in facts.missing:
                # Undecidable: every checkout rule gets an outcome ("unknown"), none is silently skipped.
                for rules in by_checkout.values():
                    found.update((id(rule), rule) for rule in rules)
            for rule in by_checkout.get(facts.checkout or "", ()):
                found[id(rule)] = rule
        by_source = scoped.get("source")
        if by_source and event.rule_id is not None:
            for rule in by_source.get(event.rule_id, ()):
                found[id(rule)] = rule
        if not found:
            return list(general)
        merged = [*general, *found.values()]
        merged.sort(key=_position)
        return merged

    def match(
        self,
        event: Event,
        data: Mapping[str, Any],
        context: Mapping[str, Any],
        missing: frozenset[str] = frozenset(),
    ) -> list[Outcome]:
        """Outcomes of the candidate rules (matched, or failed a scope or condition, or raised, or unknown
        when a scope needs one of the ``missing`` includes)."""
        facts = Facts(event, data, missing)
        return [evaluate(rule, event, data, context, facts) for rule in self.candidates(event, data, facts)]

    def outcomes(
        self,
        event: Event,
        data: Mapping[str, Any],
        context: Mapping[str, Any],
        missing: frozenset[str] = frozenset(),
    ) -> list[Outcome]:
        """What routing records: ``match``'s outcomes, plus why the trigger's other rules did not match.

        The index skips the rules scoped to other products, checkouts or Plug&Pay rules without looking at
        them; their reasons (a scope check each, no condition) are added in config order, the first
        ``EXPLAINED`` of them, so that a trace shows every rule of the trigger while thousands of scoped
        rules cost a bounded amount per event. The matched rules are exactly ``match``'s.
        """
        facts = Facts(event, data, missing)
        candidates = self.candidates(event, data, facts)
        found = [evaluate(rule, event, data, context, facts) for rule in candidates]
        chosen = {id(rule) for rule in candidates}
        # Lazily, so the first EXPLAINED are all that is looked at however many rules the trigger has.
        others = (rule for rule in self.for_trigger(event.trigger) if id(rule) not in chosen)
        explained = [
            Outcome(rule, False, check_scopes(rule, event, data, facts) or "not in scope")
            for rule in itertools.islice(others, EXPLAINED)
        ]
        if not explained:
            return found
        found.extend(explained)
        found.sort(key=lambda outcome: _position(outcome.rule))
        return found

    def explain(
        self,
        event: Event,
        data: Mapping[str, Any],
        context: Mapping[str, Any],
        missing: frozenset[str] = frozenset(),
    ) -> list[Outcome]:
        """Outcomes of every rule, with a reason for each miss (the slow path, for humans).

        Matched rules are exactly those of ``match``: a rule that is not a candidate fails a scope.
        """
        outcomes = []
        facts = Facts(event, data, missing)
        for rule in self.rules:
            if event.trigger not in rule.triggers:
                listens = ", ".join(rule.triggers)
                outcomes.append(Outcome(rule, False, f"trigger: listens to {listens}, not {event.trigger}"))
            else:
                outcomes.append(evaluate(rule, event, data, context, facts))
        return outcomes


def _position(rule: Rule) -> int:
    return rule.position
