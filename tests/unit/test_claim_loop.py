"""The claim loop both stages run: bounded concurrency, wake-ups, store outages, a graceful stop, and one
handler at a time for an item, however often a claim hands it out.

The store is an in-memory queue or a fixed list of claims; handlers report through events, so no test waits on
a guessed sleep.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from router.claims import ClaimLoop
from router.store.base import StoreUnavailable

SAFETY = 10.0  # seconds: only ever reached when the behaviour under test is broken


class Queue:
    """Due work in memory: ``claim`` hands out up to ``limit`` items, optionally failing first."""

    def __init__(self, items: list[int] | None = None, *, unavailable: int = 0) -> None:
        self.items = list(items or [])
        self.unavailable = unavailable
        self.claim_times: list[float] = []
        self.claimed = asyncio.Event()

    async def claim(self, limit: int) -> list[int]:
        self.claim_times.append(asyncio.get_running_loop().time())
        self.claimed.set()
        if self.unavailable:
            self.unavailable -= 1
            raise StoreUnavailable("database is locked")
        batch, self.items = self.items[:limit], self.items[limit:]
        return batch

    async def next_due(self) -> float | None:
        return None


def loop_over(
    queue: Queue, handle: Callable[[int], Awaitable[None]], *, concurrency: int, idle: float = 3600.0
) -> ClaimLoop[int]:
    return ClaimLoop("test", queue.claim, handle, queue.next_due, concurrency=concurrency, idle=idle)


async def test_never_more_items_at_once_than_its_concurrency() -> None:
    queue = Queue(list(range(20)))
    running = 0
    peak = 0
    done: list[int] = []
    all_done = asyncio.Event()

    async def handle(item: int) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        for _ in range(3):  # let the loop run in between, as a real send would
            await asyncio.sleep(0)
        running -= 1
        done.append(item)
        if len(done) == 20:
            all_done.set()

    loop = loop_over(queue, handle, concurrency=3)
    task = asyncio.create_task(loop.run())
    await asyncio.wait_for(all_done.wait(), SAFETY)
    await loop.stop(grace=1.0)
    await asyncio.wait_for(task, SAFETY)
    assert sorted(done) == list(range(20))
    assert peak == 3


async def test_a_wake_up_makes_an_idle_loop_claim_at_once() -> None:
    queue = Queue()
    handled = asyncio.Event()

    async def handle(item: int) -> None:
        handled.set()

    loop = loop_over(queue, handle, concurrency=4, idle=3600.0)  # without the wake-up it would wait an hour
    task = asyncio.create_task(loop.run())
    await asyncio.wait_for(queue.claimed.wait(), SAFETY)  # claimed nothing: now idle
    queue.items.append(1)
    loop.wake()
    await asyncio.wait_for(handled.wait(), SAFETY)
    assert len(queue.claim_times) == 2
    await loop.stop(grace=1.0)
    await asyncio.wait_for(task, SAFETY)


async def test_a_store_outage_on_claim_backs_off_then_recovers() -> None:
    queue = Queue([7], unavailable=2)
    handled: list[int] = []
    done = asyncio.Event()

    async def handle(item: int) -> None:
        handled.append(item)
        done.set()

    loop = loop_over(queue, handle, concurrency=2)
    task = asyncio.create_task(loop.run())
    await asyncio.wait_for(done.wait(), SAFETY)
    assert handled == [7]
    first, second, third = queue.claim_times[:3]
    # Growing pauses between tries instead of hammering a store that is down.
    assert second - first >= 0.4 and third - second >= 0.8
    await loop.stop(grace=1.0)
    await asyncio.wait_for(task, SAFETY)


async def test_stop_lets_in_flight_items_finish_and_cancels_the_rest_after_the_grace() -> None:
    queue = Queue([1, 2, 3])
    started = {1: asyncio.Event(), 2: asyncio.Event()}
    finish_first = asyncio.Event()
    results: dict[int, str] = {}

    async def handle(item: int) -> None:
        started[item].set()
        try:
            if item == 1:
                await finish_first.wait()
            else:
                await asyncio.Event().wait()  # a send that never ends
        except asyncio.CancelledError:
            results[item] = "cancelled"
            raise
        results[item] = "finished"

    loop = loop_over(queue, handle, concurrency=2)
    task = asyncio.create_task(loop.run())
    await asyncio.wait_for(asyncio.gather(started[1].wait(), started[2].wait()), SAFETY)

    async def finish_during_stop() -> None:
        finish_first.set()

    clock = asyncio.get_running_loop()
    began = clock.time()
    await asyncio.gather(loop.stop(grace=0.3), finish_during_stop())
    assert clock.time() - began >= 0.3  # the stuck item had its grace
    assert results == {1: "finished", 2: "cancelled"}
    await asyncio.wait_for(task, SAFETY)
    assert queue.items == [3]  # nothing more is claimed once stopping


async def test_while_busy_only_a_share_of_its_concurrency_runs_then_all_of_it() -> None:
    queue = Queue(list(range(8)))
    busy = True
    started: list[int] = []
    two_started, all_started, release = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def handle(item: int) -> None:
        started.append(item)
        if len(started) == 2:
            two_started.set()
        if len(started) == 8:
            all_started.set()
        await release.wait()

    loop = ClaimLoop(
        "test", queue.claim, handle, queue.next_due, concurrency=8, idle=3600.0, busy=lambda: busy, busy_share=4
    )
    runner = asyncio.create_task(loop.run())
    await asyncio.wait_for(two_started.wait(), SAFETY)
    for _ in range(50):  # every chance to take more
        await asyncio.sleep(0)
    assert len(started) == 2  # 8 // 4 while webhooks wait for their answer
    busy = False
    loop.wake()
    await asyncio.wait_for(all_started.wait(), SAFETY)  # the whole concurrency, without waiting for a slot
    release.set()
    await loop.stop(SAFETY)
    runner.cancel()


async def test_while_busy_it_claims_at_most_once_per_pause_even_when_items_finish_at_once() -> None:
    """Against a fast destination a share of the concurrency still turns over at once; the pause is what
    bounds the CPU that background work takes from the acknowledgements."""
    queue = Queue(list(range(200)))
    busy = True
    done: list[int] = []
    all_done = asyncio.Event()

    async def handle(item: int) -> None:  # finishes at once, as against a local sink
        done.append(item)
        if len(done) == 200:
            all_done.set()

    loop = ClaimLoop(
        "test",
        queue.claim,
        handle,
        queue.next_due,
        concurrency=8,
        idle=3600.0,
        busy=lambda: busy,
        busy_share=8,
        busy_pause=0.05,
    )
    runner = asyncio.create_task(loop.run())
    clock = asyncio.get_running_loop()
    began = clock.time()
    while clock.time() - began < 0.3:
        await asyncio.sleep(0.01)
    assert 1 <= len(done) <= 0.3 / 0.05 + 1  # one item per pause, however fast each one is
    busy = False
    await asyncio.wait_for(all_done.wait(), SAFETY)  # then the backlog at full speed
    await loop.stop(SAFETY)
    runner.cancel()


async def route_on_a_full_disk(retries: tuple[float, ...]) -> tuple[list[int], list[int]]:
    """Item 7 through a loop whose store is full for the first two tries: (every try, what was handled)."""
    queue = Queue([7])
    attempts: list[int] = []
    done: list[int] = []
    settled = asyncio.Event()

    async def handle(item: int) -> None:
        attempts.append(item)
        if len(attempts) <= 2:
            if not retries:
                settled.set()
            raise StoreUnavailable("sqlite: database or disk is full")
        done.append(item)
        settled.set()

    loop = ClaimLoop("route", queue.claim, handle, queue.next_due, concurrency=1, idle=3600.0)
    loop.retry_unavailable = retries
    runner = asyncio.create_task(loop.run())
    await asyncio.wait_for(settled.wait(), SAFETY)
    await loop.stop(1.0)
    runner.cancel()
    return attempts, done


async def test_a_route_whose_store_write_fails_is_tried_again_in_place_not_left_to_its_lease() -> None:
    """With retries configured (the route stage) the item is handled again once the store is back; without
    them (the deliver stage, where a send may have happened) it is left to its lease."""
    assert await route_on_a_full_disk((0.01, 0.01, 0.01)) == ([7, 7, 7], [7])
    assert await route_on_a_full_disk(()) == ([7], [])


# ---------------------------------------------------------------- one item, one handler
# A send that outlasts its lease cannot be staged against a real daemon: every connector ends a send after
# ``delivery.timeout``, which the config requires to be shorter than ``delivery.lease``. So the guard is held
# here, and the lease renewal in the store contract.


async def test_an_item_claimed_again_while_in_flight_is_not_handled_twice_and_its_lease_is_renewed() -> None:
    release = asyncio.Event()
    started: list[int] = []
    claims = [[7], [7, 8], [7]]  # 7 comes back while its first handler still runs (a lease that ran out)
    claimed_all = asyncio.Event()
    renewed: list[list[int]] = []

    async def claim(limit: int) -> list[int]:
        if not claims:
            claimed_all.set()
            return []
        return claims.pop(0)

    async def handle(item: int) -> None:
        started.append(item)
        await release.wait()

    async def renew(ids: list[int]) -> None:
        renewed.append(sorted(ids))

    async def next_due() -> float | None:
        return 0.0  # always "due": the loop keeps claiming

    loop = ClaimLoop("test", claim, handle, next_due, concurrency=4, idle=0.01, renew=renew, renew_every=0.01)
    task = asyncio.create_task(loop.run())
    await asyncio.wait_for(claimed_all.wait(), SAFETY)
    while not renewed:
        await asyncio.sleep(0.01)
    assert sorted(started) == [7, 8]
    assert renewed[-1] == [7, 8]  # the leases of what is in flight are renewed
    release.set()
    await loop.stop(grace=1.0)
    await asyncio.wait_for(task, SAFETY)
    assert sorted(started) == [7, 8]


async def test_after_an_item_finishes_it_may_be_claimed_and_handled_again() -> None:
    handled: list[int] = []
    done = asyncio.Event()
    claims = [[7], [7]]

    async def claim(limit: int) -> list[int]:
        await asyncio.sleep(0.01)  # the first handler finishes before the second claim
        return claims.pop(0) if claims else []

    async def handle(item: int) -> None:
        handled.append(item)
        if len(handled) == 2:
            done.set()

    async def next_due() -> float | None:
        return None

    loop = ClaimLoop("test", claim, handle, next_due, concurrency=4, idle=0.01)
    task = asyncio.create_task(loop.run())
    await asyncio.wait_for(done.wait(), SAFETY)
    await loop.stop(grace=1.0)
    await asyncio.wait_for(task, SAFETY)
    assert handled == [7, 7]


async def test_a_loop_without_its_own_poll_claims_again_when_its_next_due_time_comes() -> None:
    queue = Queue()
    due_at = asyncio.get_running_loop().time()  # the queue's clock: the loop compares with time.time()
    handled = asyncio.Event()

    async def handle(item: int) -> None:
        handled.set()

    async def next_due() -> float | None:
        return time.time() + 0.05 if not queue.items else None

    loop = ClaimLoop("test", queue.claim, handle, next_due, concurrency=4, idle=None)
    task = asyncio.create_task(loop.run())
    await asyncio.wait_for(queue.claimed.wait(), SAFETY)  # nothing yet; a retry is due in 50 ms
    queue.items.append(1)
    await asyncio.wait_for(handled.wait(), SAFETY)  # no wake-up: only the due time brings it
    assert queue.claim_times[1] - due_at >= 0.04
    await loop.stop(grace=1.0)
    await asyncio.wait_for(task, SAFETY)
