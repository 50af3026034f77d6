"""The embedded SQLite store: ``store`` (the Store), ``writer`` (group commit), ``queries`` (its SQL),
``schema`` (migrations) and ``connection`` (opening the file)."""

from router.store.sqlite.connection import sqlite_path
from router.store.sqlite.store import SqliteStore

__all__ = ["SqliteStore", "sqlite_path"]
