"""The states an event and a delivery go through, and the outcomes of one delivery attempt.

The values are the strings both stores keep in their ``status`` and ``outcome`` columns, the CLI and the
admin API accept as filters, and the records carry; ``StrEnum`` members compare equal to those strings.
"""

from __future__ import annotations

from enum import StrEnum


class EventStatus(StrEnum):
    PENDING = "pending"  # waiting to be routed (or to be retried after a transient API failure)
    ROUTED = "routed"  # its deliveries are stored
    FAILED = "failed"  # the object could not be fetched for good (404, rejected)
    STALE = "stale"  # sent longer ago than the dedupe window: kept, routed only by an operator's reroute


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"  # gave up, or the action could not be rendered
    SUPERSEDED = "superseded"  # a dead delivery replaced by a fresh rendering when its event was re-routed


class AttemptOutcome(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    DEAD = "dead"

    @property
    def delivery_status(self) -> DeliveryStatus:
        """The delivery's status after an attempt with this outcome (a retry leaves it pending)."""
        return _AFTER[self]


_AFTER = {
    AttemptOutcome.DELIVERED: DeliveryStatus.DELIVERED,
    AttemptOutcome.RETRY: DeliveryStatus.PENDING,
    AttemptOutcome.DEAD: DeliveryStatus.DEAD,
}

EVENT_STATUSES: tuple[str, ...] = tuple(status.value for status in EventStatus)
DELIVERY_STATUSES: tuple[str, ...] = tuple(status.value for status in DeliveryStatus)
