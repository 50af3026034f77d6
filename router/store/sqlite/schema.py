"""The SQLite schema and its migrations, numbered by their place in ``MIGRATIONS``.

The file's ``PRAGMA user_version`` is the number of migrations applied; ``migrate`` applies the missing
ones, each in its own transaction, and refuses a file from a newer program. Times are epoch seconds
(``REAL``) and JSON is kept as the text written, as in the PostgreSQL store.
"""

from __future__ import annotations

import sqlite3

from router.store.base import StoreUnavailable

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        dedupe_key TEXT NOT NULL,
        business_key TEXT NOT NULL,
        trigger TEXT NOT NULL,
        raw_trigger TEXT NOT NULL,
        triggerable_type TEXT NOT NULL,
        triggerable_id TEXT NOT NULL,
        tenant_id TEXT,
        rule_id TEXT,
        sent_at TEXT,
        source TEXT NOT NULL,
        payload TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        received_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        lease_owner TEXT,
        last_error TEXT,
        outcomes TEXT,
        config_version TEXT,
        routed_at REAL
    );
    CREATE INDEX events_due ON events (next_attempt_at) WHERE status = 'pending';
    CREATE INDEX events_status ON events (status, id);
    CREATE INDEX events_received ON events (received_at);
    CREATE TABLE dedupe (
        key TEXT PRIMARY KEY,
        event_id INTEGER NOT NULL,
        expires_at REAL NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE deliveries (
        id INTEGER PRIMARY KEY,
        event_id INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE,
        rule TEXT NOT NULL,
        action_index INTEGER NOT NULL,
        item_key TEXT,
        connector TEXT NOT NULL,
        action_key TEXT NOT NULL UNIQUE,
        delivery_key TEXT NOT NULL,
        request TEXT,
        schedule TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        lease_owner TEXT,
        last_error TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        config_version TEXT
    );
    CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
    CREATE INDEX deliveries_event ON deliveries (event_id);
    CREATE INDEX deliveries_status ON deliveries (status, id);
    CREATE TABLE attempts (
        id INTEGER PRIMARY KEY,
        delivery_id INTEGER NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
        number INTEGER NOT NULL,
        started_at REAL NOT NULL,
        duration_ms REAL NOT NULL,
        outcome TEXT NOT NULL,
        status_code INTEGER,
        error TEXT
    );
    CREATE INDEX attempts_delivery ON attempts (delivery_id);
    """,
    """
    ALTER TABLE events ADD COLUMN fetched TEXT;
    CREATE INDEX deliveries_created ON deliveries (created_at);
    CREATE INDEX dedupe_expiry ON dedupe (expires_at);
    """,
    """
    CREATE TABLE health (id INTEGER PRIMARY KEY, checked_at REAL NOT NULL);
    """,
)


def migrate(conn: sqlite3.Connection) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise StoreUnavailable(f"the database schema is version {version}, newer than this program ({len(MIGRATIONS)})")
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        conn.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
