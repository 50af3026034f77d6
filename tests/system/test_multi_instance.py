"""Several real daemons on one PostgreSQL store: shared work, failover, dropped connections, outages.

Every daemon is a ``python -m router serve`` subprocess with its own port and the same store URL (a
fresh schema per test). Webhooks are spread over them like a load balancer would, each for its own
order id, so every delivery the sink records names its webhook. Leases are 4 s here (``plugandpay.lease``
and ``delivery.lease``), so a killed instance's work is taken over within seconds.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from router.demo.sandbox import SandboxServer
from router.demo.standins.sink import HttpSink
from router.store.postgres import PostgresStore
from tests import pg
from tests.fleet import fleet_config, spread
from tests.support import DaemonProcess, reserved_port, sandbox_server, wait_until, webhook_body
from tests.tcp_proxy import TcpProxy

Fleet = Callable[..., list[DaemonProcess]]


@pytest.fixture
async def api() -> AsyncIterator[SandboxServer]:
    server = await sandbox_server(synthesize=True).start()  # any order id resolves
    yield server
    await server.stop()


@pytest.fixture
def fleet(tmp_path: Path, pg_url: str, api: SandboxServer, sink: HttpSink) -> Iterator[Fleet]:
    """``fleet(n, store_url=pg_url)``: n daemons on one store, not started yet."""
    made: list[DaemonProcess] = []

    def make(count: int, store_url: str = pg_url) -> list[DaemonProcess]:
        daemons = []
        for _ in range(count):
            port = reserved_port()
            path = tmp_path / f"instance-{len(made)}.yaml"
            path.write_text(fleet_config(port=port, api_url=api.url, sink_url=sink.url, store_url=store_url))
            daemon = DaemonProcess(path, port)
            made.append(daemon)
            daemons.append(daemon)
        return daemons

    yield make
    for daemon in made:
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.wait()


async def start(daemons: list[DaemonProcess]) -> None:
    await asyncio.gather(*(asyncio.to_thread(d.start) for d in daemons))


def owner(daemon: DaemonProcess) -> str:
    [started] = [line for line in daemon.log_events() if line.get("event") == "daemon started"]
    return str(started["owner"])


def delivered_by(daemon: DaemonProcess) -> int:
    return sum(1 for line in daemon.log_events() if line.get("event") == "delivered")


def keys_by_order(sink: HttpSink) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for request in sink.requests:
        out.setdefault(int(request.json()["order"]), set()).add(request.headers["Idempotency-Key"])
    return out


async def all_delivered(sink: HttpSink, orders: set[int], timeout: float = 30.0) -> None:
    """Wait until the sink has a delivery for each order (duplicates allowed), driven by its arrivals."""
    deadline = time.monotonic() + timeout
    while missing := orders - set(keys_by_order(sink)):
        await sink.wait_for(len(sink.requests) + len(missing), timeout=max(0.1, deadline - time.monotonic()))


async def leases_held(pg_url: str, holder: str) -> int:
    schema = pg.query_of(pg_url)["search_path"]
    held = await pg.fetchval(
        f"SELECT (SELECT count(*) FROM {schema}.events WHERE lease_owner = $1)"
        f" + (SELECT count(*) FROM {schema}.deliveries WHERE lease_owner = $1)",
        holder,
    )
    assert isinstance(held, int)
    return held


async def _all_settled(pg_url: str) -> bool:
    schema = pg.query_of(pg_url)["search_path"]
    unsettled = await pg.fetchval(
        f"SELECT (SELECT count(*) FROM {schema}.events WHERE status <> 'routed')"
        f" + (SELECT count(*) FROM {schema}.deliveries WHERE status <> 'delivered')"
    )
    return unsettled == 0


async def test_three_instances_share_the_work_and_take_over_from_a_killed_one(pg_url, fleet, sink) -> None:
    total = 600
    daemons = fleet(3)
    await start(daemons)
    urls = [d.webhook_url for d in daemons]
    result = await spread(urls, range(1, 301))
    victim, survivors = daemons[0], daemons[1:]
    holder = owner(victim)

    # Freeze the victim while it holds work (claimed events or deliveries), then kill it there.
    next_id = 301
    victim.signal(signal.SIGSTOP)
    while not await leases_held(pg_url, holder):
        assert next_id < 500, "the victim never held a lease"
        victim.signal(signal.SIGCONT)
        await spread(urls, range(next_id, next_id + 10), result=result)
        next_id += 10
        victim.signal(signal.SIGSTOP)
    victim.kill()

    await spread(urls, range(next_id, total + 1), result=result)
    assert set(result.accepted) == set(range(1, total + 1))
    await all_delivered(sink, set(result.accepted))
    # What the victim had sent but not recorded is sent again once its lease runs out: wait for that too.
    await wait_until(lambda: _all_settled(pg_url), 20, "every event routed and every delivery delivered")

    by_order = keys_by_order(sink)
    assert set(by_order) == set(result.accepted)  # every accepted webhook was delivered
    assert all(len(keys) == 1 for keys in by_order.values())  # copies of a delivery carry one key
    duplicates = len(sink.requests) - len(by_order)
    assert duplicates <= total // 100, f"{duplicates} duplicate deliveries"
    assert all(delivered_by(d) > 0 for d in survivors), [delivered_by(d) for d in survivors]
    assert await leases_held(pg_url, holder) == 0  # what the victim held was taken over and finished


async def test_database_connections_killed_mid_load_are_survived(pg_url, fleet, sink) -> None:
    daemons = fleet(2)
    await start(daemons)
    urls = [d.webhook_url for d in daemons]
    load = asyncio.create_task(spread(urls, range(1, 301)))
    await sink.wait_for(60, timeout=20)
    killed = await pg.terminate(pg.query_of(pg_url)["application_name"])
    assert killed >= 4  # each daemon's pool and its listener
    result = await load
    await all_delivered(sink, set(result.accepted))

    assert set(keys_by_order(sink)) == set(range(1, 301))
    assert all(len(keys) == 1 for keys in keys_by_order(sink).values())
    for daemon in daemons:
        await daemon.wait_log("notification connection re-established")
        assert daemon.proc is not None and daemon.proc.poll() is None
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"{daemon.url}/readyz")).status_code == 200


async def test_while_the_database_is_away_webhooks_get_503_and_nothing_accepted_is_lost(pg_url, fleet, sink) -> None:
    parts = urlsplit(pg_url)
    proxy = await TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432).start()
    try:
        [daemon] = fleet(1, store_url=pg_url.replace(f":{parts.port}/", f":{proxy.port}/"))
        await start([daemon])
        result = await spread([daemon.webhook_url], range(1, 51))

        await proxy.cut()
        for ident in (1001, 1002, 1003):
            assert (await daemon.post(webhook_body("order_paid", ident))).status_code == 503
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"{daemon.url}/readyz")).status_code == 503
        proxy.resume()

        await spread([daemon.webhook_url], range(1001, 1051), result=result)
        await all_delivered(sink, set(result.accepted))
        assert set(keys_by_order(sink)) == {*range(1, 51), *range(1001, 1051)}
        assert all(len(keys) == 1 for keys in keys_by_order(sink).values())
    finally:
        await proxy.stop()


async def test_work_committed_elsewhere_wakes_an_idle_instance_at_once(pg_url, fleet, sink) -> None:
    [daemon] = fleet(1)
    await start([daemon])
    await spread([daemon.webhook_url], [1])
    await sink.wait_for(1)
    operator = PostgresStore(pg_url)  # another process's view, as `plugpay-router replay` has
    await operator.open()
    try:
        [delivery] = await operator.list_deliveries()
        for sent in range(2, 5):
            await wait_until(lambda: _is_delivered(operator, delivery.id), 5, "the delivery to be recorded")
            assert await operator.replay_deliveries([delivery.id], time.time()) == 1
            # The idle daemon polls only every 5 s; the replay's NOTIFY wakes it at once.
            await sink.wait_for(sent, timeout=2.0)
    finally:
        await operator.close()
    assert len(keys_by_order(sink)[1]) == 1


async def _is_delivered(store: PostgresStore, delivery_id: int) -> bool:
    record = await store.get_delivery(delivery_id)
    return record is not None and record.status == "delivered"
