"""Rows of either store as the protocol's records, and records as row values: the one mapping both share.

Both schemas name their columns alike, keep JSON as the text that was written (SQLite ``TEXT``,
PostgreSQL ``json``, not ``jsonb``, so key order and number spelling survive) and times as epoch seconds
in a float, so a row reads back the same from either store: a SQLite tuple or an asyncpg record, selected
with the column lists below, in their order. The ``*_values`` functions go the other way, giving the
values to store for an event or a delivery, in the order of the ``*_VALUE_COLUMNS``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from router.events import Event
from router.store.records import Attempt, DeliveryRecord, EventRecord, NewDelivery
from router.store.status import AttemptOutcome, DeliveryStatus, EventStatus
from toolkit import jsontext

EVENT_FIELDS = (
    "id",
    "trigger",
    "raw_trigger",
    "triggerable_type",
    "triggerable_id",
    "tenant_id",
    "rule_id",
    "sent_at",
    "source",
    "payload",
    "status",
    "received_at",
    "attempts",
    "next_attempt_at",
    "last_error",
    "outcomes",
    "config_version",
    "routed_at",
    "fetched",
    "trace",
    "shop",
)
DELIVERY_FIELDS = (
    "id",
    "event_id",
    "rule",
    "action_index",
    "item_key",
    "connector",
    "action_key",
    "delivery_key",
    "request",
    "schedule",
    "status",
    "attempts",
    "next_attempt_at",
    "created_at",
    "updated_at",
    "last_error",
    "config_version",
    "trace",
    "shop",
)
ATTEMPT_FIELDS = ("delivery_id", "number", "started_at", "duration_ms", "outcome", "status_code", "error", "result")

EVENT_COLUMNS = ", ".join(EVENT_FIELDS)
DELIVERY_COLUMNS = ", ".join(DELIVERY_FIELDS)
ATTEMPT_COLUMNS = ", ".join(ATTEMPT_FIELDS)

# What add_event and complete_route store, in the order event_values and delivery_values give it.
EVENT_VALUE_FIELDS = (
    "business_key",
    "trigger",
    "raw_trigger",
    "triggerable_type",
    "triggerable_id",
    "tenant_id",
    "rule_id",
    "sent_at",
    "source",
    "payload",
    "shop",
)
DELIVERY_VALUE_FIELDS = (
    "rule",
    "action_index",
    "item_key",
    "connector",
    "action_key",
    "delivery_key",
    "request",
    "schedule",
    "status",
    "last_error",
)
EVENT_VALUE_COLUMNS = ", ".join(EVENT_VALUE_FIELDS)
DELIVERY_VALUE_COLUMNS = ", ".join(DELIVERY_VALUE_FIELDS)


def _json(text: str | None) -> Any:
    return None if text is None else jsontext.loads(text)


def json_text(value: Any) -> str | None:
    """JSON to store (``None`` stays SQL NULL); values JSON cannot spell are stored as their ``str``."""
    return None if value is None else jsontext.dumps(value, default=str)


def event_record(row: Iterable[Any]) -> EventRecord:
    r = dict(zip(EVENT_FIELDS, row, strict=True))
    event = Event(
        trigger=r["trigger"],
        raw_trigger=r["raw_trigger"],
        triggerable_type=r["triggerable_type"],
        triggerable_id=r["triggerable_id"],
        tenant_id=r["tenant_id"],
        rule_id=r["rule_id"],
        sent_at=r["sent_at"],
        source=r["source"],
        payload=jsontext.loads(r["payload"]),
        shop=r["shop"],
    )
    return EventRecord(
        id=r["id"],
        event=event,
        status=EventStatus(r["status"]),
        received_at=r["received_at"],
        attempts=r["attempts"],
        next_attempt_at=r["next_attempt_at"],
        last_error=r["last_error"],
        outcomes=_json(r["outcomes"]),
        config_version=r["config_version"],
        routed_at=r["routed_at"],
        fetched=_json(r["fetched"]),
        trace=r["trace"],
    )


def delivery_record(row: Iterable[Any]) -> DeliveryRecord:
    r = dict(zip(DELIVERY_FIELDS, row, strict=True))
    return DeliveryRecord(
        id=r["id"],
        event_id=r["event_id"],
        rule=r["rule"],
        action_index=r["action_index"],
        item_key=r["item_key"],
        connector=r["connector"],
        action_key=r["action_key"],
        delivery_key=r["delivery_key"],
        request=_json(r["request"]),
        schedule=tuple(jsontext.loads(r["schedule"])),
        status=DeliveryStatus(r["status"]),
        attempts=r["attempts"],
        next_attempt_at=r["next_attempt_at"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        last_error=r["last_error"],
        config_version=r["config_version"],
        trace=r["trace"],
        shop=r["shop"],
    )


def attempt_record(row: Iterable[Any]) -> Attempt:
    r = dict(zip(ATTEMPT_FIELDS, row, strict=True))
    return Attempt(
        delivery_id=r["delivery_id"],
        number=r["number"],
        started_at=r["started_at"],
        duration_ms=r["duration_ms"],
        outcome=AttemptOutcome(r["outcome"]),
        status_code=r["status_code"],
        error=r["error"],
        result=_json(r["result"]),
    )


def event_values(event: Event) -> tuple[Any, ...]:
    """The event's columns as stored (``EVENT_VALUE_COLUMNS``); the payload compact, as received."""
    payload = jsontext.dumps(event.payload)
    return (
        event.business_key,
        event.trigger,
        event.raw_trigger,
        event.triggerable_type,
        event.triggerable_id,
        event.tenant_id,
        event.rule_id,
        event.sent_at,
        event.source,
        payload,
        event.shop,
    )


def delivery_values(d: NewDelivery) -> tuple[Any, ...]:
    """A new delivery's columns as stored (``DELIVERY_VALUE_COLUMNS``)."""
    request = None if d.request is None else jsontext.dumps(d.request)
    return (
        d.rule,
        d.action_index,
        d.item_key,
        d.connector,
        d.action_key,
        d.delivery_key,
        request,
        jsontext.dumps(d.schedule),
        d.status,
        d.error,
    )
