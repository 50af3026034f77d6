"""The shared store: PostgreSQL through asyncpg, for several router instances on one database.

The same protocol and semantics as the SQLite store, with the queue discipline PostgreSQL offers: a
webhook's dedupe key is a primary key claimed with ``INSERT … ON CONFLICT`` (an expired key is taken
over, a live one answers "duplicate"), claims take due rows with ``FOR UPDATE SKIP LOCKED`` so instances
never wait for or share a row, and a lease is the pair (``lease_owner``, ``next_attempt_at`` = lease
expiry), so the work of an instance that died falls due again when its lease runs out. Action dedupe is
the unique ``action_key``. Times are the callers' ``now``, never the server clock, exactly as in SQLite:
run the instances with synchronised clocks. Writes that commit new due work send a NOTIFY with the
commit (see ``pg_listen``); most methods are one statement, so one round trip.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from router.events import Event
from router.store.base import (
    Accepted,
    Attempt,
    Counts,
    DeliveryFilter,
    DeliveryRecord,
    EventFilter,
    EventRecord,
    NewDelivery,
    StoreUnavailable,
    where,
)
from router.store.pg_listen import Listener, notify_sql
from router.store.pg_pool import Pool
from router.store.pg_rows import (
    ATTEMPT_COLUMNS,
    DELIVERY_COLUMNS,
    EVENT_COLUMNS,
    attempt_record,
    delivery_record,
    event_record,
)
from router.store.pg_schema import migrate

_ADD_EVENT = """
WITH claimed AS (
    INSERT INTO dedupe (key, event_id, expires_at) VALUES ($1, nextval('events_id_seq'), $2)
    ON CONFLICT (key) DO UPDATE SET event_id = excluded.event_id, expires_at = excluded.expires_at
    WHERE dedupe.expires_at <= $3
    RETURNING event_id
), inserted AS (
    INSERT INTO events (id, dedupe_key, business_key, trigger, raw_trigger, triggerable_type, triggerable_id,
                        tenant_id, rule_id, sent_at, source, payload, received_at, next_attempt_at)
    SELECT event_id, $1, $4::text, $5::text, $6::text, $7::text, $8::text, $9::text, $10::text, $11::text,
           $12::text, $13::json, $3::float8, $3::float8
    FROM claimed
    RETURNING id
)
SELECT id, {notify} FROM inserted
"""

_COMPLETE_ROUTE = """
WITH routed AS (
    UPDATE events SET status = 'routed', lease_owner = NULL, outcomes = $3::json, config_version = $4,
                      routed_at = $5, last_error = NULL, fetched = $16::json
    WHERE id = $1 AND lease_owner = $2
    RETURNING id
), inserted AS (
    INSERT INTO deliveries (event_id, rule, action_index, item_key, connector, action_key, delivery_key, request,
                            schedule, status, next_attempt_at, last_error, created_at, updated_at, config_version)
    SELECT routed.id, u.rule, u.action_index, u.item_key, u.connector, u.action_key, u.delivery_key,
           u.request::json, u.schedule::json, u.status, $5, u.error, $5, $5, $4
    FROM routed,
         unnest($6::text[], $7::int[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[],
                $13::text[], $14::text[], $15::text[])
         WITH ORDINALITY AS u(rule, action_index, item_key, connector, action_key, delivery_key, request,
                              schedule, status, error, ord)
    ORDER BY u.ord
    ON CONFLICT (action_key) DO NOTHING
    RETURNING status
)
SELECT (SELECT count(*) FROM routed) AS routed,
       (SELECT count(*) FROM inserted) AS inserted,
       CASE WHEN EXISTS (SELECT 1 FROM inserted WHERE status = 'pending') THEN {notify} END
"""

# The hot paths notify at most once per NOTIFY_INTERVAL per instance: the instance that commits wakes its
# own loops directly, so the notice only has to bring the others in, and once awake they keep claiming
# while there is work. Each NOTIFY costs a commit-time lock on the server's notification queue.
NOTIFY_INTERVAL = 0.05
_ADD_EVENT_SQL = {True: _ADD_EVENT.format(notify=notify_sql("events")), False: _ADD_EVENT.format(notify="NULL")}
_COMPLETE_ROUTE_SQL = {
    True: _COMPLETE_ROUTE.format(notify=notify_sql("deliveries")),
    False: _COMPLETE_ROUTE.format(notify="NULL"),
}

_CLAIM = """
UPDATE {table} SET lease_owner = $1, next_attempt_at = $2 WHERE id IN (
    SELECT id FROM {table} WHERE status = 'pending' AND next_attempt_at <= $3
    ORDER BY next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED
) RETURNING {columns}
"""

_FINISH_ATTEMPT = """
WITH finished AS (
    UPDATE deliveries SET status = $2, attempts = attempts + 1, next_attempt_at = $3, lease_owner = NULL,
                          last_error = $4, updated_at = $5
    WHERE id = $1 AND lease_owner = $6
    RETURNING attempts
)
INSERT INTO attempts (delivery_id, number, started_at, duration_ms, outcome, status_code, error)
SELECT d.id, coalesce((SELECT attempts FROM finished), d.attempts + 1), $7, $8, $9, $10, $11
FROM deliveries d WHERE d.id = $1
"""

# A released item is due at once: its due time goes back from the lease expiry to when it arrived.
_RELEASE = f"""
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

_REPLAY = f"""
WITH replayed AS (
    UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = $1, lease_owner = NULL, updated_at = $1
    WHERE id = ANY($2::bigint[]) AND status IN ('dead', 'delivered') AND request IS NOT NULL
    RETURNING id
)
SELECT count(*) AS replayed, CASE WHEN count(*) > 0 THEN {notify_sql("deliveries")} END FROM replayed
"""

_REROUTE = f"""
WITH superseded AS (
    UPDATE deliveries SET status = 'superseded', action_key = action_key || ':superseded:' || id, updated_at = $2
    WHERE event_id = $1 AND status = 'dead'
), rerouted AS (
    UPDATE events SET status = 'pending', attempts = 0, next_attempt_at = $2, lease_owner = NULL, last_error = NULL
    WHERE id = $1 RETURNING id
)
SELECT count(*) AS found, CASE WHEN count(*) > 0 THEN {notify_sql("events")} END FROM rerouted
"""

_PURGE = """
WITH doomed AS (
    SELECT e.id FROM events e
    WHERE e.received_at < $1 AND e.status <> 'pending'
      AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.status = 'pending')
    ORDER BY e.received_at LIMIT $3 FOR UPDATE SKIP LOCKED
), deleted AS (
    DELETE FROM events WHERE id IN (SELECT id FROM doomed) RETURNING id
), expired AS (
    DELETE FROM dedupe WHERE key IN (SELECT key FROM dedupe WHERE expires_at <= $2 LIMIT $3 FOR UPDATE SKIP LOCKED)
)
SELECT count(*) AS deleted FROM deleted
"""

_NEXT_DUE = """
SELECT LEAST((SELECT min(next_attempt_at) FROM events WHERE status = 'pending'),
             (SELECT min(next_attempt_at) FROM deliveries WHERE status = 'pending'))
"""

_COUNTS = """
SELECT (SELECT json_object_agg(status, n) FROM (SELECT status, count(*) AS n FROM events GROUP BY status) e)
           AS events,
       (SELECT json_object_agg(status, n) FROM (SELECT status, count(*) AS n FROM deliveries GROUP BY status) d)
           AS deliveries,
       LEAST((SELECT min(received_at) FROM events WHERE status = 'pending'),
             (SELECT min(created_at) FROM deliveries WHERE status = 'pending')) AS oldest
"""


class PostgresStore:
    def __init__(self, url: str, *, pool_size: int = 10):
        self.url = url
        self.schema: str | None = None
        self._pool = Pool(url, max_size=pool_size)
        self._subscribers: list[Callable[[str], None]] = []
        self._listener: Listener | None = None
        self._notified = {"events": -NOTIFY_INTERVAL, "deliveries": -NOTIFY_INTERVAL}

    # ------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        await self._pool.open()
        try:
            await self._pool.run(migrate)
            self.schema = await self._pool.run(lambda conn: conn.fetchval("SELECT current_schema()"))
            if self._subscribers:
                assert self.schema is not None
                self._listener = Listener(self._pool.connect, self.schema, self._notify)
                await self._listener.start()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.stop()
            self._listener = None
        await self._pool.close()

    def subscribe(self, callback: Callable[[str], None]) -> bool:
        """Call ``callback(kind)`` when any instance commits new due work; subscribe before ``open``."""
        if self.schema is not None and self._listener is None:
            raise RuntimeError("subscribe before opening the store")
        self._subscribers.append(callback)
        return True

    def _notify(self, kind: str) -> None:
        for callback in self._subscribers:
            callback(kind)

    def _notice_due(self, kind: str) -> bool:
        """Whether this commit of new ``kind`` work should send a notice (see NOTIFY_INTERVAL)."""
        now = time.monotonic()
        if now - self._notified[kind] < NOTIFY_INTERVAL:
            return False
        self._notified[kind] = now
        return True

    async def ping(self) -> None:
        read_only = await self._pool.run(
            lambda conn: conn.fetchval("SELECT pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on'"),
            retries=1,
        )
        if read_only:
            raise StoreUnavailable("postgresql: the server is read-only (a standby?)")

    # ------------------------------------------------------------ receive

    async def add_event(self, event: Event, *, dedupe_window: float, now: float) -> Accepted:
        payload = json.dumps(event.payload, separators=(",", ":"), ensure_ascii=False)
        key = event.dedupe_key
        sql = _ADD_EVENT_SQL[self._notice_due("events")]
        args = (
            key,
            now + dedupe_window,
            now,
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
        )

        async def insert(conn: Any) -> Accepted | None:
            event_id = await conn.fetchval(sql, *args)
            if event_id is not None:
                return Accepted(event_id)
            # The key is held by a live entry (committed before our statement finished): a duplicate.
            original = await conn.fetchval("SELECT event_id FROM dedupe WHERE key = $1", key)
            return None if original is None else Accepted(original, duplicate=True)

        for _ in range(3):  # None: the entry vanished between the two statements; try again
            accepted = await self._pool.run(insert)
            if accepted is not None:
                return accepted
        raise StoreUnavailable("postgresql: could not settle the dedupe key")

    # ------------------------------------------------------------ route

    async def claim_events(self, owner: str, limit: int, lease: float, now: float) -> list[EventRecord]:
        sql = _CLAIM.format(table="events", columns=EVENT_COLUMNS)
        rows = await self._pool.run(lambda conn: conn.fetch(sql, owner, now + lease, now, limit))
        return [event_record(row) for row in rows]

    async def complete_route(
        self,
        event_id: int,
        owner: str,
        deliveries: list[NewDelivery],
        outcomes: list[dict[str, Any]],
        config_version: str,
        now: float,
        fetched: dict[str, Any] | None = None,
    ) -> int | None:
        kept = None if fetched is None else json.dumps(fetched, ensure_ascii=False, default=str)
        columns: tuple[list[Any], ...] = tuple([] for _ in range(10))
        for d in deliveries:
            request = None if d.request is None else json.dumps(d.request, ensure_ascii=False)
            values = (
                d.rule,
                d.action_index,
                d.item_key,
                d.connector,
                d.action_key,
                d.delivery_key,
                request,
                json.dumps(d.schedule),
                d.status,
                d.error,
            )
            for column, value in zip(columns, values, strict=True):
                column.append(value)
        sql = _COMPLETE_ROUTE_SQL[self._notice_due("deliveries")]
        row = await self._pool.run(
            lambda conn: conn.fetchrow(sql, event_id, owner, json.dumps(outcomes), config_version, now, *columns, kept)
        )
        # No row routed: our lease was taken over, the new holder routes it.
        return int(row["inserted"]) if row["routed"] else None

    async def retry_event(self, event_id: int, owner: str, at: float, error: str) -> None:
        await self._pool.run(
            lambda conn: conn.execute(
                "UPDATE events SET lease_owner = NULL, next_attempt_at = $1, attempts = attempts + 1,"
                " last_error = $2 WHERE id = $3 AND lease_owner = $4",
                at,
                error,
                event_id,
                owner,
            )
        )

    async def fail_event(self, event_id: int, owner: str, error: str, now: float) -> None:
        await self._pool.run(
            lambda conn: conn.execute(
                "UPDATE events SET status = 'failed', lease_owner = NULL, attempts = attempts + 1,"
                " last_error = $1, routed_at = $2 WHERE id = $3 AND lease_owner = $4",
                error,
                now,
                event_id,
                owner,
            )
        )

    # ------------------------------------------------------------ deliver

    async def claim_deliveries(self, owner: str, limit: int, lease: float, now: float) -> list[DeliveryRecord]:
        sql = _CLAIM.format(table="deliveries", columns=DELIVERY_COLUMNS)
        rows = await self._pool.run(lambda conn: conn.fetch(sql, owner, now + lease, now, limit))
        return [delivery_record(row) for row in rows]

    async def finish_attempt(
        self, delivery_id: int, owner: str, attempt: Attempt, next_attempt_at: float | None
    ) -> None:
        status = {"delivered": "delivered", "dead": "dead", "retry": "pending"}[attempt.outcome]
        now = attempt.started_at + attempt.duration_ms / 1000
        await self._pool.run(
            lambda conn: conn.execute(
                _FINISH_ATTEMPT,
                delivery_id,
                status,
                next_attempt_at or now,
                attempt.error,
                now,
                owner,
                attempt.started_at,
                attempt.duration_ms,
                attempt.outcome,
                attempt.status_code,
                attempt.error,
            )
        )

    async def defer_delivery(self, delivery_id: int, owner: str, at: float) -> None:
        await self._pool.run(
            lambda conn: conn.execute(
                "UPDATE deliveries SET lease_owner = NULL, next_attempt_at = $1 WHERE id = $2 AND lease_owner = $3",
                at,
                delivery_id,
                owner,
            )
        )

    async def next_due(self, now: float) -> float | None:
        due = await self._pool.run(lambda conn: conn.fetchval(_NEXT_DUE), retries=1)
        return None if due is None else float(due)

    async def release(self, owner: str) -> None:
        await self._pool.run(lambda conn: conn.execute(_RELEASE, owner))

    # ------------------------------------------------------------ reading and operating

    async def get_event(self, event_id: int) -> EventRecord | None:
        row = await self._pool.run(
            lambda conn: conn.fetchrow(f"SELECT {EVENT_COLUMNS} FROM events WHERE id = $1", event_id), retries=1
        )
        return None if row is None else event_record(row)

    async def list_events(self, flt: EventFilter | None = None, *, limit: int = 50) -> list[EventRecord]:
        clause, args = where((flt or EventFilter()).clauses(), lambda n: f"${n}")
        sql = f"SELECT {EVENT_COLUMNS} FROM events {clause} ORDER BY id DESC LIMIT ${len(args) + 1}"
        rows = await self._pool.run(lambda conn: conn.fetch(sql, *args, limit), retries=1)
        return [event_record(row) for row in rows]

    async def get_delivery(self, delivery_id: int) -> DeliveryRecord | None:
        row = await self._pool.run(
            lambda conn: conn.fetchrow(f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = $1", delivery_id),
            retries=1,
        )
        return None if row is None else delivery_record(row)

    async def list_deliveries(self, flt: DeliveryFilter | None = None, *, limit: int = 50) -> list[DeliveryRecord]:
        clause, args = where((flt or DeliveryFilter()).clauses(), lambda n: f"${n}")
        sql = f"SELECT {DELIVERY_COLUMNS} FROM deliveries {clause} ORDER BY id DESC LIMIT ${len(args) + 1}"
        rows = await self._pool.run(lambda conn: conn.fetch(sql, *args, limit), retries=1)
        return [delivery_record(row) for row in rows]

    async def delivery_ids(self, flt: DeliveryFilter) -> list[int]:
        clause, args = where(flt.clauses(), lambda n: f"${n}")
        rows = await self._pool.run(
            lambda conn: conn.fetch(f"SELECT id FROM deliveries {clause} ORDER BY id", *args), retries=1
        )
        return [int(row["id"]) for row in rows]

    async def reroute_event(self, event_id: int, now: float) -> bool:
        row = await self._pool.run(lambda conn: conn.fetchrow(_REROUTE, event_id, now))
        return bool(row["found"])

    async def purge(self, before: float, now: float, batch: int) -> int:
        row = await self._pool.run(lambda conn: conn.fetchrow(_PURGE, before, now, batch))
        return int(row["deleted"])

    async def list_attempts(self, delivery_id: int) -> list[Attempt]:
        rows = await self._pool.run(
            lambda conn: conn.fetch(
                f"SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE delivery_id = $1 ORDER BY id", delivery_id
            ),
            retries=1,
        )
        return [attempt_record(row) for row in rows]

    async def replay_deliveries(self, ids: list[int], now: float) -> int:
        row = await self._pool.run(lambda conn: conn.fetchrow(_REPLAY, now, ids))
        return int(row["replayed"])

    async def counts(self, now: float) -> Counts:
        row = await self._pool.run(lambda conn: conn.fetchrow(_COUNTS), retries=1)
        events = {k: int(v) for k, v in json.loads(row["events"] or "{}").items()}
        deliveries = {k: int(v) for k, v in json.loads(row["deliveries"] or "{}").items()}
        return Counts(events, deliveries, row["oldest"])
