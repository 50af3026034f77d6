"""What only the PostgreSQL store does: migrations under a lock, NOTIFY across instances, outages.

The shared semantics are in test_store_contract.py. Here: instances that start together migrate once;
a commit in one instance wakes subscribers of every instance on the same schema and no other; the
listener comes back after its connection is killed; killed pool connections and a server that goes away
(a TCP proxy cut in front of it) give StoreUnavailable, fast, and the store recovers by itself.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlsplit

import pytest

from router.events import Event
from router.store.base import Attempt, NewDelivery, RouteResult, StoreUnavailable
from router.store.postgres import PostgresStore
from router.store.postgres.schema import MIGRATIONS
from tests import pg
from tests.support import reserved_port, wait_until
from tests.tcp_proxy import TcpProxy

T = 1_000_000.0


def event(ident: int) -> Event:
    return Event("order_paid", "order_paid", "order", str(ident), tenant_id="42", rule_id="1", payload={"id": ident})


class Notices:
    """A subscriber that lets a test await the next notice of a kind."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.shops: list[str | None] = []  # the shop each notice named (None: any)
        self._changed = asyncio.Event()

    def __call__(self, kind: str, shop: str | None) -> None:
        self.seen.append(kind)
        self.shops.append(shop)
        self._changed.set()

    async def wait(self, kind: str, count: int = 1, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while self.seen.count(kind) < count:
                self._changed.clear()
                await self._changed.wait()


@pytest.fixture
async def stores(pg_url: str) -> AsyncIterator[Callable[..., PostgresStore]]:
    made: list[PostgresStore] = []

    def make(url: str = pg_url) -> PostgresStore:
        store = PostgresStore(url)
        made.append(store)
        return store

    yield make
    for store in made:
        await store.close()


async def test_instances_starting_together_apply_the_migrations_once(pg_url: str, stores) -> None:
    await asyncio.gather(*(stores().open() for _ in range(6)))
    schema = pg.query_of(pg_url)["search_path"]
    versions = await pg.fetchval(f"SELECT array_agg(version) FROM {schema}.schema_version")
    assert versions == list(range(1, len(MIGRATIONS) + 1))


async def test_a_schema_newer_than_the_program_is_refused(pg_url: str, stores) -> None:
    await stores().open()
    schema = pg.query_of(pg_url)["search_path"]
    await pg.execute(f"INSERT INTO {schema}.schema_version (version) VALUES (99)")
    with pytest.raises(StoreUnavailable, match="newer than this program"):
        await stores().open()


async def test_a_missing_schema_or_server_is_a_clear_error(pg_url: str, stores) -> None:
    with pytest.raises(StoreUnavailable, match="no schema of search_path"):
        await stores(pg.with_query(pg.SERVER_URL, search_path="ppr_does_not_exist")).open()
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match="postgresql"):
        await stores(f"postgresql://postgres@127.0.0.1:{reserved_port()}/test").open()
    assert time.monotonic() - started < 5


async def test_commits_in_one_instance_wake_subscribers_of_every_instance(pg_url: str, stores) -> None:
    writer, reader = stores(), stores()
    notices = Notices()
    reader.subscribe(notices)
    await writer.open()
    await reader.open()

    accepted = await writer.add_event(event(1), dedupe_window=60, now=T)
    await notices.wait("events")
    await writer.add_event(event(1), dedupe_window=60, now=T)  # a duplicate commits nothing new
    [claimed] = await writer.claim_events("w", 10, 30, T)
    delivery = NewDelivery("r", 0, "sink", "key-1", "ppr_1", {"path": "/"}, (1.0,))
    await writer.complete_route(claimed.id, "w", RouteResult([delivery], [], "v1"), T)
    await notices.wait("deliveries")
    [leased] = await writer.claim_deliveries("w", 10, 30, T)
    await writer.release("w")
    await notices.wait("deliveries", 2)
    await writer.claim_deliveries("w", 10, 30, T)
    await writer.finish_attempt(leased.id, "w", _attempt(), None)
    await writer.replay_deliveries([leased.id], T + 1)
    await notices.wait("deliveries", 3)
    assert notices.seen.count("events") == 1
    assert accepted.event_id == claimed.id


