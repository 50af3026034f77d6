"""The embedded store: one SQLite file in WAL mode, with group commit.

Writes are small functions over one connection, committed in groups by ``Writer``. Only the waiting (for
another process's write lock, for the fsync of COMMIT) happens on a helper thread; the event loop never
blocks on the disk. Reads use a second connection on a reader thread (WAL lets readers run beside the
writer). A lease is the pair (``lease_owner``, ``next_attempt_at`` = lease expiry), so a claim moves the
item out of the due set and a dead holder's work falls due again by itself. ``serve`` holds an exclusive
lock file beside the database: one daemon per SQLite file (use PostgreSQL for several), which lets it drop
stale leases at start instead of waiting for them to expire. The file's guard (``guard``) makes sure
nothing is acknowledged once the file was deleted, replaced or corrupted under the running store. Ids
are never reused, and action keys are kept in their own table, so a delivery purged long ago still
keeps its action from running again. The SQL is in ``queries``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from router.events import Event
from router.store import rows
from router.store.base import (
    Accepted,
    Attempt,
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
from router.store.sqlite import listed
from router.store.sqlite import queries as q
from router.store.sqlite.connection import checkpoint, connect, create_private, unavailable
from router.store.sqlite.guard import FileGuard, is_corruption
from router.store.sqlite.insight import SqliteInsight
from router.store.sqlite.quarantine import SqliteQuarantine
from router.store.sqlite.schema import migrate
from router.store.sqlite.writer import Writer
from router.store.status import EventStatus
from toolkit import jsontext

T = TypeVar("T")


def _mark(_: int) -> str:
    return "?"


class SqliteStore(SqliteQuarantine, SqliteInsight):
    def __init__(self, path: Path, *, daemon: bool = False):
        self.path = path
        self.daemon = daemon
        self._writer: Writer | None = None
        self._reader: sqlite3.Connection | None = None
        self._reads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-reader")
        self._lock_fd: int | None = None
        self._guard = FileGuard(path)

    # ------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        await asyncio.to_thread(self._open_sync, asyncio.get_running_loop())
        self._writer = Writer(self.path, self._guard)
        await self._writer.start()

    def _open_sync(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(f"cannot create {self.path.parent}: {exc.strerror}") from None
        if self.daemon:
            self._take_lock()
        try:
            create_private(self.path)
        except OSError as exc:
            raise StoreUnavailable(f"cannot create {self.path}: {exc.strerror}") from None
        try:
            conn = connect(self.path)
            migrate(conn)
            if self.daemon:
                # We hold the lock: any lease in the file belongs to a daemon that is gone.
                for sql in q.RELEASE_ALL:
                    conn.execute(sql)
            conn.close()
            self._reader = connect(self.path)
        except sqlite3.Error as exc:
            raise unavailable(exc) from None
        try:
            # Recorded once the file is open for writing (an overlay filesystem may copy it up on that open).
            self._guard.remember(loop)
        except OSError as exc:
            raise StoreUnavailable(f"cannot open {self.path}: {exc.strerror}") from None

    def _take_lock(self) -> None:
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StoreUnavailable(
                f"another daemon is using {self.path} (lock {lock_path}); "
                "one daemon per SQLite file, use PostgreSQL to run several"
            ) from None
        self._lock_fd = fd

    async def close(self) -> None:
        self._guard.stop()
        if self._writer is not None:
            await self._writer.stop()
            self._writer = None
        if self._reader is not None:
            reader, self._reader = self._reader, None
            await asyncio.get_running_loop().run_in_executor(self._reads, reader.close)
        self._reads.shutdown(wait=False)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _write(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        if self._writer is None:
            raise StoreUnavailable("sqlite: the store is not open")
        return self._writer.submit(fn)

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        reader = self._reader
        if reader is None:
            raise StoreUnavailable("sqlite: the store is not open")

        def run() -> T:
            try:
                return fn(reader)
            except sqlite3.Error as exc:
                if is_corruption(exc):
                    self._guard.corrupt(exc)
                raise unavailable(exc) from None

        return await asyncio.get_running_loop().run_in_executor(self._reads, run)

    def subscribe(self, callback: Callable[[str, str | None], None]) -> bool:
        return False  # one daemon per file, and it wakes itself; other processes are seen by polling

    def on_lost(self, callback: Callable[[str], None]) -> None:
        self._guard.on_lost(callback)

    async def ping(self) -> None:
        # A real write: it needs the write lock, a writable file and room on the disk, like a webhook.
        await self._write(lambda conn: conn.execute(q.PING, (time.time(),)))
        await self._guard.probe()

    # ------------------------------------------------------------ receive

    async def add_event(
        self, event: Event, *, dedupe_window: float, now: float, stale: bool = False, trace: str | None = None
    ) -> Accepted:
        key = event.dedupe_key
        status = EventStatus.STALE if stale else EventStatus.PENDING
        args = (key, *rows.event_values(event), status.value, now, now, trace, key, now)
        business = business_dedupe_key(event)

        def insert(conn: sqlite3.Connection) -> Accepted:
            covered = listed.held_by_business(conn, business, now)  # a found event stands for this webhook
            if covered is not None:
                return covered
            row = conn.execute(q.ADD_EVENT, args).fetchone()
            if row is None:
                original = conn.execute(q.DEDUPED_EVENT, (key,)).fetchone()[0]
                conn.execute(q.COUNT_DUPLICATE, (original,))
                return Accepted(original, duplicate=True)
            conn.execute(q.KEEP_DEDUPE_KEY, (key, row[0], now + dedupe_window))
            return Accepted(row[0])

        return await self._write(insert)

    # ------------------------------------------------------------ reconcile and backfill

    async def add_listed_events(self, items: list[ListedEvent], *, dedupe_window: float, now: float) -> list[Accepted]:
        return await self._write(lambda conn: listed.add_listed(conn, items, dedupe_window, now))

    async def get_watermark(self, name: str) -> float | None:
        return await self._read(lambda conn: listed.get_mark(conn, name))

    async def set_watermark(self, name: str, value: float, now: float) -> None:
        await self._write(lambda conn: listed.set_mark(conn, name, value, now))

    @contextlib.asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[bool]:
        yield True  # one daemon per file (``serve`` holds its lock): no other instance can be reconciling

    # ------------------------------------------------------------ route

    async def claim_events(
        self, owner: str, limit: int, lease: float, now: float, shop: str | None = None
    ) -> list[EventRecord]:
        def claim(conn: sqlite3.Connection) -> list[EventRecord]:
            return [
                rows.event_record(row) for row in conn.execute(*q.claim("events", owner, now + lease, now, limit, shop))
            ]

        return await self._write(claim)

    async def complete_route(self, event_id: int, owner: str, result: RouteResult, now: float) -> int | None:
        version = result.config_version
        routed = (jsontext.dumps(result.outcomes), version, now, rows.json_text(result.fetched), event_id, owner)
        deliveries = [
            (
                d.action_key,
                (event_id, *rows.delivery_values(d), now, now, now, version, result.trace, event_id, d.action_key),
            )
            for d in result.deliveries
        ]

        def complete(conn: sqlite3.Connection) -> int | None:
            if not conn.execute(q.COMPLETE_EVENT, routed).rowcount:
                return None  # our lease was taken over: the new holder routes it
            inserted = 0
            for key, values in deliveries:
                row = conn.execute(q.ADD_DELIVERY, values).fetchone()
                if row is not None:
                    conn.execute(q.KEEP_ACTION_KEY, (key, row[0], event_id, now))
                    inserted += 1
            return inserted

        return await self._write(complete)

    async def retry_event(self, event_id: int, owner: str, at: float, error: str) -> None:
        await self._write(lambda conn: conn.execute(q.RETRY_EVENT, (at, error, event_id, owner)))

    async def fail_event(self, event_id: int, owner: str, error: str, now: float) -> None:
        def fail(conn: sqlite3.Connection) -> None:
            if conn.execute(q.FAIL_EVENT, (error, now, event_id, owner)).rowcount:
                conn.execute(q.OUTBOX_FAILED, (now, event_id))  # its alert, in the same transaction

        await self._write(fail)

    # ------------------------------------------------------------ deliver

    async def claim_deliveries(
        self, owner: str, limit: int, lease: float, now: float, shop: str | None = None
    ) -> list[DeliveryRecord]:
        def claim(conn: sqlite3.Connection) -> list[DeliveryRecord]:
            found = conn.execute(*q.claim("deliveries", owner, now + lease, now, limit, shop))
            return [rows.delivery_record(row) for row in found]

        return await self._write(claim)

    async def finish_attempt(
        self, delivery_id: int, owner: str, attempt: Attempt, next_attempt_at: float | None
    ) -> None:
        now = attempt.finished_at
        finished = (attempt.delivery_status, next_attempt_at or now, attempt.error, now, delivery_id, owner)
        a = attempt

        def finish(conn: sqlite3.Connection) -> None:
            row = conn.execute(q.FINISH_DELIVERY, finished).fetchone()
            if row is None:  # lease lost meanwhile: keep the attempt, leave the state to the new holder
                row = conn.execute(q.NEXT_ATTEMPT_NUMBER, (delivery_id,)).fetchone()
            result = rows.json_text(a.result)
            recorded = (delivery_id, row[0], a.started_at, a.duration_ms, a.outcome, a.status_code, a.error, result)
            conn.execute(q.ADD_ATTEMPT, recorded)
            if a.delivery_status == "dead":
                conn.execute(q.OUTBOX_DEAD, (now, delivery_id))  # its alert, in the same transaction

        await self._write(finish)

    async def defer_delivery(self, delivery_id: int, owner: str, at: float) -> None:
        await self._write(lambda conn: conn.execute(q.DEFER_DELIVERY, (at, delivery_id, owner)))

    async def due_times(self, shops: list[str] | None = None) -> list[Due]:
        def query(conn: sqlite3.Connection) -> list[Due]:
            return [Due(events, deliveries) for events, deliveries in conn.execute(*q.due_times(shops))]

        return await self._read(query)

    async def release(self, owner: str) -> None:
        def release(conn: sqlite3.Connection) -> None:
            for sql in q.RELEASE_OWNER:
                conn.execute(sql, (owner,))

        await self._write(release)

    async def extend_leases(self, owner: str, ids: list[int], until: float, kind: str = "deliveries") -> int:
        template = q.EXTEND_LEASES[kind]

        def extend(conn: sqlite3.Connection) -> int:
            held = 0
            for chunk in _chunks(ids, 500):
                sql = template.format(marks=",".join("?" * len(chunk)))
                held += conn.execute(sql, (until, owner, *chunk)).rowcount
            return held

        return await self._write(extend)

    # ------------------------------------------------------------ reading and operating

    async def get_event(self, event_id: int) -> EventRecord | None:
        row = await self._read(lambda conn: conn.execute(q.GET_EVENT, (event_id,)).fetchone())
        return None if row is None else rows.event_record(row)

    async def list_events(self, flt: EventFilter | None = None, *, limit: int = 50) -> list[EventRecord]:
        clause, args = where((flt or EventFilter()).clauses(), _mark)
        sql = q.LIST_EVENTS.format(where=clause)
        found = await self._read(lambda conn: conn.execute(sql, (*args, limit)).fetchall())
        return [rows.event_record(row) for row in found]

    async def get_delivery(self, delivery_id: int) -> DeliveryRecord | None:
        row = await self._read(lambda conn: conn.execute(q.GET_DELIVERY, (delivery_id,)).fetchone())
        return None if row is None else rows.delivery_record(row)

    async def list_deliveries(self, flt: DeliveryFilter | None = None, *, limit: int = 50) -> list[DeliveryRecord]:
        clause, args = where((flt or DeliveryFilter()).clauses(), _mark)
        sql = q.LIST_DELIVERIES.format(where=clause)
        found = await self._read(lambda conn: conn.execute(sql, (*args, limit)).fetchall())
        return [rows.delivery_record(row) for row in found]

    async def delivery_ids(self, flt: DeliveryFilter) -> list[int]:
        clause, args = where(flt.clauses(), _mark)
        sql = q.DELIVERY_IDS.format(where=clause)
        found = await self._read(lambda conn: conn.execute(sql, args).fetchall())
        return [row[0] for row in found]

    async def reroute_event(self, event_id: int, now: float) -> bool:
        def reroute(conn: sqlite3.Connection) -> bool:
            if conn.execute(q.EVENT_EXISTS, (event_id,)).fetchone() is None:
                return False
            conn.execute(q.FREE_DEAD_ACTION_KEYS, (event_id,))
            conn.execute(q.SUPERSEDE_DEAD, (now, event_id))
            conn.execute(q.REROUTE_EVENT, (now, event_id))
            return True

        return await self._write(reroute)

    async def purge(self, before: float, now: float, batch: int) -> int:
        def purge(conn: sqlite3.Connection) -> int:
            deleted: int = conn.execute(q.PURGE_EVENTS, (before, batch)).rowcount
            conn.execute(q.PURGE_DEDUPE, (now, batch))
            conn.execute(q.PURGE_OUTBOX, (before, batch))  # alerts long sent
            return deleted

        deleted = await self._write(purge)
        if deleted:
            await self._scrub()
        return deleted

    async def _scrub(self) -> None:
        """Move the purged rows' zeroed pages into the file and empty the WAL, whose older frames still
        hold the deleted data (secure_delete only overwrites the file's own pages)."""
        self._guard.check()  # a fresh connection must not create a deleted file anew
        try:
            await asyncio.to_thread(checkpoint, self.path)
        except sqlite3.Error as exc:
            raise unavailable(exc) from None

    async def purge_action_keys(self, before: float, batch: int) -> int:
        def purge(conn: sqlite3.Connection) -> int:
            deleted: int = conn.execute(q.PURGE_ACTION_KEYS, (before, batch)).rowcount
            return deleted

        return await self._write(purge)

    async def replay_deliveries(self, ids: list[int], now: float, *, delivered: bool = True) -> int:
        def replay(conn: sqlite3.Connection) -> int:
            count = 0
            for chunk in _chunks(ids, 500):
                sql = q.REPLAY.format(marks=",".join("?" * len(chunk)))
                count += conn.execute(sql, (now, now, *chunk, delivered)).rowcount
            return count

        return await self._write(replay)

    async def add_alerts(self, items: list[tuple[str, dict[str, Any]]], now: float) -> None:
        rows_ = [(kind, now, jsontext.dumps(item)) for kind, item in items]
        await self._write(lambda conn: conn.executemany(q.OUTBOX_ADD, rows_))

    async def alerts_after(self, after_id: int, limit: int = 1000) -> list[AlertRow]:
        found = await self._read(lambda conn: conn.execute(q.OUTBOX_AFTER, (after_id, limit)).fetchall())
        return [alert_row(row) for row in found]


def _chunks(items: list[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
