"""The SQLite store's file, in process: private file modes, a file deleted, replaced or corrupted under a
running store (every write refused, the readiness probe failing), purged customer data gone from the file and
its WAL, and an old file migrated without ever reusing an id.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from router.events import Event
from router.store.base import Attempt, DeliveryFilter, NewDelivery, RouteResult, StoreLost, StoreUnavailable
from router.store.sqlite import SqliteStore
from router.store.sqlite import guard as guard_module
from router.store.sqlite.schema import MIGRATIONS

T = 1_000_000.0
PII = "jan.secret-7f3a@example.nl"


def event(ident: int = 1042, email: str = "someone@example.nl") -> Event:
    return Event(
        trigger="order_paid",
        raw_trigger="order_paid",
        triggerable_type="order",
        triggerable_id=str(ident),
        tenant_id="42",
        rule_id="318",
        sent_at="2026-01-01T00:00:00Z",
        payload={"event": {"trigger_type": "order_paid", "triggerable_id": ident}, "email": email},
    )


def new_delivery(key: str, email: str = "someone@example.nl") -> NewDelivery:
    return NewDelivery(
        rule="welcome",
        action_index=0,
        connector="sink",
        action_key=f"action-{key}",
        delivery_key=f"ppr_{key}",
        request={"method": "POST", "path": "/welcome", "json": {"email": email}},
        schedule=(5.0,),
    )


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "router.db")
    await opened.open()
    yield opened
    await opened.close()


# ---------------------------------------------------------------- file modes


async def test_the_store_file_its_wal_and_shm_are_private_to_the_owner(tmp_path: Path, umask_022: None) -> None:
    path = tmp_path / "router.db"
    store = SqliteStore(path)
    await store.open()
    try:
        await store.add_event(event(), dedupe_window=60, now=T)
        for name in ("router.db", "router.db-wal", "router.db-shm"):
            mode = stat.S_IMODE((tmp_path / name).stat().st_mode)
            assert mode == 0o600, f"{name} has mode {oct(mode)}"
    finally:
        await store.close()


# ---------------------------------------------------------------- the file under a running store


async def test_a_deleted_store_file_refuses_every_write_after_it(store: SqliteStore, tmp_path: Path) -> None:
    heard: list[str] = []
    store.on_lost(heard.append)
    await store.add_event(event(1), dedupe_window=60, now=T)
    (tmp_path / "router.db").unlink()
    for ident in (2, 3):
        with pytest.raises(StoreLost, match=str(tmp_path / "router.db")):
            await store.add_event(event(ident), dedupe_window=60, now=T)
    with pytest.raises(StoreLost, match="deleted"):
        await store.ping()
    await asyncio.sleep(0)  # the callback is delivered on the loop
    assert len(heard) == 1 and "deleted" in heard[0]


async def test_a_replaced_store_file_refuses_writes(store: SqliteStore, tmp_path: Path) -> None:
    path = tmp_path / "router.db"
    other = tmp_path / "other.db"
    sqlite3.connect(other).close()
    os.replace(other, path)
    with pytest.raises(StoreLost, match="replaced"):
        await store.add_event(event(), dedupe_window=60, now=T)


async def test_a_corrupted_store_file_fails_the_readiness_probe_and_refuses_writes(
    store: SqliteStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for ident in range(200):
        await store.add_event(event(ident, "x" * 500), dedupe_window=60, now=T)
    await store.ping()  # sound: ready
    # Every probe checks (the interval is what keeps a big file from being read at every probe).
    monkeypatch.setattr(guard_module, "INTEGRITY_INTERVAL", 0.0)
    with (tmp_path / "router.db").open("r+b") as handle:
        handle.seek(4096)  # every page after the header page: the tables' b-trees
        handle.write(b"\xa5" * 4096 * 20)
    with pytest.raises(StoreLost, match="corrupt"):
        await store.ping()
    with pytest.raises(StoreLost):
        await store.add_event(event(9999), dedupe_window=60, now=T)


def test_store_unavailable_is_the_parent_of_store_lost() -> None:
    # receive answers 503 for every StoreUnavailable: a lost store must be one.
    assert issubclass(StoreLost, StoreUnavailable)


# ---------------------------------------------------------------- purged data leaves the files


async def test_purged_customer_data_is_gone_from_the_file_and_the_wal(store: SqliteStore, tmp_path: Path) -> None:
    accepted = await store.add_event(event(1, PII), dedupe_window=60, now=T)
    [claimed] = await store.claim_events("a", 10, 30, T)
    await store.complete_route(claimed.id, "a", RouteResult([new_delivery("one", PII)], [], "v1"), T)
    [delivery] = await store.list_deliveries(DeliveryFilter(event_id=accepted.event_id))
    await store.claim_deliveries("a", 10, 30, T)
    await store.finish_attempt(delivery.id, "a", Attempt(T, 5.0, "delivered", 200), None)
    files = [tmp_path / "router.db", tmp_path / "router.db-wal"]
    assert any(PII.encode() in f.read_bytes() for f in files if f.exists())  # the test can see it before

    assert await store.purge(T + 1000, T + 1000, batch=100) == 1
    for f in files:
        if f.exists():
            assert PII.encode() not in f.read_bytes(), f"{f.name} still holds the purged data"


# ---------------------------------------------------------------- migration


async def test_migrating_an_old_store_never_reuses_ids(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys=ON")
    for number, script in enumerate(MIGRATIONS[:3], start=1):
        conn.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
    conn.execute(
        "INSERT INTO events (id, dedupe_key, business_key, trigger, raw_trigger, triggerable_type, triggerable_id,"
        " source, payload, status, received_at, next_attempt_at) VALUES"
        " (3, 'd3', 'b3', 'order_paid', 'order_paid', 'order', '3', 'webhook', '{}', 'routed', 1, 1)"
    )
    conn.execute(
        "INSERT INTO deliveries (id, event_id, rule, action_index, connector, action_key, delivery_key, request,"
        " schedule, status, next_attempt_at, created_at, updated_at) VALUES"
        " (5, 3, 'welcome', 0, 'sink', 'action-kept', 'ppr_kept', '{}', '[5]', 'delivered', 1, 1, 1)"
    )
    conn.execute(
        "INSERT INTO attempts (delivery_id, number, started_at, duration_ms, outcome) VALUES (5, 1, 1, 1, 'delivered')"
    )
    conn.execute("INSERT INTO dedupe (key, event_id, expires_at) VALUES ('d9', 9, 1e12)")  # event 9 was purged
    conn.close()

    store = SqliteStore(path)
    await store.open()
    try:
        assert len(await store.list_attempts(5)) == 1  # the rebuild kept every row and reference
        fresh = await store.add_event(event(77), dedupe_window=60, now=T)
        assert fresh.event_id > 9
        [claimed] = await store.claim_events("a", 10, 30, T)
        routed = RouteResult([new_delivery("kept"), new_delivery("new")], [], "v1")
        assert await store.complete_route(claimed.id, "a", routed, T) == 1  # "kept" ran before the migration
        assert [d.id > 5 for d in await store.list_deliveries(DeliveryFilter(event_id=claimed.id))] == [True]
    finally:
        await store.close()
