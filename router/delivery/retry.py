"""Retry decisions: when to try again, and what an attempt's result means for a delivery.

A ``Schedule`` turns "this many tries have failed" into the wait before the next one: the step for that
try with ±20 % jitter, never before the other side's ``Retry-After`` (capped), and, once the steps are
spent, either nothing (give up) or the last step again. Deliveries give up after their schedule (then
``dead``, docs/semantics.md, "Delivery semantics"); the route stage's Plug&Pay fetch repeats its last step, because an
event must wait out an API outage however long it lasts. ``decide`` is the deliver stage's pure decision after one
attempt: delivered, retry at a time, or dead with the reason. The waits themselves live in the store.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal, Protocol

from connectors.base import Permanent, Retryable
from router.store.base import DeliveryRecord

DAY = 86400.0
HOUR = 3600.0
TIMEOUT_MESSAGE = "the connector did not answer in time"


class Rng(Protocol):
    def uniform(self, a: float, b: float) -> float: ...


@dataclass(frozen=True)
class Schedule:
    """Waits between tries. ``steps[n - 1]`` is the wait after the n-th failed try."""

    steps: tuple[float, ...]
    jitter: float = 0.2
    max_retry_after: float = DAY
    when_exhausted: Literal["give up", "repeat last"] = "give up"

    def exhausted(self, attempts: int) -> bool:
        """True when no try follows the ``attempts``-th failed one."""
        return self.when_exhausted == "give up" and attempts > len(self.steps)

    def delay(self, attempts: int, retry_after: float | None = None, rng: Rng = random) -> float | None:
        """Seconds until the next try after ``attempts`` failed tries, or None when the schedule is spent."""
        if self.exhausted(attempts):
            return None
        step = self.steps[min(attempts, len(self.steps)) - 1]
        delay = step * rng.uniform(1 - self.jitter, 1 + self.jitter)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_retry_after))
        return delay


def delivery_schedule(steps: tuple[float, ...]) -> Schedule:
    """A delivery's schedule: Retry-After honoured up to a day, ``dead`` once the steps are spent."""
    return Schedule(steps, max_retry_after=DAY, when_exhausted="give up")


def api_schedule(steps: tuple[float, ...]) -> Schedule:
    """The Plug&Pay fetch schedule (``plugandpay.retry``): Retry-After up to an hour, last step repeating."""
    return Schedule(steps, max_retry_after=HOUR, when_exhausted="repeat last")


SendKind = Literal["ok", "retryable", "permanent", "timeout", "error"]


@dataclass(frozen=True)
class SendOutcome:
    """What one send produced, as far as the retry decision cares."""

    kind: SendKind
    status_code: int | None = None
    retry_after: float | None = None
    message: str | None = None

    @classmethod
    def ok(cls, status_code: int | None = None) -> SendOutcome:
        return cls("ok", status_code)

    @classmethod
    def from_exception(cls, exc: Exception) -> SendOutcome:
        """A connector's exception: ``Retryable`` / ``Permanent`` as raised, a timeout, or a connector bug."""
        if isinstance(exc, Retryable):
            return cls("retryable", exc.status_code, exc.retry_after, exc.message)
        if isinstance(exc, Permanent):
            return cls("permanent", exc.status_code, message=exc.message)
        if isinstance(exc, TimeoutError):
            return cls("timeout", message=TIMEOUT_MESSAGE)
        # A connector bug must not lose the delivery: it is retried on the schedule like a transient failure.
        return cls("error", message=f"internal error: {type(exc).__name__}: {exc}")


@dataclass(frozen=True)
class Decision:
    """What happens to a delivery after one attempt. ``failed`` says whether the destination failed
    transiently (what the circuit breaker counts), also when the schedule is spent."""

    outcome: Literal["delivered", "retry", "dead"]
    status_code: int | None = None
    error: str | None = None
    next_at: float | None = None
    failed: bool = False


def decide(record: DeliveryRecord, outcome: SendOutcome, now: float, rng: Rng = random) -> Decision:
    """Delivered, retry at ``now`` + the schedule's delay, or dead with the reason."""
    if outcome.kind == "ok":
        return Decision("delivered", outcome.status_code)
    if outcome.kind == "permanent":
        return Decision("dead", outcome.status_code, outcome.message)
    attempts = record.attempts + 1
    delay = delivery_schedule(record.schedule).delay(attempts, outcome.retry_after, rng)
    if delay is None:
        error = f"gave up after {attempts} attempts; last error: {outcome.message}"
        return Decision("dead", outcome.status_code, error, failed=True)
    return Decision("retry", outcome.status_code, outcome.message, now + delay, failed=True)
