"""Pick the store implementation from ``store.url``: ``sqlite://…`` or ``postgresql://…``.

Each store is imported when its URL is asked for, so a SQLite setup never imports asyncpg.
"""

from __future__ import annotations

from pathlib import Path

from router.store.base import Store, StoreLost, StoreUnavailable


def make_store(url: str, *, base: Path | None = None, daemon: bool = False, create: bool = True) -> Store:
    """A closed store for ``url``; relative SQLite paths resolve against ``base`` (the config's folder).

    ``create=False`` is for the commands that read or requeue what a daemon stored: a SQLite file that is
    not there is an error naming the path (a wrong path must not look like an empty store), never a new file.
    """
    if url.startswith("sqlite:"):
        from router.store.sqlite import SqliteStore, sqlite_path

        path = sqlite_path(url, base)
        if not create and not path.exists():
            raise StoreUnavailable(
                f"no store at {path}: check store.url (or --store); the daemon creates the file when it first starts"
            )
        return SqliteStore(path, daemon=daemon)
    if url.startswith(("postgresql://", "postgres://")):
        from router.store.postgres import PostgresStore

        return PostgresStore(url)
    raise StoreUnavailable(f"unsupported store url {url.split(':', 1)[0]!r}: use sqlite:// or postgresql://")


__all__ = ["Store", "StoreLost", "StoreUnavailable", "make_store"]
