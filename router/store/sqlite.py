"""The embedded store: one SQLite file in WAL mode, with group commit.

Writes are small functions over one connection. Every write submitted while a commit is on its way
joins the next transaction, so many concurrent webhooks cost one fsync; a write that fails on its own
is retried alone, so it does not spoil the others. Only the waiting (for another process's write lock,
for the fsync of COMMIT) happens on a helper thread; the event loop never blocks on the disk. Reads use
a second connection on a reader thread (WAL lets readers run beside the writer). A lease is the pair
(``lease_owner``, ``next_attempt_at`` = lease expiry), so a claim moves the item out of the due set and
a dead holder's work falls due again by itself. ``serve`` holds an exclusive lock file beside the
database: one daemon per SQLite file (use PostgreSQL for several), which lets it drop stale leases at
start instead of waiting for them to expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

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

T = TypeVar("T")

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

# A released item is due at once: its due time goes back from the lease expiry to when it arrived.
_RELEASE_EVENTS = (
    "UPDATE events SET lease_owner = NULL, next_attempt_at = min(next_attempt_at, received_at)"
    " WHERE lease_owner {owner}"
)
_RELEASE_DELIVERIES = (
    "UPDATE deliveries SET lease_owner = NULL, next_attempt_at = min(next_attempt_at, updated_at)"
    " WHERE lease_owner {owner}"
)
_EVENT_COLUMNS = (
    "id, trigger, raw_trigger, triggerable_type, triggerable_id, tenant_id, rule_id, sent_at, source, payload,"
    " status, received_at, attempts, next_attempt_at, last_error, outcomes, config_version, routed_at, fetched"
)
_DELIVERY_COLUMNS = (
    "id, event_id, rule, action_index, item_key, connector, action_key, delivery_key, request, schedule,"
    " status, attempts, next_attempt_at, created_at, updated_at, last_error, config_version"
)


# The due work is found through the partial "due" indexes only. Left to itself, SQLite's planner (without
# statistics) prefers the (status, id) index and sorts every pending row: with a backlog of 30,000 events a
# claim took 9 ms instead of 30 µs, and the route stage fell further behind the more it lagged.
CLAIM = {
    table: f"UPDATE {table} SET lease_owner = ?, next_attempt_at = ? WHERE id IN (SELECT id FROM {table}"
    f" INDEXED BY {table}_due WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?)"
    f" RETURNING {columns}"
    for table, columns in (("events", _EVENT_COLUMNS), ("deliveries", _DELIVERY_COLUMNS))
}
NEXT_DUE = (
    "SELECT min(t) FROM (SELECT min(next_attempt_at) AS t FROM events INDEXED BY events_due"
    " WHERE status = 'pending' UNION ALL SELECT min(next_attempt_at) FROM deliveries"
    " INDEXED BY deliveries_due WHERE status = 'pending')"
)


def sqlite_path(url: str, base: Path | None = None) -> Path:
    """``sqlite:///abs/path.db`` → /abs/path.db; ``sqlite://data/router.db`` → relative to ``base``."""
    rest = url.removeprefix("sqlite://").removeprefix("sqlite:")
    if rest.startswith("//"):
        rest = rest[1:]
    path = Path(rest)
    if not path.is_absolute() and base is not None:
        path = base / path
    return path


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    # A bigger page cache and a memory map keep a store of millions of rows from paying a read per page.
    conn.execute("PRAGMA cache_size=-65536")
    conn.execute("PRAGMA mmap_size=268435456")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def _unavailable(exc: Exception) -> StoreUnavailable:
    return StoreUnavailable(f"sqlite: {exc}")


