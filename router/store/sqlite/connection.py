"""Opening a SQLite store's file: where the URL points, the connection settings, and the error mapping.

Every connection runs in WAL mode with ``synchronous=FULL`` (a commit is on disk when it returns) and
foreign keys on; any ``sqlite3.Error`` that reaches a caller becomes ``StoreUnavailable``.
"""

from __future__ import annotations

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


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    # A bigger page cache and a memory map keep a store of millions of rows from paying a read per page.
    conn.execute("PRAGMA cache_size=-65536")
    conn.execute("PRAGMA mmap_size=268435456")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def unavailable(exc: Exception) -> StoreUnavailable:
    return StoreUnavailable(f"sqlite: {exc}")
