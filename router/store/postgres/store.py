"""The shared store: PostgreSQL through asyncpg, for several router instances on one database.

The same protocol and semantics as the SQLite store, with the queue discipline PostgreSQL offers: a
webhook's dedupe key is a primary key claimed with ``INSERT … ON CONFLICT`` (an expired key is taken
over, a live one answers "duplicate"), claims take due rows with ``FOR UPDATE SKIP LOCKED`` so instances
never wait for or share a row, and a lease is the pair (``lease_owner``, ``next_attempt_at`` = lease
expiry), so the work of an instance that died falls due again when its lease runs out. Action dedupe is
the unique ``action_key``. Times are the callers' ``now``, never the server clock, exactly as in SQLite:
run the instances with synchronised clocks. Writes that commit new due work send a NOTIFY with the
commit (see ``listen``); most methods are one statement, so one round trip. The SQL is in ``queries``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from router.events import Event
from router.store import rows
from router.store.base import (
    Accepted,
    Attempt,
    Counts,
    DeliveryFilter,
    DeliveryRecord,
    Due,
    EventFilter,
    EventRecord,
    RouteResult,
    StoreUnavailable,
    where,
)
from router.store.listed import ListedEvent, business_dedupe_key
from router.store.outbox import AlertRow, alert_row
from router.store.postgres import listed
from router.store.postgres import queries as q
from router.store.postgres.insight import PostgresInsight
from router.store.postgres.listen import Listener
from router.store.postgres.pool import Pool
from router.store.postgres.quarantine import PostgresQuarantine
from router.store.postgres.schema import migrate
from router.store.status import EventStatus
from toolkit import jsontext

# The hot paths notify at most once per NOTIFY_INTERVAL per instance: the instance that commits wakes its
# own loops directly, so the notice only has to bring the others in, and once awake they keep claiming
# while there is work. Each NOTIFY costs a commit-time lock on the server's notification queue.
NOTIFY_INTERVAL = 0.05


def _mark(number: int) -> str:
    return f"${number}"


class PostgresStore(PostgresQuarantine, PostgresInsight):
    def __init__(self, url: str, *, pool_size: int = 10):
        self.url = url
        self.schema: str | None = None
        self._pool = Pool(url, max_size=pool_size)
        self._subscribers: list[Callable[[str, str | None], None]] = []
        self._listener: Listener | None = None
        self._notified = {"events": -NOTIFY_INTERVAL, "deliveries": -NOTIFY_INTERVAL}

    # ------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        await self._pool.open()
        try:
            await self._pool.run(migrate)
            self.schema = await self._pool.run(lambda conn: conn.fetchval(q.CURRENT_SCHEMA))
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

    async def _run(self, fn: Callable[[Any], Awaitable[Any]]) -> Any:
        """A read (retried once on a lost connection), for the insight queries."""
        return await self._pool.run(fn, retries=1)

    def on_lost(self, callback: Callable[[str], None]) -> None:
        """A server-side database is not a file under this process: losing the connection is an outage
        (StoreUnavailable, retried), never a loss to exit for."""

    def subscribe(self, callback: Callable[[str, str | None], None]) -> bool:
        """Call ``callback(kind, shop)`` when any instance commits new due work; subscribe before ``open``."""
        if self.schema is not None and self._listener is None:
            raise RuntimeError("subscribe before opening the store")
        self._subscribers.append(callback)
        return True

    def _notify(self, kind: str, shop: str | None) -> None:
        for callback in self._subscribers:
            callback(kind, shop)

    def _notice_due(self, kind: str) -> bool:
        """Whether this commit of new ``kind`` work should send a notice (see NOTIFY_INTERVAL)."""
        now = time.monotonic()
        if now - self._notified[kind] < NOTIFY_INTERVAL:
            return False
        self._notified[kind] = now
        return True

    async def ping(self) -> None:
        read_only = await self._pool.run(lambda conn: conn.fetchval(q.READ_ONLY), retries=1)
        if read_only:
            raise StoreUnavailable("postgresql: the server is read-only (a standby?)")

    # ------------------------------------------------------------ receive

    async def add_event(
        self, event: Event, *, dedupe_window: float, now: float, stale: bool = False, trace: str | None = None
    ) -> Accepted:
        key = event.dedupe_key
        # A stale event is not due work: no notice for it.
        sql = q.ADD_WEBHOOK_EVENT[not stale and self._notice_due("events")]
        status = EventStatus.STALE if stale else EventStatus.PENDING
        business = business_dedupe_key(event)
        args = (key, now + dedupe_window, now, *rows.event_values(event), status.value, business, trace)

        async def insert(conn: Any) -> Accepted | None:
            event_id, covered, _ = await conn.fetchrow(sql, *args)
            if covered is not None:  # a found event stands for this webhook
                return Accepted(int(covered), duplicate=True)
            if event_id is not None:
                return Accepted(event_id)
            # The key is held by a live entry (committed before our statement finished): a duplicate.
            original = await conn.fetchval(q.DEDUPED_EVENT, key)
            if original is None:
                return None
            await conn.execute(q.COUNT_DUPLICATE, original)
            return Accepted(original, duplicate=True)

        for _ in range(3):  # None: the entry vanished between the two statements; try again
            accepted = await self._pool.run(insert)
            if accepted is not None:
                return accepted
        raise StoreUnavailable("postgresql: could not settle the dedupe key")

    # ------------------------------------------------------------ reconcile and backfill

    async def add_listed_events(self, items: list[ListedEvent], *, dedupe_window: float, now: float) -> list[Accepted]:
        return await self._pool.run(lambda conn: listed.add_listed(conn, items, dedupe_window, now))

    async def get_watermark(self, name: str) -> float | None:
        value = await self._pool.run(lambda conn: conn.fetchval(listed.GET_MARK, name), retries=1)
        return None if value is None else float(value)

    async def set_watermark(self, name: str, value: float, now: float) -> None:
        await self._pool.run(lambda conn: conn.execute(listed.SET_MARK, name, value, now), retries=1)

    def exclusive(self, name: str) -> AbstractAsyncContextManager[bool]:
        return listed.exclusive(self._pool, name)

    # ------------------------------------------------------------ route

    async def claim_events(
        self, owner: str, limit: int, lease: float, now: float, shop: str | None = None
    ) -> list[EventRecord]:
        return [rows.event_record(row) for row in await self._claim("events", owner, limit, now + lease, now, shop)]

    async def _claim(self, table: str, owner: str, limit: int, until: float, now: float, shop: str | None) -> Any:
        by_shop = () if shop is None else (shop,)
        return await self._pool.run(
            lambda conn: conn.fetch(q.CLAIM[table, bool(by_shop)], owner, until, now, limit, *by_shop)
        )

    async def complete_route(self, event_id: int, owner: str, result: RouteResult, now: float) -> int | None:
        # One array per column: the statement unnests them into rows.
        values = [rows.delivery_values(d) for d in result.deliveries]
        columns = [[row[i] for row in values] for i in range(len(rows.DELIVERY_VALUE_FIELDS))]
        args = (
            event_id,
            owner,
            jsontext.dumps(result.outcomes),
            result.config_version,
            now,
            *columns,
            rows.json_text(result.fetched),
            result.trace,
        )
        sql = q.COMPLETE_ROUTE[self._notice_due("deliveries")]
        row = await self._pool.run(lambda conn: conn.fetchrow(sql, *args))
        # No row routed: our lease was taken over, the new holder routes it.
        return int(row["inserted"]) if row["routed"] else None

    async def retry_event(self, event_id: int, owner: str, at: float, error: str) -> None:
        await self._pool.run(lambda conn: conn.execute(q.RETRY_EVENT, at, error, event_id, owner))

    async def fail_event(self, event_id: int, owner: str, error: str, now: float) -> None:
        async def fail(conn: Any) -> None:
            async with conn.transaction():  # the event's failure and its alert, together
                await conn.execute(q.FAIL_EVENT, error, now, event_id, owner)
                await conn.execute(q.OUTBOX_FAILED, now, event_id)

        await self._pool.run(fail)

    # ------------------------------------------------------------ deliver

    async def claim_deliveries(
        self, owner: str, limit: int, lease: float, now: float, shop: str | None = None
    ) -> list[DeliveryRecord]:
        found = await self._claim("deliveries", owner, limit, now + lease, now, shop)
        return [rows.delivery_record(row) for row in found]

    async def finish_attempt(
        self, delivery_id: int, owner: str, attempt: Attempt, next_attempt_at: float | None
    ) -> None:
        now = attempt.finished_at
        a = attempt
        args = (
            *(delivery_id, a.delivery_status, next_attempt_at or now, a.error, now, owner),
            *(a.started_at, a.duration_ms, a.outcome, a.status_code, a.error, rows.json_text(a.result)),
        )

        async def finish(conn: Any) -> None:
            async with conn.transaction():  # the attempt, the delivery's state and (when dead) its alert
                await conn.execute(q.FINISH_ATTEMPT, *args)
                if a.delivery_status == "dead":
                    await conn.execute(q.OUTBOX_DEAD, now, delivery_id)

        await self._pool.run(finish)

    async def defer_delivery(self, delivery_id: int, owner: str, at: float) -> None:
        await self._pool.run(lambda conn: conn.execute(q.DEFER_DELIVERY, at, delivery_id, owner))

    async def due_times(self, shops: list[str] | None = None) -> list[Due]:
        args = () if shops is None else (shops,)
        found = await self._pool.run(lambda conn: conn.fetch(q.DUE_TIMES[shops is not None], *args), retries=1)
        return [Due(row[0], row[1]) for row in found]

    async def release(self, owner: str) -> None:
        await self._pool.run(lambda conn: conn.execute(q.RELEASE, owner))

    async def extend_leases(self, owner: str, ids: list[int], until: float, kind: str = "deliveries") -> int:
        status = await self._pool.run(lambda conn: conn.execute(q.EXTEND_LEASES[kind], until, owner, ids))
        return int(status.split()[-1])

    # ------------------------------------------------------------ reading and operating

    async def get_event(self, event_id: int) -> EventRecord | None:
        row = await self._pool.run(lambda conn: conn.fetchrow(q.GET_EVENT, event_id), retries=1)
        return None if row is None else rows.event_record(row)

    async def list_events(self, flt: EventFilter | None = None, *, limit: int = 50) -> list[EventRecord]:
        clause, args = where((flt or EventFilter()).clauses(), _mark)
        sql = q.LIST_EVENTS.format(where=clause, limit=_mark(len(args) + 1))
        found = await self._pool.run(lambda conn: conn.fetch(sql, *args, limit), retries=1)
        return [rows.event_record(row) for row in found]

    async def get_delivery(self, delivery_id: int) -> DeliveryRecord | None:
        row = await self._pool.run(lambda conn: conn.fetchrow(q.GET_DELIVERY, delivery_id), retries=1)
        return None if row is None else rows.delivery_record(row)

    async def list_deliveries(self, flt: DeliveryFilter | None = None, *, limit: int = 50) -> list[DeliveryRecord]:
        clause, args = where((flt or DeliveryFilter()).clauses(), _mark)
        sql = q.LIST_DELIVERIES.format(where=clause, limit=_mark(len(args) + 1))
        found = await self._pool.run(lambda conn: conn.fetch(sql, *args, limit), retries=1)
        return [rows.delivery_record(row) for row in found]

    async def delivery_ids(self, flt: DeliveryFilter) -> list[int]:
        clause, args = where(flt.clauses(), _mark)
        sql = q.DELIVERY_IDS.format(where=clause)
        found = await self._pool.run(lambda conn: conn.fetch(sql, *args), retries=1)
        return [int(row["id"]) for row in found]

    async def reroute_event(self, event_id: int, now: float) -> bool:
        row = await self._pool.run(lambda conn: conn.fetchrow(q.REROUTE, event_id, now))
        return bool(row["found"])

    async def purge(self, before: float, now: float, batch: int) -> int:
        row = await self._pool.run(lambda conn: conn.fetchrow(q.PURGE, before, now, batch))
        return int(row["deleted"])

    async def purge_action_keys(self, before: float, batch: int) -> int:
        deleted = await self._pool.run(lambda conn: conn.fetchval(q.PURGE_ACTION_KEYS, before, batch))
        return int(deleted)

    async def list_attempts(self, delivery_id: int) -> list[Attempt]:
        found = await self._pool.run(lambda conn: conn.fetch(q.LIST_ATTEMPTS, delivery_id), retries=1)
        return [rows.attempt_record(row) for row in found]

    async def replay_deliveries(self, ids: list[int], now: float, *, delivered: bool = True) -> int:
        row = await self._pool.run(lambda conn: conn.fetchrow(q.REPLAY, now, ids, delivered))
        return int(row["replayed"])

    async def add_alerts(self, items: list[tuple[str, dict[str, Any]]], now: float) -> None:
        rows_ = [(kind, now, jsontext.dumps(item)) for kind, item in items]
        await self._pool.run(lambda conn: conn.executemany(q.OUTBOX_ADD, rows_))

    async def alerts_after(self, after_id: int, limit: int = 1000) -> list[AlertRow]:
        found = await self._pool.run(lambda conn: conn.fetch(q.OUTBOX_AFTER, after_id, limit), retries=1)
        return [alert_row(row) for row in found]

    async def counts(self, now: float) -> Counts:
        row = await self._pool.run(lambda conn: conn.fetchrow(q.COUNTS), retries=1)
        events = {k: int(v) for k, v in json.loads(row["events"] or "{}").items()}
        deliveries = {k: int(v) for k, v in json.loads(row["deliveries"] or "{}").items()}
        return Counts(events, deliveries, row["oldest"])
