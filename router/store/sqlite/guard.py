"""Whether the SQLite file under a running store is still the file it opened, and still sound.

Deleting or replacing the file under a running process goes unnoticed by SQLite: the open descriptors keep
writing to the old inode, so every later commit would be acknowledged and then lost. The store records
the file's identity (device and inode) when it opens it, and the writer compares the path's identity
with it after every commit, before the commit is acknowledged: one ``stat`` beside an fsync, per group of
writes, never per request. The readiness probe also runs ``PRAGMA quick_check`` on a fresh connection (so
no cached page hides damage), at most every ``INTEGRITY_INTERVAL`` seconds, in the background. A
corruption error from any statement counts too. Every finding is final: the guard is ``lost``, every
write fails with ``StoreLost`` naming the file, and the ``on_lost`` callbacks hear it once.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn
from urllib.parse import quote

from router.store.base import StoreLost, StoreUnavailable

INTEGRITY_INTERVAL = 10.0  # seconds between two quick_checks: it reads every page of the file
INTEGRITY_WAIT = 1.0  # how long a probe waits for a quick_check it started (a large file takes longer)
_CORRUPTION_CODES = (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def is_corruption(exc: BaseException) -> bool:
    """Whether ``exc`` says the file is damaged (not merely busy, read-only or full)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.DatabaseError) and code is not None and code & 0xFF in _CORRUPTION_CODES


class FileGuard:
    def __init__(self, path: Path):
        self.path = path
        self.lost: StoreLost | None = None
        self._identity: tuple[int, int] | None = None
        self._callbacks: list[Callable[[str], None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._checked_at = -INTEGRITY_INTERVAL
        self._integrity: asyncio.Future[None] | None = None

    def remember(self, loop: asyncio.AbstractEventLoop) -> None:
        """Record the identity of the file just opened; findings are reported on ``loop``."""
        self._loop = loop
        stat = os.stat(self.path)
        self._identity = (stat.st_dev, stat.st_ino)

    def on_lost(self, callback: Callable[[str], None]) -> None:
        self._callbacks.append(callback)

    def check(self) -> None:
        """Raise ``StoreLost`` unless the path still names the file opened (safe on any thread)."""
        if self.lost is not None:
            raise self.lost
        if self._identity is None:
            return
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            self.lose(f"sqlite: the store file {self.path} was deleted under the running process")
        except OSError as exc:
            raise StoreUnavailable(f"sqlite: cannot check {self.path}: {exc.strerror}") from None
        if (stat.st_dev, stat.st_ino) != self._identity:
            self.lose(f"sqlite: the store file {self.path} was replaced by another file under the running process")

    def corrupt(self, exc: BaseException) -> NoReturn:
        self.lose(f"sqlite: the store file {self.path} is corrupt: {exc}")

    def lose(self, reason: str) -> NoReturn:
        if self.lost is None:
            self.lost = StoreLost(reason)
            for callback in self._callbacks:
                if self._loop is None or self._loop.is_closed():
                    callback(reason)
                else:
                    self._loop.call_soon_threadsafe(callback, reason)
        raise self.lost

    async def probe(self) -> None:
        """The readiness check: identity now, integrity when due; raise ``StoreLost`` on any finding."""
        self.check()
        now = time.monotonic()
        if self._integrity is None and now - self._checked_at >= INTEGRITY_INTERVAL:
            self._checked_at = now
            self._integrity = asyncio.ensure_future(asyncio.to_thread(self._quick_check))
            self._integrity.add_done_callback(self._integrity_done)
        if self._integrity is not None:
            await asyncio.wait({self._integrity}, timeout=INTEGRITY_WAIT)
        if self.lost is not None:
            raise self.lost

    def _integrity_done(self, future: asyncio.Future[None]) -> None:
        self._integrity = None
        if not future.cancelled():
            future.exception()  # findings were recorded by lose(); nothing else is raised

    def _quick_check(self) -> None:
        try:
            # mode=rw: a file deleted meanwhile must not be created afresh by the check.
            conn = sqlite3.connect(f"file:{quote(str(self.path))}?mode=rw", uri=True, timeout=5.0)
            try:
                found = [row[0] for row in conn.execute("PRAGMA quick_check(5)")]
            finally:
                conn.close()
        except sqlite3.Error as exc:
            if is_corruption(exc):
                self.corrupt(exc)
            return  # busy or unreachable: not a finding; the write path reports an unusable store
        if found != ["ok"]:
            self.lose(f"sqlite: the store file {self.path} is corrupt: {'; '.join(found)}")

    def stop(self) -> None:
        if self._integrity is not None:
            self._integrity.cancel()
