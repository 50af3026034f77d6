"""Opening a SQLite store's file: where the URL points, the connection settings, and the error mapping.

Every connection runs in WAL mode with ``synchronous=FULL`` (a commit is on disk when it returns),
foreign keys on and ``secure_delete`` on (deleted rows are overwritten, so purged customer data does not
linger in free pages); any ``sqlite3.Error`` that reaches a caller becomes ``StoreUnavailable``. A new
store file is created readable by its owner only (0600); SQLite gives its WAL and shared-memory files
the database file's mode.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from router.store.base import StoreUnavailable


def sqlite_path(url: str, base: Path | None = None) -> Path:
    """``sqlite:///abs/path.db`` → /abs/path.db; ``sqlite://data/router.db`` → relative to ``base``."""
    rest = url.removeprefix("sqlite://").removeprefix("sqlite:")
    if rest.startswith("//"):
        rest = rest[1:]
    path = Path(rest)
    if not path.is_absolute() and base is not None:
        path = base / path
    return path


def create_private(path: Path) -> None:
    """Create the store file with mode 0600 unless it exists (SQLite would create it with 0644)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA secure_delete=ON")
    # A bigger page cache and a memory map keep a store of millions of rows from paying a read per page.
    conn.execute("PRAGMA cache_size=-65536")
    conn.execute("PRAGMA mmap_size=268435456")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def unavailable(exc: Exception) -> StoreUnavailable:
    return StoreUnavailable(f"sqlite: {exc}")


def checkpoint(path: Path) -> None:
    """Copy the WAL into the file and truncate it, so deleted rows' old pages leave the WAL too.

    Run on a connection of its own: the writer's may be inside a transaction, and this waits (up to
    the busy timeout) for readers and writers to let it through.
    """
    conn = connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
