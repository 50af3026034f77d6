"""The PostgreSQL side of reconcile and backfill: listed events, the business dedupe key, watermarks, and
the advisory lock that lets one instance at a time reconcile.

A batch of listed events is one transaction. "No event of this business key yet" is read in it, so two
instances could both find a key free at the same moment; the ``exclusive`` lock keeps reconcile passes
apart, and action dedupe makes a second event of one business event create no second delivery anyway.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from router.store import rows
from router.store.base import StoreUnavailable
from router.store.listed import ListedEvent, business_dedupe_key
from router.store.postgres import queries as q
from router.store.postgres.pool import Pool, describe
from router.store.records import Accepted
from router.store.status import EventStatus

COVERED = "SELECT id FROM events WHERE business_key = $1 AND status <> 'failed' ORDER BY id LIMIT 1"
HELD = "SELECT event_id FROM dedupe WHERE key = $1 AND expires_at > $2"
KEEP_BUSINESS = (
    "INSERT INTO dedupe (key, event_id, expires_at) VALUES ($1, $2, $3)"
    " ON CONFLICT (key) DO UPDATE SET event_id = excluded.event_id, expires_at = excluded.expires_at"
)
NOTIFY = f"SELECT {q.notify_sql('events')}"
GET_MARK = "SELECT value FROM watermarks WHERE name = $1"
SET_MARK = (
    "INSERT INTO watermarks (name, value, updated_at) VALUES ($1, $2, $3)"
    " ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
)
_LOCK_KEY = "hashtext('plugpay-router:' || current_schema() || ':' || $1)"
LOCK = f"SELECT pg_try_advisory_lock({_LOCK_KEY})"


async def add_listed(conn: Any, items: list[ListedEvent], window: float, now: float) -> list[Accepted]:
    out: list[Accepted] = []
    async with conn.transaction():
        for item in items:
            event, key = item.event, item.dedupe_key
            business = business_dedupe_key(event)
            if item.business:
                found = await conn.fetchval(COVERED, event.business_key)
                if found is None:
                    found = await conn.fetchval(HELD, business, now)
                if found is not None:
                    out.append(Accepted(int(found), duplicate=True))
                    continue
            args = (key, now + window, now, *rows.event_values(event), EventStatus.PENDING.value)
            event_id = await conn.fetchval(q.ADD_EVENT[False], *args)
            if event_id is None:
                original = await conn.fetchval(q.DEDUPED_EVENT, key)
                out.append(Accepted(int(original or 0), duplicate=True))
                continue
            if item.business:
                await conn.execute(KEEP_BUSINESS, business, event_id, now + window)
            out.append(Accepted(int(event_id)))
        if any(not accepted.duplicate for accepted in out):
            await conn.execute(NOTIFY)
    return out


@contextlib.asynccontextmanager
async def exclusive(pool: Pool, name: str) -> AsyncIterator[bool]:
    """Hold the session advisory lock ``name`` (of this schema) on a connection of its own while the block
    runs; yields False when another instance holds it. The lock dies with the connection, also on a crash."""
    try:
        conn = await pool.connect()
    except Exception as exc:
        raise StoreUnavailable(describe(exc)) from None
    try:
        yield bool(await conn.fetchval(LOCK, name))
    finally:
        with contextlib.suppress(Exception):
            await conn.close()
