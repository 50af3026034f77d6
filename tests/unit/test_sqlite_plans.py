"""SQLite finds due work through the partial "due" indexes, however large the backlog (no sort of all pending),
of every shop or of one (``shops:``)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from router.store.sqlite import SqliteStore
from router.store.sqlite.queries import claim, due_times


@pytest.fixture
async def db(tmp_path: Path) -> Path:
    store = SqliteStore(tmp_path / "plans.db")
    await store.open()  # applies the migrations
    await store.close()
    return tmp_path / "plans.db"


@pytest.mark.parametrize("shop", [None, "cursusshop"])
@pytest.mark.parametrize("table", ["events", "deliveries"])
def test_claims_walk_the_due_index_in_order(db: Path, table: str, shop: str | None) -> None:
    sql, args = claim(table, "o", 1.0, 1.0, 16, shop)
    plan = " ".join(str(row) for row in sqlite3.connect(db).execute(f"EXPLAIN QUERY PLAN {sql}", args))
    assert f"USING INDEX {table}_{'shop_due' if shop else 'due'}" in plan
    assert "TEMP B-TREE" not in plan  # no sort of every pending row


@pytest.mark.parametrize("shops", [None, ["cursusshop", "yogastudio"]])
def test_due_times_read_the_due_indexes(db: Path, shops: list[str] | None) -> None:
    sql, args = due_times(shops)
    plan = " ".join(str(row) for row in sqlite3.connect(db).execute(f"EXPLAIN QUERY PLAN {sql}", args))
    index = "shop_due" if shops else "due"
    assert f"USING INDEX events_{index}" in plan and f"USING INDEX deliveries_{index}" in plan
