"""Filters for listing events and deliveries, and the ``WHERE`` clause they make in either store's SQL.

Each filter spells its conditions with ``{}`` where the parameter goes; ``where`` numbers them, so the
same filter serves SQLite's ``?`` and PostgreSQL's ``$n``. A tuple value (``shops``) is one parameter per
item, for ``IN ({})``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EventFilter:
    """Which events to list; every field given must hold. Times are epoch seconds of ``received_at``."""

    status: str | None = None
    trigger: str | None = None
    triggerable_id: str | None = None
    since: float | None = None
    until: float | None = None
    triggerable_type: str | None = None
    source: str | None = None  # v2, v1, reconcile, backfill
    shop: str | None = None
    shops: tuple[str, ...] | None = None  # any of these (an admin user's shops)

    def clauses(self) -> list[tuple[str, Any]]:
        return _present(
            ("shop = {}", self.shop),
            ("shop IN ({})", self.shops),
            ("status = {}", self.status),
            ("trigger = {}", self.trigger),
            ("source = {}", self.source),
            ("triggerable_id = {}", self.triggerable_id),
            ("triggerable_type = {}", self.triggerable_type),
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
    trigger: str | None = None  # of the delivery's event
    triggerable_id: str | None = None  # of the delivery's event
    shop: str | None = None
    shops: tuple[str, ...] | None = None  # any of these (an admin user's shops)

    def clauses(self) -> list[tuple[str, Any]]:
        return _present(
            ("shop = {}", self.shop),
            ("shop IN ({})", self.shops),
            ("status = {}", self.status),
            ("event_id = {}", self.event_id),
            ("event_id IN (SELECT id FROM events WHERE trigger = {})", self.trigger),
            ("event_id IN (SELECT id FROM events WHERE triggerable_id = {})", self.triggerable_id),
            ("connector = {}", self.connector),
            ("rule = {}", self.rule),
            ("created_at >= {}", self.since),
            ("created_at < {}", self.until),
        )


def _present(*pairs: tuple[str, Any]) -> list[tuple[str, Any]]:
    return [(sql, value) for sql, value in pairs if value is not None]


def where(clauses: list[tuple[str, Any]], mark: Callable[[int], str]) -> tuple[str, list[Any]]:
    """``WHERE a = ? AND …`` for a filter's clauses; ``mark(n)`` spells the n-th parameter (1-based). A tuple
    value is a parameter per item, comma-separated (an empty one is ``NULL``, which ``IN`` never matches)."""
    if not clauses:
        return "", []
    parts: list[str] = []
    args: list[Any] = []
    for sql, value in clauses:
        values = list(value) if isinstance(value, tuple) else [value]
        parts.append(sql.format(", ".join(mark(len(args) + n) for n in range(1, len(values) + 1)) or "NULL"))
        args += values
    return "WHERE " + " AND ".join(parts), args
