"""Retention: the daemon's purge loop. Old finished events go in small batches, every ``retention.interval``,
without blocking ingest; action keys go apart, after ``retention.action_keys`` (far longer than events), so a
webhook replayed after its event is gone still cannot run its actions again.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable

import structlog

from router.config.model import RetentionConfig
from router.store.base import Store, StoreUnavailable

log = structlog.get_logger("router.daemon")
PURGE_BATCH = 200
PURGE_PAUSE = 0.05


async def purge_forever(store: Store, retention_now: Callable[[], RetentionConfig]) -> None:
    """Purge, sleep ``retention.interval``, repeat; ``retention_now`` gives the settings of the config in force."""
    while True:
        retention = retention_now()
        total = keys = 0
        events = functools.partial(_events, store, retention.events)
        action_keys = functools.partial(_action_keys, store, retention.action_keys)
        try:
            total = await in_batches(events)
            keys = await in_batches(action_keys)
        except StoreUnavailable as exc:
            log.warning("retention purge postponed, store unavailable", error=str(exc))
        if total:
            log.info("retention purge", events=total, older_than_days=round(retention.events / 86400, 2))
        if keys:
            log.info("action keys purged", keys=keys, older_than_days=round(retention.action_keys / 86400, 2))
        await asyncio.sleep(retention.interval)


def _events(store: Store, age: float) -> Awaitable[int]:
    now = time.time()
    return store.purge(now - age, now, PURGE_BATCH)


def _action_keys(store: Store, age: float) -> Awaitable[int]:
    return store.purge_action_keys(time.time() - age, PURGE_BATCH)


async def in_batches(purge: Callable[[], Awaitable[int]]) -> int:
    """Run ``purge`` (one batch) until a batch comes back short, pausing so webhooks and deliveries get in."""
    total = 0
    while True:
        deleted = await purge()
        total += deleted
        if deleted < PURGE_BATCH:
            return total
        await asyncio.sleep(PURGE_PAUSE)
