"""Whether webhooks are competing with background work for the CPU right now (acknowledgements go first).

Plug&Pay waits for each webhook's answer, and the answer shares one event loop with the route and deliver
loops. ``Foreground.busy`` is what those loops ask before claiming (``ClaimLoop``'s ``busy``): it is true
while webhooks are arriving (one waits for its answer, or one came within ``window`` seconds) **and** the
loop is contended (a timer of ``tick`` seconds fired more than ``lag_limit`` late within ``window``). Both
are needed: in-flight webhooks alone flicker between requests of a burst, so the loops would claim their
full concurrency in the gaps; arrivals alone would also hold back a loop that waits on a slow API while
the CPU is idle, and a steady trickle of webhooks would then starve routing. A lateness of the loop's own
timer is the direct measure of "an acknowledgement would wait behind other work now". ``pace`` spaces the
claims of every loop of the daemon while it is busy, so the share background work takes stays the same
however many shops (and so loops) the router serves.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field


@dataclass
class Foreground:
    window: float = 0.1  # seconds an arrival or a late timer keeps counting
    tick: float = 0.01  # the watch's timer while webhooks arrive
    lag_limit: float = 0.002  # a timer this late means callbacks are queueing on the loop
    in_flight: int = 0
    last_arrival: float = -math.inf
    contended_until: float = -math.inf
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    pace_every: float = 0.01  # while busy, the daemon's loops claim once per this many seconds, all together
    _next_claim: float = 0.0

    def started(self) -> None:
        """A webhook arrived (call ``finished`` when its answer is sent)."""
        self.in_flight += 1
        self.last_arrival = time.monotonic()
        self._arrived.set()

    def finished(self) -> None:
        self.in_flight -= 1

    async def pace(self) -> None:
        """Wait for this loop's turn to claim while busy: the turns of all loops are ``pace_every`` apart."""
        now = time.monotonic()
        turn = max(now, self._next_claim)
        self._next_claim = turn + self.pace_every
        await asyncio.sleep(turn - now)

    def arriving(self, now: float) -> bool:
        return self.in_flight > 0 or now - self.last_arrival < self.window

    def busy(self) -> bool:
        now = time.monotonic()
        return self.arriving(now) and now < self.contended_until

    async def watch(self) -> None:
        """Measure the loop's lateness while webhooks arrive; sleep until the next one otherwise."""
        while True:
            if not self.arriving(time.monotonic()):
                self._arrived.clear()
                await self._arrived.wait()
            start = time.monotonic()
            await asyncio.sleep(self.tick)
            now = time.monotonic()
            if now - start - self.tick > self.lag_limit:
                self.contended_until = now + self.window
