"""The PostgreSQL store's answers for ``trace``, list counts and the dashboard (``router.store.insight``).

A mixin of ``PostgresStore``; id lists travel as one array parameter.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from router.store import insight, rows
from router.store.filters import DeliveryFilter, EventFilter, where
from router.store.insight import ConnectorBacklog, DaySummary, DeliveryHealth, HourCounts
from router.store.records import Attempt, Counts

HOURLY = insight.hourly_sql("floor({} / 3600)::bigint", "$1")
DAY = {name: sql.format(since="$1", until="$2") for name, sql in insight.DAY.items()}
BACKLOG = insight.BACKLOG.format(
    oldest="SELECT LEAST((SELECT min(received_at) FROM events WHERE status = 'pending'),"
    " (SELECT min(created_at) FROM deliveries WHERE status = 'pending'))"
)
_ANY = "SELECT unnest($1::bigint[])"  # stands in for the id list of the shared SQL


def _mark(number: int) -> str:
    return f"${number}"


class PostgresInsight:
    async def _run(self, fn: Callable[[Any], Awaitable[Any]]) -> Any:
        raise NotImplementedError

    async def _count(self, template: str, clauses: list[tuple[str, Any]], cap: int | None) -> int:
        clause, args = where(clauses, _mark)
        sql = template.format(where=clause, cap="ALL" if cap is None else int(cap))
        return int(await self._run(lambda conn: conn.fetchval(sql, *args)))

    async def count_events(self, flt: EventFilter | None = None, *, cap: int | None = None) -> int:
        return await self._count(insight.COUNT_EVENTS, (flt or EventFilter()).clauses(), cap)

    async def count_deliveries(self, flt: DeliveryFilter | None = None, *, cap: int | None = None) -> int:
        return await self._count(insight.COUNT_DELIVERIES, (flt or DeliveryFilter()).clauses(), cap)

    async def _by_ids(self, template: str, ids: list[int], **fill: str) -> list[Any]:
        if not ids:
            return []
        sql = template.format(marks=_ANY, **fill)
        found: list[Any] = await self._run(lambda conn: conn.fetch(sql, ids))
        return found

    async def delivery_counts(self, event_ids: list[int]) -> dict[int, int]:
        return {int(r[0]): int(r[1]) for r in await self._by_ids(insight.DELIVERY_COUNTS, event_ids)}

    async def delivery_health(self, event_ids: list[int]) -> dict[int, DeliveryHealth]:
        return insight.delivery_health(await self._by_ids(insight.DELIVERY_HEALTH, event_ids))

    async def objects_of(self, event_ids: list[int]) -> dict[int, tuple[str, str]]:
        return {int(r[0]): (str(r[1]), str(r[2])) for r in await self._by_ids(insight.OBJECTS_OF, event_ids)}

    async def duplicates(self, event_ids: list[int]) -> dict[int, int]:
        return {int(r[0]): int(r[1]) for r in await self._by_ids(insight.DUPLICATES, event_ids)}

    async def attempts_of(self, delivery_ids: list[int]) -> dict[int, list[Attempt]]:
        out: dict[int, list[Attempt]] = {}
        for row in await self._by_ids(insight.ATTEMPTS_OF, delivery_ids, columns=rows.ATTEMPT_COLUMNS):
            attempt = rows.attempt_record(row)
            out.setdefault(attempt.delivery_id, []).append(attempt)
        return out

    async def backlog(self) -> Counts:
        return insight.backlog(await self._run(lambda conn: conn.fetchrow(BACKLOG)))

    async def connector_backlog(self) -> dict[str, ConnectorBacklog]:
        return insight.connector_backlog(await self._run(lambda conn: conn.fetch(insight.CONNECTOR_BACKLOG)))

    async def hourly(self, since: float, until: float) -> list[HourCounts]:
        async def query(conn: Any) -> dict[str, dict[int, int]]:
            found = {}
            for name, sql in HOURLY.items():
                found[name] = {int(r[0]): int(r[1]) for r in await conn.fetch(sql, since)}
            return found

        return insight.hours(since, until, await self._run(query))

    async def day_summary(self, since: float, until: float) -> DaySummary:
        async def query(conn: Any) -> dict[str, list[Any]]:
            return {name: list(await conn.fetch(sql, since, until)) for name, sql in DAY.items()}

        return insight.day_summary(await self._run(query))