class _Writer:
    """Group commit on one connection: writes submitted while a commit is on its way form the next batch.

    A batch's statements run on the event loop: each costs microseconds of CPU, and they cannot wait for
    a lock because the batch took the write lock first. Everything that can wait stays off the loop, on
    one helper thread: taking the write lock when another process holds it, and the COMMIT with its fsync.
    (Running the statements on a thread instead costs more than it saves: every statement hands the GIL
    back and forth with the busy loop.)
    """

    def __init__(self, path: Path):
        self._path = path
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self._conn: sqlite3.Connection | None = None
        self._pending: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]] = []
        self._drainer: asyncio.Task[None] | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            self._conn = await loop.run_in_executor(self._thread, _connect, self._path)
        except sqlite3.Error as exc:
            raise _unavailable(exc) from None
        # Lock waits must never happen on the loop: the loop's BEGIN fails at once, the thread waits.
        self._conn.execute("PRAGMA busy_timeout=0")

    async def stop(self) -> None:
        if self._drainer is not None:
            await asyncio.shield(self._drainer)
        conn, self._conn = self._conn, None
        if conn is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, conn.close)
        self._thread.shutdown(wait=True)

    def submit(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if self._conn is None:
            future.set_exception(StoreUnavailable("sqlite: the store is closed"))
            return future
        self._pending.append((fn, future))
        if self._drainer is None:
            self._drainer = loop.create_task(self._drain())
        return future

    async def _drain(self) -> None:
        try:
            while self._pending and self._conn is not None:
                batch, self._pending = self._pending, []
                await self._commit(self._conn, batch)
        finally:
            self._drainer = None

    async def _commit(self, conn: sqlite3.Connection, batch: list[Any]) -> None:
        loop = asyncio.get_running_loop()
        try:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:  # another process writes: wait for the lock off the loop
                await loop.run_in_executor(self._thread, _begin_waiting, conn)
        except sqlite3.Error as exc:
            _fail(batch, _unavailable(exc))
            return
        try:
            values = [fn(conn) for fn, _ in batch]
        except Exception as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error) and not isinstance(exc, sqlite3.IntegrityError):
                _fail(batch, _unavailable(exc))  # read-only, disk full, corrupt: every write fails alike
            elif len(batch) > 1:  # one write's own error: run each alone so only that one fails
                for item in batch:
                    await self._commit(conn, [item])
            else:
                _fail(batch, exc)
            return
        try:
            await loop.run_in_executor(self._thread, conn.execute, "COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                await loop.run_in_executor(self._thread, conn.execute, "ROLLBACK")
            _fail(batch, _unavailable(exc))
            return
        for (_, future), value in zip(batch, values, strict=True):
            if not future.done():
                future.set_result(value)


def _begin_waiting(conn: sqlite3.Connection, patience: float = 5.0) -> None:
    """BEGIN IMMEDIATE, retrying while another connection holds the write lock, for up to ``patience`` s."""
    deadline = time.monotonic() + patience
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def _fail(batch: list[Any], error: BaseException) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(error)


class SqliteStore:
    def __init__(self, path: Path, *, daemon: bool = False):
        self.path = path
        self.daemon = daemon
        self._writer: _Writer | None = None
        self._reader: sqlite3.Connection | None = None
        self._reads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-reader")
        self._lock_fd: int | None = None

    # ------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        await asyncio.to_thread(self._open_sync)
        self._writer = _Writer(self.path)
        await self._writer.start()

    def _open_sync(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(f"cannot create {self.path.parent}: {exc.strerror}") from None
        if self.daemon:
            self._take_lock()
        try:
            conn = _connect(self.path)
            self._migrate(conn)
            if self.daemon:
                # We hold the lock: any lease in the file belongs to a daemon that is gone.
                conn.execute(_RELEASE_EVENTS.format(owner="IS NOT NULL"))
                conn.execute(_RELEASE_DELIVERIES.format(owner="IS NOT NULL"))
            conn.close()
            self._reader = _connect(self.path)
        except sqlite3.Error as exc:
            raise _unavailable(exc) from None

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

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StoreUnavailable(
                f"the database schema is version {version}, newer than this program ({len(MIGRATIONS)})"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            conn.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")

    async def close(self) -> None:
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
                raise _unavailable(exc) from None

        return await asyncio.get_running_loop().run_in_executor(self._reads, run)

    def subscribe(self, callback: Callable[[str], None]) -> bool:
        return False  # one daemon per file, and it wakes itself; other processes are seen by polling

    async def ping(self) -> None:
        def probe(conn: sqlite3.Connection) -> None:
            # A real write: it needs the write lock, a writable file and room on the disk, like a webhook.
            conn.execute("INSERT OR REPLACE INTO health (id, checked_at) VALUES (1, ?)", (time.time(),))

        await self._write(probe)

    # ------------------------------------------------------------ receive

    async def add_event(self, event: Event, *, dedupe_window: float, now: float) -> Accepted:
        payload = json.dumps(event.payload, separators=(",", ":"), ensure_ascii=False)

        def insert(conn: sqlite3.Connection) -> Accepted:
            key = event.dedupe_key
            # One statement inserts the event unless a live dedupe key says it is a repeat.
            row = conn.execute(
                "INSERT INTO events (dedupe_key, business_key, trigger, raw_trigger, triggerable_type,"
                " triggerable_id, tenant_id, rule_id, sent_at, source, payload, received_at, next_attempt_at)"
                " SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?"
                " WHERE NOT EXISTS (SELECT 1 FROM dedupe WHERE key = ? AND expires_at > ?) RETURNING id",
                (
                    key,
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
                    now,
                    now,
                    key,
                    now,
                ),
            ).fetchone()
            if row is None:
                original = conn.execute("SELECT event_id FROM dedupe WHERE key = ?", (key,)).fetchone()
                return Accepted(original[0], duplicate=True)
            conn.execute(
                "INSERT OR REPLACE INTO dedupe (key, event_id, expires_at) VALUES (?, ?, ?)",
                (key, row[0], now + dedupe_window),
            )
            return Accepted(row[0])

        return await self._write(insert)

    # ------------------------------------------------------------ route

    async def claim_events(self, owner: str, limit: int, lease: float, now: float) -> list[EventRecord]:
        def claim(conn: sqlite3.Connection) -> list[EventRecord]:
            rows = conn.execute(CLAIM["events"], (owner, now + lease, now, limit)).fetchall()
            return [_event(row) for row in rows]

        return await self._write(claim)

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

        def complete(conn: sqlite3.Connection) -> int | None:
            updated = conn.execute(
                "UPDATE events SET status = 'routed', lease_owner = NULL, outcomes = ?, config_version = ?,"
                " routed_at = ?, last_error = NULL, fetched = ? WHERE id = ? AND lease_owner = ?",
                (json.dumps(outcomes), config_version, now, kept, event_id, owner),
            ).rowcount
            if not updated:
                return None  # our lease was taken over: the new holder routes it
            inserted = 0
            for d in deliveries:
                inserted += conn.execute(
                    "INSERT INTO deliveries (event_id, rule, action_index, item_key, connector, action_key,"
                    " delivery_key, request, schedule, status, next_attempt_at, last_error, created_at,"
                    " updated_at, config_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (action_key) DO NOTHING",
                    (
                        event_id,
                        d.rule,
                        d.action_index,
                        d.item_key,
                        d.connector,
                        d.action_key,
                        d.delivery_key,
                        None if d.request is None else json.dumps(d.request, ensure_ascii=False),
                        json.dumps(d.schedule),
                        d.status,
                        now,
                        d.error,
                        now,
                        now,
                        config_version,
                    ),
                ).rowcount
            return inserted

        return await self._write(complete)

    async def retry_event(self, event_id: int, owner: str, at: float, error: str) -> None:
        await self._write(
            lambda conn: conn.execute(
                "UPDATE events SET lease_owner = NULL, next_attempt_at = ?, attempts = attempts + 1,"
                " last_error = ? WHERE id = ? AND lease_owner = ?",
                (at, error, event_id, owner),
            )
        )

    async def fail_event(self, event_id: int, owner: str, error: str, now: float) -> None:
        await self._write(
            lambda conn: conn.execute(
                "UPDATE events SET status = 'failed', lease_owner = NULL, attempts = attempts + 1,"
                " last_error = ?, routed_at = ? WHERE id = ? AND lease_owner = ?",
                (error, now, event_id, owner),
            )
        )

    # ------------------------------------------------------------ deliver

    async def claim_deliveries(self, owner: str, limit: int, lease: float, now: float) -> list[DeliveryRecord]:
        def claim(conn: sqlite3.Connection) -> list[DeliveryRecord]:
            rows = conn.execute(CLAIM["deliveries"], (owner, now + lease, now, limit)).fetchall()
            return [_delivery(row) for row in rows]

        return await self._write(claim)

    async def finish_attempt(
        self, delivery_id: int, owner: str, attempt: Attempt, next_attempt_at: float | None
    ) -> None:
        status = {"delivered": "delivered", "dead": "dead", "retry": "pending"}[attempt.outcome]
        now = attempt.started_at + attempt.duration_ms / 1000

        def finish(conn: sqlite3.Connection) -> None:
            row = conn.execute(
                "UPDATE deliveries SET status = ?, attempts = attempts + 1, next_attempt_at = ?,"
                " lease_owner = NULL, last_error = ?, updated_at = ? WHERE id = ? AND lease_owner = ?"
                " RETURNING attempts",
                (status, next_attempt_at or now, attempt.error, now, delivery_id, owner),
            ).fetchone()
            number = row[0] if row else None
            if number is None:  # lease lost meanwhile: keep the attempt, leave the state to the new holder
                number = conn.execute("SELECT attempts + 1 FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()[0]
            conn.execute(
                "INSERT INTO attempts (delivery_id, number, started_at, duration_ms, outcome, status_code,"
                " error) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    delivery_id,
                    number,
                    attempt.started_at,
                    attempt.duration_ms,
                    attempt.outcome,
                    attempt.status_code,
                    attempt.error,
                ),
            )

        await self._write(finish)

    async def defer_delivery(self, delivery_id: int, owner: str, at: float) -> None:
        await self._write(
            lambda conn: conn.execute(
                "UPDATE deliveries SET lease_owner = NULL, next_attempt_at = ? WHERE id = ? AND lease_owner = ?",
                (at, delivery_id, owner),
            )
        )

    async def next_due(self, now: float) -> float | None:
        def query(conn: sqlite3.Connection) -> float | None:
            return conn.execute(NEXT_DUE).fetchone()[0]

        return await self._read(query)

    async def release(self, owner: str) -> None:
        def release(conn: sqlite3.Connection) -> None:
            for sql in (_RELEASE_EVENTS, _RELEASE_DELIVERIES):
                conn.execute(sql.format(owner="= ?"), (owner,))

        await self._write(release)

    # ------------------------------------------------------------ reading and operating

    async def get_event(self, event_id: int) -> EventRecord | None:
        row = await self._read(
            lambda conn: conn.execute(f"SELECT {_EVENT_COLUMNS} FROM events WHERE id = ?", (event_id,)).fetchone()
        )
        return None if row is None else _event(row)

    async def list_events(self, flt: EventFilter | None = None, *, limit: int = 50) -> list[EventRecord]:
        clause, args = where((flt or EventFilter()).clauses(), lambda _: "?")
        rows = await self._read(
            lambda conn: conn.execute(
                f"SELECT {_EVENT_COLUMNS} FROM events {clause} ORDER BY id DESC LIMIT ?", (*args, limit)
            ).fetchall()
        )
        return [_event(row) for row in rows]

    async def get_delivery(self, delivery_id: int) -> DeliveryRecord | None:
        row = await self._read(
            lambda conn: conn.execute(
                f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE id = ?", (delivery_id,)
            ).fetchone()
        )
        return None if row is None else _delivery(row)

    async def list_deliveries(self, flt: DeliveryFilter | None = None, *, limit: int = 50) -> list[DeliveryRecord]:
        clause, args = where((flt or DeliveryFilter()).clauses(), lambda _: "?")
        rows = await self._read(
            lambda conn: conn.execute(
                f"SELECT {_DELIVERY_COLUMNS} FROM deliveries {clause} ORDER BY id DESC LIMIT ?", (*args, limit)
            ).fetchall()
        )
        return [_delivery(row) for row in rows]

    async def delivery_ids(self, flt: DeliveryFilter) -> list[int]:
        clause, args = where(flt.clauses(), lambda _: "?")
        rows = await self._read(
            lambda conn: conn.execute(f"SELECT id FROM deliveries {clause} ORDER BY id", args).fetchall()
        )
        return [row[0] for row in rows]

    async def reroute_event(self, event_id: int, now: float) -> bool:
        def reroute(conn: sqlite3.Connection) -> bool:
            if conn.execute("SELECT 1 FROM events WHERE id = ?", (event_id,)).fetchone() is None:
                return False
            conn.execute(
                "UPDATE deliveries SET status = 'superseded', action_key = action_key || ':superseded:' || id,"
                " updated_at = ? WHERE event_id = ? AND status = 'dead'",
                (now, event_id),
            )
            conn.execute(
                "UPDATE events SET status = 'pending', attempts = 0, next_attempt_at = ?, lease_owner = NULL,"
                " last_error = NULL WHERE id = ?",
                (now, event_id),
            )
            return True

        return await self._write(reroute)

    async def purge(self, before: float, now: float, batch: int) -> int:
        def purge(conn: sqlite3.Connection) -> int:
            deleted = conn.execute(
                "DELETE FROM events WHERE id IN (SELECT e.id FROM events e WHERE e.received_at < ?"
                " AND e.status != 'pending' AND NOT EXISTS (SELECT 1 FROM deliveries d"
                " WHERE d.event_id = e.id AND d.status = 'pending') ORDER BY e.received_at LIMIT ?)",
                (before, batch),
            ).rowcount
            conn.execute(
                "DELETE FROM dedupe WHERE key IN (SELECT key FROM dedupe WHERE expires_at <= ? LIMIT ?)",
                (now, batch),
            )
            return deleted

        return await self._write(purge)

    async def list_attempts(self, delivery_id: int) -> list[Attempt]:
        rows = await self._read(
            lambda conn: conn.execute(
                "SELECT delivery_id, number, started_at, duration_ms, outcome, status_code, error"
                " FROM attempts WHERE delivery_id = ? ORDER BY id",
                (delivery_id,),
            ).fetchall()
        )
        return [
            Attempt(
                delivery_id=r[0],
                number=r[1],
                started_at=r[2],
                duration_ms=r[3],
                outcome=r[4],
                status_code=r[5],
                error=r[6],
            )
            for r in rows
        ]

    async def replay_deliveries(self, ids: list[int], now: float) -> int:
        def replay(conn: sqlite3.Connection) -> int:
            count = 0
            for chunk in _chunks(ids, 500):
                marks = ",".join("?" * len(chunk))
                count += conn.execute(
                    "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?,"
                    f" lease_owner = NULL, updated_at = ? WHERE id IN ({marks}) AND status IN ('dead', 'delivered')"
                    " AND request IS NOT NULL",
                    (now, now, *chunk),
                ).rowcount
            return count

        return await self._write(replay)

    async def counts(self, now: float) -> Counts:
        def query(conn: sqlite3.Connection) -> Counts:
            events = dict(conn.execute("SELECT status, count(*) FROM events GROUP BY status").fetchall())
            deliveries = dict(conn.execute("SELECT status, count(*) FROM deliveries GROUP BY status").fetchall())
            oldest = conn.execute(
                "SELECT min(t) FROM (SELECT min(received_at) AS t FROM events WHERE status = 'pending'"
                " UNION ALL SELECT min(created_at) FROM deliveries WHERE status = 'pending')"
            ).fetchone()[0]
            return Counts(events, deliveries, oldest)

        return await self._read(query)


def _chunks(items: list[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _event(row: tuple[Any, ...]) -> EventRecord:
    (
        id_,
        trigger,
        raw_trigger,
        ttype,
        tid,
        tenant,
        rule_id,
        sent_at,
        source,
        payload,
        status,
        received_at,
        attempts,
        next_at,
        last_error,
        outcomes,
        version,
        routed_at,
        fetched,
    ) = row
    event = Event(
        trigger=trigger,
        raw_trigger=raw_trigger,
        triggerable_type=ttype,
        triggerable_id=tid,
        tenant_id=tenant,
        rule_id=rule_id,
        sent_at=sent_at,
        source=source,
        payload=json.loads(payload),
    )
    return EventRecord(
        id=id_,
        event=event,
        status=status,
        received_at=received_at,
        attempts=attempts,
        next_attempt_at=next_at,
        last_error=last_error,
        outcomes=None if outcomes is None else json.loads(outcomes),
        config_version=version,
        routed_at=routed_at,
        fetched=None if fetched is None else json.loads(fetched),
    )


def _delivery(row: tuple[Any, ...]) -> DeliveryRecord:
    (
        id_,
        event_id,
        rule,
        index,
        item_key,
        connector,
        action_key,
        delivery_key,
        request,
        schedule,
        status,
        attempts,
        next_at,
        created,
        updated,
        last_error,
        version,
    ) = row
    return DeliveryRecord(
        id=id_,
        event_id=event_id,
        rule=rule,
        action_index=index,
        item_key=item_key,
        connector=connector,
        action_key=action_key,
        delivery_key=delivery_key,
        request=None if request is None else json.loads(request),
        schedule=tuple(json.loads(schedule)),
        status=status,
        attempts=attempts,
        next_attempt_at=next_at,
        created_at=created,
        updated_at=updated,
        last_error=last_error,
        config_version=version,
    )
