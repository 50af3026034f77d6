"""A bounded claim-and-process loop, shared by the route and deliver stages.

It claims up to as many items as it has free slots, runs each in its own task, and sleeps when there is
nothing due: until woken (new work was committed), until the store's next due time, or at most
``idle`` seconds (the safety net for work committed by another process). ``stop`` stops claiming,
lets in-flight items finish within a bound, then cancels what is left; their leases make the work
claimable again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import structlog

from router.store.base import StoreUnavailable

T = TypeVar("T")
log = structlog.get_logger("router.worker")


class ClaimLoop(Generic[T]):
    def __init__(
        self,
        name: str,
        claim: Callable[[int], Awaitable[list[T]]],
        handle: Callable[[T], Awaitable[None]],
        next_due: Callable[[], Awaitable[float | None]],
        *,
        concurrency: int,
        idle: float = 1.0,
        coalesce: float = 0.0,
    ):
        self.name = name
        self._claim = claim
        self._handle = handle
        self._next_due = next_due
        self.concurrency = concurrency
        self.idle = idle
        self.coalesce = coalesce
        self._wake = asyncio.Event()
        self._slot = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        failures = 0
        while not self._stopping:
            free = self.concurrency - len(self._tasks)
            if free <= 0:
                self._slot.clear()
                await self._slot.wait()
                continue
            self._wake.clear()
            try:
                batch = await self._claim(free)
                failures = 0
            except StoreUnavailable as exc:
                failures += 1
                log.warning("claim failed, store unavailable", stage=self.name, error=str(exc))
                await self._sleep(min(0.2 * 2**failures, 5.0))
                continue
            for item in batch:
                task = asyncio.create_task(self._run_one(item))
                self._tasks.add(task)
                task.add_done_callback(self._finished)
            if not batch:
                woken = await self._sleep(await self._until_due())
            elif len(batch) < free:
                # Drained for now: new work wakes us; items due later are found by the next empty claim.
                woken = await self._sleep(self.idle)
            else:
                continue
            if woken and self.coalesce:
                # Work trickles in one webhook at a time; gathering it for a moment turns many tiny claims
                # (each a store round trip) into a few larger ones. It costs at most ``coalesce`` of latency.
                await asyncio.sleep(self.coalesce)

    async def _until_due(self) -> float:
        try:
            due = await self._next_due()
        except StoreUnavailable:
            return self.idle
        if due is None:
            return self.idle
        return min(self.idle, max(0.005, due - time.time()))

    async def _sleep(self, seconds: float) -> bool:
        """Sleep until woken (True) or for ``seconds`` (False)."""
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def _run_one(self, item: T) -> None:
        try:
            await self._handle(item)
        except asyncio.CancelledError:
            raise
        except StoreUnavailable as exc:  # the lease brings the item back once the store recovers
            log.warning(
                "store unavailable while processing; the item will be claimed again", stage=self.name, error=str(exc)
            )
        except Exception:
            log.exception("unexpected error while processing", stage=self.name)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        self._slot.set()

    async def stop(self, grace: float) -> None:
        """Stop claiming; wait up to ``grace`` seconds for in-flight items, then cancel the rest."""
        self._stopping = True
        self._wake.set()
        self._slot.set()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
