"""The SQLite side of reconcile and backfill: storing listed events, the business dedupe key, watermarks.

Each function runs inside one of the writer's transactions (or on the reader); the store module wraps them.
The single writer serialises them with every webhook, so "no event of this business key yet" and the
insert that follows cannot be overtaken by a webhook in between.
"""

from __future__ import annotations

import sqlite3

from router.store import rows
from router.store.listed import ListedEvent, business_dedupe_key
from router.store.records import Accepted
from router.store.sqlite import queries as q
from router.store.status import EventStatus

# Covered: an event of the business key that is not ``failed`` (a failed one is worth another try).
COVERED = "SELECT id FROM events WHERE business_key = ? AND status != 'failed' ORDER BY id LIMIT 1"
HELD = "SELECT event_id FROM dedupe WHERE key = ? AND expires_at > ?"
GET_MARK = "SELECT value FROM watermarks WHERE name = ?"
SET_MARK = (
    "INSERT INTO watermarks (name, value, updated_at) VALUES (?, ?, ?)"
    " ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
)


def held_by_business(conn: sqlite3.Connection, key: str, now: float) -> Accepted | None:
    """A webhook whose business event a found event already covers: a duplicate of that event."""
    row = conn.execute(HELD, (key, now)).fetchone()
    return None if row is None else Accepted(row[0], duplicate=True)


def add_listed(conn: sqlite3.Connection, items: list[ListedEvent], window: float, now: float) -> list[Accepted]:
    out = []
    for item in items:
        event, key = item.event, item.dedupe_key
        business = business_dedupe_key(event)
        if item.business:
            row = conn.execute(COVERED, (event.business_key,)).fetchone()
            held = held_by_business(conn, business, now) if row is None else Accepted(row[0], duplicate=True)
            if held is not None:
                out.append(held)
                continue
        args = (key, *rows.event_values(event), EventStatus.PENDING.value, now, now, None, key, now)
        row = conn.execute(q.ADD_EVENT, args).fetchone()
        if row is None:
            out.append(Accepted(conn.execute(q.DEDUPED_EVENT, (key,)).fetchone()[0], duplicate=True))
            continue
        conn.execute(q.KEEP_DEDUPE_KEY, (key, row[0], now + window))
        if item.business:
            conn.execute(q.KEEP_DEDUPE_KEY, (business, row[0], now + window))
        out.append(Accepted(row[0]))
    return out


def get_mark(conn: sqlite3.Connection, name: str) -> float | None:
    row = conn.execute(GET_MARK, (name,)).fetchone()
    return None if row is None else float(row[0])


def set_mark(conn: sqlite3.Connection, name: str, value: float, now: float) -> None:
    conn.execute(SET_MARK, (name, value, now))
