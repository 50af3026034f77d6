"""The shared PostgreSQL store: ``store`` (the Store), ``pool`` (connections and error mapping), ``listen``
(LISTEN/NOTIFY), ``queries`` (its SQL) and ``schema`` (migrations). Importing it imports asyncpg."""

from router.store.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
