"""Which rules a backfill event runs: the route stage's one question about backfill.

A backfill event carries the names of the rules it was made for (``payload.backfill.rules``); every other
rule that would match it counts as a miss, with the reason. Events from webhooks and reconcile, and a
backfill of all rules, run every matching rule.
"""

from __future__ import annotations

from collections.abc import Mapping

from router.events import Event
from router.render.rulebook import Outcome

SOURCE = "backfill"


def named_rules(event: Event) -> frozenset[str] | None:
    """The rules a backfill event was made for; None for every other event (and a backfill of all rules)."""
    if event.source != SOURCE:
        return None
    note = event.payload.get(SOURCE)
    names = note.get("rules") if isinstance(note, Mapping) else None
    return frozenset(str(n) for n in names) if isinstance(names, list) and names else None


def only_named(event: Event, outcomes: list[Outcome]) -> list[Outcome]:
    """The outcomes with every rule a backfill event was not made for turned into a miss."""
    names = named_rules(event)
    if names is None:
        return outcomes
    return [
        o if not o.matched or o.rule.name in names else Outcome(o.rule, False, "backfill: not one of the named rules")
        for o in outcomes
    ]
