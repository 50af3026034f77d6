"""The foreground's contention test on a fake clock (``router.foreground``): a watch timer counts as late only
by how much it fired *after* its tick, so a loop whose timer fires on time is never contended, whatever the
tick, and one whose timer is late by more than ``lag_limit`` is (with the daemon's own settings)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from router import foreground as module
from router.foreground import Foreground

SAFETY = 1000  # turns of the event loop: only ever reached when the watch is broken


class Loop:
    """``time.monotonic`` and ``asyncio.sleep`` as the watch sees them: each sleep ends ``late`` seconds after
    it should, and returns control to the test."""

    def __init__(self, late: float) -> None:
        self.now = 5000.0
        self.late = late
        self.timers = 0

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds + self.late
        self.timers += 1
        await real_sleep(0)


real_sleep = asyncio.sleep


async def busy_after_ticks(monkeypatch: pytest.MonkeyPatch, late: float, ticks: int = 5) -> bool:
    """Whether the daemon's ``Foreground`` says busy while a webhook waits, after ``ticks`` of its watch."""
    loop = Loop(late)
    monkeypatch.setattr(module, "time", SimpleNamespace(monotonic=loop.monotonic))
    monkeypatch.setattr(module, "asyncio", SimpleNamespace(sleep=loop.sleep))
    foreground = Foreground()
    foreground.started()  # a webhook waits for its answer all along
    watcher = asyncio.create_task(foreground.watch())
    try:
        for _ in range(SAFETY):
            if loop.timers >= ticks:
                break
            await real_sleep(0)
        assert loop.timers >= ticks, "the watch did not tick"
        return foreground.busy()
    finally:
        watcher.cancel()


async def test_a_timer_that_fires_on_time_is_not_contention(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Foreground().tick > Foreground().lag_limit  # each tick alone takes longer than the limit
    assert not await busy_after_ticks(monkeypatch, late=0.0)
    assert not await busy_after_ticks(monkeypatch, late=Foreground().lag_limit / 2)


async def test_a_timer_late_by_more_than_the_lag_limit_is_contention(monkeypatch: pytest.MonkeyPatch) -> None:
    assert await busy_after_ticks(monkeypatch, late=Foreground().lag_limit * 2)
