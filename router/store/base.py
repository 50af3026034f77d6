"""The Store protocol: everything the three stages, the CLI and the admin API ask of durable storage.

Each method is one transaction. The stages never hold a transaction open across network I/O: receive
calls ``add_event``; route claims events under a lease, fetches and renders outside the store, then
commits all of one event's deliveries and its new state with ``complete_route``; deliver claims due
deliveries under a lease, sends, and commits the attempt and the delivery's new state with
``finish_attempt``. A lease that expires (its holder died) makes the work claimable again. Both stores
(SQLite, PostgreSQL) implement this and pass the same contract tests. The records, filters and
statuses the protocol speaks of are re-exported here from their own modules.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from router.events import Event
from router.store.filters import DeliveryFilter, EventFilter, where
from router.store.insight import ConnectorBacklog, DaySummary, DeliveryHealth, HourCounts
from router.store.listed import ListedEvent
from router.store.outbox import AlertRow
from router.store.quarantined import QuarantineBounds, Quarantined, QuarantineRecord, QuarantineStats
from router.store.records import (
    Accepted,
    Attempt,
    Counts,
    DeliveryRecord,
    Due,
    EventRecord,
    NewDelivery,
    RouteResult,
)
from router.store.status import (
    DELIVERY_STATUSES,
    EVENT_STATUSES,
    AttemptOutcome,
    DeliveryStatus,
    EventStatus,
)


class StoreUnavailable(Exception):
    """The store cannot be reached or cannot commit; receive answers 503 so Plug&Pay retries."""


class StoreLost(StoreUnavailable):
    """The store can no longer be trusted (its file was deleted, replaced or corrupted): nothing may be
    acknowledged any more, and the daemon exits so its supervisor restarts it."""


class Store(Protocol):
    async def open(self) -> None:
        """Connect and apply migrations."""

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the store can take writes now."""

    def subscribe(self, callback: Callable[[str, str | None], None]) -> bool:
        """Call ``callback("events" | "deliveries", shop)`` whenever any process commits new due work of that
        kind: ``shop`` names the shop whose work it is, or is None when any shop's may be.

        Call it before ``open``. Returns True when the store does this (PostgreSQL: LISTEN/NOTIFY), so a
        caller may poll slowly; False when it cannot (SQLite: the daemon wakes itself and sees other
        processes' work by polling).
        """

    def on_lost(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(reason)`` once if the store is found lost or corrupt (``StoreLost``); every write
        fails from then on. A store that cannot be lost under a running process (PostgreSQL) never calls it."""

    # receive
    async def add_event(
        self, event: Event, *, dedupe_window: float, now: float, stale: bool = False, trace: str | None = None
    ) -> Accepted:
        """Store the event (pending, or ``stale`` when ``stale``) unless a live dedupe key makes it a duplicate;
        ``trace`` is its receive span's traceparent (``EventRecord.trace``)."""

    # reconcile and backfill
    async def add_listed_events(self, items: list[ListedEvent], *, dedupe_window: float, now: float) -> list[Accepted]:
        """Store each listed event unless its dedupe key is live or, for a ``business`` one, an event of its
        business key exists (not failed) or is held; one transaction. A stored ``business`` event makes a
        later webhook of its business key (inside the window) a duplicate of it (``add_event``)."""

    async def get_watermark(self, name: str) -> float | None:
        """The value last set for ``name`` (epoch seconds), or None."""

    async def set_watermark(self, name: str, value: float, now: float) -> None: ...

    def exclusive(self, name: str) -> AbstractAsyncContextManager[bool]:
        """``async with store.exclusive("reconcile") as mine``: True while this instance is the only one
        doing ``name`` (PostgreSQL: a session advisory lock), False when another one is."""

    # route
    async def claim_events(
        self, owner: str, limit: int, lease: float, now: float, shop: str | None = None
    ) -> list[EventRecord]: ...

    async def complete_route(self, event_id: int, owner: str, result: RouteResult, now: float) -> int | None:
        """Mark the event routed and insert its deliveries, skipping every action key already kept (the
        keys outlive their deliveries and events: see ``purge_action_keys``).

        Returns how many deliveries were inserted, or None when ``owner`` no longer holds the event's lease
        (another instance took it over and routes it; nothing was written).
        """

    async def retry_event(self, event_id: int, owner: str, at: float, error: str) -> None: ...

    async def fail_event(self, event_id: int, owner: str, error: str, now: float) -> None: ...

    # deliver
    async def claim_deliveries(
        self, owner: str, limit: int, lease: float, now: float, shop: str | None = None
    ) -> list[DeliveryRecord]: ...

    async def finish_attempt(
        self, delivery_id: int, owner: str, attempt: Attempt, next_attempt_at: float | None
    ) -> None:
        """Record the attempt; delivered / dead end the delivery, retry schedules it at next_attempt_at."""

    async def defer_delivery(self, delivery_id: int, owner: str, at: float) -> None:
        """Give a claimed delivery back without spending an attempt (breaker open, shutting down)."""

    async def due_times(self, shops: list[str] | None = None) -> list[Due]:
        """When the earliest pending event and delivery of each of ``shops`` become due, in their order, in one
        round trip however many shops; with None, of the whole store (one entry)."""

    async def release(self, owner: str) -> None:
        """Drop every lease ``owner`` holds, so the work is claimable at once."""

    async def extend_leases(self, owner: str, ids: list[int], until: float, kind: str = "deliveries") -> int:
        """Push the lease of these claimed items (``kind``: "events" | "deliveries") out to ``until``, for
        those ``owner`` still holds; returns how many it still holds. Run for work still in flight."""

    # reading and operating
    async def get_event(self, event_id: int) -> EventRecord | None: ...

    async def list_events(self, flt: EventFilter | None = None, *, limit: int = 50) -> list[EventRecord]:
        """Newest first."""

    async def get_delivery(self, delivery_id: int) -> DeliveryRecord | None: ...

    async def list_deliveries(self, flt: DeliveryFilter | None = None, *, limit: int = 50) -> list[DeliveryRecord]:
        """Newest first."""

    async def delivery_ids(self, flt: DeliveryFilter) -> list[int]:
        """Every matching delivery id, oldest first (for bulk replay)."""

    async def list_attempts(self, delivery_id: int) -> list[Attempt]: ...

    async def replay_deliveries(self, ids: list[int], now: float, *, delivered: bool = True) -> int:
        """Make these dead deliveries pending again (same request, same key), and the delivered ones too
        unless ``delivered`` is False (sending those again is a second mail: the callers ask first)."""

    async def reroute_event(self, event_id: int, now: float) -> bool:
        """Route the event again with fresh data: its dead deliveries become ``superseded`` (their action
        keys freed, so a fresh rendering takes their place), delivered and pending ones stay, and the event
        is pending now. False when there is no such event."""

    async def purge(self, before: float, now: float, batch: int) -> int:
        """Delete up to ``batch`` finished events received before ``before`` (with their deliveries and
        attempts; never one with pending work) and expired dedupe keys. Returns the events deleted.
        A purge that deleted rows also scrubs them from the file (SQLite: secure delete and a WAL checkpoint)."""

    async def purge_action_keys(self, before: float, batch: int) -> int:
        """Delete up to ``batch`` action keys created before ``before``; returns how many."""

    async def counts(self, now: float) -> Counts: ...

    # quarantine: webhooks that failed verification
    async def quarantine_add(self, entry: Quarantined, bounds: QuarantineBounds) -> int:
        """Keep ``entry``, then drop entries received before ``bounds.before`` and the oldest ones until at
        most ``max_entries`` and ``max_bytes`` remain (all in one transaction). Returns the entry's id."""

    async def quarantine_list(self, *, after_id: int = 0, limit: int = 100) -> list[QuarantineRecord]:
        """Kept entries with an id above ``after_id``, oldest first."""

    async def quarantine_remove(self, ids: list[int]) -> int:
        """Delete these entries (released ones); returns how many were deleted."""

    async def quarantine_stats(self) -> QuarantineStats:
        """How many entries are kept, their size, and when the newest arrived."""

    # insight: trace, list counts, the dashboard
    async def count_events(self, flt: EventFilter | None = None, *, cap: int | None = None) -> int:
        """How many events ``flt`` matches (a list shows "50 of 312"), counting no further than ``cap``."""

    async def count_deliveries(self, flt: DeliveryFilter | None = None, *, cap: int | None = None) -> int: ...

    async def delivery_counts(self, event_ids: list[int]) -> dict[int, int]:
        """How many deliveries each of these events made (events with none are left out)."""

    async def delivery_health(self, event_ids: list[int]) -> dict[int, DeliveryHealth]:
        """How the deliveries of each of these events stand: delivered, pending, dead (events with none are
        left out)."""

    async def objects_of(self, event_ids: list[int]) -> dict[int, tuple[str, str]]:
        """The object (triggerable type and id) each of these events is about."""

    async def duplicates(self, event_ids: list[int]) -> dict[int, int]:
        """How often the webhook of each of these events came again inside the dedupe window."""

    async def attempts_of(self, delivery_ids: list[int]) -> dict[int, list[Attempt]]:
        """Every attempt of these deliveries, oldest first, by delivery id."""

    async def backlog(self) -> Counts:
        """Pending events, pending and dead deliveries, and the oldest pending item: ``counts`` for a page that
        is polled, reading only the index entries of those few rows."""

    async def hourly(self, since: float, until: float) -> list[HourCounts]:
        """Events received and routed, deliveries delivered and dead, per hour from ``since`` to ``until``."""

    async def day_summary(self, since: float, until: float) -> DaySummary:
        """Events received per trigger, deliveries ended and the commonest dead-delivery errors from ``since``
        to ``until``, the router's own alerts left out."""

    async def add_alerts(self, items: list[tuple[str, dict[str, Any]]], now: float) -> None:
        """Put alerts (kind, item) in the outbox: the causes that are not a store transaction of their own."""

    async def alerts_after(self, after_id: int, limit: int = 1000) -> list[AlertRow]:
        """The outbox's alerts after ``after_id``, oldest first."""

    async def connector_backlog(self) -> dict[str, ConnectorBacklog]:
        """Pending deliveries (and when the oldest was made) and dead deliveries, per connector."""


__all__ = [
    "DELIVERY_STATUSES",
    "EVENT_STATUSES",
    "Accepted",
    "AlertRow",
    "Attempt",
    "AttemptOutcome",
    "ConnectorBacklog",
    "Counts",
    "DaySummary",
    "DeliveryFilter",
    "DeliveryHealth",
    "DeliveryRecord",
    "DeliveryStatus",
    "Due",
    "EventFilter",
    "EventRecord",
    "EventStatus",
    "HourCounts",
    "ListedEvent",
    "NewDelivery",
    "QuarantineBounds",
    "QuarantineRecord",
    "QuarantineStats",
    "Quarantined",
    "RouteResult",
    "Store",
    "StoreLost",
    "StoreUnavailable",
    "where",
]
