"""What happens to a delivery after an attempt, and when an event's Plug&Pay fetch is tried again.

The answers go through the same status classification the connectors use (``toolkit.status``), then
through ``router.delivery.retry.decide``; the schedule's randomness comes from a seeded or fixed rng.
"""

from __future__ import annotations

import random

import pytest

from connectors.base import Retryable
from router.delivery.retry import (
    DAY,
    HOUR,
    TIMEOUT_MESSAGE,
    Schedule,
    SendOutcome,
    api_schedule,
    decide,
    delivery_schedule,
)
from router.store.base import DeliveryRecord
from toolkit.status import classify_status

NOW = 1_000_000.0
STEPS = (5.0, 300.0, 1800.0, 7200.0)


class Middle:
    """An rng without jitter: every delay is exactly its step."""

    def uniform(self, a: float, b: float) -> float:
        return (a + b) / 2


def record(attempts: int = 0, schedule: tuple[float, ...] = STEPS) -> DeliveryRecord:
    return DeliveryRecord(
        id=1,
        event_id=1,
        rule="welcome",
        action_index=0,
        connector="mail",
        action_key="k",
        delivery_key="ppr_k",
        request={"text": "hi"},
        schedule=schedule,
        status="pending",
        attempts=attempts,
        next_attempt_at=NOW,
        created_at=NOW,
        updated_at=NOW,
    )


def answered(status: int, retry_after: str | None = None, body: str = "nope") -> SendOutcome:
    """The outcome of a send that got this HTTP answer, as an HTTP connector reports it."""
    try:
        sent = classify_status(status, body, retry_after)
    except Exception as exc:
        return SendOutcome.from_exception(exc)
    return SendOutcome.ok(sent.status_code)


@pytest.mark.parametrize(
    ("status", "outcome", "error"),
    [
        (200, "delivered", None),
        (201, "delivered", None),
        (204, "delivered", None),
        (301, "dead", "HTTP 301: nope (redirects are not followed)"),
        (400, "dead", "HTTP 400: nope"),
        (401, "dead", "HTTP 401: nope"),
        (404, "dead", "HTTP 404: nope"),
        (410, "dead", "HTTP 410: nope"),
        (422, "dead", "HTTP 422: nope"),
        (408, "retry", "HTTP 408: nope"),
        (425, "retry", "HTTP 425: nope"),
        (429, "retry", "HTTP 429: nope"),
        (500, "retry", "HTTP 500: nope"),
        (502, "retry", "HTTP 502: nope"),
        (503, "retry", "HTTP 503: nope"),
        (504, "retry", "HTTP 504: nope"),
    ],
)
def test_an_answer_delivers_kills_or_retries_the_delivery(status: int, outcome: str, error: str | None) -> None:
    decision = decide(record(), answered(status), NOW, Middle())
    assert (decision.outcome, decision.status_code, decision.error) == (outcome, status, error)
    assert (decision.next_at is not None) == (outcome == "retry")
    # Only transient failures count against the destination's circuit breaker.
    assert decision.failed == (outcome == "retry")


@pytest.mark.parametrize(
    ("outcome", "error"),
    [
        (SendOutcome.from_exception(TimeoutError()), TIMEOUT_MESSAGE),
        (SendOutcome.from_exception(Retryable("connection error: ClientConnectorError: refused")), None),
        (SendOutcome.from_exception(KeyError("to")), "internal error: KeyError: 'to'"),
        (SendOutcome.from_exception(RuntimeError("bug")), "internal error: RuntimeError: bug"),
    ],
)
def test_timeouts_connection_errors_and_connector_bugs_are_retried_not_dead(
    outcome: SendOutcome, error: str | None
) -> None:
    decision = decide(record(), outcome, NOW, Middle())
    assert decision.outcome == "retry" and decision.next_at == NOW + STEPS[0]
    assert decision.error == (error or outcome.message)
    assert decision.failed


def test_every_step_of_the_schedule_is_used_in_order_then_the_delivery_is_dead() -> None:
    waits = []
    for attempts in range(len(STEPS)):
        decision = decide(record(attempts), answered(503), NOW, Middle())
        assert decision.outcome == "retry"
        assert decision.next_at is not None
        waits.append(decision.next_at - NOW)
    assert waits == list(STEPS)
    spent = decide(record(len(STEPS)), answered(503), NOW, Middle())
    assert spent.outcome == "dead" and spent.next_at is None and spent.status_code == 503
    assert spent.error == "gave up after 5 attempts; last error: HTTP 503: nope"
    assert spent.failed


def test_a_spent_schedule_names_the_last_error_of_any_kind() -> None:
    spent = decide(record(2, schedule=(1.0, 1.0)), SendOutcome.from_exception(TimeoutError()), NOW)
    assert spent.outcome == "dead"
    assert spent.error == f"gave up after 3 attempts; last error: {TIMEOUT_MESSAGE}"


def test_jitter_stays_within_20_percent_and_varies() -> None:
    rng = random.Random(20240501)
    delays = [delivery_schedule((100.0,)).delay(1, None, rng) for _ in range(500)]
    assert all(d is not None and 80.0 <= d <= 120.0 for d in delays)
    assert len(set(delays)) > 400
    present = [d for d in delays if d is not None]
    assert min(present) < 85.0 and max(present) > 115.0  # the whole band is used, not one side of it


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured_on_429_and_503(status: int) -> None:
    decision = decide(record(), answered(status, retry_after="120"), NOW, random.Random(1))
    assert decision.outcome == "retry"
    assert decision.next_at == NOW + 120.0  # the step (5 s ± 20 %) is shorter than the destination's wish


def test_retry_after_never_shortens_the_step() -> None:
    decision = decide(record(1), answered(429, retry_after="1"), NOW, Middle())
    assert decision.next_at == NOW + STEPS[1]


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_capped_at_a_day(status: int) -> None:
    decision = decide(record(), answered(status, retry_after=str(30 * DAY)), NOW, Middle())
    assert decision.next_at == NOW + DAY


def test_a_schedule_that_gives_up_is_exhausted_after_its_steps() -> None:
    schedule = delivery_schedule((1.0, 2.0))
    assert [schedule.exhausted(n) for n in (1, 2, 3, 10)] == [False, False, True, True]
    assert schedule.delay(3) is None


def test_the_plugandpay_fetch_schedule_repeats_its_last_step_and_caps_retry_after_at_an_hour() -> None:
    schedule = api_schedule((1.0, 5.0, 30.0))
    assert [schedule.delay(n, None, Middle()) for n in range(1, 7)] == [1.0, 5.0, 30.0, 30.0, 30.0, 30.0]
    assert not schedule.exhausted(1000)
    assert schedule.delay(1, 10 * HOUR, Middle()) == HOUR
    assert schedule.delay(2, 60.0, Middle()) == 60.0


def test_a_schedule_without_jitter_is_exact() -> None:
    schedule = Schedule((2.0, 4.0), jitter=0.0)
    assert [schedule.delay(n, None, random.Random()) for n in (1, 2, 3)] == [2.0, 4.0, None]
