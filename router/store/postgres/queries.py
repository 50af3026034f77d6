"""The SQL of the PostgreSQL store, as named constants; the store module holds only the Python around it.

Parameters are ``$n``. Most operations are one statement (one round trip), written as a chain of CTEs.
Statements that commit new due work also send the notice (``notify_sql``) inside the same transaction,
so it goes out at commit and never before; the hot paths (``ADD_EVENT``, ``COMPLETE_ROUTE``) come in
two spellings, with and without it (see the store's ``NOTIFY_INTERVAL``). Templates with a ``{where}``
part take a filter's clause from ``router.store.filters.where``. Status literals are the values of
``router.store.status``, spelled out so the partial "due" indexes apply.
"""

from __future__ import annotations

from router.store import outbox
from router.store.rows import (
    ATTEMPT_COLUMNS,
    DELIVERY_COLUMNS,
    DELIVERY_VALUE_COLUMNS,
    EVENT_COLUMNS,
    EVENT_VALUE_COLUMNS,
)

CHANNEL = "plugpay_router"
KINDS = ("events", "deliveries")


def notify_sql(kind: str, shop: str | None = None) -> str:
    """A SQL expression that sends the ``kind`` notice for the current schema (at commit). ``shop``, a SQL
    expression of the shop whose work it is, makes the notice name it (``<schema>:<kind>/<shop>``), so an
    instance wakes only that shop's loop; a notice without one (or of shop "") wakes every loop of the kind."""
    assert kind in KINDS
    named = "" if shop is None else f" || CASE WHEN {shop} = '' THEN '' ELSE '/' || {shop} END"
    return f"pg_notify('{CHANNEL}', current_schema() || ':{kind}'{named})"


def _with_and_without_notice(template: str, kind: str, shop: str | None = None) -> dict[bool, str]:
    return {True: template.format(notify=notify_sql(kind, shop)), False: template.format(notify="NULL")}


CURRENT_SCHEMA = "SELECT current_schema()"
READ_ONLY = "SELECT pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on'"

# ------------------------------------------------------------ receive

# The event row for a claimed dedupe key (``claimed`` gives its id), shared by both ways of adding an event;
# ``{{trace}}`` is the parameter of its traceparent (a webhook's) or NULL (a listed event's).
_INSERT_CLAIMED = f""", inserted AS (
    INSERT INTO events (id, dedupe_key, {EVENT_VALUE_COLUMNS}, status, received_at, next_attempt_at, trace)
    SELECT event_id, $1, $4::text, $5::text, $6::text, $7::text, $8::text, $9::text, $10::text, $11::text,
           $12::text, $13::json, $14::text, $15::text, $3::float8, $3::float8, {{trace}}
    FROM claimed
    RETURNING id
)"""
# The dedupe key is claimed first: a new key or an expired one is taken (with a fresh event id), a live one
# leaves ``claimed`` empty, so no event is inserted and the caller looks up the original.
ADD_EVENT = _with_and_without_notice(
    f"""
WITH claimed AS (
    INSERT INTO dedupe (key, event_id, expires_at) VALUES ($1, nextval('events_id_seq'), $2)
    ON CONFLICT (key) DO UPDATE SET event_id = excluded.event_id, expires_at = excluded.expires_at
    WHERE dedupe.expires_at <= $3
    RETURNING event_id
){_INSERT_CLAIMED.format(trace="NULL")}
SELECT id, {{notify}} FROM inserted
""",
    "events",
    "$14::text",
)
# A webhook's event in one round trip: unless a live entry for its business key ($16) stands for it (an
# event found by reconcile; ``held`` names it and nothing is inserted), ADD_EVENT's claim and insert, with
# its traceparent ($17). The one row says which: ``id`` (new), ``held``, or neither (the dedupe key is live:
# a duplicate).
ADD_WEBHOOK_EVENT = _with_and_without_notice(
    f"""
WITH held AS (
    SELECT event_id FROM dedupe WHERE key = $16 AND expires_at > $3
), claimed AS (
    INSERT INTO dedupe (key, event_id, expires_at)
    SELECT $1, nextval('events_id_seq'), $2 WHERE NOT EXISTS (SELECT 1 FROM held)
    ON CONFLICT (key) DO UPDATE SET event_id = excluded.event_id, expires_at = excluded.expires_at
    WHERE dedupe.expires_at <= $3
    RETURNING event_id
){_INSERT_CLAIMED.format(trace="$17::text")}
SELECT inserted.id, held.event_id AS held, CASE WHEN inserted.id IS NOT NULL THEN {{notify}} END
FROM (SELECT 1) AS one LEFT JOIN inserted ON true LEFT JOIN held ON true
""",
    "events",
    "$14::text",
)
DEDUPED_EVENT = "SELECT event_id FROM dedupe WHERE key = $1"
COUNT_DUPLICATE = "UPDATE events SET duplicates = duplicates + 1 WHERE id = $1"

