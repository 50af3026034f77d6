"""The reconcile loop: list recent objects from the Plug&Pay API and create the events whose webhook never came.

Every ``reconcile.every`` (and once at start and after each reload) one pass runs per derivable trigger the
rules use (``router.derive``). It lists the objects whose state began in the window from the trigger's
watermark (at most ``lookback`` ago; the first pass looks back the whole ``lookback``) up to ``grace`` ago,
and stores an event with ``source: reconcile`` for each object in that state that has no event of its
business key yet. The store then answers a late webhook of that business event as a duplicate of the found
event, so the rules run once (and action dedupe holds even where two events slipped in). The watermark moves
to the window's end only after a pass over the trigger's lists succeeded, and is kept in the store, so a
restart goes on where the last pass stopped. On PostgreSQL one instance at a time runs a pass (an advisory
lock); the others skip theirs. Every API call goes through the client's shared rate limit. The ``reconcile``
command runs one pass the same way; its dry run lists the same objects, stores nothing, keeps the watermarks
and says which objects the pass would store an event for (``uncovered``: the store's business dedupe, read).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog

from router.config import Config
from router.derive import DERIVATIONS, Derivation, api_time
from router.events import Event, object_id
from router.plugandpay import RESOURCES, ApiError, PlugAndPayClient
from router.store.base import EventRecord, ListedEvent, Store, StoreUnavailable
from router.store.filters import EventFilter
from router.store.status import EventStatus

log = structlog.get_logger("router.reconcile")
WATERMARK = "reconcile:{trigger}"  # with shops: "reconcile:<shop>:<trigger>", each shop's own


def mark_of(config: Config, trigger: str) -> str:
    return WATERMARK.format(trigger=f"{config.shop}:{trigger}" if config.shop else trigger)


def full_includes(derivation: Derivation) -> str:
    """The includes routing fetches anyway, so a listed object can be matched against rules as it is."""
    return ",".join(RESOURCES[derivation.kind][1])


async def listed_objects(
    api: PlugAndPayClient,
    derivation: Derivation,
    since: float,
    until: float,
    *,
    include: str = "",
    undated: bool = False,
) -> AsyncIterator[tuple[int, list[Mapping[str, Any]]]]:
    """Pages of ``(objects listed, those in the trigger's state begun in the window)``, each id once."""
    seen: set[str] = set()
    for query in derivation.queries(since, until):
        params = {**query, "include": include} if include else dict(query)
        async for page in api.list_pages(derivation.path, params):
            fresh = []
            for obj in page:
                ident = listed_id(obj)
                if ident is not None and ident not in seen:
                    seen.add(ident)
                    fresh.append(obj)
            yield len(page), [obj for obj in fresh if derivation.in_window(obj, since, until, undated=undated)]


def listed_id(obj: Mapping[str, Any]) -> str | None:
    """A listed object's id, as a webhook's would be; None (and a warning) for one that is not an id."""
    try:
        return object_id(obj.get("id"))
    except ValueError as exc:
        log.warning("listed object without a valid id left out", error=str(exc))
        return None


def listed_event(
    trigger: str, obj: Mapping[str, Any], tenant: str | None, source: str, note: dict[str, Any], shop: str = ""
) -> Event:
    """The event a listed object stands for, shaped like a webhook's (no rule id: no Plug&Pay rule sent it)."""
    return Event(
        trigger=trigger,
        raw_trigger=trigger,
        triggerable_type=DERIVATIONS[trigger].kind,
        triggerable_id=object_id(obj["id"]),
        tenant_id=tenant,
        source=source,
        payload={source: note},
        shop=shop,
    )


async def tenant_id(api: PlugAndPayClient) -> str:
    """The shop's tenant id, as its webhooks carry it: part of every business key."""
    return str((await api.tenant())["id"])


@dataclass
class TriggerReport:
    trigger: str
    since: float
    until: float
    checked: int = 0
    found: list[tuple[str, int]] = field(default_factory=list)  # (object id, event id)
    missing: list[str] = field(default_factory=list)  # a dry run: the object ids the pass would store events for


@dataclass
class PassReport:
    ran: bool
    triggers: list[TriggerReport] = field(default_factory=list)
    seconds: float = 0.0
    dry: bool = False

    @property
    def checked(self) -> int:
        return sum(t.checked for t in self.triggers)

    @property
    def found(self) -> int:
        return sum(len(t.found) for t in self.triggers)

    @property
    def missing(self) -> int:
        return sum(len(t.missing) for t in self.triggers)


Observe = Callable[[str, int, int], None]  # (trigger, objects checked, events found)


class Reconciler:
    """Runs passes for the daemon; ``state()`` gives the live config and API client (reloads swap them)."""

    def __init__(
        self,
        store: Store,
        current: Callable[[], tuple[Config, PlugAndPayClient]],
        on_found: Callable[[], None] = lambda: None,
        observe: Observe | None = None,
    ):
        self.store = store
        self.current = current
        self.on_found = on_found
        self.observe = observe or (lambda trigger, checked, found: None)
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Run a pass now (after a reload), whatever the time of the next one."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            config, _ = self.current()
            if config.reconcile.active:
                try:
                    await self.run_pass()
                except (ApiError, StoreUnavailable) as exc:
                    log.warning("reconcile pass failed, will try again", error=str(exc))
            wait = config.reconcile.every if config.reconcile.active else None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()
            self._wake.clear()

    async def run_pass(self, now: float | None = None, *, dry: bool = False) -> PassReport:
        """One pass over every reconciled trigger; the report says what it checked and found. ``dry``: store
        nothing and move no watermark (nor take the lock: it changes nothing); each trigger's ``missing`` lists
        the objects the pass would store an event for."""
        config, api = self.current()
        started = time.monotonic()
        turn = contextlib.nullcontext(True) if dry else self.store.exclusive(lock_name(config))
        async with turn as mine:
            if not mine:
                log.debug("reconcile pass skipped: another instance is reconciling")
                return PassReport(ran=False)
            report = PassReport(ran=True, dry=dry)
            tenant = await tenant_id(api)
            now = time.time() if now is None else now
            for trigger in config.reconcile.triggers:
                report.triggers.append(await self._trigger(config, api, trigger, tenant, now, dry))
        report.seconds = time.monotonic() - started
        log.info(
            "reconcile dry run" if dry else "reconcile pass",
            checked=report.checked,
            **({"missing": report.missing} if dry else {"found": report.found}),
            triggers=[t.trigger for t in report.triggers],
            seconds=round(report.seconds, 3),
        )
        return report

    async def _trigger(
        self, config: Config, api: PlugAndPayClient, trigger: str, tenant: str, now: float, dry: bool = False
    ) -> TriggerReport:
        settings = config.reconcile
        mark = await self.store.get_watermark(mark_of(config, trigger))
        earliest = now - settings.lookback
        if mark is not None and mark < earliest:
            log.warning(
                "reconcile gap: the last pass is older than reconcile.lookback",
                trigger=trigger,
                unchecked_from=api_time(mark),
                unchecked_until=api_time(earliest),
                hint="run `plugpay-router backfill` over that period",
            )
        since = earliest if mark is None else max(earliest, mark)
        report = TriggerReport(trigger, since, now - settings.grace)
        if report.until <= since:
            return report
        derivation = DERIVATIONS[trigger]
        note = {"window": [api_time(since), api_time(report.until)]}
        listing = listed_objects(api, derivation, since, report.until, include=derivation.state_include)
        async for count, objects in listing:
            report.checked += count
            items = [
                ListedEvent(event, event.dedupe_key)
                for event in (listed_event(trigger, obj, tenant, "reconcile", note, config.shop) for obj in objects)
            ]
            if dry:
                window = config.retention.dedupe_window
                report.missing.extend([i.event.triggerable_id for i in items if not await self._covered(i, window)])
                continue
            accepted = await self.store.add_listed_events(
                items, dedupe_window=config.retention.dedupe_window, now=time.time()
            )
            new = [(item.event.triggerable_id, a.event_id) for item, a in zip(items, accepted, strict=True)]
            new = [pair for pair, a in zip(new, accepted, strict=True) if not a.duplicate]
            for ident, event_id in new:
                log.info(
                    "missed event found",
                    trigger=trigger,
                    triggerable=f"{derivation.kind}:{ident}",
                    event_id=event_id,
                )
            report.found.extend(new)
            if new:
                self.on_found()
            self.observe(trigger, count, len(new))
        if not dry:
            await self.store.set_watermark(mark_of(config, trigger), report.until, time.time())
        return report

    async def _covered(self, item: ListedEvent, window: float) -> bool:
        """Whether storing ``item`` now would find it a duplicate (read, not written; see ``uncovered``)."""
        event = item.event
        flt = EventFilter(
            trigger=event.trigger,
            triggerable_type=event.triggerable_type,
            triggerable_id=event.triggerable_id,
            shop=event.shop,
        )
        return not uncovered(item, await self.store.list_events(flt, limit=COVER_LOOK), time.time(), window)


COVER_LOOK = 200  # stored events of one object and trigger a dry run reads: webhooks of every rule, retries


def lock_name(config: Config) -> str:
    """The store lock a pass holds: one pass of a shop at a time, whichever instance or command runs it."""
    return f"reconcile:{config.shop}" if config.shop else "reconcile"


def uncovered(item: ListedEvent, stored: list[EventRecord], now: float, window: float) -> bool:
    """Whether the store would take ``item`` as a new event, judged from the stored events of its object: as
    ``add_listed_events`` does, an event of its business key that did not fail covers it, and so does any
    event of its own dedupe key still inside the dedupe window (a reconcile event that failed, a webhook
    without a rule id). Not seen here: a business key held by a failed backfill event of every rule, or after
    its event was purged; the dry run names such an object, the pass then finds it covered."""
    event = item.event
    for record in stored:
        if record.event.business_key != event.business_key:
            continue
        if record.status != EventStatus.FAILED:
            return False
        if record.event.dedupe_key == item.dedupe_key and record.received_at + window > now:
            return False
    return True
