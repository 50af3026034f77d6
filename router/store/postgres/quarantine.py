"""The quarantine in the PostgreSQL store: webhooks that failed verification, kept within their bounds.

Each add is one statement-set in one transaction: insert, drop what is too old, then, past the reserved
oldest half (``QuarantineBounds``), drop the oldest entries beyond the other half of ``max_entries`` /
``max_bytes`` (a running total from the newest), so the table never holds more than the bounds however many
forged requests arrive, from however many instances, and a flood never pushes out the entries refused first.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from router.store.quarantined import QuarantineBounds, Quarantined, QuarantineRecord, QuarantineStats

if TYPE_CHECKING:
    from router.store.postgres.pool import Pool

ADD = (
    "INSERT INTO quarantine (received_at, remote, path, content_type, header_names, signatures, body, size)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id"
)
DROP_OLD = "DELETE FROM quarantine WHERE received_at < $1"
TRIM = (
    "DELETE FROM quarantine WHERE id IN (SELECT id FROM (SELECT id,"
    " sum(size) OVER (ORDER BY id DESC) AS total, row_number() OVER (ORDER BY id DESC) AS n FROM quarantine"
    # the reserved oldest entries: the longest run from the oldest within both reserved bounds
    " WHERE id > coalesce((SELECT max(id) FROM (SELECT id, row_number() OVER (ORDER BY id) AS rn,"
    " sum(size) OVER (ORDER BY id) AS kept FROM quarantine) r WHERE rn <= $1 AND kept <= $2), 0)) t"
    " WHERE n > $3 OR total > $4)"
)
# Instances adding at once take turns, so each trim sees the other's rows.
LOCK = "SELECT pg_advisory_xact_lock(hashtext('plugpay-router:quarantine:' || current_schema()))"
COLUMNS = "id, received_at, remote, path, content_type, header_names, signatures, body"
LIST = f"SELECT {COLUMNS} FROM quarantine WHERE id > $1 ORDER BY id LIMIT $2"
REMOVE = "DELETE FROM quarantine WHERE id = ANY($1::bigint[])"
STATS = "SELECT count(*) AS n, coalesce(sum(size), 0) AS bytes, max(received_at) AS newest FROM quarantine"


def record(row: Any) -> QuarantineRecord:
    return QuarantineRecord(
        id=int(row["id"]),
        received_at=float(row["received_at"]),
        remote=row["remote"],
        path=row["path"],
        content_type=row["content_type"],
        header_names=list(json.loads(row["header_names"])),
        signatures=dict(json.loads(row["signatures"])),
        body=bytes(row["body"]),
    )


class PostgresQuarantine:
    """The quarantine methods of ``PostgresStore`` (which provides ``_pool``)."""

    if TYPE_CHECKING:
        _pool: Pool

    async def quarantine_add(self, entry: Quarantined, bounds: QuarantineBounds) -> int:
        e = entry
        args = (
            *(e.received_at, e.remote, e.path, e.content_type),
            *(json.dumps(e.header_names), json.dumps(e.signatures), e.body, e.size),
        )

        async def add(conn: Any) -> int:
            async with conn.transaction():
                await conn.execute(LOCK)
                new_id = int(await conn.fetchval(ADD, *args))
                await conn.execute(DROP_OLD, bounds.before)
                await conn.execute(TRIM, *bounds.trim_args())
                return new_id

        return await self._pool.run(add)

    async def quarantine_list(self, *, after_id: int = 0, limit: int = 100) -> list[QuarantineRecord]:
        found = await self._pool.run(lambda conn: conn.fetch(LIST, after_id, limit), retries=1)
        return [record(row) for row in found]

    async def quarantine_remove(self, ids: list[int]) -> int:
        status = await self._pool.run(lambda conn: conn.execute(REMOVE, ids))
        return int(status.split()[-1])

    async def quarantine_stats(self) -> QuarantineStats:
        row = await self._pool.run(lambda conn: conn.fetchrow(STATS), retries=1)
        newest = row["newest"]
        return QuarantineStats(int(row["n"]), int(row["bytes"]), None if newest is None else float(newest))