# ------------------------------------------------------------ route

# The deliveries come as one array per column ($6 … $15, in DELIVERY_VALUE_COLUMNS order), with the route's
# traceparent ($17) for all of them. An action whose key is kept (even with its delivery purged long ago) is
# not stored again; a new one's key is kept.
COMPLETE_ROUTE = _with_and_without_notice(
    f"""
WITH routed AS (
    UPDATE events SET status = 'routed', lease_owner = NULL, outcomes = $3::json, config_version = $4,
                      routed_at = $5, last_error = NULL, fetched = $16::json
    WHERE id = $1 AND lease_owner = $2
    RETURNING id, shop
), inserted AS (
    INSERT INTO deliveries (event_id, {DELIVERY_VALUE_COLUMNS}, next_attempt_at, created_at, updated_at,
                            config_version, trace, shop)
    SELECT routed.id, u.rule, u.action_index, u.item_key, u.connector, u.action_key, u.delivery_key,
           u.request::json, u.schedule::json, u.status, u.error, $5, $5, $5, $4, $17::text, routed.shop
    FROM routed,
         unnest($6::text[], $7::int[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[],
                $13::text[], $14::text[], $15::text[])
         WITH ORDINALITY AS u(rule, action_index, item_key, connector, action_key, delivery_key, request,
                              schedule, status, error, ord)
    WHERE NOT EXISTS (SELECT 1 FROM action_keys k WHERE k.key = u.action_key)
    ORDER BY u.ord
    ON CONFLICT (action_key) DO NOTHING
    RETURNING id, event_id, action_key, status
), kept AS (
    INSERT INTO action_keys (key, delivery_id, event_id, created_at)
    SELECT action_key, id, event_id, $5 FROM inserted
    ON CONFLICT (key) DO NOTHING
)
SELECT (SELECT count(*) FROM routed) AS routed,
       (SELECT count(*) FROM inserted) AS inserted,
       CASE WHEN EXISTS (SELECT 1 FROM inserted WHERE status = 'pending') THEN {{notify}} END
""",
    "deliveries",
    "(SELECT shop FROM routed)",
)
RETRY_EVENT = """
UPDATE events SET lease_owner = NULL, next_attempt_at = $1, attempts = attempts + 1, last_error = $2
WHERE id = $3 AND lease_owner = $4
"""
FAIL_EVENT = """
UPDATE events SET status = 'failed', lease_owner = NULL, attempts = attempts + 1, last_error = $1, routed_at = $2
WHERE id = $3 AND lease_owner = $4
"""

# ------------------------------------------------------------ claims and leases

# With a shop ($5), only that shop's work (``shops:``: each shop claims its own).
_CLAIM = """
UPDATE {table} SET lease_owner = $1, next_attempt_at = $2 WHERE id IN (
    SELECT id FROM {table} WHERE status = 'pending' AND next_attempt_at <= $3{shop}
    ORDER BY next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED
) RETURNING {columns}
"""
CLAIM = {
    (table, by_shop): _CLAIM.format(table=table, columns=columns, shop=" AND shop = $5" if by_shop else "")
    for table, columns in (("events", EVENT_COLUMNS), ("deliveries", DELIVERY_COLUMNS))
    for by_shop in (False, True)
}

# A released item is due at once: its due time goes back from the lease expiry to when it arrived.
RELEASE = f"""
WITH events_released AS (
    UPDATE events SET lease_owner = NULL, next_attempt_at = LEAST(next_attempt_at, received_at)
    WHERE lease_owner = $1 RETURNING status
), deliveries_released AS (
    UPDATE deliveries SET lease_owner = NULL, next_attempt_at = LEAST(next_attempt_at, updated_at)
    WHERE lease_owner = $1 RETURNING status
)
SELECT CASE WHEN EXISTS (SELECT 1 FROM events_released WHERE status = 'pending') THEN {notify_sql("events")} END,
       CASE WHEN EXISTS (SELECT 1 FROM deliveries_released WHERE status = 'pending')
            THEN {notify_sql("deliveries")} END
"""

# A lease renewal for work still in flight: never shortens a lease, never touches one held by another.
_EXTEND_LEASES = """
UPDATE {table} SET next_attempt_at = GREATEST(next_attempt_at, $1)
WHERE lease_owner = $2 AND status = 'pending' AND id = ANY($3::bigint[])
"""
EXTEND_LEASES = {table: _EXTEND_LEASES.format(table=table) for table in KINDS}

# Each shop's earliest due event and delivery: two probes of the (shop, due) indexes per name in $1.
_DUE = "(SELECT min(next_attempt_at) FROM {table} WHERE status = 'pending'{shop})"
DUE_TIMES = {
    False: "SELECT " + ", ".join(_DUE.format(table=t, shop="") for t in ("events", "deliveries")),
    True: "SELECT "
    + ", ".join(_DUE.format(table=t, shop=" AND shop = s.name") for t in ("events", "deliveries"))
    + " FROM unnest($1::text[]) WITH ORDINALITY AS s(name, n) ORDER BY s.n",
}

