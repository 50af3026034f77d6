"""What the store tells about the past for people: per-hour throughput, and the SQL both stores share for it.

``trace``, ``events``/``deliveries`` and the dashboard ask the store how many rows a filter matches (so
nothing is silently cut off), how many deliveries each listed event made and in which state they are
(``DeliveryHealth``), which object each of a few events is about, every attempt of a few deliveries at
once, and how many events were received and routed and deliveries ended per hour. The SQL here is written
once with ``{}`` marks and a ``{hour}`` expression, filled in by each store. ``DAY`` sums up one day for the
daily summary alert: events received per trigger, deliveries ended, and the commonest errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from router.store.records import Counts

HOUR = 3600.0
# Per connector: pending deliveries, when the oldest of them was made, and dead deliveries (for /metrics). A
# shop's connectors are named ``shop/connector``, as its circuit breakers are: two shops' ``sink`` are two.
CONNECTOR_BACKLOG = (
    "SELECT CASE WHEN shop = '' THEN connector ELSE shop || '/' || connector END,"
    " sum(CASE WHEN status = 'pending' THEN 1 ELSE 0 END),"
    " min(CASE WHEN status = 'pending' THEN created_at END), sum(CASE WHEN status = 'dead' THEN 1 ELSE 0 END)"
    " FROM deliveries WHERE status IN ('pending', 'dead') GROUP BY 1"
)


@dataclass(frozen=True)
class ConnectorBacklog:
    """One connector's waiting work: pending deliveries, the oldest one's creation time, dead deliveries."""

    pending: int = 0
    oldest_pending_at: float | None = None
    dead: int = 0


def connector_backlog(rows: list[Any]) -> dict[str, ConnectorBacklog]:
    return {
        str(r[0]): ConnectorBacklog(int(r[1] or 0), None if r[2] is None else float(r[2]), int(r[3] or 0)) for r in rows
    }


@dataclass(frozen=True)
class HourCounts:
    """One hour (its start, epoch seconds): events received and routed, deliveries delivered and dead."""

    hour: float
    received: int = 0
    routed: int = 0
    delivered: int = 0
    dead: int = 0


@dataclass(frozen=True)
class DeliveryHealth:
    """How the deliveries of one event stand: delivered, pending and dead (superseded ones were replaced)."""

    delivered: int = 0
    pending: int = 0
    dead: int = 0
    superseded: int = 0

    @property
    def worst(self) -> str:
        """``dead`` when any is dead, else ``pending`` when any waits, else ``delivered``; ``none`` without any."""
        for state in ("dead", "pending", "delivered"):
            if getattr(self, state):
                return state
        return "none"

    def as_dict(self) -> dict[str, int]:
        return {"delivered": self.delivered, "pending": self.pending, "dead": self.dead, "superseded": self.superseded}


def delivery_health(found: list[Any]) -> dict[int, DeliveryHealth]:
    """``DELIVERY_HEALTH`` rows (event id, status, count) as one ``DeliveryHealth`` per event."""
    counts: dict[int, dict[str, int]] = {}
    for event_id, status, count in found:
        if status in DeliveryHealth.__dataclass_fields__:
            counts.setdefault(int(event_id), {})[str(status)] = int(count)
    return {event_id: DeliveryHealth(**by_status) for event_id, by_status in counts.items()}


# What each hourly series counts: (table, time column, extra condition).
_SERIES = {
    "received": ("events", "received_at", ""),
    "routed": ("events", "routed_at", " AND status = 'routed'"),
    "delivered": ("deliveries", "updated_at", " AND status = 'delivered'"),
    "dead": ("deliveries", "updated_at", " AND status = 'dead'"),
}


def hourly_sql(hour_of: str, mark: str) -> dict[str, str]:
    """Per series, SQL giving (hour number, count) for rows at or after the parameter ``mark``;
    ``hour_of`` spells "the hour number of {}" in the store's SQL."""
    return {
        name: f"SELECT {hour_of.format(column)}, count(*) FROM {table} WHERE {column} >= {mark}{extra} GROUP BY 1"
        for name, (table, column, extra) in _SERIES.items()
    }


