"""LISTEN/NOTIFY for the PostgreSQL store: wake idle workers of every instance when work is committed.

Writers call ``pg_notify`` (``queries.notify_sql``) inside the transaction that commits new due work, so the
notice goes out at commit and never before. Every instance keeps one dedicated connection that LISTENs on
``CHANNEL``; the payload is ``"<schema>:<kind>"`` (kind ``events`` or ``deliveries``), or
``"<schema>:<kind>/<shop>"`` for one shop's work, so instances on other schemas of the same database ignore
each other's notices and a shop's notice wakes only that shop's loop. A lost connection (server restart,
``pg_terminate_backend``, or a keepalive that fails) is re-established with backoff, and after it every
subscriber is called once for each kind, since notices sent meanwhile are lost. The claim loops' slow poll
stays as a safety net.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import structlog

from router.store.base import StoreUnavailable
from router.store.postgres.pool import CONNECTION_ERRORS, describe
from router.store.postgres.queries import CHANNEL, KINDS

log = structlog.get_logger("router.store.postgres")

KEEPALIVE = 15.0
RECONNECT_MAX = 5.0


class Listener:
    def __init__(self, connect: Callable[[], Awaitable[Any]], schema: str, notify: Callable[[str, str | None], None]):
        self._connect = connect
        self._schema = schema
        self._notify = notify
        self._conn: Any = None
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.reconnects = 0

    async def start(self) -> None:
        try:
            await self._listen()
        except (*CONNECTION_ERRORS, asyncpg.PostgresError) as exc:
            raise StoreUnavailable(describe(exc)) from None
        self._task = asyncio.create_task(self._watch(), name="pg-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._drop()

    async def _listen(self) -> None:
        conn = await self._connect()
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        try:
            await conn.add_listener(CHANNEL, self._on_notice)
        except BaseException:
            conn.terminate()
            raise
        self._conn, self._lost = conn, lost

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            conn.terminate()

    def _on_notice(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        schema, _, tail = payload.rpartition(":")
        kind, _, shop = tail.partition("/")
        if schema == self._schema and kind in KINDS:
            self._notify(kind, shop or None)

    async def _watch(self) -> None:
        while True:
            await self._until_lost()
            await self._drop()
            log.warning("notification connection lost, reconnecting")
            delay = 0.1
            while True:
                await asyncio.sleep(delay)
                try:
                    await self._listen()
                    break
                except (*CONNECTION_ERRORS, asyncpg.PostgresError) as exc:
                    log.debug("notification connection still down", error=describe(exc))
                    delay = min(delay * 2, RECONNECT_MAX)
            self.reconnects += 1
            log.info("notification connection re-established")
            for kind in KINDS:  # notices sent while we were away are lost: look for work now, everywhere
                self._notify(kind, None)

    async def _until_lost(self) -> None:
        """Return when the connection is gone, checking it every KEEPALIVE seconds."""
        while True:
            try:
                await asyncio.wait_for(self._lost.wait(), KEEPALIVE)
                return
            except TimeoutError:
                pass
            try:
                await asyncio.wait_for(self._conn.execute("SELECT 1"), 5.0)
            except (*CONNECTION_ERRORS, asyncpg.PostgresError):
                return
