"""The daily summary: yesterday's figures, sent once a day at ``alerts.daily_summary`` in ``alerts.timezone``.

"Yesterday" is the calendar day before today in that zone (23 or 25 hours long when the clocks change).
Once the time of day has passed, the instance holding the alert lock stores one alert event whose dedupe
key names the day, so a crash or a second instance never sends a day twice; a router that was down at the
time sends it when it comes back, and a router down for days skips the days before yesterday. The
figures are the store's (``Store.day_summary``): events received per trigger, deliveries delivered and
dead, events that failed, and the commonest errors, which are the alert's items. No customer data.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from router.store.base import DaySummary

KIND = "daily_summary"
MARK = "alerts:summary"  # the ordinal of the last day summarised


def due_day(now: float, minute: int, zone: str) -> dt.date | None:
    """The day to summarise at ``now``: yesterday once today's ``minute`` of the day has passed, else none."""
    local = dt.datetime.fromtimestamp(now, zoneinfo.ZoneInfo(zone))
    if local.hour * 60 + local.minute < minute:
        return None
    return local.date() - dt.timedelta(days=1)


def bounds(day: dt.date, zone: str) -> tuple[float, float]:
    """Local midnight at the start of ``day`` and of the next day, as epoch seconds."""
    tz = zoneinfo.ZoneInfo(zone)
    start = dt.datetime.combine(day, dt.time(0), tzinfo=tz)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=tz)
    return start.timestamp(), end.timestamp()


def payload(day: dt.date, zone: str, figures: DaySummary) -> dict[str, Any]:
    """The alert event's payload: the errors as items, the figures as the alert's extra fields."""
    return {
        "kind": KIND,
        "items": [{"connector": c, "error": error, "count": n} for c, error, n in figures.errors],
        "count": len(figures.errors),
        "extra": {
            "day": day.isoformat(),
            "timezone": zone,
            "events": sum(figures.received.values()),
            "received": dict(figures.received),
            "delivered": figures.delivered,
            "dead": figures.dead,
            "failed": figures.failed,
        },
    }
