"""The open conditions: what needs a person right now, as the dashboard's overview lists it.

Alerts tell a change once; the overview shows the state while it lasts: a destination whose circuit is open
(or testing again), pending work older than ``alerts.when.backlog``, and webhooks refused by verification
within the last hour. Each condition says what to do. Nothing here is customer data: connector names,
counts and ages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from router.store.quarantined import QuarantineStats
from router.store.records import Counts

QUARANTINE_RECENT = 3600.0  # a webhook refused within this long keeps the quarantine an open condition


@dataclass(frozen=True)
class Condition:
    kind: str  # destination_down, backlog, quarantined: the alert kinds they match
    text: str


def _minutes(seconds: float) -> str:
    return f"{max(1, round(seconds / 60))} min"


def open_conditions(
    breakers: Mapping[str, str], counts: Counts, quarantine: QuarantineStats, backlog_after: float, now: float
) -> list[Condition]:
    found = [
        Condition("destination_down", f"{name}: circuit {state}, deliveries to it wait (they are not lost)")
        for name, state in sorted(breakers.items())
        if state != "closed"
    ]
    oldest = counts.oldest_pending_at
    if oldest is not None and now - oldest > backlog_after:
        found.append(Condition("backlog", f"the oldest pending work has waited {_minutes(now - oldest)}"))
    newest = quarantine.newest_at
    if quarantine.entries and newest is not None and now - newest < QUARANTINE_RECENT:
        found.append(
            Condition(
                "quarantined",
                f"{quarantine.entries} webhooks refused by verification, the last {_minutes(now - newest)} ago:"
                " check the webhook key (plugpay-router quarantine list)",
            )
        )
    return found
