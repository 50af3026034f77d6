"""What the dashboard's overview says needs a person: a destination that is down, work waiting longer than
the backlog age, webhooks refused within the last hour; and nothing when all is well."""

from __future__ import annotations

from router.alerts.conditions import open_conditions
from router.store.quarantined import QuarantineStats
from router.store.records import Counts

NOW = 1_000_000.0


def test_a_healthy_router_has_no_open_condition() -> None:
    quiet = QuarantineStats(entries=3, bytes=900, newest_at=NOW - 7200)  # refused, but hours ago
    assert open_conditions({"crm": "closed"}, Counts(oldest_pending_at=NOW - 60), quiet, 900, NOW) == []


def test_a_down_destination_a_backlog_and_a_growing_quarantine_each_say_what_to_do() -> None:
    found = open_conditions(
        {"crm": "open", "mail": "closed", "moneybird": "half-open"},
        Counts(oldest_pending_at=NOW - 1800),
        QuarantineStats(entries=12, bytes=4000, newest_at=NOW - 120),
        900,
        NOW,
    )
    assert [c.kind for c in found] == ["destination_down", "destination_down", "backlog", "quarantined"]
    assert found[0].text.startswith("crm: circuit open") and found[1].text.startswith("moneybird: circuit half-open")
    assert "30 min" in found[2].text
    assert found[3].text.startswith("12 webhooks refused") and "check the webhook key" in found[3].text