async def test_a_shops_work_is_noticed_with_its_name_so_only_its_loops_wake(pg_url: str, stores) -> None:
    writer, reader = stores(), stores()
    notices = Notices()
    reader.subscribe(notices)
    await writer.open()
    await reader.open()
    await writer.add_event(dataclasses.replace(event(1), shop="yogastudio"), dedupe_window=60, now=T)
    await notices.wait("events")
    [claimed] = await writer.claim_events("w", 10, 30, T, "yogastudio")
    delivery = NewDelivery("r", 0, "sink", "key-1", "ppr_1", {"path": "/"}, (1.0,))
    await writer.complete_route(claimed.id, "w", RouteResult([delivery], [], "v1"), T)
    await notices.wait("deliveries")
    other = stores()  # another instance: this one's notices of events are spaced (NOTIFY_INTERVAL)
    await other.open()
    await other.add_event(event(2), dedupe_window=60, now=T + 1)  # a router of one shop: any loop
    await notices.wait("events", 2)
    assert notices.shops == ["yogastudio", "yogastudio", None]


async def test_notices_of_another_schema_are_ignored(pg_url: str, stores) -> None:
    other = await pg.new_schema()
    try:
        mine, theirs = stores(), stores(pg.with_query(pg.SERVER_URL, search_path=other))
        notices, control = Notices(), Notices()
        mine.subscribe(notices)
        theirs.subscribe(control)
        await mine.open()
        await theirs.open()
        await theirs.add_event(event(1), dedupe_window=60, now=T)
        await control.wait("events")  # the notice went out and reached the same database
        await mine.add_event(event(2), dedupe_window=60, now=T)
        await notices.wait("events")
        assert notices.seen == ["events"]
    finally:
        for store in (mine, theirs):
            await store.close()
        await pg.drop_schema(other)


async def test_the_listener_comes_back_after_its_connection_is_killed(pg_url: str, stores) -> None:
    writer, reader = stores(), stores()
    notices = Notices()
    reader.subscribe(notices)
    await writer.open()
    await reader.open()
    application = pg.query_of(pg_url)["application_name"]
    assert await pg.terminate(application) >= 2  # both pools and the listener
    # Once back, the listener wakes everyone (notices sent meanwhile are lost), then hears new ones.
    await notices.wait("events", 1, timeout=10)
    await writer.add_event(event(5), dedupe_window=60, now=T)
    await notices.wait("events", 2, timeout=10)


async def test_killed_connections_fail_the_work_in_flight_and_the_store_recovers(pg_url: str, stores) -> None:
    store = stores()
    await store.open()
    accepted = await store.add_event(event(1), dedupe_window=60, now=T)
    [claimed] = await store.claim_events("a", 10, 30, T)
    schema = pg.query_of(pg_url)["search_path"]
    blocker = await pg.connect()
    try:
        async with blocker.transaction():
            # Hold the event's row so complete_route is in flight when its connection is killed.
            await blocker.execute(f"SELECT 1 FROM {schema}.events WHERE id = $1 FOR UPDATE", claimed.id)
            pending = asyncio.create_task(store.complete_route(claimed.id, "a", RouteResult([], [], "v1"), T))
            application = pg.query_of(pg_url)["application_name"]
            await wait_until(lambda: _waiting_on_lock(application), 5, "complete_route to wait on the row lock")
            await pg.terminate(application)
            with pytest.raises(StoreUnavailable):
                await pending
    finally:
        await blocker.close()
    await wait_until(lambda: _answers(store), 5, "the store to answer again")
    assert await store.complete_route(accepted.event_id, "a", RouteResult([], [], "v1"), T + 1) == 0
    record = await store.get_event(accepted.event_id)
    assert record is not None and record.status == "routed"


async def test_while_the_server_is_away_calls_fail_fast_and_recover_after(pg_url: str, stores) -> None:
    parts = urlsplit(pg_url)
    proxy = await TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432).start()
    try:
        store = stores(pg_url.replace(f":{parts.port}/", f":{proxy.port}/"))
        await store.open()
        await store.add_event(event(1), dedupe_window=60, now=T)
        await proxy.cut()
        started = time.monotonic()
        for ident in range(2, 12):
            with pytest.raises(StoreUnavailable):
                await store.add_event(event(ident), dedupe_window=60, now=T)
        assert time.monotonic() - started < 2
        assert proxy.refused <= 2  # one probe per backoff interval, not one connect per call
        with pytest.raises(StoreUnavailable):
            await store.ping()
        proxy.resume()
        await wait_until(lambda: _answers(store), 10, "the store to reconnect")
        assert not (await store.add_event(event(20), dedupe_window=60, now=T)).duplicate
        assert len(await store.list_events()) == 2
    finally:
        await proxy.stop()


def _attempt() -> Attempt:
    return Attempt(started_at=T, duration_ms=1.0, outcome="delivered", status_code=200)


async def _answers(store: PostgresStore) -> bool:
    try:
        await store.ping()
    except StoreUnavailable:
        return False
    return True


async def _waiting_on_lock(application: str) -> bool:
    waiting = await pg.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
        application,
    )
    return bool(waiting)
