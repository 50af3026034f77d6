"""Stale webhooks: ones Plug&Pay sent longer ago than the dedupe window.

A webhook's dedupe key lives for ``retention.dedupe_window``. A webhook sent before that window cannot
be told apart from a captured one replayed after its key expired (a signature does not expire), so
receive stores it with status ``stale`` and answers 200 ``{"ignored": "stale"}``; the route stage never
takes it, only an operator's ``reroute`` does. The age comes from the body's ``sent_at`` (ISO 8601, or
epoch seconds); a ``sent_at`` that cannot be read counts as fresh, and is logged once per process.
"""

from __future__ import annotations

import datetime as dt

import structlog

log = structlog.get_logger("router.stale")
_unreadable_logged = False


def sent_at_epoch(sent_at: str) -> float | None:
    """``sent_at`` as epoch seconds, or None when it is not a time this can read."""
    text = sent_at.strip()
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        return number / 1000 if number > 1e11 else number  # milliseconds, when it is that large
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def is_stale(sent_at: str | None, cutoff: float) -> bool:
    """Whether a webhook with this ``sent_at`` was sent before ``cutoff`` (epoch seconds)."""
    global _unreadable_logged
    if sent_at is None:
        return False
    sent = sent_at_epoch(sent_at)
    if sent is None:
        if not _unreadable_logged:
            _unreadable_logged = True
            log.warning("unreadable sent_at, treating the webhook as fresh", sent_at=sent_at[:64])
        return False
    return sent < cutoff
