"""SQLite finds due work through the partial "due" indexes, however large the backlog (no sort of all pending)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from router.store.sqlite import SqliteStore
from router.store.sqlite.queries import CLAIM, NEXT_DUE


@pytest.fixture
async def db(tmp_path: Path) -> Path:
    store = SqliteStore(tmp_path / "plans.db")
    await store.open()  # applies the migrations
    await store.close()
    return tmp_path / "plans.db"


@pytest.mark.parametrize("table", ["events", "deliveries"])
def test_claims_walk_the_due_index_in_order(db: Path, table: str) -> None:
    plan = " ".join(
        str(row) for row in sqlite3.connect(db).execute(f"EXPLAIN QUERY PLAN {CLAIM[table]}", ("o", 1.0, 1.0, 16))
    )
    assert f"USING INDEX {table}_due" in plan
    assert "TEMP B-TREE" not in plan  # no sort of every pending row


def test_next_due_reads_the_due_indexes(db: Path) -> None:
    plan = " ".join(str(row) for row in sqlite3.connect(db).execute(f"EXPLAIN QUERY PLAN {NEXT_DUE}"))
    assert "USING INDEX events_due" in plan and "USING INDEX deliveries_due" in plan