# Each reads only index entries of pending or dead rows; ``{oldest}`` is the store's spelling of the oldest pending.
BACKLOG = (
    "SELECT (SELECT count(*) FROM events WHERE status = 'pending'),"
    " (SELECT count(*) FROM deliveries WHERE status = 'pending'),"
    " (SELECT count(*) FROM deliveries WHERE status = 'dead'), ({oldest})"
)
# ``{cap}``: stop counting there (a page says "more than 10000" instead of scanning a million rows).
COUNT_EVENTS = "SELECT count(*) FROM (SELECT 1 FROM events {where} LIMIT {cap}) AS matched"
COUNT_DELIVERIES = "SELECT count(*) FROM (SELECT 1 FROM deliveries {where} LIMIT {cap}) AS matched"
DELIVERY_COUNTS = "SELECT event_id, count(*) FROM deliveries WHERE event_id IN ({marks}) GROUP BY event_id"
DELIVERY_HEALTH = (
    "SELECT event_id, status, count(*) FROM deliveries WHERE event_id IN ({marks}) GROUP BY event_id, status"
)
OBJECTS_OF = "SELECT id, triggerable_type, triggerable_id FROM events WHERE id IN ({marks})"
DUPLICATES = "SELECT id, duplicates FROM events WHERE id IN ({marks})"
ATTEMPTS_OF = "SELECT {columns} FROM attempts WHERE delivery_id IN ({marks}) ORDER BY id"


def backlog(row: Any) -> Counts:
    return Counts({"pending": int(row[0])}, {"pending": int(row[1]), "dead": int(row[2])}, row[3])


def hours(since: float, until: float, found: dict[str, dict[int, int]]) -> list[HourCounts]:
    """Every hour from the one holding ``since`` to the one holding ``until``, oldest first, zero-filled."""
    first, last = int(since // HOUR), int(until // HOUR)
    return [
        HourCounts(
            hour * HOUR,
            found["received"].get(hour, 0),
            found["routed"].get(hour, 0),
            found["delivered"].get(hour, 0),
            found["dead"].get(hour, 0),
        )
        for hour in range(first, last + 1)
    ]


# One day, ``{since}``/``{until}`` the store's marks: the router's own alerts are not part of the shop's figures.
DAY = {
    "received": "SELECT trigger, count(*) FROM events WHERE received_at >= {since} AND received_at < {until}"
    " AND source <> 'alert' GROUP BY trigger ORDER BY 2 DESC, 1",
    "ended": "SELECT status, count(*) FROM deliveries WHERE updated_at >= {since} AND updated_at < {until}"
    " AND status IN ('delivered', 'dead') AND rule NOT LIKE 'alert:%' GROUP BY status",
    "failed": "SELECT 'failed', count(*) FROM events WHERE received_at >= {since} AND received_at < {until}"
    " AND status = 'failed' AND source <> 'alert'",
    "errors": "SELECT connector, substr(coalesce(last_error, ''), 1, 200), count(*) FROM deliveries"
    " WHERE updated_at >= {since} AND updated_at < {until} AND status = 'dead' AND rule NOT LIKE 'alert:%'"
    " GROUP BY 1, 2 ORDER BY 3 DESC, 1 LIMIT 5",
}


@dataclass(frozen=True)
class DaySummary:
    """One day's figures: events received per trigger, deliveries delivered and dead, events that failed,
    and the commonest dead-delivery errors as (connector, error, count)."""

    received: dict[str, int]
    delivered: int = 0
    dead: int = 0
    failed: int = 0
    errors: tuple[tuple[str, str, int], ...] = ()


def day_summary(found: dict[str, list[Any]]) -> DaySummary:
    ended = {str(r[0]): int(r[1]) for r in found["ended"]}
    return DaySummary(
        received={str(r[0]): int(r[1]) for r in found["received"]},
        delivered=ended.get("delivered", 0),
        dead=ended.get("dead", 0),
        failed=sum(int(r[1]) for r in found["failed"]),
        errors=tuple((str(r[0]), str(r[1]), int(r[2])) for r in found["errors"]),
    )
