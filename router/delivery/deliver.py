"""The deliver stage: send one claimed delivery through its connector and record what happened.

Every attempt is recorded (outcome, status code, latency, error). Success ends the delivery; a
``Retryable`` failure schedules the next attempt from the delivery's schedule with ±20 % jitter (never
before the destination's ``Retry-After``), or marks it ``dead`` when the schedule is spent; a
``Permanent`` failure marks it dead at once with the reason. All waiting lives in the store. The live
connectors of one config come from ``router.delivery.live_connectors``. Each connector is guarded by its
rate limit and circuit breaker (``toolkit.protection``), which outlive reloads: while the breaker is open,
or when the rate limit has no slot soon, the delivery goes back to the store without spending an attempt.
Each attempt is a ``deliver`` span (``router.tracing``), a child of the route span that made the delivery.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

import structlog

from connectors.base import Connector, Outgoing, Permanent, Retryable, Sent, Throttled
from router.config import Config
from router.delivery.live_connectors import Connectors
from router.delivery.retry import SendOutcome, decide
from router.render.secret_refs import restore
from router.store.base import Attempt, DeliveryRecord, Store
from router.tracing import describe, names
from router.tracing import spans as tracing
from toolkit import jsontext
from toolkit.protection import CircuitBreaker

log = structlog.get_logger("router.deliver")
ERROR_LIMIT = 1000
RESULT_LIMIT = 2000  # characters of JSON kept of what a destination made of an attempt


def _truncate(text: str) -> str:
    return text if len(text) <= ERROR_LIMIT else text[: ERROR_LIMIT - 1] + "…"


def bounded_result(result: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A connector's ``Sent.result`` as stored: JSON-able, and at most ``RESULT_LIMIT`` characters of it
    (a larger one is kept as the start of its JSON text under ``excerpt``)."""
    if not result:
        return None
    text = jsontext.dumps(dict(result), default=str)
    if len(text) <= RESULT_LIMIT:
        loaded: dict[str, Any] = jsontext.loads(text)
        return loaded
    return {"excerpt": text[: RESULT_LIMIT - 1] + "…"}


class Deliverer:
    """Sends one claimed delivery and records the attempt; ``router.delivery.retry.decide`` says what follows it."""

    def __init__(
        self,
        store: Store,
        current: Callable[[], tuple[Config, Connectors]],
        owner: str,
        observe: Callable[[str, str, float], None] | None = None,
    ):
        self.store = store
        self.current = current
        self.owner = owner
        self.observe = observe or (lambda connector, outcome, seconds: None)

    async def handle(self, record: DeliveryRecord) -> None:
        config, connectors = self.current()
        connector = connectors.get(record.connector)
        breaker = connectors.guards[record.connector].breaker if connector is not None else None
        wait = breaker.admit() if breaker is not None else None
        if wait is not None:
            await self._defer(record, wait, "circuit breaker open")
            return
        # Each attempt is a span, a child of the route span that made the delivery (its stored traceparent):
        # the HTTP requests it makes carry the attempt's own traceparent, so a destination joins the trace.
        with tracing.span("deliver", parent=record.trace, kind="client") as span:
            if span.recording:
                target = config.connectors.get(record.connector)
                describe.attempting(span, record, target.type if target is not None else None)
            await self._attempt(record, config, connector, breaker, span)

    async def _attempt(
        self,
        record: DeliveryRecord,
        config: Config,
        connector: Connector | None,
        breaker: CircuitBreaker | None,
        span: tracing.Span,
    ) -> None:
        bound = log.bind(
            delivery_id=record.id,
            event_id=record.event_id,
            rule=record.rule,
            connector=record.connector,
            attempt=record.attempts + 1,
        )
        started = time.time()
        clock = time.perf_counter()
        sent: Sent | None = None
        try:
            if connector is None:
                raise Retryable(f"connector {record.connector!r} is not in the current config")
            if record.request is None:
                raise Permanent(record.last_error or "nothing to send: the action was never rendered")
            request = restore(record.request, config.secret_vars)  # the current value of each masked secret
            out = Outgoing(record.id, record.delivery_key, record.event_id, request, record.attempts + 1)
            # Connectors enforce their own timeouts; this bound only guards against one that hangs.
            async with asyncio.timeout(config.delivery.timeout * 2 + 5):
                with span.outbound():
                    sent = await connector.send(out)
            result = SendOutcome.ok(sent.status_code)
        except Throttled as exc:
            if breaker is not None:
                breaker.release()
            span.set(names.OUTCOME, "deferred")
            await self._defer(record, exc.wait, "rate limited")
            return
        except Exception as exc:
            result = SendOutcome.from_exception(exc)
            if result.kind == "error":
                bound.exception("connector raised an unexpected error")
        duration_ms = (time.perf_counter() - clock) * 1000
        decision = decide(record, result, time.time())
        if breaker is not None:
            breaker.record(failed=decision.failed, error=decision.error)
        if span.recording:
            describe.attempted(span, decision.outcome, decision.status_code, decision.error)
        attempt = Attempt(
            started_at=started,
            duration_ms=duration_ms,
            outcome=decision.outcome,
            status_code=decision.status_code,
            error=None if decision.error is None else _truncate(decision.error),
            result=bounded_result(sent.result) if sent is not None else None,
        )
        await self.store.finish_attempt(record.id, self.owner, attempt, decision.next_at)
        self.observe(record.connector, decision.outcome, duration_ms / 1000)
        if decision.outcome == "delivered":
            bound.info("delivered", status=decision.status_code, ms=round(duration_ms, 1))
        elif decision.outcome == "retry":
            assert decision.next_at is not None
            bound.warning(
                "delivery failed, will retry",
                status=decision.status_code,
                error=decision.error,
                retry_in=round(decision.next_at - time.time(), 1),
            )
        else:
            bound.error("delivery dead", status=decision.status_code, error=decision.error)

    async def _defer(self, record: DeliveryRecord, wait: float, why: str) -> None:
        """Hand the delivery back to the store for ``wait`` seconds; no attempt is spent or recorded."""
        await self.store.defer_delivery(record.id, self.owner, time.time() + wait)
        # Debug only: the breaker logs its own state changes, and a throttled backlog would flood the log.
        log.debug(
            "delivery deferred", reason=why, delivery_id=record.id, connector=record.connector, wait=round(wait, 2)
        )
