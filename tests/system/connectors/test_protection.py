"""Rate limiter and circuit breaker: on a fake clock, then wired into the deliver stage with a real store."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from connectors.base import ConnectorDefaults, Throttled
from router.config import parse_config
from router.delivery.deliver import Deliverer
from router.delivery.live_connectors import Connectors
from router.demo.standins.sink import Reply
from router.events import Event
from router.store.base import NewDelivery, RouteResult
from router.store.sqlite import SqliteStore
from tests.memory_connector import SENT
from tests.support import wait_until
from toolkit.protection import BreakerSettings, CircuitBreaker, Guards, RateLimiter
from toolkit.units import Rate

OWNER = "test-owner"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_limiter_allows_count_per_window_and_throttles_long_waits():
    clock = FakeClock()
    limiter = RateLimiter(Rate(5, 1.0), max_wait=2.0, clock=clock)
    assert [limiter.reserve() for _ in range(5)] == [0.0] * 5
    assert limiter.reserve() == pytest.approx(1.1)  # one window plus the 10 % slack
    assert limiter.reserve() == pytest.approx(1.1)
    clock.now += 1.1
    # The window [1.1, 2.2) already holds the two reserved slots: three more fit, then wait for 2.2.
    assert [limiter.reserve() for _ in range(3)] == [0.0] * 3
    assert limiter.reserve() == pytest.approx(1.1)
    with pytest.raises(Throttled) as throttled:
        for _ in range(10):
            limiter.reserve()
    assert throttled.value.wait == pytest.approx(2.2)


def test_a_pause_holds_every_request_even_without_a_rate():
    clock = FakeClock()
    limiter = RateLimiter(None, max_wait=5.0, clock=clock)
    assert limiter.reserve() == 0.0
    limiter.pause(3.0)
    assert limiter.reserve() == pytest.approx(3.0)
    limiter.pause(30.0)
    with pytest.raises(Throttled):
        limiter.reserve()


def test_breaker_opens_at_70_percent_of_10_calls_then_probes_once():
    clock = FakeClock()
    breaker = CircuitBreaker("crm", BreakerSettings(open_for=30.0), clock=clock)
    for failed in [True] * 6 + [False] * 3:
        assert breaker.admit() is None
        breaker.record(failed)
    assert breaker.state == "closed"  # 6 of 9: the window is not full yet
    breaker.record(True, "503 Service Unavailable")
    assert breaker.state == "open"  # 7 of 10
    assert breaker.last_error == "503 Service Unavailable"  # what the destination_down alert names
    assert breaker.admit() == pytest.approx(30.0)
    clock.now += 30.0
    assert breaker.admit() is None  # the probe
    assert breaker.state == "half-open"
    assert breaker.admit() == pytest.approx(5.0)  # everyone else waits for it
    breaker.record(True)
    assert breaker.state == "open"
    clock.now += 30.0
    assert breaker.admit() is None  # a probe whose outcome never comes (its task was cancelled)...
    clock.now += 30.0
    assert breaker.admit() is None  # ...is replaced by another after open_for
    breaker.record(False)
    assert breaker.state == "closed"
    assert breaker.admit() is None


async def make_store(tmp_path: Path, requests: list[dict], schedule: tuple[float, ...]) -> SqliteStore:
    store = SqliteStore(tmp_path / "router.db")
    await store.open()
    now = time.time()
    accepted = await store.add_event(Event("order_paid", "order_paid", "order", "1042"), dedupe_window=60, now=now)
    await store.claim_events(OWNER, 1, 30, now)
    deliveries = [
        NewDelivery("rule", i, "dest", f"key{i}", f"ppr_key{i}", request, schedule)
        for i, request in enumerate(requests)
    ]
    await store.complete_route(accepted.event_id, OWNER, RouteResult(deliveries, [], "v1"), now)
    return store


def deliverer_for(connectors_yaml: str, store: SqliteStore) -> tuple[Deliverer, Connectors]:
    text = f"version: 1\nplugandpay: {{allow_unsigned: true}}\nconnectors:\n{connectors_yaml}"
    config = parse_config(text, "config.yaml", env={})
    connectors = Connectors(config.connectors, ConnectorDefaults(timeout=2.0), Guards())
    return Deliverer(store, lambda: (config, connectors), OWNER), connectors


async def deliver_due(store: SqliteStore, deliverer: Deliverer) -> int:
    batch = await store.claim_deliveries(OWNER, 10, 30, time.time())
    for record in batch:
        await deliverer.handle(record)
    return len(batch)


async def test_breaker_stops_attempts_while_open_and_recovers_after_the_pause(tmp_path, sink):
    sink.default = Reply(503, {"error": "down"})
    store = await make_store(tmp_path, [{"path": "/hook", "json": {"n": 1}}], schedule=(0.01,) * 30)
    deliverer, connectors = deliverer_for(
        f'  dest: {{type: http, base_url: "{sink.url}", breaker: {{open_for: 1s}}}}', store
    )

    async def opened() -> bool:
        await deliver_due(store, deliverer)
        return connectors.breaker_states() == {"dest": "open"}

    await wait_until(opened, 10, "the breaker to open")
    assert len(sink.requests) == 10
    assert len(await store.list_attempts(1)) == 10

    # While open, the delivery comes due, is claimed, and goes straight back: no request, no attempt.
    await wait_until(lambda: deliver_due(store, deliverer), 5, "the delivery to come due while open")
    record = await store.get_delivery(1)
    assert record is not None and record.status == "pending" and record.attempts == 10
    assert record.next_attempt_at > time.time() + 0.5
    assert len(sink.requests) == 10

    sink.default = Reply(200, {"ok": True})

    async def delivered() -> bool:
        await deliver_due(store, deliverer)
        found = await store.get_delivery(1)
        return found is not None and found.status == "delivered"

    await wait_until(delivered, 5, "the probe after the pause")
    assert [a.outcome for a in await store.list_attempts(1)] == ["retry"] * 10 + ["delivered"]
    assert connectors.breaker_states() == {"dest": "closed"}
    assert len(sink.requests) == 11
    await store.close()


async def test_a_throttled_delivery_waits_in_the_store_without_spending_an_attempt(tmp_path):
    SENT.pop("dest", None)
    store = await make_store(tmp_path, [{"payload": 1}, {"payload": 2}], schedule=(5.0,))
    deliverer, _ = deliverer_for("  dest: {type: memory, rate_limit: 1/1m}", store)

    assert await deliver_due(store, deliverer) == 2

    assert len(SENT["dest"]) == 1
    first, second = await store.get_delivery(1), await store.get_delivery(2)
    assert first is not None and first.status == "delivered"
    assert second is not None and second.status == "pending" and second.attempts == 0
    assert second.next_attempt_at > time.time() + 50  # when the limiter has a slot again
    assert await store.list_attempts(2) == []
    await store.close()
