"""The demo's report: one row per delivery (trigger → rule → connector → outcome → where it went), as a table.

"Where it went" is taken from what the destination received when it can be matched to the delivery: the
SMTP catcher's message by its ``Message-ID`` (built from the delivery key), the HTTP sink's request by its
``Idempotency-Key``, Moneybird's sales invoice by its reference. Otherwise (ActiveCampaign, a delivery that
never arrived) it is described from the rendered request, and a delivery that did not arrive shows why.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from router.config import Config
from router.store.base import DeliveryRecord, EventRecord

HEADERS = ("TRIGGER", "RULE", "CONNECTOR", "OUTCOME", "WHERE IT WENT")


@dataclass(frozen=True)
class Row:
    trigger: str
    rule: str
    connector: str
    outcome: str
    where: str

    def cells(self) -> tuple[str, ...]:
        return (self.trigger, self.rule, self.connector, self.outcome, self.where)


class Screen:
    """Lines for people; the progress line is only drawn on a terminal."""

    def __init__(self, out: TextIO):
        self.out = out
        self.tty = out.isatty()
        self.width = shutil.get_terminal_size((120, 24)).columns if self.tty else 160

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def progress(self, text: str) -> None:
        if self.tty:
            self.out.write("\r\033[K" + text)
            self.out.flush()

    def end_progress(self, text: str) -> None:
        if self.tty:
            self.out.write("\r\033[K")
        self.say(text)


def connector_kinds(config: Config) -> dict[str, str]:
    """Connector name → type, to describe each delivery the way its destination understands it."""
    return {name: c.type for name, c in config.connectors.items()}


def trigger_label(event: EventRecord) -> str:
    return f"{event.event.trigger} {event.event.triggerable_id}"


def _excerpt(text: Any, limit: int = 70) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _as_list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]


def describe_request(kind: str, request: Mapping[str, Any] | None) -> str:
    """What a rendered action asks for, when nothing received it (yet)."""
    if request is None:
        return "never rendered"
    if kind == "email":
        return f'mail to {request.get("to")}: "{_excerpt(request.get("subject"), 50)}"'
    if kind == "activecampaign":
        op, tags, lists = request.get("op"), _as_list(request.get("tags")), _as_list(request.get("lists"))
        parts = [f"ActiveCampaign contact {request.get('email')}"]
        if tags:
            removed = " removed" if op == "remove_tag" else ""
            parts.append(f"tag{'s' if len(tags) > 1 else ''} {', '.join(tags)}{removed}")
        if lists:
            gone = " (unsubscribed)" if op == "unsubscribe" else ""
            parts.append(f"list{'s' if len(lists) > 1 else ''} {', '.join(lists)}{gone}")
        return "; ".join(parts)
    if kind == "invoice":
        return f"invoice {invoice_reference(request) or '?'}"
    if kind == "http":
        where = request.get("url") or request.get("path") or "(the connector's base_url)"
        return f"{str(request.get('method') or 'POST').upper()} {where}"
    return ", ".join(f"{k}={_excerpt(v, 30)}" for k, v in request.items())


def invoice_reference(request: Mapping[str, Any]) -> str | None:
    if request.get("reference"):
        return str(request["reference"])
    try:
        order = json.loads(str(request.get("order") or "{}"))
    except ValueError:
        return None
    number = order.get("invoice_number") if isinstance(order, dict) else None
    return None if number is None else str(number)


def where_it_went(delivery: DeliveryRecord, kind: str, arrivals: Mapping[str, str]) -> str:
    """The destination's own record of a delivered delivery, else a description of the request."""
    if delivery.status == "dead":
        return f"not delivered: {_excerpt(delivery.last_error or 'dead', 90)}"
    if delivery.status == "pending":
        reason = f": {delivery.last_error}" if delivery.last_error else ""
        return _excerpt(f"still trying ({delivery.attempts} attempts){reason}", 90)
    if delivery.delivery_key in arrivals:
        return arrivals[delivery.delivery_key]
    if kind == "invoice" and delivery.request is not None:
        reference = invoice_reference(delivery.request)
        if reference is not None and f"invoice:{reference}" in arrivals:
            return arrivals[f"invoice:{reference}"]
    return describe_request(kind, delivery.request)


def build_rows(
    events: Sequence[EventRecord],
    deliveries: Iterable[DeliveryRecord],
    kinds: Mapping[str, str],
    arrivals: Mapping[str, str],
) -> list[Row]:
    """Rows in the order the webhooks were fired; events without deliveries get a row saying why."""
    by_event: dict[int, list[DeliveryRecord]] = {}
    for delivery in deliveries:
        by_event.setdefault(delivery.event_id, []).append(delivery)
    rows: list[Row] = []
    for event in events:
        label = trigger_label(event)
        own = sorted(by_event.get(event.id, []), key=lambda d: d.id)
        if event.status == "failed":
            rows.append(Row(label, "-", "-", "failed", _excerpt(event.last_error or "routing failed", 90)))
        elif event.status == "pending":
            rows.append(Row(label, "-", "-", "pending", _excerpt(event.last_error or "not routed yet", 90)))
        elif not own:
            rows.append(Row(label, "-", "-", "no match", "no rule matched this event (see `simulate`)"))
        for delivery in own:
            kind = kinds.get(delivery.connector, "?")
            rule = delivery.rule + (f" [{delivery.item_key}]" if delivery.item_key else "")
            where = where_it_went(delivery, kind, arrivals)
            rows.append(Row(label, rule, delivery.connector, delivery.status, where))
    return rows


def render_table(rows: Sequence[Row], width: int = 120) -> str:
    """Left-aligned columns; the last column is cut to fit ``width`` characters (but keeps 30)."""
    table = [HEADERS, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADERS) - 1)]
    room = max(30, width - sum(widths) - 2 * len(widths))
    lines = []
    for line in table:
        last = line[-1] if len(line[-1]) <= room else line[-1][: room - 1] + "…"
        cells = [c.ljust(w) for c, w in zip(line[:-1], widths, strict=True)]
        lines.append("  ".join([*cells, last]).rstrip())
    return "\n".join(lines)
