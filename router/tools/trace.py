"""Everything that happened to one Plug&Pay object, gathered from the store: ``trace`` and the dashboard's event page.

An object (an order, a subscription, an affiliate seller) may have several events: one per trigger and
webhook, plus the repeats counted as duplicates. For each event the trace holds its rule outcomes (which
rules matched, and why the others did not), its deliveries with the rendered request and every attempt,
including what the destination made of it where the connector says (``Attempt.result``). Everything shown
passes ``mask``: the config's secret values, and the values of secret-named keys (``Authorization``,
``token``) in rendered requests, become ``***``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from router.events import canonical_type
from router.secrets import SECRET_NAME, Masker
from router.store.base import Attempt, DeliveryFilter, DeliveryRecord, EventFilter, EventRecord, Store

MAX_EVENTS = 200  # events of one object in a trace (an object has a handful; a test shop may have more)
MAX_DELIVERIES = 1000


@dataclass
class DeliveryTrace:
    record: DeliveryRecord
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def result(self) -> dict[str, Any] | None:
        """What the destination made of the last attempt that got an answer, when its connector says."""
        for attempt in reversed(self.attempts):
            if attempt.result:
                return attempt.result
        return None


@dataclass
class EventTrace:
    record: EventRecord
    duplicates: int = 0
    deliveries: list[DeliveryTrace] = field(default_factory=list)

    @property
    def matched(self) -> list[str]:
        return [str(o.get("rule")) for o in self.record.outcomes or () if o.get("matched")]


@dataclass
class Trace:
    kind: str
    ident: str
    events: list[EventTrace]
    total: int  # events of the object in the store (more than shown when over MAX_EVENTS)

    def as_dict(self, mask: Masker) -> dict[str, Any]:
        body = {
            "object": {"type": self.kind, "id": self.ident},
            "events_total": self.total,
            "events": [_event_dict(e) for e in self.events],
        }
        masked: dict[str, Any] = json.loads(mask(json.dumps(body, default=str)))
        return masked


def _event_dict(trace: EventTrace) -> dict[str, Any]:
    body = trace.record.as_dict()
    body.pop("fetched", None)
    body["duplicates"] = trace.duplicates
    body["deliveries"] = [
        {
            **d.record.as_dict(),
            "request": mask_request(d.record.request),
            "attempts": [a.as_dict() for a in d.attempts],
            "result": d.result,
        }
        for d in trace.deliveries
    ]
    return body


def mask_request(value: Any) -> Any:
    """A rendered request with the values of secret-named keys (``Authorization``, ``api_token``) as ``***``."""
    if isinstance(value, dict):
        return {k: "***" if SECRET_NAME.search(str(k)) and v else mask_request(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_request(v) for v in value]
    return value


def object_kind(text: str) -> str:
    """``order`` / ``subscription`` / ``affiliate`` for what a user typed (``seller`` too); ValueError else."""
    kind = canonical_type(text)
    if kind is None:
        raise ValueError(f"unknown object type {text!r}: use order, subscription or affiliate")
    return kind


async def trace_object(
    store: Store, kind: str, ident: str, shop: str | None = None, *, shops: tuple[str, ...] | None = None
) -> Trace:
    """The trace of one object (of one shop, with ``shops:``: ids are each shop's own; or of any of ``shops``,
    an admin user's): its events newest first, each with its deliveries and their attempts."""
    flt = EventFilter(triggerable_id=ident, shop=shop, shops=shops)
    records = [
        r
        for r in await store.list_events(flt, limit=MAX_EVENTS)
        if (canonical_type(r.event.triggerable_type) or r.event.triggerable_type) == kind
    ]
    total = await store.count_events(flt) if len(records) >= MAX_EVENTS else len(records)
    return Trace(kind, ident, await _events(store, records), total)


async def trace_event(store: Store, event_id: int) -> Trace | None:
    """The trace of one event only (``--event``, the dashboard's event page); None when there is none."""
    record = await store.get_event(event_id)
    if record is None:
        return None
    kind = canonical_type(record.event.triggerable_type) or record.event.triggerable_type
    return Trace(kind, record.event.triggerable_id, await _events(store, [record]), 1)


async def _events(store: Store, records: list[EventRecord]) -> list[EventTrace]:
    duplicates = await store.duplicates([r.id for r in records])
    traces = []
    for record in records:
        deliveries = await store.list_deliveries(DeliveryFilter(event_id=record.id), limit=MAX_DELIVERIES)
        deliveries.reverse()  # in the order they were made
        attempts = await store.attempts_of([d.id for d in deliveries])
        traces.append(
            EventTrace(
                record,
                duplicates.get(record.id, 0),
                [DeliveryTrace(d, attempts.get(d.id, [])) for d in deliveries],
            )
        )
    return traces
