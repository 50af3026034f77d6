"""Group commit for the SQLite store: every write submitted while a commit is on its way joins the next one.

Many concurrent webhooks thus cost one fsync. A write that fails on its own (a constraint, a bug) is
retried alone, so it does not spoil the others; a failure of the database itself (read-only, disk full)
fails the whole batch with ``StoreUnavailable``. After each COMMIT the file guard checks that the path
still names the file written to; a file deleted, replaced or found corrupt fails the batch with
``StoreLost`` and every write after it, so nothing is acknowledged that is not in the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from router.store.base import StoreLost, StoreUnavailable
from router.store.sqlite.connection import connect, unavailable
from router.store.sqlite.guard import FileGuard, is_corruption

T = TypeVar("T")

Write = Callable[[sqlite3.Connection], Any]
Batch = list[tuple[Write, asyncio.Future[Any]]]


class Writer:
    """Group commit on one connection: writes submitted while a commit is on its way form the next batch.

    A batch's statements run on the event loop: each costs microseconds of CPU, and they cannot wait for
    a lock because the batch took the write lock first. Everything that can wait stays off the loop, on
    one helper thread: taking the write lock when another process holds it, and the COMMIT with its fsync.
    (Running the statements on a thread instead costs more than it saves: every statement hands the GIL
    back and forth with the busy loop.)
    """

    def __init__(self, path: Path, guard: FileGuard | None = None):
        self._path = path
        self._guard = guard or FileGuard(path)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self._conn: sqlite3.Connection | None = None
        self._pending: Batch = []
        self._drainer: asyncio.Task[None] | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            self._conn = await loop.run_in_executor(self._thread, connect, self._path)
        except sqlite3.Error as exc:
            raise unavailable(exc) from None
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
        if self._guard.lost is not None:
            future.set_exception(self._guard.lost)
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

    async def _commit(self, conn: sqlite3.Connection, batch: Batch) -> None:
        loop = asyncio.get_running_loop()
        try:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:  # another process writes: wait for the lock off the loop
                await loop.run_in_executor(self._thread, begin_waiting, conn)
        except sqlite3.Error as exc:
            fail(batch, self._failure(exc))
            return
        try:
            values = [fn(conn) for fn, _ in batch]
        except Exception as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error) and not isinstance(exc, sqlite3.IntegrityError):
                fail(batch, self._failure(exc))  # read-only, disk full, corrupt: every write fails alike
            elif len(batch) > 1:  # one write's own error: run each alone so only that one fails
                for item in batch:
                    await self._commit(conn, [item])
            else:
                fail(batch, exc)
            return
        try:
            await loop.run_in_executor(self._thread, self._commit_checked, conn)
        except StoreUnavailable as exc:  # committed, but the path no longer names the file (or cannot tell)
            fail(batch, exc)
            return
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                await loop.run_in_executor(self._thread, conn.execute, "ROLLBACK")
            fail(batch, self._failure(exc))
            return
        for (_, future), value in zip(batch, values, strict=True):
            if not future.done():
                future.set_result(value)

    def _commit_checked(self, conn: sqlite3.Connection) -> None:
        """COMMIT, then make sure it went into the file the path names (else raise ``StoreLost``)."""
        conn.execute("COMMIT")
        self._guard.check()

    def _failure(self, exc: sqlite3.Error) -> StoreUnavailable:
        if is_corruption(exc):
            try:
                self._guard.corrupt(exc)
            except StoreLost as lost:
                return lost
        return unavailable(exc)


def begin_waiting(conn: sqlite3.Connection, patience: float = 5.0) -> None:
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


def fail(batch: Batch, error: BaseException) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(error)
