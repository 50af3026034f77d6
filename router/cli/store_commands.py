"""The commands that read and change the store: ``events``, ``deliveries``, ``replay``, ``reroute``, ``purge``.

They open the store named by the config (or ``--store URL``) directly, so they work whether or not the
daemon runs; a running daemon picks up what they requeue at once. They read only the ``store`` and
``retention`` sections (``router.config.partial``): connector secrets need not be in the environment.
Times and ages on the command line become store filters here. A list says when it shows fewer rows than
match ("50 of 312 shown"), and cuts long errors at a word unless ``--wide``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from router.cli.errors import UserError
from router.cli.output import Progress, shown_of, table
from router.config.partial import StoreSettings, load_store_settings, store_settings_from_url
from router.store import Store, make_store
from router.store.base import DeliveryFilter, DeliveryHealth, DeliveryRecord, EventFilter, EventRecord
from router.text import clip, when
from toolkit.units import format_duration, parse_duration, parse_timestamp

T = TypeVar("T")


def settings(args: argparse.Namespace) -> StoreSettings:
    """The store settings of ``-c FILE`` or ``--store URL``."""
    if getattr(args, "store", None):
        return store_settings_from_url(args.store)
    return load_store_settings(args.config)


def _store(args: argparse.Namespace) -> Store:
    found = settings(args)
    return make_store(found.store.url, base=found.base, create=False)  # a wrong path is an error, not a new store


async def with_store(args: argparse.Namespace, work: Callable[[Store], Awaitable[T]]) -> T:
    """Open the store of ``args.config`` (or ``args.store``), run ``work`` on it, close it."""
    store = _store(args)
    await store.open()
    try:
        return await work(store)
    finally:
        await store.close()


def _time(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_timestamp(value, time.time())
    except ValueError as exc:
        raise UserError(str(exc)) from None


def _event_filter(args: argparse.Namespace) -> EventFilter:
    return EventFilter(
        status=args.status,
        trigger=args.trigger,
        triggerable_id=args.triggerable_id,
        since=_time(args.since),
        until=_time(args.until),
        source=getattr(args, "source", None),
        shop=getattr(args, "shop", None),
    )


def _delivery_filter(args: argparse.Namespace, status: str | None) -> DeliveryFilter:
    return DeliveryFilter(
        status=status,
        event_id=args.event,
        connector=args.connector,
        rule=args.rule,
        since=_time(args.since),
        until=_time(args.until),
        trigger=getattr(args, "trigger", None),
        triggerable_id=getattr(args, "triggerable_id", None),
        shop=getattr(args, "shop", None),
    )


def cmd_events(args: argparse.Namespace) -> int:
    flt = _event_filter(args)

    async def work(store: Store) -> tuple[list[EventRecord], int, dict[int, DeliveryHealth]]:
        records = await store.list_events(flt, limit=args.limit)
        total = await store.count_events(flt) if len(records) >= args.limit else len(records)
        return records, total, await store.delivery_health([r.id for r in records])

    records, total, health = asyncio.run(with_store(args, work))
    if args.json:
        print(json.dumps([_event_json(r, health.get(r.id, DeliveryHealth())) for r in records], indent=2))
    else:
        rows = [
            (
                r.id,
                when(r.received_at),
                r.event.trigger,
                f"{r.event.triggerable_type}:{r.event.triggerable_id}",
                r.event.rule_id,
                r.status,
                _matched(r),
                _health(health.get(r.id)),
                r.attempts,
                clip(r.last_error or "", wide=args.wide),
            )
            for r in records
        ]
        headers = ("id", "received", "trigger", "object", "pp_rule", "status", "rules", "deliveries", "tries", "error")
        print(table(rows, headers))
    shown_of(len(records), total)
    return 0


def _event_json(record: EventRecord, health: DeliveryHealth) -> dict[str, object]:
    made = health.delivered + health.pending + health.dead + health.superseded
    return {**record.as_dict(), "deliveries": made, "delivery_health": health.as_dict()}


def _health(health: DeliveryHealth | None) -> str:
    """How an event's deliveries stand, worst last: ``2 delivered, 1 dead``; ``-`` when it made none."""
    if health is None or health.worst == "none":
        return "-"
    return ", ".join(f"{n} {state}" for state in ("delivered", "pending", "dead") if (n := getattr(health, state)))


def _matched(record: EventRecord) -> str:
    """``matched/candidates`` of the rules the event was held against; ``-`` before it is routed."""
    if record.outcomes is None:
        return "-"
    return f"{sum(1 for o in record.outcomes if o.get('matched'))}/{len(record.outcomes)}"


