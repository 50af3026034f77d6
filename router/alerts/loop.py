"""The alert loop: from the outbox to alert events, once and grouped, by one instance at a time.

Every second (or when woken) the loop notes the causes that are not a store transaction of their own (a
connector's circuit breaker opening and closing, a backlog older than ``alerts.when.backlog``, the
quarantine growing, reconcile finding missed events, a failed reload) in the outbox, then, holding the
store's ``alerts`` lock so that several instances send each alert once, reads the outbox after each kind's
mark. The first alert of a kind goes out at once; the rest of that kind wait and go as one digest per
``alerts.digest_every``. Once a day it also stores the daily summary (``alerts.summary``). Sending is
storing an alert event (source ``alert``, its dedupe key naming the kind and the last outbox row), which
the route stage turns into one delivery per channel and the deliver stage sends with the channel
connector's retries: an alert never blocks a webhook, and a channel that is down only delays its own
deliveries. A kind that is off is read and dropped. Errors are logged, never raised: an alert must not
stop the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from typing import Any

import structlog

from router.alerts import summary
from router.alerts.deliveries import ABOUT_A_DESTINATION, SOURCE
from router.alerts.message import MAX_ITEMS, age
from router.config import Config
from router.config.model import ALERT_KINDS
from router.events import Event
from router.store.base import AlertRow, Store

log = structlog.get_logger("router.alerts")

TICK = 1.0
KINDS = (*ALERT_KINDS, "destination_recovered")
OUTBOX_MARK = "alerts:outbox:{kind}"  # the last outbox row of the kind that was sent (or dropped)
LAST_SENT = "alerts:last:{kind}"  # when the last alert of the kind went out
READ_MARK = "alerts:outbox"  # every outbox row up to here is sent or dropped
READ_LIMIT = 5000  # outbox rows read per tick
QUARANTINE_SEEN = "alerts:quarantine"  # the newest refused webhook already told
BACKLOG_TOLD = "alerts:backlog"  # 1 while a backlog that was told lasts, 0 once it cleared


class Alerter:
    def __init__(
        self,
        store: Store,
        current: Callable[[], Config],
        breakers: Callable[[], Mapping[str, str]],
        on_created: Callable[[], None],
        on_sent: Callable[[str], None] = lambda kind: None,
        on_waiting: Callable[[int], None] = lambda rows: None,
        errors: Callable[[], Mapping[str, str]] = dict,
    ):
        self.store = store
        self.current = current
        self.breakers = breakers
        self.errors = errors  # each connector's last failed send, named in its destination_down alert
        self.on_created = on_created
        self.on_sent = on_sent
        self.on_waiting = on_waiting  # the outbox depth: rows read but held for a digest
        self.read_limit = READ_LIMIT
        self._noted: list[tuple[str, dict[str, Any]]] = []
        self._breaker_seen: dict[str, tuple[str, float]] = {}
        self._quarantined: int | None = None
        self._wake = asyncio.Event()

    def note(self, kind: str, item: dict[str, Any]) -> None:
        """A cause the daemon saw (a failed reload, missed events): put in the outbox on the next tick."""
        self._noted.append((kind, item))
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                await self.tick(time.time())
            except Exception as exc:  # the store is down, a bug: the pipeline goes on, the log says it
                log.warning("alerts: tick failed, will try again", error=f"{type(exc).__name__}: {exc}")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(TICK):
                    await self._wake.wait()
            self._wake.clear()

    async def tick(self, now: float) -> None:
        config = self.current()
        if not config.alerts.enabled:
            self._noted.clear()
            return
        async with self.store.exclusive("alerts") as mine:
            await self._watch(config, now, store_wide=mine)
            if mine:
                await self.send_due(config, now)
                await self.summarise(config, now)

    async def _watch(self, config: Config, now: float, store_wide: bool) -> None:
        """This instance's own causes (its breakers, what it noted) always; the store's (backlog,
        quarantine) only on the instance holding the lock, so that N instances do not tell them N times."""
        items, self._noted = self._noted, []
        for name, state in self.breakers().items():
            seen = self._breaker_seen.get(name)
            if state == "open" and (seen is None or seen[0] != "open"):
                items.append(("destination_down", {"connector": name, "error": self.errors().get(name)}))
                self._breaker_seen[name] = ("open", now)
            elif state == "closed" and seen is not None and seen[0] == "open":
                items.append(("destination_recovered", {"connector": name, "down_for": age(now - seen[1])}))
                self._breaker_seen[name] = ("closed", now)
            elif seen is None:
                self._breaker_seen[name] = (state, now)
        if store_wide:
            items.extend(await self._store_causes(config, now))
        if items:
            await self.store.add_alerts(items, now)

    async def _store_causes(self, config: Config, now: float) -> list[tuple[str, dict[str, Any]]]:
        items: list[tuple[str, dict[str, Any]]] = []
        oldest = (await self.store.backlog()).oldest_pending_at
        aged = oldest is not None and now - oldest > config.alerts.backlog
        # Told once per backlog, whichever instance holds the lock on the tick that sees it: the mark is the
        # store's, so instances taking turns with the lock do not each tell the same backlog.
        told = bool(await self.store.get_watermark(BACKLOG_TOLD))
        if aged and not told:
            items.append(("backlog", {"waiting_for": age(now - (oldest or now)), "oldest_at": oldest}))
        if aged != told:
            await self.store.set_watermark(BACKLOG_TOLD, float(aged), now)
        # The newest refusal against a mark in the store: told once, whichever instance holds the lock, and
        # refusals from before a restart are not lost to a baseline taken after them.
        stats = await self.store.quarantine_stats()
        seen = await self.store.get_watermark(QUARANTINE_SEEN)
        if stats.newest_at is not None and (seen is None or stats.newest_at > seen):
            new = stats.entries - self._quarantined if self._quarantined is not None else stats.entries
            await self.store.add_alerts([("quarantined", {"count": max(1, new), "kept": stats.entries})], now)
            await self.store.set_watermark(QUARANTINE_SEEN, stats.newest_at, now)  # after: a crash tells twice
        self._quarantined = stats.entries
        return items

    async def send_due(self, config: Config, now: float) -> None:
        # Read from where every earlier row is sent or dropped (a kind that never fired must not pin the read
        # at the start: past READ_LIMIT rows the newest would never be seen); the kinds' marks skip what a
        # crash between sending and moving the read position would offer again.
        start = int(await self.store.get_watermark(READ_MARK) or 0)
        marks = {kind: int(await self.store.get_watermark(OUTBOX_MARK.format(kind=kind)) or 0) for kind in KINDS}
        rows = await self.store.alerts_after(start, limit=self.read_limit)
        by_kind: dict[str, list[AlertRow]] = {}
        for row in rows:
            if row.id > marks.get(row.kind, 0):
                by_kind.setdefault(row.kind, []).append(row)
        enabled = set(config.alerts.kinds)
        held: list[AlertRow] = []
        if "destination_down" in enabled:
            enabled.add("destination_recovered")
        for kind, found in by_kind.items():
            if kind not in enabled:
                await self.store.set_watermark(OUTBOX_MARK.format(kind=kind), found[-1].id, now)
                continue
            last = await self.store.get_watermark(LAST_SENT.format(kind=kind))
            if last is not None and now - last < config.alerts.digest_every and kind not in ABOUT_A_DESTINATION:
                held += found
                continue  # the next digest of this kind takes them
            batches = [[row] for row in found] if kind in ABOUT_A_DESTINATION else [found]
            for batch in batches:
                await self._send(config, kind, batch, now)
        done = min(row.id for row in held) - 1 if held else (rows[-1].id if rows else start)
        if done > start:
            await self.store.set_watermark(READ_MARK, done, now)
        waiting = len(held)
        self.on_waiting(waiting)

    async def summarise(self, config: Config, now: float) -> None:
        """Yesterday's summary, once its time of day has passed and it has not gone out yet."""
        minute, zone = config.alerts.daily_summary, config.alerts.timezone
        day = None if minute is None else summary.due_day(now, minute, zone)
        if day is None or (await self.store.get_watermark(summary.MARK) or 0) >= day.toordinal():
            return
        figures = await self.store.day_summary(*summary.bounds(day, zone))
        # The key names the day: a crash before the mark moves stores a duplicate, not a second summary.
        key = f"{summary.KIND}-{day.isoformat()}"
        event = Event("alert", summary.KIND, SOURCE, key, source=SOURCE, payload=summary.payload(day, zone, figures))
        await self.store.add_event(event, dedupe_window=config.retention.dedupe_window, now=now)
        await self.store.set_watermark(summary.MARK, day.toordinal(), now)
        log.info("daily summary stored for sending", day=day.isoformat())
        self.on_sent(summary.KIND)
        self.on_created()

    async def _send(self, config: Config, kind: str, rows: list[AlertRow], now: float) -> None:
        payload = {
            "kind": kind,
            "items": [row.item for row in rows[:MAX_ITEMS]],
            "first_at": rows[0].created_at,
            "last_at": rows[-1].created_at,
            "count": sum(int(row.item.get("count", 1)) for row in rows),
            "subject": str(rows[0].item.get("connector") or "") if kind in ABOUT_A_DESTINATION else "",
        }
        # The last row names the alert: storing it again after a crash is a duplicate, not a second alert.
        event = Event("alert", kind, SOURCE, f"{kind}-{rows[-1].id}", source=SOURCE, payload=payload)
        await self.store.add_event(event, dedupe_window=config.retention.dedupe_window, now=now)
        await self.store.set_watermark(OUTBOX_MARK.format(kind=kind), rows[-1].id, now)
        await self.store.set_watermark(LAST_SENT.format(kind=kind), now, now)
        log.info("alert stored for sending", kind=kind, count=payload["count"])
        self.on_sent(kind)
        self.on_created()
