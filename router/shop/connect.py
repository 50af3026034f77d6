"""The shop's Webhook V2 rules the YAML needs: planned against the rules the shop has, created on request.

``connect`` makes sure Plug&Pay sends the router every webhook its rules listen to: one universal rule per
trigger the YAML uses (or, with ``plugandpay.shop_rules: per_product``, one rule per product for a trigger
whose rules are all scoped by product), each calling the router's public URL. A shop rule counts as
already there when it is a webhook rule of that trigger (any known spelling), calling that URL, with the
same products. The router creates rules named with ``PREFIX`` and never edits a rule; it records the id of
each rule it created in its store (``OWNED``), and ``--prune`` deletes only those of its own rules that call
its URL and the YAML no longer needs, never one marked ``readonly``. A name is no proof of ownership: a rule
someone created by hand with the same prefix is left alone.

Plug&Pay's ``trigger_type`` names for creating rules are not documented (research notes §4.2); the ones in
``WIRE_TRIGGERS`` are the best evidence found, and ``connect --wire TRIGGER=NAME`` overrides one. The rule
body sends the URL both as ``url`` (the SDK's create request) and ``hook_url`` (its responses).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from router.config import Config
from router.events import TRIGGER_OBJECT, canonical_trigger

PREFIX = "plugpay-router: "
# Our trigger → the trigger_type to create a rule with. Evidence: the SDK's rule mock uses ``order_paid``;
# ``order_invoice_created`` and ``subscription_ended`` were seen in real webhooks; the affiliate names are
# guesses (no source shows them). Webhooks in any of the spellings in ``router.events`` are understood.
WIRE_TRIGGERS: dict[str, str] = {
    "order_paid": "order_paid",
    "invoice_created": "order_invoice_created",
    "subscription_ended": "subscription_ended",
    "affiliate_accepted": "affiliate_accepted",
    "affiliate_denied": "affiliate_denied",
    "affiliate_quit": "affiliate_quit",
}


@dataclass(frozen=True)
class Wanted:
    """One shop rule the YAML needs: a trigger, for one product or (None) universal."""

    trigger: str
    product: str | None = None

    @property
    def name(self) -> str:
        return PREFIX + self.trigger + (f" product {self.product}" if self.product else "")

    def body(self, url: str, wire: Mapping[str, str]) -> dict[str, Any]:
        product = int(self.product) if self.product and self.product.isdigit() else self.product
        return {
            "name": self.name,
            "driver": "webhook",
            "trigger_type": wire.get(self.trigger, self.trigger),
            "action_type": "call_webhook",
            "action_data": {"url": url, "hook_url": url},
            "condition_data": {"product_id": [product]} if product is not None else {},
        }


@dataclass(frozen=True)
class Step:
    """One line of the plan: ``create``, ``there``, ``unneeded`` (ours, prunable), ``keep`` (calls our URL
    but is not ours or is readonly), ``leave`` (not about the router at all), ``deleted``/``created``."""

    action: str
    wanted: Wanted | None = None
    rule: Mapping[str, Any] | None = None
    note: str = ""


def wanted_rules(config: Config) -> list[Wanted]:
    per_product = config.plugandpay.shop_rules == "per_product"
    out: list[Wanted] = []
    for trigger in sorted(config.rules.triggers):
        rules = config.rules.for_trigger(trigger)
        scoped = per_product and TRIGGER_OBJECT.get(trigger) in ("order", "subscription")
        if scoped and all(rule.products is not None for rule in rules):
            products = sorted({p for rule in rules for p in rule.products or ()}, key=lambda p: (len(p), p))
            out.extend(Wanted(trigger, product) for product in products)
        else:
            out.append(Wanted(trigger))
    return out


def rule_url(rule: Mapping[str, Any]) -> str | None:
    data = rule.get("action_data")
    if not isinstance(data, Mapping):
        return None
    url = data.get("hook_url") or data.get("url")
    return str(url) if url else None


def _same_url(a: str | None, b: str) -> bool:
    return a is not None and a.rstrip("/") == b.rstrip("/")


def _products(rule: Mapping[str, Any]) -> frozenset[str]:
    conditions = rule.get("condition_data")
    found = conditions.get("product_id") if isinstance(conditions, Mapping) else None
    if found is None:
        return frozenset()
    return frozenset(str(p) for p in (found if isinstance(found, list) else [found]))


def covers(rule: Mapping[str, Any], wanted: Wanted, url: str) -> bool:
    return (
        rule.get("driver") == "webhook"
        and canonical_trigger(str(rule.get("trigger_type") or "")) == wanted.trigger
        and _same_url(rule_url(rule), url)
        and _products(rule) == (frozenset({wanted.product}) if wanted.product else frozenset())
    )


# The store records, under this name, when the router created the shop rule with that id.
OWNED = "shop_rule:{id}"


def owned_name(rule_id: Any) -> str:
    return OWNED.format(id=rule_id)


def plan(
    shop: Sequence[Mapping[str, Any]], wanted: Sequence[Wanted], url: str, owned: frozenset[str] = frozenset()
) -> list[Step]:
    """What ``connect`` does with each shop rule; ``owned`` are the ids of the rules this router created."""
    steps: list[Step] = []
    used: set[int] = set()
    for want in wanted:
        match = next((r for r in shop if id(r) not in used and covers(r, want, url)), None)
        if match is None:
            steps.append(Step("create", want))
        else:
            used.add(id(match))
            steps.append(Step("there", want, match))
    for rule in shop:
        if id(rule) in used:
            continue
        if not _same_url(rule_url(rule), url):
            steps.append(Step("leave", rule=rule, note="does not call the router"))
        elif str(rule.get("id")) not in owned:
            steps.append(Step("keep", rule=rule, note=_not_ours(rule)))
        elif rule.get("readonly"):
            steps.append(Step("keep", rule=rule, note="not needed by the YAML, but readonly: left alone"))
        else:
            steps.append(Step("unneeded", rule=rule, note="not needed by the YAML (--prune deletes it)"))
    return steps


def _not_ours(rule: Mapping[str, Any]) -> str:
    if str(rule.get("name") or "").startswith(PREFIX):
        return "named like ours, but this router's store has no record of creating it: left alone"
    return "calls the router but was not created by it: left alone"
