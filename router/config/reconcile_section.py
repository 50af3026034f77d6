"""The ``reconcile:`` section checked and typed: on when the section is there, triggers that can be derived.

A trigger listed under ``reconcile.triggers`` must be one whose state the API's lists show (see
``router.derive``); ``affiliate_quit`` is refused with the reason. When reconcile is on and the file does not
list its triggers, a rule on a trigger that cannot be derived gets a warning, so ``check`` says which
webhooks reconcile cannot stand in for.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from router.config.model import ReconcileConfig
from router.config.source import Problems, YMap, line_of
from router.derive import DERIVATIONS, NOT_DERIVABLE
from router.render.rulebook import Rule
from router.text import suggest


def reconcile_config(problems: Problems, root: YMap, values: dict[str, Any], rules: Sequence[Rule]) -> ReconcileConfig:
    present = isinstance(root.get("reconcile"), YMap)
    node = root.get("reconcile") if present else None
    used = {t for rule in rules for t in rule.triggers}
    given = values.pop("triggers", None)
    if given is not None:
        values["triggers"] = tuple(_triggers(problems, node, given))
    else:
        values["triggers"] = tuple(t for t in DERIVATIONS if t in used)
    config = ReconcileConfig(**{"enabled": present, **values})
    if node is not None and "lookback" in node and config.lookback <= 0:
        problems.add(line_of(node, "lookback"), "reconcile.lookback", "must be longer than 0s")
    if config.active and given is None:  # the file left the choice to the router: say what it cannot do
        for trigger in sorted(used & set(NOT_DERIVABLE)):
            problems.warn(
                line_of(root, "reconcile"),
                "reconcile",
                f"{trigger} cannot be reconciled ({NOT_DERIVABLE[trigger]}): a missed webhook of it stays missed",
            )
    return config


def _triggers(problems: Problems, node: Any, given: list[Any]) -> list[str]:
    out = []
    for index, item in enumerate(given):
        name = str(item).strip()
        line = line_of(node.get("triggers") if node is not None else None, index)
        where = f"reconcile.triggers[{index}]"
        if name in NOT_DERIVABLE:
            problems.add(line, where, f"{name} cannot be reconciled: {NOT_DERIVABLE[name]}")
        elif name not in DERIVATIONS:
            problems.add(
                line, where, f"unknown trigger {name!r}{suggest(name, DERIVATIONS)} (known: {', '.join(DERIVATIONS)})"
            )
        else:
            out.append(name)
    return out
