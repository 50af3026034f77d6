"""The alert outbox: what needs a person, written in the same transaction as its cause.

A delivery that goes dead and an event that fails add their alert row in the very transaction that marks
them (``DEAD_DELIVERY``, ``FAILED_EVENT``, filled in by each store), so a crash can keep neither without
the other; the daemon adds the rest (a failed reload, a destination down, a backlog) with ``add_alerts``.
The alert loop reads the rows after its watermark, groups them by kind and sends them as alert events.
A delivery of an alert that goes dead raises no alert: alerts never alert about themselves. With
``shops:`` an item names its shop.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# Filled in per store: {marks} are the store's parameter marks in order (now, id), {json} its JSON builder.
DEAD_DELIVERY = (
    "INSERT INTO alert_outbox (kind, created_at, item) SELECT 'dead_delivery', {now}, {json}("
    "'shop', nullif(e.shop, ''), 'delivery_id', d.id, 'event_id', d.event_id, 'triggerable_id', e.triggerable_id,"
    " 'object', e.triggerable_type || ' ' || e.triggerable_id,"
    " 'rule', d.rule, 'connector', d.connector, 'error', substr(coalesce(d.last_error, ''), 1, 300))"
    " FROM deliveries d JOIN events e ON e.id = d.event_id"
    " WHERE d.id = {id} AND d.status = 'dead' AND d.rule NOT LIKE 'alert:%'"
)
FAILED_EVENT = (
    "INSERT INTO alert_outbox (kind, created_at, item) SELECT 'event_failed', {now}, {json}("
    "'shop', nullif(e.shop, ''), 'event_id', e.id, 'triggerable_id', e.triggerable_id,"
    " 'object', e.triggerable_type || ' ' || e.triggerable_id, 'trigger', e.trigger,"
    " 'error', substr(coalesce(e.last_error, ''), 1, 300))"
    " FROM events e WHERE e.id = {id} AND e.status = 'failed' AND e.source <> 'alert'"
)
AFTER = "SELECT id, kind, created_at, item FROM alert_outbox WHERE id > {after} ORDER BY id LIMIT {limit}"


@dataclass(frozen=True)
class AlertRow:
    id: int
    kind: str
    created_at: float
    item: dict[str, Any]


def alert_row(row: Any) -> AlertRow:
    item = json.loads(row[3]) if isinstance(row[3], str) else dict(row[3] or {})
    if item.get("shop", "") is None:
        del item["shop"]  # a router of one shop: no shop to name
    return AlertRow(int(row[0]), str(row[1]), float(row[2]), item)
