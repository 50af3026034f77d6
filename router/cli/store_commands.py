"""The commands that read and change the store: ``events``, ``deliveries``, ``replay``, ``reroute``, ``purge``.

They open the store named by the config directly, so they work whether or not the daemon runs; a running
daemon picks up what they requeue at once. Times and ages on the command line become store filters here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from connectors.units import format_duration, parse_duration, parse_timestamp
from router.cli.errors import UserError
from router.cli.output import Progress, table, when
from router.config import load_config
from router.store import Store, make_store
from router.store.base import DeliveryFilter, EventFilter

T = TypeVar("T")


def _store(args: argparse.Namespace) -> Store:
    config = load_config(args.config)
    return make_store(config.store.url, base=Path(args.config).resolve().parent)


async def _with_store(args: argparse.Namespace, work: Callable[[Store], Awaitable[T]]) -> T:
    """Open the store of ``args.config``, run ``work`` on it, close it."""
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
    )


def _delivery_filter(args: argparse.Namespace, status: str | None) -> DeliveryFilter:
    return DeliveryFilter(
        status=status,
        event_id=args.event,
        connector=args.connector,
        rule=args.rule,
        since=_time(args.since),
        until=_time(args.until),
    )


def cmd_events(args: argparse.Namespace) -> int:
    flt = _event_filter(args)
    records = asyncio.run(_with_store(args, lambda s: s.list_events(flt, limit=args.limit)))
    if args.json:
        print(json.dumps([r.as_dict() for r in records], indent=2))
        return 0
    rows = [
        (
            r.id,
            when(r.received_at),
            r.event.trigger,
            f"{r.event.triggerable_type}:{r.event.triggerable_id}",
            r.event.rule_id,
            r.status,
            r.attempts,
            (r.last_error or "")[:60],
        )
        for r in records
    ]
    print(table(rows, ("id", "received", "trigger", "object", "pp_rule", "status", "tries", "error")))
    return 0


def cmd_deliveries(args: argparse.Namespace) -> int:
    flt = _delivery_filter(args, args.status)
    records = asyncio.run(_with_store(args, lambda s: s.list_deliveries(flt, limit=args.limit)))
    if args.json:
        print(json.dumps([r.as_dict() for r in records], indent=2))
        return 0
    rows = [
        (
            r.id,
            r.event_id,
            r.rule,
            r.connector,
            r.status,
            r.attempts,
            when(r.next_attempt_at) if r.status == "pending" else "-",
            (r.last_error or "")[:60],
        )
        for r in records
    ]
    print(table(rows, ("id", "event", "rule", "connector", "status", "tries", "next", "error")))
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    async def work(store: Store) -> int:
        if args.delivery is not None:
            record = await store.get_delivery(args.delivery)
            if record is None:
                raise UserError(f"no delivery {args.delivery}")
            if record.status not in ("dead", "delivered"):
                raise UserError(f"delivery {args.delivery} is {record.status}; nothing to replay")
            if record.request is None:
                raise UserError(
                    f"delivery {args.delivery} was never rendered ({record.last_error}); "
                    "fix the rule and re-route its event instead"
                )
            return await store.replay_deliveries([record.id], time.time())
        if args.event is not None and await store.get_event(args.event) is None:
            raise UserError(f"no event {args.event}")
        # --dead: dead ones; --event alone: every finished one of that event (the store skips pending ones).
        ids = await store.delivery_ids(_delivery_filter(args, "dead" if args.dead else None))
        progress = Progress("requeued", len(ids))
        count = 0
        for start in range(0, len(ids), 500):
            done = await store.replay_deliveries(ids[start : start + 500], time.time())
            count += done
            progress.add(done)
        progress.close()
        return count

    if args.delivery is None and not args.dead and args.event is None:
        raise UserError("say what to replay: a DELIVERY_ID, --event ID or --dead (with optional filters)")
    count = asyncio.run(_with_store(args, work))
    print(f"requeued {count} deliver{'y' if count == 1 else 'ies'}; a running daemon sends them now")
    return 0


def cmd_reroute(args: argparse.Namespace) -> int:
    async def work(store: Store) -> bool:
        return await store.reroute_event(args.event_id, time.time())

    if not asyncio.run(_with_store(args, work)):
        raise UserError(f"no event {args.event_id}")
    print(f"event {args.event_id} will be routed again with fresh data; a running daemon does it now")
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    age = config.retention.events if args.older_than is None else _duration(args.older_than)

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

    total = asyncio.run(_with_store(args, work))
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
