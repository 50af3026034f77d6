"""The quarantine in the SQLite store: webhooks that failed verification, kept within their bounds.

Each add is one transaction of the group-commit writer: insert, drop what is too old, then, past the
reserved oldest half (``QuarantineBounds``), drop the oldest entries beyond the other half of
``max_entries`` / ``max_bytes`` (a running total from the newest), so the table never holds more than the
bounds however many forged requests arrive, and a flood never pushes out the entries refused first.
Deleted rows are overwritten (secure_delete) and their pages reused, so the file does not grow with the
traffic.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from router.store.quarantined import QuarantineBounds, Quarantined, QuarantineRecord, QuarantineStats

T = TypeVar("T")

ADD = (
    "INSERT INTO quarantine (received_at, remote, path, content_type, header_names, signatures, body, size)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
)
DROP_OLD = "DELETE FROM quarantine WHERE received_at < ?"
TRIM = (
    "DELETE FROM quarantine WHERE id IN (SELECT id FROM (SELECT id,"
    " sum(size) OVER (ORDER BY id DESC) AS total, row_number() OVER (ORDER BY id DESC) AS n FROM quarantine"
    # the reserved oldest entries: the longest run from the oldest within both reserved bounds
    " WHERE id > coalesce((SELECT max(id) FROM (SELECT id, row_number() OVER (ORDER BY id) AS rn,"
    " sum(size) OVER (ORDER BY id) AS kept FROM quarantine) r WHERE rn <= ? AND kept <= ?), 0)) t"
    " WHERE n > ? OR total > ?)"
)
COLUMNS = "id, received_at, remote, path, content_type, header_names, signatures, body"
LIST = f"SELECT {COLUMNS} FROM quarantine WHERE id > ? ORDER BY id LIMIT ?"
REMOVE = "DELETE FROM quarantine WHERE id IN ({marks})"
STATS = "SELECT count(*), coalesce(sum(size), 0), max(received_at) FROM quarantine"


def record(row: Any) -> QuarantineRecord:
    return QuarantineRecord(
        id=int(row[0]),
        received_at=float(row[1]),
        remote=row[2],
        path=row[3],
        content_type=row[4],
        header_names=list(json.loads(row[5])),
        signatures=dict(json.loads(row[6])),
        body=bytes(row[7]),
    )


class SqliteQuarantine:
    """The quarantine methods of ``SqliteStore`` (which provides ``_write`` and ``_read``)."""

    if TYPE_CHECKING:

        def _write(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]: ...

        async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T: ...

    async def quarantine_add(self, entry: Quarantined, bounds: QuarantineBounds) -> int:
        e = entry
        args = (
            *(e.received_at, e.remote, e.path, e.content_type),
            *(json.dumps(e.header_names), json.dumps(e.signatures), e.body, e.size),
        )

        def add(conn: sqlite3.Connection) -> int:
            new_id = int(conn.execute(ADD, args).fetchone()[0])
            conn.execute(DROP_OLD, (bounds.before,))
            conn.execute(TRIM, bounds.trim_args())
            return new_id

        return await self._write(add)

    async def quarantine_list(self, *, after_id: int = 0, limit: int = 100) -> list[QuarantineRecord]:
        found = await self._read(lambda conn: conn.execute(LIST, (after_id, limit)).fetchall())
        return [record(row) for row in found]

    async def quarantine_remove(self, ids: list[int]) -> int:
        def remove(conn: sqlite3.Connection) -> int:
            count = 0
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                count += conn.execute(REMOVE.format(marks=",".join("?" * len(chunk))), chunk).rowcount
            return count

        return await self._write(remove)

    async def quarantine_stats(self) -> QuarantineStats:
        row = await self._read(lambda conn: conn.execute(STATS).fetchone())
        return QuarantineStats(int(row[0]), int(row[1]), None if row[2] is None else float(row[2]))
