"""Rows of the PostgreSQL store as the protocol's records: the column lists and the converters.

Columns are read by name from asyncpg records. JSON columns come back as the text that was written, so
payloads, requests and outcomes read back exactly as the SQLite store returns them.
"""

from __future__ import annotations

import json
from typing import Any

from router.events import Event
from router.store.base import Attempt, DeliveryRecord, EventRecord

EVENT_COLUMNS = (
    "id, trigger, raw_trigger, triggerable_type, triggerable_id, tenant_id, rule_id, sent_at, source, payload,"
    " status, received_at, attempts, next_attempt_at, last_error, outcomes, config_version, routed_at, fetched"
)
DELIVERY_COLUMNS = (
    "id, event_id, rule, action_index, item_key, connector, action_key, delivery_key, request, schedule,"
    " status, attempts, next_attempt_at, created_at, updated_at, last_error, config_version"
)
ATTEMPT_COLUMNS = "delivery_id, number, started_at, duration_ms, outcome, status_code, error"


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def event_record(row: Any) -> EventRecord:
    event = Event(
        trigger=row["trigger"],
        raw_trigger=row["raw_trigger"],
        triggerable_type=row["triggerable_type"],
        triggerable_id=row["triggerable_id"],
        tenant_id=row["tenant_id"],
        rule_id=row["rule_id"],
        sent_at=row["sent_at"],
        source=row["source"],
        payload=json.loads(row["payload"]),
    )
    return EventRecord(
        id=row["id"],
        event=event,
        status=row["status"],
        received_at=row["received_at"],
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        last_error=row["last_error"],
        outcomes=_json(row["outcomes"]),
        config_version=row["config_version"],
        routed_at=row["routed_at"],
        fetched=_json(row["fetched"]),
    )


def delivery_record(row: Any) -> DeliveryRecord:
    return DeliveryRecord(
        id=row["id"],
        event_id=row["event_id"],
        rule=row["rule"],
        action_index=row["action_index"],
        item_key=row["item_key"],
        connector=row["connector"],
        action_key=row["action_key"],
        delivery_key=row["delivery_key"],
        request=_json(row["request"]),
        schedule=tuple(json.loads(row["schedule"])),
        status=row["status"],
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        last_error=row["last_error"],
        config_version=row["config_version"],
    )


def attempt_record(row: Any) -> Attempt:
    return Attempt(
        delivery_id=row["delivery_id"],
        number=row["number"],
        started_at=row["started_at"],
        duration_ms=row["duration_ms"],
        outcome=row["outcome"],
        status_code=row["status_code"],
        error=row["error"],
    )
