"""Protecting destinations: one rate limiter and one circuit breaker per connector, shared by all its deliveries.

``RateLimiter`` lets at most ``count`` requests start in any window of ``per`` seconds: a token bucket of
``count`` tokens in which each spent token comes back ``per`` seconds after it was spent. (A classic bucket
that refills continuously admits up to twice its size in one window, which a destination counting "5 per
second" answers with 429s.) A request that would have to wait longer than ``max_wait`` raises ``Throttled``
instead, so long waits live in the store, not in memory. A 429 with Retry-After ``pause``s the limiter.

``CircuitBreaker`` watches the outcome of the last ``calls`` sends: when at least ``failure_ratio`` of a full
window failed it opens for ``open_for`` seconds, during which deliveries are handed back to the store without
spending attempts; then one probe goes through, and its outcome closes or re-opens the breaker. Changes are
logged (``circuit breaker``, the new state in ``breaker``). ``Guards`` keeps both per connector across config
reloads (same name, type and settings → same state).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog

from toolkit.fields import Field
from toolkit.outcomes import Throttled

log = structlog.get_logger("router.protection")
Clock = Callable[[], float]

MAX_PAUSE = 3600.0
HALF_OPEN_WAIT = 5.0  # how long others wait while the probe is out (capped by open_for)

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"

BREAKER_FIELDS: Mapping[str, Field] = {
    "enabled": Field("bool", default=True),
    "failure_ratio": Field("number", default=0.7),  # open when this share of the window failed
    "calls": Field("int", default=10),  # the window: the last N sends, judged only once full
    "open_for": Field("duration", default=30.0),  # how long deliveries wait before one probe
}


@dataclass(frozen=True)
class BreakerSettings:
    enabled: bool = True
    failure_ratio: float = 0.7
    calls: int = 10
    open_for: float = 30.0

    @classmethod
    def from_values(cls, values: Mapping[str, Any] | None) -> BreakerSettings:
        return cls(**{k: v for k, v in (values or {}).items() if k in BREAKER_FIELDS})


def check_breaker(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Range checks of a validated ``breaker:`` mapping: ``[(key, message)]``."""
    problems = []
    ratio = values.get("failure_ratio")
    if ratio is not None and not 0 < ratio <= 1:
        problems.append(("failure_ratio", f"must be above 0 and at most 1, got {ratio!r}"))
    if values.get("calls") is not None and values["calls"] < 1:
        problems.append(("calls", "must be at least 1"))
    if values.get("open_for") is not None and values["open_for"] <= 0:
        problems.append(("open_for", "must be longer than 0s"))
    return problems


class RateLimiter:
    """At most ``count`` request starts per ``per`` seconds (``rate=None``: unlimited, but still pausable)."""

    def __init__(self, rate: Any | None, *, max_wait: float = 5.0, clock: Clock = time.monotonic):
        self.rate = rate
        self.max_wait = max_wait
        self._clock = clock
        self._paused_until = 0.0
        self._starts: deque[float] = deque()  # the last `size` granted start times, some may lie ahead
        if rate is None:
            self.size, self.window = 0, 0.0
        else:
            # "2.5/s" is 2 per 0.8 s; "0.5/s" is 1 per 2 s.
            self.size = max(1, math.floor(rate.count))
            self.window = rate.per * self.size / rate.count
            # The destination counts arrivals, we count departures: leave it a little slack for jitter.
            self.window += min(1.0, 0.1 * self.window)

    def reserve(self) -> float:
        """Claim the next slot; returns the seconds to wait for it. Raises Throttled beyond ``max_wait``."""
        now = self._clock()
        start = max(now, self._paused_until)
        if self.size and len(self._starts) >= self.size:
            start = max(start, self._starts[-self.size] + self.window)
        wait = start - now
        if wait > self.max_wait:
            raise Throttled(wait)
        if self.size:
            self._starts.append(start)
            while len(self._starts) > self.size:
                self._starts.popleft()
        return wait

    async def acquire(self) -> None:
        wait = self.reserve()
        if wait > 0:
            await asyncio.sleep(wait)

    def pause(self, seconds: float) -> None:
        until = self._clock() + min(max(0.0, seconds), MAX_PAUSE)
        if until > self._paused_until:
            self._paused_until = until


