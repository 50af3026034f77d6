"""The daemon's one poll for work that no wake-up announced, for the loops of every pipeline at once.

A pipeline's loops sleep until they are woken: by a webhook accepted here, an event routed here, a
PostgreSQL notice of another instance's commit, or their own next due time, which each asks the store for
when its claim comes back empty. What none of those announces (a retry that comes due while its loop sleeps,
work a CLI command wrote into a SQLite store, a lost notice) is found here: every ``every`` seconds one store
round trip reads when each shop's earliest event and delivery are due (``Store.due_times``), wakes the loops
whose work is due now and sets a timer for those due before the next look. So a router at rest costs one
query per period however many shops it serves, where each shop's two loops used to poll on their own
(0.8 queries a second per shop on PostgreSQL).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable

import structlog

from router.pipelines.pipeline import Pipeline
from router.store import Store, StoreUnavailable

log = structlog.get_logger("router.due")


class DueWatch:
    def __init__(self, store: Store, pipelines: Callable[[], Iterable[Pipeline]], by_shop: bool, every: float):
        self.store = store
        self.pipelines = pipelines
        self.by_shop = by_shop  # each pipeline claims only its shop's work (else the one claims all of it)
        self.every = every
        self._timers: list[asyncio.TimerHandle] = []

    async def run(self) -> None:
        try:
            while True:
                try:
                    await self.look()
                except Exception:  # the loops would sleep on: never let one bad look end the watch
                    log.exception("looking for due work failed; looking again next period")
                await asyncio.sleep(self.every)
        finally:
            self._cancel()

    async def look(self) -> None:
        """Wake the loops whose work is due, and set timers for what comes due before the next look."""
        pipelines = list(self.pipelines())
        try:
            found = await self.store.due_times([p.shop for p in pipelines] if self.by_shop else None)
        except StoreUnavailable as exc:  # the loops' own claims report it too; the next look tries again
            log.debug("due times not read, store unavailable", error=str(exc))
            return
        self._cancel()
        now = time.time()
        for pipeline, due in zip(pipelines, found, strict=False):
            self._at(pipeline.wake_route, due.events, now)
            self._at(pipeline.wake_deliver, due.deliveries, now)

    def _at(self, wake: Callable[[], None], due: float | None, now: float) -> None:
        if due is None or due >= now + self.every:
            return  # the next look sees it
        if due <= now:
            wake()
        else:
            self._timers.append(asyncio.get_running_loop().call_later(due - now, wake))

    def _cancel(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
