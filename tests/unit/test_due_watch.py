"""The daemon's one poll for due work: one store round trip for every shop's loops, waking those whose work
is due now, setting a timer for what comes due before the next look, and leaving the rest to that look."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from router.pipelines.due import DueWatch
from router.store.base import Due, StoreUnavailable

SAFETY = 10.0


@dataclass
class Shop:
    """A pipeline as the watch sees it: a name and its two loops' wake-ups."""

    shop: str
    woken: list[str] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def wake_route(self) -> None:
        self.woken.append("route")
        self.wake.set()

    def wake_deliver(self) -> None:
        self.woken.append("deliver")
        self.wake.set()


class Store:
    def __init__(self, due: dict[str, Due], *, down: bool = False) -> None:
        self.due = due
        self.down = down
        self.asked: list[list[str] | None] = []
        self.asked_twice = asyncio.Event()

    async def due_times(self, shops: list[str] | None = None) -> list[Due]:
        self.asked.append(shops)
        if len(self.asked) == 2:
            self.asked_twice.set()
        if self.down:
            raise StoreUnavailable("connection refused")
        return [self.due.get(name, Due(None, None)) for name in shops or [""]]


def watch(store: Store, shops: list[Shop], *, by_shop: bool = True, every: float = 5.0) -> DueWatch:
    return DueWatch(store, lambda: shops, by_shop, every)  # type: ignore[arg-type]


async def test_one_look_asks_once_for_all_shops_and_wakes_only_the_loops_with_work_due() -> None:
    now = time.time()
    shops = [Shop("cursusshop"), Shop("yogastudio"), Shop("lms"), Shop("")]
    store = Store({"cursusshop": Due(now - 1, None), "yogastudio": Due(None, now - 3), "lms": Due(now + 3600, None)})
    await watch(store, shops).look()
    assert store.asked == [["cursusshop", "yogastudio", "lms", ""]]
    assert [s.woken for s in shops] == [["route"], ["deliver"], [], []]


async def test_work_due_before_the_next_look_wakes_its_loop_at_its_time() -> None:
    shop = Shop("cursusshop")
    due = time.time() + 0.05
    watcher = watch(Store({"cursusshop": Due(None, due)}), [shop])
    await watcher.look()
    assert shop.woken == []
    await asyncio.wait_for(shop.wake.wait(), SAFETY)
    assert shop.woken == ["deliver"] and time.time() >= due - 0.01  # a timer may fire a clock tick early


async def test_a_later_look_replaces_the_timers_of_the_one_before() -> None:
    shop = Shop("cursusshop")
    store = Store({"cursusshop": Due(time.time() + 0.05, None)})
    watcher = watch(store, [shop])
    await watcher.look()
    store.due = {}  # the retry was claimed by another instance meanwhile
    await watcher.look()
    await asyncio.sleep(0.1)  # past the first look's time: nothing to await, the wake-up must not come
    assert shop.woken == []


async def test_a_router_of_one_shop_asks_for_the_whole_store() -> None:
    shop = Shop("")
    store = Store({"": Due(time.time() - 1, time.time() - 1)})
    await watch(store, [shop], by_shop=False).look()
    assert store.asked == [None] and shop.woken == ["route", "deliver"]


async def test_a_store_outage_wakes_nothing_and_the_watch_keeps_looking() -> None:
    shop = Shop("cursusshop")
    store = Store({"cursusshop": Due(time.time() - 1, None)}, down=True)
    task: asyncio.Task[Any] = asyncio.create_task(watch(store, [shop], every=0.01).run())
    await asyncio.wait_for(store.asked_twice.wait(), SAFETY)  # a second look after the failed one
    assert shop.woken == []
    store.down = False
    await asyncio.wait_for(shop.wake.wait(), SAFETY)
    task.cancel()