class CircuitBreaker:
    def __init__(self, name: str, settings: BreakerSettings, *, clock: Clock = time.monotonic):
        self.name = name
        self.settings = settings
        self._clock = clock
        self.state = CLOSED
        self._outcomes: deque[bool] = deque(maxlen=settings.calls)  # True = failed
        self._opened_at = 0.0
        self._probe_out = False
        self._probe_since = 0.0
        self.last_error = ""  # what the last failed send said: the destination_down alert shows it

    def admit(self) -> float | None:
        """None: send now. Otherwise the seconds the delivery should wait (in the store) before asking again."""
        if not self.settings.enabled or self.state == CLOSED:
            return None
        now = self._clock()
        if self.state == OPEN:
            remaining = self._opened_at + self.settings.open_for - now
            if remaining > 0:
                return remaining
            self._change(HALF_OPEN, "sending one probe")
        # A probe that never reported back (its task was cancelled) must not block everyone forever.
        if self._probe_out and now - self._probe_since < self.settings.open_for:
            return min(HALF_OPEN_WAIT, self.settings.open_for)
        self._probe_out, self._probe_since = True, now
        return None

    def record(self, failed: bool, error: str | None = None) -> None:
        """The outcome of an admitted send: failed = the destination did not answer usefully."""
        if not self.settings.enabled:
            return
        if failed and error:
            self.last_error = error[:300]
        if self.state == HALF_OPEN and self._probe_out:
            self._probe_out = False
            if failed:
                self._open("the probe failed")
            else:
                self._outcomes.clear()
                self._change(CLOSED, "the probe succeeded")
            return
        if self.state != CLOSED:
            return  # a send admitted before the breaker opened: its outcome is old news
        self._outcomes.append(failed)
        failures = sum(self._outcomes)
        if len(self._outcomes) >= self.settings.calls and failures >= self.settings.failure_ratio * len(self._outcomes):
            self._open(f"{failures} of the last {len(self._outcomes)} sends failed")

    def release(self) -> None:
        """An admitted send ended without an outcome (throttled): free the probe slot."""
        if self.state == HALF_OPEN:
            self._probe_out = False

    def _open(self, why: str) -> None:
        self._opened_at = self._clock()
        self._outcomes.clear()
        self._change(OPEN, why)

    def _change(self, state: str, why: str) -> None:
        self.state = state
        log_at = log.warning if state == OPEN else log.info
        log_at(
            "circuit breaker",
            connector=self.name,
            breaker=state,
            reason=why,
            **({"open_for": self.settings.open_for} if state == OPEN else {}),
        )


@dataclass
class Guard:
    """The protection of one connector."""

    limiter: RateLimiter
    breaker: CircuitBreaker
    fingerprint: str = ""


@dataclass
class Guards:
    """Guards by connector name; a reload that keeps a connector's type and settings keeps its guard.

    The rate limit belongs to the destination, not to the connector: connectors naming the same destination
    (``activecampaign:<base_url>``, ``email:<host>``, ...) with the same rate share one limiter, because the
    destination counts their requests together (ActiveCampaign's 5/s is per account).
    """

    max_wait: float = 5.0
    by_name: dict[str, Guard] = field(default_factory=dict)
    limiters: dict[str, RateLimiter] = field(default_factory=dict)

    def limiter(self, destination: str, rate: Any | None) -> RateLimiter:
        key = f"{destination}|{rate}"
        found = self.limiters.get(key)
        if found is None:
            found = self.limiters[key] = RateLimiter(rate, max_wait=self.max_wait)
        return found

    def guard(
        self,
        name: str,
        kind: str,
        settings: Mapping[str, Any],
        rate: Any | None,
        breaker: BreakerSettings,
        *,
        destination: str,
    ) -> Guard:
        """The guard of connector ``name``; ``destination`` is where its rate limit counts (the connector
        type's ``rate_destination``)."""
        raw = json.dumps([kind, settings, str(rate), breaker.__dict__], sort_keys=True, default=str)
        fingerprint = hashlib.sha256(raw.encode()).hexdigest()
        current = self.by_name.get(name)
        if current is None or current.fingerprint != fingerprint:
            current = Guard(self.limiter(destination, rate), CircuitBreaker(name, breaker), fingerprint=fingerprint)
            self.by_name[name] = current
        return current


GUARDS = Guards()  # the daemon's: outlives the Connectors of one config
