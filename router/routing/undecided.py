"""Rules that could not be decided because the API did not give data their scope needs.

The order's checkout comes only with ``include=checkout``, an include no official source lists: a real API
may refuse it (a 4xx naming it; the route stage then fetches without it) or silently leave it out. Either
way a ``checkouts:`` rule cannot be decided, and guessing "no match" would lose actions without a word. Such
a rule gets the outcome ``unknown: checkout not available``: it does not run, the event's outcomes say why
(``simulate`` shows it, ``/metrics`` counts it), one warning per hour says what to do, and the operator
re-routes the event once the include works.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

import structlog

from router.render.rulebook import Outcome

log = structlog.get_logger("router.route")

# The key each optional include adds to the object.
INCLUDE_KEYS = {"checkout": "checkout"}
LOG_EVERY = 3600.0
_last_logged: dict[str, float] = {}


def missing_includes(requested: Iterable[str], refused: Iterable[str], data: Mapping[str, Any]) -> frozenset[str]:
    """The optional includes that were asked for but are not in the answer (refused, or silently left out)."""
    refused_set = set(refused)
    return frozenset(name for name in requested if name in refused_set or INCLUDE_KEYS.get(name, name) not in data)


def unknown_outcomes(outcomes: Iterable[Outcome]) -> list[Outcome]:
    return [outcome for outcome in outcomes if outcome.unknown]


def note_undecided(outcomes: list[Outcome], refused: Iterable[str], now: float | None = None) -> None:
    """At most one warning per hour and reason: which rules did not run, and what to do about it."""
    if not outcomes:
        return
    now = time.monotonic() if now is None else now
    reason = outcomes[0].reason
    if now - _last_logged.get(reason, -LOG_EVERY) < LOG_EVERY:
        return
    _last_logged[reason] = now
    refused_list = sorted(refused)
    log.warning(
        "rules not run, data not available",
        reason=reason,
        rules=sorted({outcome.rule.name for outcome in outcomes}),
        refused_includes=refused_list or None,
        hint=(
            "the Plug&Pay API refused or left out include=checkout, so checkouts: rules cannot be decided;"
            " scope these rules by products: or source_rules: instead, or re-route the events"
            " (plugpay-router reroute EVENT_ID) once the include works. Logged at most once per hour."
        ),
    )
