"""Foreground pressure: routing and delivery hold back only while webhooks arrive *and* the loop is contended."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from router.foreground import Foreground

SAFETY = 5.0


@pytest.fixture
async def watched() -> AsyncIterator[Foreground]:
    # A late timer is one 30 ms late: a loaded test machine's scheduler alone does not make it that late,
    # 50 ms slices of work on the loop always do.
    foreground = Foreground(window=0.3, tick=0.005, lag_limit=0.03)
    watcher = asyncio.create_task(foreground.watch())
    yield foreground
    watcher.cancel()


def compute(seconds: float) -> None:
    """CPU-bound work that holds the loop (as a burst of webhooks and routing does)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


async def hog_the_loop_until_busy(foreground: Foreground) -> None:
    """Slices of CPU-bound work on the loop until the foreground notices."""
    deadline = time.monotonic() + SAFETY
    while not foreground.busy():
        assert time.monotonic() < deadline, "never busy"
        compute(0.05)  # the watch's timer fires late
        await asyncio.sleep(0)


async def test_busy_while_a_webhook_waits_on_a_contended_loop(watched: Foreground) -> None:
    watched.started()
    await hog_the_loop_until_busy(watched)
    assert watched.busy()


async def test_not_busy_while_webhooks_arrive_on_an_idle_loop() -> None:
    """A slow API keeps routing waiting, not computing: holding it back then would only build a backlog."""
    # Late only past a quarter second: a test machine busy with other workers never stalls an idle loop so long.
    foreground = Foreground(window=0.3, tick=0.005, lag_limit=0.25)
    watcher = asyncio.create_task(foreground.watch())
    foreground.started()
    for _ in range(20):  # twenty of the watch's ticks, each on time
        await asyncio.sleep(foreground.tick)
    assert not foreground.busy()
    foreground.finished()
    watcher.cancel()


async def test_a_contended_loop_without_webhooks_is_not_busy(watched: Foreground) -> None:
    compute(0.05)
    await asyncio.sleep(0.01)
    assert not watched.busy()  # nothing to answer: the background may have all of it


async def test_busy_ends_a_window_after_the_last_webhook(watched: Foreground) -> None:
    watched.started()
    await hog_the_loop_until_busy(watched)
    watched.finished()
    assert watched.busy()  # the burst's next webhook is a moment away: the gap does not count as calm
    deadline = time.monotonic() + SAFETY
    while watched.busy():
        assert time.monotonic() < deadline, "still busy long after the last webhook"
        await asyncio.sleep(watched.tick)
    assert time.monotonic() - watched.last_arrival >= watched.window
