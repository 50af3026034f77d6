"""What the store hands out and takes in: events and deliveries as stored, attempts, a route's result, counts.

These are plain dataclasses, the same for every store. ``as_dict`` gives the shape the CLI's ``--json``
and the admin API print.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from router.events import Event
from router.store.status import AttemptOutcome, DeliveryStatus, EventStatus


@dataclass(frozen=True)
class Accepted:
    event_id: int
    duplicate: bool = False


@dataclass(frozen=True)
class Due:
    """When the earliest pending event and delivery (of a shop, or of the whole store) become due; None when
    there is none. A leased item counts at its lease's end."""

    events: float | None
    deliveries: float | None


@dataclass
class EventRecord:
    id: int
    event: Event
    status: EventStatus
    received_at: float
    attempts: int = 0
    next_attempt_at: float = 0.0
    last_error: str | None = None
    outcomes: list[dict[str, Any]] | None = None
    config_version: str | None = None
    routed_at: float | None = None
    fetched: dict[str, Any] | None = None
    trace: str | None = None  # the W3C traceparent of its receive span (tracing on), parent of its route span

    def as_dict(self) -> dict[str, Any]:
        e = self.event
        return {
            "id": self.id,
            "trigger": e.trigger,
            "raw_trigger": e.raw_trigger,
            "triggerable_type": e.triggerable_type,
            "triggerable_id": e.triggerable_id,
            "tenant_id": e.tenant_id,
            "rule_id": e.rule_id,
            "sent_at": e.sent_at,
            "source": e.source,
            "status": self.status,
            "received_at": self.received_at,
            "attempts": self.attempts,
            "next_attempt_at": self.next_attempt_at,
            "last_error": self.last_error,
            "outcomes": self.outcomes,
            "config_version": self.config_version,
            "routed_at": self.routed_at,
            "fetched": self.fetched,
            "trace": self.trace,
            **({"shop": e.shop} if e.shop else {}),
        }


@dataclass(frozen=True)
class NewDelivery:
    """One rendered action, ready to store. ``action_key`` dedupes actions across webhooks."""

    rule: str
    action_index: int
    connector: str
    action_key: str
    delivery_key: str
    request: dict[str, Any] | None
    schedule: tuple[float, ...]
    item_key: str | None = None
    status: str = DeliveryStatus.PENDING  # or DeliveryStatus.DEAD when rendering failed
    error: str | None = None


@dataclass(frozen=True)
class RouteResult:
    """What routing one event produced, stored in one transaction by ``Store.complete_route``.

    ``fetched`` is what is kept of the fetched object (a summary, or all of it with keep_payloads); ``trace``
    the route span's traceparent (None while tracing is off).
    """

    deliveries: list[NewDelivery]
    outcomes: list[dict[str, Any]]
    config_version: str
    fetched: dict[str, Any] | None = None
    trace: str | None = None  # the route span's traceparent, kept with every delivery: its attempts' parent


@dataclass
class DeliveryRecord:
    id: int
    event_id: int
    rule: str
    action_index: int
    connector: str
    action_key: str
    delivery_key: str
    request: dict[str, Any] | None
    schedule: tuple[float, ...]
    status: DeliveryStatus
    attempts: int
    next_attempt_at: float
    created_at: float
    updated_at: float
    item_key: str | None = None
    last_error: str | None = None
    config_version: str | None = None
    trace: str | None = None  # the traceparent its attempts' spans are children of (``RouteResult.trace``)
    shop: str = ""  # its event's shop (``shops:``)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event_id": self.event_id,
            "rule": self.rule,
            "action_index": self.action_index,
            "item_key": self.item_key,
            "connector": self.connector,
            "delivery_key": self.delivery_key,
            "status": self.status,
            "attempts": self.attempts,
            "next_attempt_at": self.next_attempt_at,
            "last_error": self.last_error,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "config_version": self.config_version,
            "trace": self.trace,
            **({"shop": self.shop} if self.shop else {}),
        }


@dataclass(frozen=True)
class Attempt:
    """One try at a delivery, as recorded. ``outcome`` is an ``AttemptOutcome`` value."""

    started_at: float
    duration_ms: float
    outcome: str
    status_code: int | None = None
    error: str | None = None
    delivery_id: int = 0
    number: int = 0
    result: dict[str, Any] | None = None  # what the destination made of it (``connectors.base.Sent.result``)

    @property
    def finished_at(self) -> float:
        return self.started_at + self.duration_ms / 1000

    @property
    def delivery_status(self) -> DeliveryStatus:
        """The delivery's status once this attempt is recorded."""
        return AttemptOutcome(self.outcome).delivery_status

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "started_at": self.started_at,
            "duration_ms": round(self.duration_ms, 3),
            "outcome": self.outcome,
            "status_code": self.status_code,
            "error": self.error,
            "result": self.result,
        }


@dataclass(frozen=True)
class Counts:
    events: dict[str, int] = field(default_factory=dict)
    deliveries: dict[str, int] = field(default_factory=dict)
    oldest_pending_at: float | None = None
