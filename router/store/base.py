"""The Store protocol: everything the three stages, the CLI and the admin API ask of durable storage.

Each method is one transaction. The stages never hold a transaction open across network I/O: receive
calls ``add_event``; route claims events under a lease, fetches and renders outside the store, then
commits all of one event's deliveries and its new state with ``complete_route``; deliver claims due
deliveries under a lease, sends, and commits the attempt and the delivery's new state with
``finish_attempt``. A lease that expires (its holder died) makes the work claimable again. Both stores
(SQLite, PostgreSQL) implement this and pass the same contract tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from router.events import Event

EVENT_STATUSES = ("pending", "routed", "failed")
# "superseded": a dead delivery replaced by a fresh rendering when its event was re-routed (kept for history).
DELIVERY_STATUSES = ("pending", "delivered", "dead", "superseded")


class StoreUnavailable(Exception):
    """The store cannot be reached or cannot commit; receive answers 503 so Plug&Pay retries."""


@dataclass(frozen=True)
class Accepted:
    event_id: int
    duplicate: bool = False


@dataclass
class EventRecord:
    id: int
    event: Event
    status: str
    received_at: float
    attempts: int = 0
    next_attempt_at: float = 0.0
    last_error: str | None = None
    outcomes: list[dict[str, Any]] | None = None
    config_version: str | None = None
    routed_at: float | None = None
    fetched: dict[str, Any] | None = None

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
    status: str = "pending"  # or "dead" when rendering failed
    error: str | None = None


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
    status: str
    attempts: int
    next_attempt_at: float
    created_at: float
    updated_at: float
    item_key: str | None = None
    last_error: str | None = None
    config_version: str | None = None

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
        }


@dataclass(frozen=True)
class Attempt:
    """One try at a delivery, as recorded."""

    started_at: float
    duration_ms: float
    outcome: str  # delivered | retry | dead
    status_code: int | None = None
    error: str | None = None
    delivery_id: int = 0
    number: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "started_at": self.started_at,
            "duration_ms": round(self.duration_ms, 3),
            "outcome": self.outcome,
            "status_code": self.status_code,
            "error": self.error,
        }


@dataclass(frozen=True)
class EventFilter:
    """Which events to list; every field given must hold. Times are epoch seconds of ``received_at``."""

    status: str | None = None
    trigger: str | None = None
    triggerable_id: str | None = None
    since: float | None = None
    until: float | None = None

    def clauses(self) -> list[tuple[str, Any]]:
        return _present(
            ("status = {}", self.status),
            ("trigger = {}", self.trigger),
            ("triggerable_id = {}", self.triggerable_id),
            ("received_at >= {}", self.since),
            ("received_at < {}", self.until),
        )


@dataclass(frozen=True)
class DeliveryFilter:
    """Which deliveries to list or replay; every field given must hold. Times are of ``created_at``."""

    status: str | None = None
    event_id: int | None = None
    connector: str | None = None
    rule: str | None = None
    since: float | None = None
    until: float | None = None

    def clauses(self) -> list[tuple[str, Any]]:
        return _present(
            ("status = {}", self.status),
            ("event_id = {}", self.event_id),
            ("connector = {}", self.connector),
            ("rule = {}", self.rule),
            ("created_at >= {}", self.since),
            ("created_at < {}", self.until),
        )


def _present(*pairs: tuple[str, Any]) -> list[tuple[str, Any]]:
    return [(sql, value) for sql, value in pairs if value is not None]


def where(clauses: list[tuple[str, Any]], mark: Callable[[int], str]) -> tuple[str, list[Any]]:
    """``WHERE a = ? AND …`` for a filter's clauses; ``mark(n)`` spells the n-th parameter (1-based)."""
    if not clauses:
        return "", []
    parts = [sql.format(mark(number)) for number, (sql, _) in enumerate(clauses, start=1)]
    return "WHERE " + " AND ".join(parts), [value for _, value in clauses]


@dataclass(frozen=True)
class Counts:
    events: dict[str, int] = field(default_factory=dict)
    deliveries: dict[str, int] = field(default_factory=dict)
    oldest_pending_at: float | None = None


class Store(Protocol):
    async def open(self) -> None:
        """Connect and apply migrations."""

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the store can take writes now."""

    def subscribe(self, callback: Callable[[str], None]) -> bool:
        """Call ``callback("events" | "deliveries")`` whenever any process commits new due work of that kind.

        Call it before ``open``. Returns True when the store does this (PostgreSQL: LISTEN/NOTIFY), so a
        caller may poll slowly; False when it cannot (SQLite: the daemon wakes itself and sees other
        processes' work by polling).
        """

    # receive
    async def add_event(self, event: Event, *, dedupe_window: float, now: float) -> Accepted: ...

    # route
    async def claim_events(self, owner: str, limit: int, lease: float, now: float) -> list[EventRecord]: ...

    async def complete_route(
        self,
        event_id: int,
        owner: str,
        deliveries: list[NewDelivery],
        outcomes: list[dict[str, Any]],
        config_version: str,
        now: float,
        fetched: dict[str, Any] | None = None,
    ) -> int | None:
        """Mark the event routed and insert its deliveries (skipping action keys already stored).

        ``fetched`` is what is kept of the fetched object (a summary, or all of it with keep_payloads).
        Returns how many deliveries were inserted, or None when ``owner`` no longer holds the event's lease
        (another instance took it over and routes it; nothing was written).
        """

    async def retry_event(self, event_id: int, owner: str, at: float, error: str) -> None: ...

    async def fail_event(self, event_id: int, owner: str, error: str, now: float) -> None: ...

    # deliver
    async def claim_deliveries(self, owner: str, limit: int, lease: float, now: float) -> list[DeliveryRecord]: ...

    async def finish_attempt(
        self, delivery_id: int, owner: str, attempt: Attempt, next_attempt_at: float | None
    ) -> None:
        """Record the attempt; delivered / dead end the delivery, retry schedules it at next_attempt_at."""

    async def defer_delivery(self, delivery_id: int, owner: str, at: float) -> None:
        """Give a claimed delivery back without spending an attempt (breaker open, shutting down)."""

    async def next_due(self, now: float) -> float | None:
        """The earliest time any pending event or delivery becomes due (None when there is none)."""

    async def release(self, owner: str) -> None:
        """Drop every lease ``owner`` holds, so the work is claimable at once."""

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

    async def replay_deliveries(self, ids: list[int], now: float) -> int:
        """Make these delivered/dead deliveries pending again (same request, same key)."""

    async def reroute_event(self, event_id: int, now: float) -> bool:
        """Route the event again with fresh data: its dead deliveries become ``superseded`` (their action
        keys freed, so a fresh rendering takes their place), delivered and pending ones stay, and the event
        is pending now. False when there is no such event."""

    async def purge(self, before: float, now: float, batch: int) -> int:
        """Delete up to ``batch`` finished events received before ``before`` (with their deliveries and
        attempts; never one with pending work) and expired dedupe keys. Returns the events deleted."""

    async def counts(self, now: float) -> Counts: ...
