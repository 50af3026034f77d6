"""What each stage's span says about its work, in one place: the attributes of receive, route, render and deliver.

The stages call these only when a span is recording, so untraced work computes none of it. The messaging
attributes describe the event (system ``plugandpay``, the trigger as destination, the event's id as message
id), the HTTP ones the webhook's request and answer; fetch and delivery attempts get theirs from the requests
themselves (``router.tracing.otel``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from router.tracing import names
from router.tracing.spans import Span

if TYPE_CHECKING:
    from aiohttp import web

    from router.events import Event
    from router.store.records import DeliveryRecord, EventRecord, NewDelivery


def message(span: Span, event: Event, event_id: int, operation: str) -> None:
    """The messaging attributes of the event a span receives or processes."""
    span.set(names.MESSAGING_SYSTEM, names.SYSTEM)
    span.set(names.MESSAGING_OPERATION_TYPE, operation)
    span.set(names.MESSAGING_OPERATION_NAME, operation)
    span.set(names.MESSAGING_DESTINATION, event.trigger)
    span.set(names.MESSAGING_MESSAGE_ID, str(event_id))
    span.set(names.EVENT_ID, event_id)
    span.set(names.TRIGGERABLE, f"{event.triggerable_type}:{event.triggerable_id}")
    span.set(names.SOURCE, event.source)


def received(span: Span, request: web.Request, response: web.StreamResponse) -> None:
    """The HTTP attributes of a receive span; a 5xx (the store could not commit) marks it failed."""
    span.set(names.HTTP_METHOD, request.method)
    span.set(names.URL_PATH, request.path)
    span.set(names.HTTP_STATUS, response.status)
    if request.content_length is not None:
        span.set(names.MESSAGING_BODY_SIZE, request.content_length)
    if response.status >= 500:
        span.fail(f"answered {response.status}", str(response.status))


def processing(span: Span, record: EventRecord) -> None:
    message(span, record.event, record.id, "process")


def rendered(span: Span, deliveries: list[NewDelivery]) -> None:
    """What one rule's render made: how many deliveries, and the first render error as the span's failure."""
    span.set(names.DELIVERIES, len(deliveries))
    failed = [d.error for d in deliveries if d.status == "dead" and d.error]
    if failed:
        span.fail(failed[0], "render")


def attempting(span: Span, record: DeliveryRecord, connector_type: str | None) -> None:
    """The delivery attempt a span is: which delivery, rule, connector and attempt number."""
    span.set(names.EVENT_ID, record.event_id)
    span.set(names.DELIVERY_ID, record.id)
    span.set(names.RULE, record.rule)
    span.set(names.CONNECTOR, record.connector)
    if connector_type:
        span.set(names.CONNECTOR_TYPE, connector_type)
    span.set(names.ATTEMPT, record.attempts + 1)


def attempted(span: Span, outcome: str, status: int | None, error: str | None) -> None:
    """How an attempt ended: delivered, retry or dead (a failure, with the reason), and the code the connector
    reported (an HTTP request's own status is ``http.response.status_code``, set by the request itself)."""
    span.set(names.OUTCOME, outcome)
    if status is not None:
        span.set(names.STATUS_CODE, status)
    if outcome != "delivered":
        span.fail(error or outcome, outcome)
