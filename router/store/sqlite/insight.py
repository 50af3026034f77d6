"""The SQLite store's answers for ``trace``, list counts and the dashboard (``router.store.insight``).

A mixin of ``SqliteStore``: every method is a read on the reader connection, so none waits for the writer.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from router.store import insight, rows
from router.store.filters import DeliveryFilter, EventFilter, where
from router.store.insight import ConnectorBacklog, DaySummary, DeliveryHealth, HourCounts
from router.store.records import Attempt, Counts
from router.store.sqlite import queries as q

T = TypeVar("T")
HOURLY = insight.hourly_sql("CAST({} / 3600 AS INTEGER)", "?")
DAY = {name: sql.format(since="?", until="?") for name, sql in insight.DAY.items()}
BACKLOG = insight.BACKLOG.format(oldest=q.OLDEST_PENDING)
# SQLite allows 32766 parameters per statement; a page of a list never comes close, a trace neither.
MAX_IDS = 30000


def _mark(_: int) -> str:
    return "?"


def _marks(ids: list[int]) -> str:
    return ",".join("?" * len(ids))


class SqliteInsight:
    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError

    async def _count(self, template: str, clauses: list[tuple[str, Any]], cap: int | None) -> int:
        clause, args = where(clauses, _mark)
        sql = template.format(where=clause, cap="-1" if cap is None else int(cap))
        count: int = await self._read(lambda conn: conn.execute(sql, args).fetchone()[0])
        return count

    async def count_events(self, flt: EventFilter | None = None, *, cap: int | None = None) -> int:
        return await self._count(insight.COUNT_EVENTS, (flt or EventFilter()).clauses(), cap)

    async def count_deliveries(self, flt: DeliveryFilter | None = None, *, cap: int | None = None) -> int:
        return await self._count(insight.COUNT_DELIVERIES, (flt or DeliveryFilter()).clauses(), cap)

    async def _by_ids(self, template: str, ids: list[int], **fill: str) -> list[Any]:
        ids = ids[:MAX_IDS]
        if not ids:
            return []
        sql = template.format(marks=_marks(ids), **fill)
        found: list[Any] = await self._read(lambda conn: conn.execute(sql, ids).fetchall())
        return found

    async def delivery_counts(self, event_ids: list[int]) -> dict[int, int]:
        return dict(await self._by_ids(insight.DELIVERY_COUNTS, event_ids))

    async def delivery_health(self, event_ids: list[int]) -> dict[int, DeliveryHealth]:
        return insight.delivery_health(await self._by_ids(insight.DELIVERY_HEALTH, event_ids))

    async def objects_of(self, event_ids: list[int]) -> dict[int, tuple[str, str]]:
        return {int(r[0]): (str(r[1]), str(r[2])) for r in await self._by_ids(insight.OBJECTS_OF, event_ids)}

    async def duplicates(self, event_ids: list[int]) -> dict[int, int]:
        return dict(await self._by_ids(insight.DUPLICATES, event_ids))

    async def attempts_of(self, delivery_ids: list[int]) -> dict[int, list[Attempt]]:
        out: dict[int, list[Attempt]] = {}
        for row in await self._by_ids(insight.ATTEMPTS_OF, delivery_ids, columns=rows.ATTEMPT_COLUMNS):
            attempt = rows.attempt_record(row)
            out.setdefault(attempt.delivery_id, []).append(attempt)
        return out

    async def list_attempts(self, delivery_id: int) -> list[Attempt]:
        found = await self._read(lambda conn: conn.execute(q.LIST_ATTEMPTS, (delivery_id,)).fetchall())
        return [rows.attempt_record(row) for row in found]

    async def counts(self, now: float) -> Counts:
        def query(conn: sqlite3.Connection) -> Counts:
            events = dict(conn.execute(q.EVENT_COUNTS).fetchall())
            deliveries = dict(conn.execute(q.DELIVERY_COUNTS).fetchall())
            return Counts(events, deliveries, conn.execute(q.OLDEST_PENDING).fetchone()[0])

        return await self._read(query)

    async def backlog(self) -> Counts:
        return insight.backlog(await self._read(lambda conn: conn.execute(BACKLOG).fetchone()))

    async def connector_backlog(self) -> dict[str, ConnectorBacklog]:
        return insight.connector_backlog(
            await self._read(lambda conn: conn.execute(insight.CONNECTOR_BACKLOG).fetchall())
        )

    async def hourly(self, since: float, until: float) -> list[HourCounts]:
        def query(conn: sqlite3.Connection) -> dict[str, dict[int, int]]:
            return {name: dict(conn.execute(sql, (since,)).fetchall()) for name, sql in HOURLY.items()}

        return insight.hours(since, until, await self._read(query))

    async def day_summary(self, since: float, until: float) -> DaySummary:
        def query(conn: sqlite3.Connection) -> dict[str, list[Any]]:
            return {name: conn.execute(sql, (since, until)).fetchall() for name, sql in DAY.items()}

        return insight.day_summary(await self._read(query))
