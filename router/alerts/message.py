"""One alert as a person reads it and as each kind of channel sends it.

An alert has a kind, the items it is about (ids, rule and connector names, errors: never a customer's name
or address), the time of the first and the last, a dashboard link when ``alerts.dashboard_url`` is set,
and the command that fixes it. ``request_for`` renders it for one channel: mail gets a subject and a plain
text body, an ``http`` channel JSON ``{"text": <one line>, "alert": {...}}`` (what Slack and Discord read,
and any webhook can), the ``slack`` and ``discord`` types the line itself. Nothing here is a template: an
alert's text comes from the router, and the items are data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

MAX_ITEMS = 20  # items listed in one message; the count says how many there were in all

SUMMARY = {
    "dead_delivery": "{count} deliveries went dead",
    "destination_down": "destination {subject} is failing (its circuit breaker opened)",
    "destination_recovered": "destination {subject} recovered after {down_for}",
    "event_failed": "{count} events could not be routed",
    "quarantined": "{count} webhooks refused by verification",
    "missed_webhooks": "reconcile found {count} events whose webhook never arrived",
    "backlog": "work has been waiting for {waiting_for}",
    "reload_failed": "a config reload failed; the old config is kept",
    "test": "a test alert from plugpay-router",
    "daily_summary": "{day} ({timezone}): {events} events, {delivered} delivered, {dead} dead, {failed} failed",
}
ITEMS_HEADING = {"daily_summary": "Commonest errors:"}
FIX = {
    "dead_delivery": "see plugpay-router deliveries -c CONFIG --status dead; fix it, then replay -c CONFIG --dead",
    "destination_down": "nothing is lost: deliveries wait in the store; check the destination and its credentials",
    "event_failed": "see plugpay-router events -c CONFIG --status failed; then plugpay-router reroute -c CONFIG ID",
    "quarantined": "check plugandpay.webhook_key and signature, reload, then quarantine release -c CONFIG",
    "missed_webhooks": "check the shop's webhook rule and URL: plugpay-router doctor -c CONFIG --url PUBLIC_URL",
    "backlog": "is the daemon running, and is a destination down? plugpay-router deliveries -c CONFIG --status pending",
    "reload_failed": "plugpay-router check -c CONFIG says what is wrong, file:line",
}


@dataclass(frozen=True)
class Alert:
    kind: str
    items: Sequence[Mapping[str, Any]] = ()
    first_at: float = 0.0
    last_at: float = 0.0
    count: int = 0  # items in all (more than listed when past MAX_ITEMS)
    subject: str = ""  # what a destination alert is about: the connector's name
    extra: Mapping[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        """One line a person reads (a Slack message, a mail's subject)."""
        named = {
            "down_for": "a while",
            "waiting_for": "a while",
            **(self.items[0] if self.items else {}),
            **self.extra,
            "count": self.count or len(self.items),
            "subject": self.subject,
        }
        text = SUMMARY.get(self.kind, self.kind).format(**named)
        return f"plugpay-router: {text}"

    def as_dict(self, dashboard: str | None) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "count": self.count or len(self.items),
            "items": [dict(item) for item in list(self.items)[:MAX_ITEMS]],
            "first_at": _time(self.first_at) if self.first_at else None,
            "last_at": _time(self.last_at) if self.last_at else None,
            "dashboard": dashboard,
            "fix": FIX.get(self.kind),
            **self.extra,
        }

    def text(self, dashboard: str | None) -> str:
        """The plain-text body of a mail: the line, the items, the fix and the dashboard link."""
        lines = [self.line(), ""]
        if isinstance(self.extra.get("received"), Mapping):
            received = ", ".join(f"{trigger} {n}" for trigger, n in self.extra["received"].items())
            lines += [f"Events received: {received or 'none'}", ""]
        if self.items and self.kind in ITEMS_HEADING:
            lines.append(ITEMS_HEADING[self.kind])
        for item in list(self.items)[:MAX_ITEMS]:
            lines.append("- " + ", ".join(f"{key} {value}" for key, value in item.items() if value is not None))
        more = (self.count or len(self.items)) - min(len(self.items), MAX_ITEMS)
        if more > 0:
            lines.append(f"... and {more} more")
        if FIX.get(self.kind):
            lines += ["", f"What to do: {FIX[self.kind]}"]
        if dashboard:
            lines += ["", f"Dashboard: {dashboard}"]
        return "\n".join(lines) + "\n"


def request_for(connector_type: str, fields: Mapping[str, Any], alert: Alert, dashboard: str | None) -> dict[str, Any]:
    """The rendered action that sends ``alert`` through a channel of this connector type."""
    if connector_type in ("email", "postmark"):
        return {**fields, "subject": alert.line(), "text": alert.text(dashboard)}
    if connector_type in ("slack", "discord"):
        return {**fields, "text": alert.line() + (f" ({dashboard})" if dashboard else "")}
    return {"method": "POST", **fields, "json": {"text": alert.line(), "alert": alert.as_dict(dashboard)}}


def age(seconds: float) -> str:
    """A duration as a person says it: ``40 s``, ``12 min``, ``3 h 5 min``."""
    if seconds < 60:
        return f"{max(0, round(seconds))} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def _time(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
