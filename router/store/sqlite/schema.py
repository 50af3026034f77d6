"""The SQLite schema and its migrations, numbered by their place in ``MIGRATIONS``.

The file's ``PRAGMA user_version`` is the number of migrations applied; ``migrate`` applies the missing
ones, each in its own transaction, and refuses a file from a newer program. Times are epoch seconds
(``REAL``) and JSON is kept as the text written, as in the PostgreSQL store.
"""

from __future__ import annotations

import sqlite3

from router.store.base import StoreUnavailable

# The columns after ``id`` of events and deliveries as they stand after migration 2 (migration 4 rebuilds them).
_EVENT_COLUMNS = """
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
        routed_at REAL,
        fetched TEXT"""
_DELIVERY_COLUMNS = """
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
        config_version TEXT"""


def _names(columns: str) -> str:
    return "id, " + ", ".join(line.split()[0] for line in columns.strip().rstrip(",").split(",\n"))


_EVENT_NAMES = _names(_EVENT_COLUMNS)
_DELIVERY_NAMES = _names(_DELIVERY_COLUMNS)

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
    # Ids are never reused (AUTOINCREMENT): a purged event's id must not name a new one. SQLite cannot add
    # AUTOINCREMENT to a table, so events and deliveries are rebuilt (foreign keys are off while migrating).
    # The sequence starts past every id still named anywhere, also by a dedupe key of a purged event.
    # Action keys get their own table, kept long after their deliveries are purged (retention.action_keys).
    f"""
    CREATE TABLE events_new (
        id INTEGER PRIMARY KEY AUTOINCREMENT,{_EVENT_COLUMNS}
    );
    INSERT INTO events_new SELECT {_EVENT_NAMES} FROM events;
    DROP TABLE events;
    ALTER TABLE events_new RENAME TO events;
    CREATE INDEX events_due ON events (next_attempt_at) WHERE status = 'pending';
    CREATE INDEX events_status ON events (status, id);
    CREATE INDEX events_received ON events (received_at);
    CREATE TABLE deliveries_new (
        id INTEGER PRIMARY KEY AUTOINCREMENT,{_DELIVERY_COLUMNS}
    );
    INSERT INTO deliveries_new SELECT {_DELIVERY_NAMES} FROM deliveries;
    DROP TABLE deliveries;
    ALTER TABLE deliveries_new RENAME TO deliveries;
    CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
    CREATE INDEX deliveries_event ON deliveries (event_id);
    CREATE INDEX deliveries_status ON deliveries (status, id);
    CREATE INDEX deliveries_created ON deliveries (created_at);
    DELETE FROM sqlite_sequence WHERE name IN ('events', 'deliveries');
    INSERT INTO sqlite_sequence (name, seq) VALUES
        ('events', max(coalesce((SELECT max(id) FROM events), 0), coalesce((SELECT max(event_id) FROM dedupe), 0))),
        ('deliveries', coalesce((SELECT max(id) FROM deliveries), 0));
    CREATE TABLE action_keys (
        key TEXT PRIMARY KEY,
        delivery_id INTEGER NOT NULL,
        event_id INTEGER NOT NULL,
        created_at REAL NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX action_keys_created ON action_keys (created_at);
    INSERT INTO action_keys (key, delivery_id, event_id, created_at)
        SELECT action_key, id, event_id, created_at FROM deliveries WHERE status != 'superseded';
    """,
    # Webhooks that failed verification, kept (bounded) until released (router.inbound.quarantine).
    """
    CREATE TABLE quarantine (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        received_at REAL NOT NULL,
        remote TEXT,
        path TEXT NOT NULL,
        content_type TEXT NOT NULL,
        header_names TEXT NOT NULL,
        signatures TEXT NOT NULL,
        body BLOB NOT NULL,
        size INTEGER NOT NULL
    );
    CREATE INDEX quarantine_received ON quarantine (received_at);
    """,
    # Reconcile: how far each trigger's lists were checked, and "is there an event of this business key".
    """
    CREATE TABLE watermarks (
        name TEXT PRIMARY KEY,
        value REAL NOT NULL,
        updated_at REAL NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX events_business ON events (business_key);
    """,
    # What happened to an object (``trace``, the dashboard): what each attempt's destination made of it, how
    # often a webhook came again, and indexes for finding an object's events and counting the last hours.
    """
    ALTER TABLE attempts ADD COLUMN result TEXT;
    ALTER TABLE events ADD COLUMN duplicates INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX events_object ON events (triggerable_id);
    CREATE INDEX events_routed ON events (routed_at, status);
    CREATE INDEX attempts_started ON attempts (started_at);
    CREATE INDEX deliveries_updated ON deliveries (updated_at, status);
    """,
    # Alerts: what needs a person, written in the transaction of its cause, sent by the alert loop.
    """
    CREATE TABLE alert_outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        created_at REAL NOT NULL,
        item TEXT NOT NULL
    );
    """,
    # Traces (router.tracing): the W3C traceparent an event's route span and a delivery's attempts continue.
    """
    ALTER TABLE events ADD COLUMN trace TEXT;
    ALTER TABLE deliveries ADD COLUMN trace TEXT;
    """,
    # Several shops in one router (``shops:``): each row's shop ("" in a router of one), and each shop's due work.
    """
    ALTER TABLE events ADD COLUMN shop TEXT NOT NULL DEFAULT '';
    ALTER TABLE deliveries ADD COLUMN shop TEXT NOT NULL DEFAULT '';
    CREATE INDEX events_shop_due ON events (shop, next_attempt_at) WHERE status = 'pending';
    CREATE INDEX deliveries_shop_due ON deliveries (shop, next_attempt_at) WHERE status = 'pending';
    """,
)


def migrate(conn: sqlite3.Connection) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise StoreUnavailable(f"the database schema is version {version}, newer than this program ({len(MIGRATIONS)})")
    if version == len(MIGRATIONS):
        return
    # Rebuilding a table drops the old one, which must not cascade to the rows referring to it.
    conn.execute("PRAGMA foreign_keys=OFF")
    try:
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            conn.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
    finally:
        conn.execute("PRAGMA foreign_keys=ON")
    broken = conn.execute("PRAGMA foreign_key_check").fetchone()
    if broken is not None:
        raise StoreUnavailable(f"sqlite: a migration left a dangling reference: {tuple(broken)}")