def cmd_deliveries(args: argparse.Namespace) -> int:
    flt = _delivery_filter(args, args.status)

    async def work(store: Store) -> tuple[list[DeliveryRecord], int]:
        records = await store.list_deliveries(flt, limit=args.limit)
        total = await store.count_deliveries(flt) if len(records) >= args.limit else len(records)
        return records, total

    records, total = asyncio.run(with_store(args, work))
    if args.json:
        print(json.dumps([r.as_dict() for r in records], indent=2))
    else:
        rows = [
            (
                r.id,
                r.event_id,
                r.rule,
                r.connector,
                r.status,
                r.attempts,
                when(r.next_attempt_at) if r.status == "pending" else "-",
                clip(r.last_error or "", wide=args.wide),
            )
            for r in records
        ]
        print(table(rows, ("id", "event", "rule", "connector", "status", "tries", "next", "error")))
    shown_of(len(records), total)
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    """Requeue dead deliveries; a delivered one is sent again only with ``--again`` (it would be a second mail)."""
    again = bool(getattr(args, "again", False))

    async def work(store: Store) -> tuple[int, int]:
        if args.delivery is not None:
            record = await store.get_delivery(args.delivery)
            if record is None or not _of_shop(args, record.shop):
                raise UserError(f"no delivery {args.delivery}{_in_shop(args)}")
            if record.status not in ("dead", "delivered"):
                raise UserError(f"delivery {args.delivery} is {record.status}; nothing to replay")
            if record.request is None:
                raise UserError(
                    f"delivery {args.delivery} was never rendered ({record.last_error}); "
                    "fix the rule and re-route its event instead"
                )
            if record.status == "delivered" and not again:
                raise UserError(
                    f"delivery {args.delivery} was delivered already: replaying sends it again (a second mail, "
                    "a second invoice); add --again to do that on purpose"
                )
            return await store.replay_deliveries([record.id], time.time(), delivered=again), 0
        if args.event is not None:
            event = await store.get_event(args.event)
            if event is None or not _of_shop(args, event.event.shop):
                raise UserError(f"no event {args.event}{_in_shop(args)}")
        # Dead ones; with --again the delivered ones too (the store skips pending ones). --event alone names
        # its delivered ones it leaves alone.
        ids = await store.delivery_ids(_delivery_filter(args, None if again else "dead"))
        asked_all = not again and not args.dead
        left = len(await store.delivery_ids(_delivery_filter(args, "delivered"))) if asked_all else 0
        progress = Progress("requeued", len(ids))
        count = 0
        for start in range(0, len(ids), 500):
            done = await store.replay_deliveries(ids[start : start + 500], time.time(), delivered=again)
            count += done
            progress.add(done)
        progress.close()
        return count, left

    if args.delivery is None and not args.dead and args.event is None and not again:
        raise UserError("say what to replay: a DELIVERY_ID, --event ID or --dead (with optional filters)")
    count, left = asyncio.run(with_store(args, work))
    print(f"requeued {count} deliver{'y' if count == 1 else 'ies'}; a running daemon sends them now")
    if left:
        print(
            f"left {left} delivered deliver{'y' if left == 1 else 'ies'} alone: --again sends "
            f"{'it' if left == 1 else 'them'} again (a second mail)",
            file=sys.stderr,
        )
        if not count:
            return 1
    return 0


def cmd_reroute(args: argparse.Namespace) -> int:
    async def work(store: Store) -> bool:
        record = await store.get_event(args.event_id)
        if record is None or not _of_shop(args, record.event.shop):
            return False  # with --shop, another shop's event is not this shop's to re-route
        return await store.reroute_event(args.event_id, time.time())

    if not asyncio.run(with_store(args, work)):
        raise UserError(f"no event {args.event_id}{_in_shop(args)}")
    print(f"event {args.event_id} will be routed again with fresh data; a running daemon does it now")
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    retention = settings(args).retention
    age = retention.events if args.older_than is None else _duration(args.older_than)

    async def work(store: Store) -> int:
        progress = Progress("purged events")
        total = 0
        while True:
            now = time.time()
            deleted = await store.purge(now - age, now, args.batch)
            total += deleted
            progress.add(deleted)
            if deleted < args.batch:
                break
        progress.close()
        return total

    total = asyncio.run(with_store(args, work))
    print(
        f"purged {total} event{'' if total == 1 else 's'} older than {format_duration(age)} "
        "(with their deliveries and attempts)"
    )
    return 0


def _duration(value: str) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def _of_shop(args: argparse.Namespace, shop: str) -> bool:
    """Whether a row of ``shop`` is one the command may act on: any, or with ``--shop`` only that shop's."""
    return getattr(args, "shop", None) is None or shop == args.shop


def _in_shop(args: argparse.Namespace) -> str:
    return f" in shop {args.shop}" if getattr(args, "shop", None) else ""
