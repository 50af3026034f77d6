"""Pick the store implementation from ``store.url``: ``sqlite://…`` or ``postgresql://…``.

Each store is imported when its URL is asked for, so a SQLite setup never imports asyncpg.
"""

from __future__ import annotations

from pathlib import Path

from router.store.base import Store, StoreLost, StoreUnavailable


def make_store(url: str, *, base: Path | None = None, daemon: bool = False) -> Store:
    """A closed store for ``url``; relative SQLite paths resolve against ``base`` (the config's folder)."""
    if url.startswith("sqlite:"):
        from router.store.sqlite import SqliteStore, sqlite_path

        return SqliteStore(sqlite_path(url, base), daemon=daemon)
    if url.startswith(("postgresql://", "postgres://")):
        from router.store.postgres import PostgresStore

        return PostgresStore(url)
    raise StoreUnavailable(f"unsupported store url {url.split(':', 1)[0]!r}: use sqlite:// or postgresql://")


__all__ = ["Store", "StoreLost", "StoreUnavailable", "make_store"]
