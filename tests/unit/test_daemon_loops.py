"""How the daemon wires its route and deliver loops, in process (``router.daemon.Daemon`` built but not started,
its store swapped for a recording stand-in): both loops hold back to a share of their concurrency while the
daemon's foreground is busy (acknowledgements first), and each renews the leases of its items in flight under
its own stage's name, so an event's lease is never renewed as a delivery's or the other way round."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from router.claims import ClaimLoop
from router.config import parse_config
from router.daemon import Daemon
from router.delivery.deliver import Deliverer
from router.routing.route import Router
from router.store.base import Due

SAFETY = 10.0  # seconds: only ever reached when the wiring under test is broken


def config_text(db: Path) -> str:
    return f"""version: 1
plugandpay: {{api_url: "http://127.0.0.1:9", api_token: "pp-token-1234", webhook_key: "rules-test-key-1234",
  concurrency: 64}}
store: {{url: "sqlite:///{db}"}}
delivery: {{concurrency: 64}}
connectors: {{sink: {{type: http, base_url: "http://127.0.0.1:9"}}}}
rules:
  - {{name: welcome, trigger: order_paid, actions: [{{connector: sink, path: /welcome}}]}}
"""


class Store:
    """What the loops ask of the store: claims (each stage's items once, then nothing), the next due time, and
    lease renewals, recorded with the stage they were made for."""

    def __init__(self, events: list[Any] | None = None, deliveries: list[Any] | None = None) -> None:
        self.events, self.deliveries = list(events or []), list(deliveries or [])
        self.asked: dict[str, list[int]] = {"events": [], "deliveries": []}
        self.claimed = {"events": asyncio.Event(), "deliveries": asyncio.Event()}
        self.renewed: list[tuple[str, list[int], str]] = []
        self.renewals = asyncio.Event()

    async def claim_events(self, owner: str, limit: int, lease: float, now: float, shop: str | None) -> list[Any]:
        return self._claim("events", limit)

    async def claim_deliveries(self, owner: str, limit: int, lease: float, now: float, shop: str | None) -> list[Any]:
        return self._claim("deliveries", limit)

    def _claim(self, kind: str, limit: int) -> list[Any]:
        self.asked[kind].append(limit)
        self.claimed[kind].set()
        items = self.events if kind == "events" else self.deliveries
        batch = items[:limit]
        del items[:limit]
        return batch

    async def due_times(self, shops: list[str] | None = None) -> list[Due]:
        return [Due(None, None) for _ in shops or [""]]

    async def extend_leases(self, owner: str, ids: list[int], until: float, kind: str = "deliveries") -> int:
        self.renewed.append((owner, sorted(ids), kind))
        self.renewals.set()
        return len(ids)


@pytest.fixture
async def daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Daemon]:
    held = asyncio.Event()

    async def hold(self: object, record: object) -> None:  # an item in flight until the test ends
        await held.wait()

    monkeypatch.setattr(Router, "handle", hold)
    monkeypatch.setattr(Deliverer, "handle", hold)
    path = tmp_path / "shop.yaml"
    path.write_text(config_text(tmp_path / "router.db"))
    built = Daemon(path, parse_config(path.read_text(), str(path), {}))
    yield built
    held.set()
    for loop in (built.route_loop, built.deliver_loop):
        await loop.stop(grace=1.0)
    await built.fleet.main.loaded.aclose()


async def running(loop: ClaimLoop[Any]) -> asyncio.Task[None]:
    return asyncio.create_task(loop.run())


async def test_while_webhooks_wait_on_a_busy_loop_both_stages_claim_only_a_share(daemon: Daemon) -> None:
    store = Store()
    daemon.fleet.main.store = store  # type: ignore[assignment]
    tasks = [await running(daemon.route_loop), await running(daemon.deliver_loop)]
    for kind in ("events", "deliveries"):
        await asyncio.wait_for(store.claimed[kind].wait(), SAFETY)
        store.claimed[kind].clear()
    assert store.asked == {"events": [64], "deliveries": [64]}  # nothing to answer: the full concurrency

    daemon.foreground.started()  # a webhook waits for its answer ...
    daemon.foreground.contended_until = math.inf  # ... on a loop that is late
    assert daemon.foreground.busy()
    daemon.route_loop.wake()
    daemon.deliver_loop.wake()
    for kind in ("events", "deliveries"):
        await asyncio.wait_for(store.claimed[kind].wait(), SAFETY)
    share = 64 // daemon.route_loop.busy_share
    assert store.asked == {"events": [64, share], "deliveries": [64, share]}
    for task in tasks:
        task.cancel()


async def test_each_stage_renews_its_leases_under_its_own_name(daemon: Daemon) -> None:
    store = Store(events=[SimpleNamespace(id=7)], deliveries=[SimpleNamespace(id=9)])
    daemon.fleet.main.store = store  # type: ignore[assignment]
    daemon.route_loop.renew_every = daemon.deliver_loop.renew_every = 0.01
    tasks = [await running(daemon.route_loop), await running(daemon.deliver_loop)]

    async def both_renewed() -> None:
        while {kind for _, _, kind in store.renewed} != {"events", "deliveries"}:
            store.renewals.clear()
            await store.renewals.wait()

    await asyncio.wait_for(both_renewed(), SAFETY)
    assert {(ids[0], kind) for _, ids, kind in store.renewed} == {(7, "events"), (9, "deliveries")}
    assert {owner for owner, _, _ in store.renewed} == {daemon.owner}
    for task in tasks:
        task.cancel()
