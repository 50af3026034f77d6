"""A bounded claim-and-process loop, shared by the route and deliver stages.

It claims up to as many items as it has free slots, runs each in its own task, and sleeps when there is
nothing due: until woken (new work was committed), until the store's next due time, or at most
``idle`` seconds (the safety net for work committed by another process). With ``idle=None`` it never
polls on its own: the daemon's one poll for all its loops (``router.pipelines.due``) wakes it. ``stop``
stops claiming, lets in-flight items finish within a bound, then cancels what is left; their leases make
the work claimable again.

An item is never handled twice at once by one loop: a claim that hands back an item still in flight
(its lease ran out under a long send, or the clock jumped forward) is dropped, and the first handler
finishes it (the claim made the lease ours again). With ``renew``, the leases of the items in flight are
renewed every ``renew_every`` seconds, so another instance does not take over work that is merely slow.
With ``busy``, the loop takes only ``concurrency // busy_share`` items at a time while ``busy()`` is true,
and with ``busy_pause`` it claims at most once per that many seconds (items that finish at once would turn
a share of the concurrency over as fast as ever). The daemon says so while webhooks compete with this work
for the CPU (``router.foreground``), so acknowledgements get the CPU first and the stored backlog is routed
and delivered at full speed once the burst is answered.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

import structlog

from router.store.base import StoreLost, StoreUnavailable

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
        idle: float | None = 1.0,
        coalesce: float = 0.0,
        ident: Callable[[T], Hashable] | None = None,
        renew: Callable[[list[Any]], Awaitable[object]] | None = None,
        renew_every: float = 10.0,
        busy: Callable[[], bool] | None = None,
        busy_share: int = 32,
        busy_pause: float = 0.0,
        retry_unavailable: tuple[float, ...] = (),
        pace: Callable[[], Awaitable[None]] | None = None,
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
        self._ident: Callable[[T], Hashable] = ident or (lambda item: getattr(item, "id", item))
        self._inflight: dict[Hashable, asyncio.Task[None]] = {}
        self._renew = renew
        self.renew_every = renew_every
        # Waits before handling an item again in place when the store failed under it (a full disk, a
        # dropped connection): only for a stage whose handling may simply run twice (routing: its one
        # transaction checks the lease and action keys dedupe), not delivery, where a send may have happened.
        self.retry_unavailable = retry_unavailable
        self._busy = busy
        self.busy_share = busy_share
        self.busy_pause = busy_pause
        self._pace = pace  # with it, the pause while busy is a turn shared with other loops, not busy_pause

    @property
    def in_flight(self) -> list[Any]:
        """The ids of the items being handled now."""
        return list(self._inflight)

    def wake(self) -> None:
        self._wake.set()
        self._slot.set()  # a waiting loop looks at its limit again (it grows when the daemon is no longer busy)

    async def run(self) -> None:
        renewer = asyncio.create_task(self._renew_leases()) if self._renew is not None else None
        try:
            await self._claim_loop()
        finally:
            if renewer is not None:
                renewer.cancel()

    async def _claim_loop(self) -> None:
        failures = 0
        while not self._stopping:
            free = self._limit() - len(self._tasks)
            if free <= 0:
                self._slot.clear()
                await self._slot.wait()
                continue
            if (self.busy_pause or self._pace) and self._busy is not None and self._busy():
                # A share of the concurrency bounds items in flight, not CPU: against a fast destination
                # they turn over at once. A pause between claims bounds what background work takes.
                await (self._pace() if self._pace is not None else asyncio.sleep(self.busy_pause))
                if self._stopping:
                    break
                free = self._limit() - len(self._tasks)
                if free <= 0:
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
                key = self._ident(item)
                if key in self._inflight:
                    log.warning("claimed an item still in flight; not handling it twice", stage=self.name, id=key)
                    continue
                task = asyncio.create_task(self._run_one(item))
                self._tasks.add(task)
                self._inflight[key] = task
                task.add_done_callback(functools.partial(self._finished, key=key))
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

    def _limit(self) -> int:
        """How many items may be in flight now: a share of ``concurrency`` while ``busy()`` says the
        foreground (webhooks waiting for their acknowledgement) needs the CPU, never fewer than one."""
        if self._busy is not None and self._busy():
            return max(1, self.concurrency // self.busy_share)
        return self.concurrency

    async def _until_due(self) -> float | None:
        """How long to sleep with nothing to claim: until the next due time, at most ``idle`` (None: no bound)."""
        try:
            due = await self._next_due()
        except StoreUnavailable:
            return self.idle
        if due is None:
            return self.idle
        wait = max(0.005, due - time.time())
        return wait if self.idle is None else min(self.idle, wait)

    async def _sleep(self, seconds: float | None) -> bool:
        """Sleep until woken (True) or for ``seconds`` (False; None: until woken)."""
        if seconds is None:
            await self._wake.wait()
            return True
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def _run_one(self, item: T) -> None:
        waits = iter(self.retry_unavailable)
        while True:
            try:
                await self._handle(item)
            except asyncio.CancelledError:
                raise
            except StoreLost:
                return  # the daemon stops; the store file is not to be trusted
            except StoreUnavailable as exc:
                wait = next(waits, None)
                if wait is not None and not self._stopping:
                    log.warning("store unavailable while processing; trying again", stage=self.name, error=str(exc))
                    await asyncio.sleep(wait)
                    continue
                # The lease brings the item back once the store recovers.
                log.warning(
                    "store unavailable while processing; the item will be claimed again",
                    stage=self.name,
                    error=str(exc),
                )
            except Exception:
                log.exception("unexpected error while processing", stage=self.name)
            return

    def _finished(self, task: asyncio.Task[Any], key: Hashable) -> None:
        self._tasks.discard(task)
        if self._inflight.get(key) is task:
            del self._inflight[key]
        self._slot.set()

    async def _renew_leases(self) -> None:
        assert self._renew is not None
        while True:
            await asyncio.sleep(self.renew_every)
            ids = self.in_flight
            if not ids:
                continue
            try:
                await self._renew(ids)
            except StoreUnavailable as exc:  # the next round tries again; the lease has room for that
                log.warning("lease renewal failed, store unavailable", stage=self.name, error=str(exc))

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
