"""The demo's report: one row per delivery (trigger → rule → connector → outcome → where it went), as a table.

"Where it went" is taken from what the destination received when it can be matched to the delivery: the
SMTP catcher's message by its ``Message-ID`` (built from the delivery key), the HTTP sink's request by its
``Idempotency-Key``, Moneybird's sales invoice by its reference. Otherwise (ActiveCampaign, a delivery that
never arrived) it is described from the rendered request, and a delivery that did not arrive shows why.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from connectors.base import Connector
from connectors.registry import connector_class
from router.config import Config, ConnectorConfig
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


def connector_kinds(config: Config) -> dict[str, ConnectorConfig]:
    """Connector name → its config, to describe each delivery the way its destination understands it."""
    return dict(config.connectors)


def _type_of(connector: ConnectorConfig | None) -> type[Connector]:
    return Connector if connector is None else connector_class(connector.type, connector.settings)


def trigger_label(event: EventRecord) -> str:
    return f"{event.event.trigger} {event.event.triggerable_id}"


def _excerpt(text: Any, limit: int = 70) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def describe_request(connector: ConnectorConfig | None, request: Mapping[str, Any] | None) -> str:
    """What a rendered action asks for, when nothing received it (yet)."""
    if request is None:
        return "never rendered"
    return _type_of(connector).describe(request, connector.settings if connector is not None else {})


def where_it_went(delivery: DeliveryRecord, connector: ConnectorConfig | None, arrivals: Mapping[str, str]) -> str:
    """The destination's own record of a delivered delivery, else a description of the request."""
    if delivery.status == "dead":
        return f"not delivered: {_excerpt(delivery.last_error or 'dead', 90)}"
    if delivery.status == "pending":
        reason = f": {delivery.last_error}" if delivery.last_error else ""
        return _excerpt(f"still trying ({delivery.attempts} attempts){reason}", 90)
    if delivery.delivery_key in arrivals:
        return arrivals[delivery.delivery_key]
    receipt = _type_of(connector).receipt_key(delivery.request) if delivery.request is not None else None
    if receipt is not None and receipt in arrivals:
        return arrivals[receipt]
    return describe_request(connector, delivery.request)


def build_rows(
    events: Sequence[EventRecord],
    deliveries: Iterable[DeliveryRecord],
    kinds: Mapping[str, ConnectorConfig],
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
            kind = kinds.get(delivery.connector)
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
