"""Pick the store implementation from ``store.url``: ``sqlite://…`` or ``postgresql://…``."""

from __future__ import annotations

from pathlib import Path

from router.store.base import Store, StoreUnavailable


def make_store(url: str, *, base: Path | None = None, daemon: bool = False) -> Store:
    """A closed store for ``url``; relative SQLite paths resolve against ``base`` (the config's folder)."""
    if url.startswith("sqlite:"):
        from router.store.sqlite import SqliteStore, sqlite_path

        return SqliteStore(sqlite_path(url, base), daemon=daemon)
    if url.startswith(("postgresql://", "postgres://")):
        try:
            from router.store.postgres import PostgresStore  # type: ignore[import-not-found,unused-ignore]
        except ImportError as exc:  # pragma: no cover - until the PostgreSQL store lands
            raise StoreUnavailable(f"PostgreSQL store not available: {exc}") from None
        return PostgresStore(url)  # type: ignore[no-any-return,unused-ignore]
    raise StoreUnavailable(f"unsupported store url {url.split(':', 1)[0]!r}: use sqlite:// or postgresql://")


__all__ = ["Store", "StoreUnavailable", "make_store"]