# ------------------------------------------------------------ deliver

# A lost lease still records the attempt (numbered after the delivery's count) but leaves the state alone.
FINISH_ATTEMPT = f"""
WITH finished AS (
    UPDATE deliveries SET status = $2, attempts = attempts + 1, next_attempt_at = $3, lease_owner = NULL,
                          last_error = $4, updated_at = $5
    WHERE id = $1 AND lease_owner = $6
    RETURNING attempts
)
INSERT INTO attempts ({ATTEMPT_COLUMNS})
SELECT d.id, coalesce((SELECT attempts FROM finished), d.attempts + 1), $7, $8, $9, $10, $11, $12::json
FROM deliveries d WHERE d.id = $1
"""
DEFER_DELIVERY = "UPDATE deliveries SET lease_owner = NULL, next_attempt_at = $1 WHERE id = $2 AND lease_owner = $3"

# ------------------------------------------------------------ reading

GET_EVENT = f"SELECT {EVENT_COLUMNS} FROM events WHERE id = $1"
LIST_EVENTS = f"SELECT {EVENT_COLUMNS} FROM events {{where}} ORDER BY id DESC LIMIT {{limit}}"
GET_DELIVERY = f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = $1"
LIST_DELIVERIES = f"SELECT {DELIVERY_COLUMNS} FROM deliveries {{where}} ORDER BY id DESC LIMIT {{limit}}"
DELIVERY_IDS = "SELECT id FROM deliveries {where} ORDER BY id"
LIST_ATTEMPTS = f"SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE delivery_id = $1 ORDER BY id"

COUNTS = """
SELECT (SELECT json_object_agg(status, n) FROM (SELECT status, count(*) AS n FROM events GROUP BY status) e)
           AS events,
       (SELECT json_object_agg(status, n) FROM (SELECT status, count(*) AS n FROM deliveries GROUP BY status) d)
           AS deliveries,
       LEAST((SELECT min(received_at) FROM events WHERE status = 'pending'),
             (SELECT min(created_at) FROM deliveries WHERE status = 'pending')) AS oldest
"""

# ------------------------------------------------------------ operating

REPLAY = f"""
WITH replayed AS (
    UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = $1, lease_owner = NULL, updated_at = $1
    WHERE id = ANY($2::bigint[]) AND (status = 'dead' OR (status = 'delivered' AND $3::boolean))
          AND request IS NOT NULL
    RETURNING id
)
SELECT count(*) AS replayed, CASE WHEN count(*) > 0 THEN {notify_sql("deliveries")} END FROM replayed
"""

REROUTE = f"""
WITH freed AS (
    DELETE FROM action_keys WHERE key IN (SELECT action_key FROM deliveries WHERE event_id = $1 AND status = 'dead')
), superseded AS (
    UPDATE deliveries SET status = 'superseded', action_key = action_key || ':superseded:' || id, updated_at = $2
    WHERE event_id = $1 AND status = 'dead'
), rerouted AS (
    UPDATE events SET status = 'pending', attempts = 0, next_attempt_at = $2, lease_owner = NULL, last_error = NULL
    WHERE id = $1 RETURNING id
)
SELECT count(*) AS found, CASE WHEN count(*) > 0 THEN {notify_sql("events")} END FROM rerouted
"""

PURGE = """
WITH doomed AS (
    SELECT e.id FROM events e
    WHERE e.received_at < $1 AND e.status <> 'pending'
      AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.status = 'pending')
    ORDER BY e.received_at LIMIT $3 FOR UPDATE SKIP LOCKED
), deleted AS (
    DELETE FROM events WHERE id IN (SELECT id FROM doomed) RETURNING id
), expired AS (
    DELETE FROM dedupe WHERE key IN (SELECT key FROM dedupe WHERE expires_at <= $2 LIMIT $3 FOR UPDATE SKIP LOCKED)
), sent AS (
    DELETE FROM alert_outbox WHERE id IN (
        SELECT id FROM alert_outbox WHERE created_at < $1 ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED
    )
)
SELECT count(*) AS deleted FROM deleted
"""

PURGE_ACTION_KEYS = """
WITH deleted AS (
    DELETE FROM action_keys WHERE key IN (
        SELECT key FROM action_keys WHERE created_at < $1 ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED
    ) RETURNING 1
)
SELECT count(*) FROM deleted
"""

# ------------------------------------------------------------ alerts

OUTBOX_DEAD = outbox.DEAD_DELIVERY.format(now="$1", json="json_build_object", id="$2")
OUTBOX_FAILED = outbox.FAILED_EVENT.format(now="$1", json="json_build_object", id="$2")
OUTBOX_ADD = "INSERT INTO alert_outbox (kind, created_at, item) VALUES ($1, $2, $3)"
OUTBOX_AFTER = outbox.AFTER.format(after="$1", limit="$2")
