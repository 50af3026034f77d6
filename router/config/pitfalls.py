"""Mistakes a YAML config lets through that would only show when a webhook arrives, caught when it loads.

Each check returns what to tell the user, including what to write instead: a product given by its name
instead of its id, a number or list where an action needs text (YAML's ``subject: 2025`` is a number), a
scope that can never hold for the rule's trigger (a subscription has no checkout, so ``checkouts:`` on
``subscription_ended`` never matches). The YAML-level pitfalls (tabs, an unquoted ``{{ ... }}``) are in
``router.config.source``, where the text is parsed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from router.config.model import Config
from router.events import TRIGGER_OBJECT

ID_NAMES = {
    "products": "product ids are numbers",
    "upsells": "product ids are numbers",
    "checkouts": "checkout ids are numbers",
    "source_rules": "Plug&Pay rule ids are numbers",
}
ID_HELP = {
    "products": "`plugpay-router simulate -c CONFIG order_paid ORDER_ID` prints the product ids of an order's lines;"
    " in Plug&Pay the id is the number in the product's address (…/products/77/edit)",
    "upsells": "`plugpay-router simulate -c CONFIG order_paid ORDER_ID` prints the product ids of an order's lines",
    "checkouts": "in Plug&Pay the id is the number in the checkout's address (…/checkouts/12/edit)",
    "source_rules": "the webhook's rule_id: `plugpay-router events` shows it, as does Plug&Pay's rule page",
}
# The scopes each kind of object can satisfy: an order has lines (products, upsells) and a checkout, a
# subscription has one product, an affiliate seller none of these.
SCOPES_OF = {"order": ("products", "upsells", "checkouts"), "subscription": ("products",), "affiliate": ()}


def check_ids(key: str, ids: Iterable[str]) -> None:
    """ValueError when a scope lists something that is not a number, such as a product's name."""
    names = sorted(i for i in ids if not i.isdigit())
    if names:
        shown = ", ".join(repr(n) for n in names)
        raise ValueError(f"{ID_NAMES.get(key, 'ids are numbers')}, got {shown}: {ID_HELP.get(key, '')}".rstrip(": "))


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return f"a {type(value).__name__}"


def check_text(text_keys: Collection[str], fields: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``[(key, message)]`` for each action key that must be text but YAML read as something else."""
    problems = []
    for key in sorted(text_keys):
        value = fields.get(key)
        if value is None or isinstance(value, str):
            continue
        written = str(value).lower() if isinstance(value, bool) else str(value)
        fix = f' write: {key}: "{written}"' if not isinstance(value, list | Mapping) else ""
        problems.append((key, f"expected text, got {_kind_of(value)}; put it in quotes:{fix}".rstrip(":")))
    return problems


def scope_warnings(triggers: Iterable[str], scopes: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``[(scope key, message)]`` for scopes that can never hold for any of the rule's triggers."""
    objects = {TRIGGER_OBJECT.get(t) for t in triggers}
    if None in objects:
        return []  # a trigger we do not know: its object may have anything
    warnings = []
    for key in ("products", "upsells", "checkouts"):
        if key in scopes and not any(key in SCOPES_OF[str(o)] for o in objects):
            kinds = " or ".join(f"an {o}" if o[0] in "aeiou" else f"a {o}" for o in sorted(str(o) for o in objects))
            warnings.append(
                (key, f"this rule can never match: {kinds} has no {key} (orders do); remove {key} or use order_paid")
            )
    return warnings


def unused_connectors(config: Config) -> list[str]:
    """A warning for each connector no rule sends to (often a rule's connector name is misspelt elsewhere)."""
    used = {action.connector for rule in config.rules.rules for action in rule.actions}
    return [
        f"{config.file}: connectors.{name}: no rule sends to this connector (remove it, or add a rule)"
        for name in config.connectors
        if name not in used
    ]
