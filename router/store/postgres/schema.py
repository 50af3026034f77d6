"""The PostgreSQL schema and its migrations, applied at start-up under an advisory lock.

Migrations are numbered by their place in ``MIGRATIONS``; ``schema_version`` records one row per applied
migration. Every instance runs ``migrate`` when it opens the store: the whole run is one transaction that
first takes a transaction-scoped advisory lock keyed on the schema, so instances starting together take
turns, and the later ones find the work done. Times are epoch seconds in ``double precision``, exactly as
the callers pass them (the same values the SQLite store keeps); JSON is kept as ``json`` (the text as
written), so the records read back the same from both stores.
"""

from __future__ import annotations

from typing import Any

from router.store.base import StoreUnavailable

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE events (
        id bigserial PRIMARY KEY,
        dedupe_key text NOT NULL,
        business_key text NOT NULL,
        trigger text NOT NULL,
        raw_trigger text NOT NULL,
        triggerable_type text NOT NULL,
        triggerable_id text NOT NULL,
        tenant_id text,
        rule_id text,
        sent_at text,
        source text NOT NULL,
        payload json NOT NULL,
        status text NOT NULL DEFAULT 'pending',
        received_at double precision NOT NULL,
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at double precision NOT NULL,
        lease_owner text,
        last_error text,
        outcomes json,
        config_version text,
        routed_at double precision
    );
    CREATE INDEX events_due ON events (next_attempt_at) WHERE status = 'pending';
    CREATE INDEX events_status ON events (status, id);
    CREATE INDEX events_received ON events (received_at);
    CREATE INDEX events_leased ON events (lease_owner) WHERE lease_owner IS NOT NULL;
    CREATE TABLE dedupe (
        key text PRIMARY KEY,
        event_id bigint NOT NULL,
        expires_at double precision NOT NULL
    );
    CREATE TABLE deliveries (
        id bigserial PRIMARY KEY,
        event_id bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
        rule text NOT NULL,
        action_index integer NOT NULL,
        item_key text,
        connector text NOT NULL,
        action_key text NOT NULL UNIQUE,
        delivery_key text NOT NULL,
        request json,
        schedule json NOT NULL,
        status text NOT NULL,
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at double precision NOT NULL,
        lease_owner text,
        last_error text,
        created_at double precision NOT NULL,
        updated_at double precision NOT NULL,
        config_version text
    );
    CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
    CREATE INDEX deliveries_event ON deliveries (event_id);
    CREATE INDEX deliveries_status ON deliveries (status, id);
    CREATE INDEX deliveries_leased ON deliveries (lease_owner) WHERE lease_owner IS NOT NULL;
    CREATE TABLE attempts (
        id bigserial PRIMARY KEY,
        delivery_id bigint NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
        number integer NOT NULL,
        started_at double precision NOT NULL,
        duration_ms double precision NOT NULL,
        outcome text NOT NULL,
        status_code integer,
        error text
    );
    CREATE INDEX attempts_delivery ON attempts (delivery_id, id);
    """,
    """
    ALTER TABLE events ADD COLUMN fetched json;
    CREATE INDEX deliveries_created ON deliveries (created_at);
    CREATE INDEX dedupe_expiry ON dedupe (expires_at);
    """,
    # Action keys outlive their deliveries and events (retention.action_keys), so they get their own table.
    # Ids need nothing: a sequence (bigserial) never hands out a number twice.
    """
    CREATE TABLE action_keys (
        key text PRIMARY KEY,
        delivery_id bigint NOT NULL,
        event_id bigint NOT NULL,
        created_at double precision NOT NULL
    );
    CREATE INDEX action_keys_created ON action_keys (created_at);
    INSERT INTO action_keys (key, delivery_id, event_id, created_at)
        SELECT action_key, id, event_id, created_at FROM deliveries WHERE status <> 'superseded';
    """,
    # Webhooks that failed verification, kept (bounded) until released (router.inbound.quarantine).
    """
    CREATE TABLE quarantine (
        id bigserial PRIMARY KEY,
        received_at double precision NOT NULL,
        remote text,
        path text NOT NULL,
        content_type text NOT NULL,
        header_names json NOT NULL,
        signatures json NOT NULL,
        body bytea NOT NULL,
        size integer NOT NULL
    );
    CREATE INDEX quarantine_received ON quarantine (received_at);
    """,
    # Reconcile: how far each trigger's lists were checked, and "is there an event of this business key".
    """
    CREATE TABLE watermarks (
        name text PRIMARY KEY,
        value double precision NOT NULL,
        updated_at double precision NOT NULL
    );
    CREATE INDEX events_business ON events (business_key);
    """,
    # What happened to an object (``trace``, the dashboard): what each attempt's destination made of it, how
    # often a webhook came again, and indexes for finding an object's events and counting the last hours.
    """
    ALTER TABLE attempts ADD COLUMN result json;
    ALTER TABLE events ADD COLUMN duplicates integer NOT NULL DEFAULT 0;
    CREATE INDEX events_object ON events (triggerable_id);
    CREATE INDEX events_routed ON events (routed_at, status);
    CREATE INDEX attempts_started ON attempts (started_at);
    CREATE INDEX deliveries_updated ON deliveries (updated_at, status);
    """,
    # Alerts: what needs a person, written in the transaction of its cause, sent by the alert loop.
    """
    CREATE TABLE alert_outbox (
        id bigserial PRIMARY KEY,
        kind text NOT NULL,
        created_at double precision NOT NULL,
        item text NOT NULL
    );
    """,
    # Traces (router.tracing): the W3C traceparent an event's route span and a delivery's attempts continue.
    """
    ALTER TABLE events ADD COLUMN trace text;
    ALTER TABLE deliveries ADD COLUMN trace text;
    """,
    # Several shops in one router (``shops:``): each row's shop ("" in a router of one), and each shop's due work.
    """
    ALTER TABLE events ADD COLUMN shop text NOT NULL DEFAULT '';
    ALTER TABLE deliveries ADD COLUMN shop text NOT NULL DEFAULT '';
    CREATE INDEX events_shop_due ON events (shop, next_attempt_at) WHERE status = 'pending';
    CREATE INDEX deliveries_shop_due ON deliveries (shop, next_attempt_at) WHERE status = 'pending';
    """,
)

_VERSION_TABLE = """
    CREATE TABLE IF NOT EXISTS schema_version (
        version integer PRIMARY KEY,
        applied_at timestamptz NOT NULL DEFAULT now()
    )
"""


_LOCK = "SELECT pg_advisory_xact_lock(hashtext('plugpay-router:migrate:' || current_schema()))"
_VERSION = "SELECT coalesce(max(version), 0) FROM schema_version"
_APPLIED = "INSERT INTO schema_version (version) VALUES ($1)"


async def migrate(conn: Any) -> int:
    """Bring the schema in ``conn``'s search_path up to date; returns the version it is at."""
    async with conn.transaction():
        schema = await conn.fetchval("SELECT current_schema()")
        if schema is None:
            path = await conn.fetchval("SELECT current_setting('search_path')")
            raise StoreUnavailable(f"postgresql: no schema of search_path {path!r} exists; create it first")
        await conn.execute(_LOCK)
        await conn.execute(_VERSION_TABLE)
        version = await conn.fetchval(_VERSION)
        if version > len(MIGRATIONS):
            raise StoreUnavailable(
                f"postgresql: the schema is version {version}, newer than this program ({len(MIGRATIONS)})"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            await conn.execute(script)
            await conn.execute(_APPLIED, number)
        return len(MIGRATIONS)
