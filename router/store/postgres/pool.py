"""The connections behind the PostgreSQL store: an asyncpg pool, error mapping and reconnect backoff.

``Pool.run`` runs one unit of work (one statement is one transaction) on a pooled connection and turns
every failure to reach or use the server into ``StoreUnavailable`` (receive answers 503, the claim loops
back off). A connection whose state is in doubt after an error is closed, never handed out again, and
the pool opens a new one on the next acquire; while the server is down, ``Backoff`` lets one probe through
per interval (0.1 s doubling to 2 s) and fails the rest at once instead of letting every webhook wait
for a connect timeout. Constraint violations propagate as they are, as in the SQLite store; other server
errors become ``StoreUnavailable`` with the server's message.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import asyncpg

from router.store.base import StoreUnavailable

T = TypeVar("T")

APPLICATION_NAME = "plugpay-router"
CONNECT_TIMEOUT = 5.0
COMMAND_TIMEOUT = 30.0
ACQUIRE_TIMEOUT = 10.0
CLOSE_TIMEOUT = 5.0
CALL_TIMEOUT = ACQUIRE_TIMEOUT + COMMAND_TIMEOUT + 5.0

# Failures that mean "the server cannot be reached or used right now", as opposed to a bad statement.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,  # class 08, and the client's "connection does not exist"
    asyncpg.InterfaceError,  # "connection is closed"
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, crash shutdown, cannot connect now
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections, disk full
    asyncpg.exceptions.ReadOnlySQLTransactionError,  # we reached a standby (after a failover)
    asyncpg.exceptions.InternalClientError,  # a connection left in a broken protocol state
)


def describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return f"postgresql: {text}"


@dataclass
class Backoff:
    """After a connection failure, let one caller probe per interval; fail the others at once."""

    initial: float = 0.1
    maximum: float = 2.0
    failures: int = 0
    retry_at: float = 0.0
    reason: str = ""

    def check(self) -> None:
        if self.failures and time.monotonic() < self.retry_at:
            raise StoreUnavailable(f"{self.reason} (reconnecting)")

    def failed(self, reason: str) -> None:
        now = time.monotonic()
        self.reason = reason
        if now < self.retry_at:  # a failure of the same round: the interval is already set
            return
        self.failures += 1
        self.retry_at = now + min(self.maximum, self.initial * 2 ** (self.failures - 1))

    def succeeded(self) -> None:
        self.failures = 0
        self.retry_at = 0.0


def server_settings(url: str) -> dict[str, str]:
    """Settings sent at connect time unless the URL sets them itself (``?application_name=...``)."""
    query = parse_qs(urlsplit(url).query)
    return {} if "application_name" in query else {"application_name": APPLICATION_NAME}


async def _keep_session(conn: Any) -> None:
    """Give a connection back to the pool as it is (asyncpg still rolls back an open transaction).

    The store sets no session state (no SET, LISTEN, cursors or session locks; settings come from the URL
    at connect time), so asyncpg's default reset query would be a wasted round trip on every call.
    """


class Pool:
    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10):
        self.url = url
        self.min_size = min_size
        self.max_size = max_size
        self.backoff = Backoff()
        self._pool: Any = None

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self.url,
                min_size=self.min_size,
                max_size=self.max_size,
                timeout=CONNECT_TIMEOUT,
                command_timeout=COMMAND_TIMEOUT,
                server_settings=server_settings(self.url),
                reset=_keep_session,
            )
        except CONNECTION_ERRORS as exc:
            raise StoreUnavailable(describe(exc)) from None
        except asyncpg.PostgresError as exc:  # unknown database, bad role, ...
            raise StoreUnavailable(describe(exc)) from None
        except ValueError:  # asyncpg could not parse the URL (check refuses such a URL; a reader may not check)
            raise StoreUnavailable("store.url is not a valid postgresql:// address") from None

    async def connect(self) -> Any:
        """A connection outside the pool (the listener's), with the same settings."""
        return await asyncpg.connect(
            self.url,
            timeout=CONNECT_TIMEOUT,
            command_timeout=COMMAND_TIMEOUT,
            server_settings=server_settings(self.url),
        )

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    await pool.close()  # waits for connections in use to come back
            except Exception:
                pool.terminate()

    async def run(self, work: Callable[[Any], Awaitable[T]], *, retries: int = 0) -> T:
        """Run ``work(connection)`` on a pooled connection; ``retries`` only for work that is safe to repeat."""
        pool = self._pool
        if pool is None:
            raise StoreUnavailable("postgresql: the store is not open")
        self.backoff.check()
        for attempt in range(retries + 1):
            try:
                # The bound covers what asyncpg's own timeouts do not (giving a connection back resets it).
                async with asyncio.timeout(CALL_TIMEOUT), pool.acquire(timeout=ACQUIRE_TIMEOUT) as conn:
                    try:
                        result = await work(conn)
                    except BaseException as exc:
                        if not isinstance(exc, asyncpg.PostgresError) or isinstance(exc, CONNECTION_ERRORS):
                            # Its state is unknown (killed mid-query, cancelled): never hand it out again.
                            conn.terminate()
                        raise
            except asyncpg.IntegrityConstraintViolationError:
                raise
            except CONNECTION_ERRORS as exc:
                self.backoff.failed(describe(exc))
                if isinstance(exc, asyncpg.exceptions.ReadOnlySQLTransactionError):
                    await pool.expire_connections()  # reconnect: the name may point at the new primary
                if attempt < retries:
                    continue
                raise StoreUnavailable(describe(exc)) from None
            except asyncpg.PostgresError as exc:
                raise StoreUnavailable(describe(exc)) from None
            self.backoff.succeeded()
            return result
        raise AssertionError("unreachable")  # pragma: no cover
