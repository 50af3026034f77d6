"""The commands that work on the shop through its API: ``connect`` (the shop's webhook rules) and ``backfill``.

Both prove the token first (the tenant's name), go through the client's shared rate limit, and change
nothing without being asked: ``connect`` only plans unless ``--apply``, ``backfill`` only counts unless
``--yes``. Progress goes to stderr: a rewritten line on a terminal, a plain line per page otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from router.cli.errors import UserError
from router.config import Config, load_shop, webhook_path
from router.derive import DERIVATIONS, NOT_DERIVABLE, api_time
from router.events import canonical_trigger, object_id
from router.plugandpay import ApiError, PlugAndPayClient
from router.shop.backfill import Backfill, BackfillReport
from router.shop.connect import WIRE_TRIGGERS, Step, owned_name, plan, rule_url, wanted_rules
from router.store import Store, make_store
from toolkit.units import parse_timestamp

T = TypeVar("T")


def _with_api(config: Config, work: Callable[[PlugAndPayClient], Awaitable[T]]) -> T:
    async def run() -> T:
        api = PlugAndPayClient.from_settings(config.plugandpay)
        try:
            return await work(api)
        except ApiError as exc:
            raise UserError(f"Plug&Pay API: {exc}") from None
        finally:
            await api.aclose()

    return asyncio.run(run())


def _describe(rule: Any) -> str:
    return f"#{rule.get('id')} {rule.get('name')!r} ({rule.get('trigger_type')} → {rule_url(rule) or '-'})"


def _line(step: Step) -> str:
    if step.action in ("create", "created"):
        assert step.wanted is not None
        mark = "+ create " if step.action == "create" else "+ created"
        return f"{mark}     {step.wanted.name}" + (f" {_describe(step.rule)}" if step.rule else "")
    assert step.rule is not None
    marks = {
        "there": "= there",
        "keep": "! keep",
        "unneeded": "! not needed",
        "leave": "~ leave",
        "deleted": "- deleted",
    }
    return f"{marks[step.action]:<14}{_describe(step.rule)}" + (f": {step.note}" if step.note else "")


def _wire(pairs: list[str]) -> dict[str, str]:
    wire = dict(WIRE_TRIGGERS)
    for pair in pairs:
        trigger, sep, name = pair.partition("=")
        if not sep or not name.strip():
            raise UserError(f"--wire expects TRIGGER=NAME, got {pair!r}")
        wire[canonical_trigger(trigger)] = name.strip()
    return wire


def cmd_connect(args: argparse.Namespace) -> int:
    config = load_shop(args.config, args.shop)
    url = args.url.strip()
    if not url.startswith(("https://", "http://")):
        raise UserError(f"--url must be the router's public http(s) URL, got {url!r}")
    if not url.rstrip("/").endswith(webhook_path(config).rstrip("/")):
        print(f"warning: {url} does not end in the shop's webhook path ({webhook_path(config)})", file=sys.stderr)
    wire = _wire(args.wire or [])

    base = Path(args.config).resolve().parent

    async def work(api: PlugAndPayClient) -> int:
        tenant = await api.tenant()
        print(f"shop: {tenant.get('name')} (tenant {tenant.get('id')})")
        shop = [r for page in [p async for p in api.list_pages("/v2/rules", {"driver": "webhook"})] for r in page]
        store = make_store(config.store.url, base=base)
        await store.open()
        try:
            owned = frozenset([str(r.get("id")) for r in shop if await store.get_watermark(owned_name(r.get("id")))])
            return await apply(api, store, plan(shop, wanted_rules(config), url, owned))
        finally:
            await store.close()

    async def apply(api: PlugAndPayClient, store: Store, steps: list[Step]) -> int:
        done: list[Step] = []
        for step in steps:
            if step.action == "create" and args.apply:
                assert step.wanted is not None
                created = await api.call("POST", "/v2/rules", body=step.wanted.body(url, wire))
                data = created.get("data") if isinstance(created, dict) else None
                if isinstance(data, dict) and data.get("id") is not None:
                    await store.set_watermark(owned_name(data["id"]), time.time(), time.time())
                step = Step("created", step.wanted, data if isinstance(data, dict) else None)
            elif step.action == "unneeded" and args.prune:
                assert step.rule is not None
                await api.call("DELETE", f"/v2/rules/{object_id(step.rule['id'])}")
                step = Step("deleted", rule=step.rule, note="it was ours and no longer needed")
            done.append(step)
            print(_line(step))
        counts = {a: sum(1 for s in done if s.action == a) for a in ("create", "there", "unneeded", "keep")}
        print(
            f"{counts['create']} to create, {counts['there']} already there, "
            f"{counts['unneeded']} of ours not needed, {counts['keep']} calling the router left alone"
        )
        if counts["create"] and not args.apply:
            print("nothing changed: run again with --apply to create them")
        return 0

    return _with_api(config, work)


def _time(value: str, now: float) -> float:
    try:
        return parse_timestamp(value, now)
    except ValueError as exc:
        raise UserError(str(exc)) from None


class _Progress:
    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()

    def __call__(self, listed: int, found: int) -> None:
        end = "" if self.tty else "\n"
        print(f"{chr(13) if self.tty else ''}listed {listed} objects, {found} in state", end=end, file=sys.stderr)
        sys.stderr.flush()

    def close(self) -> None:
        if self.tty:
            print(file=sys.stderr)


def cmd_backfill(args: argparse.Namespace) -> int:
    config = load_shop(args.config, args.shop)
    trigger = canonical_trigger(args.trigger)
    if trigger in NOT_DERIVABLE:
        raise UserError(f"{trigger} cannot be backfilled: {NOT_DERIVABLE[trigger]}")
    if trigger not in DERIVATIONS:
        raise UserError(f"unknown trigger {args.trigger!r} (backfill knows: {', '.join(DERIVATIONS)})")
    rules = [r.name for r in config.rules.for_trigger(trigger)]
    unknown = [name for name in args.rule or [] if name not in rules]
    if unknown:
        raise UserError(f"no rule {', '.join(unknown)} listens to {trigger} (rules: {', '.join(rules) or 'none'})")
    now = time.time()
    job = Backfill(
        trigger, _time(args.since, now), _time(args.until, now) if args.until else now, tuple(args.rule or ())
    )
    dry = args.dry_run or not args.yes
    print(f"backfill {trigger} from {api_time(job.since)} to {api_time(job.until)} UTC")
    if job.rules:
        print(f"rules: {', '.join(job.rules)} (only these run)")
    else:
        print(f"rules: ALL {len(rules)} rules of {trigger} run ({', '.join(rules)}): name some with --rule")
    progress = _Progress()
    base = Path(args.config).resolve().parent

    async def work(api: PlugAndPayClient) -> BackfillReport:
        if dry:
            return await job.run(config, api, None, progress)
        store = make_store(config.store.url, base=base)
        await store.open()
        try:
            return await job.run(config, api, store, progress)
        finally:
            await store.close()

    report = _with_api(config, work)
    progress.close()
    print(f"{report.listed} objects listed, {report.in_state} in the {trigger} state")
    if dry:
        for name in job.rules or rules:
            print(f"  {name}: {report.deliveries.get(name, 0)} deliveries")
        print("dry run: nothing stored (deliveries an object already had are not made again)")
        if not args.dry_run:
            print("run again with --yes to store the events")
        return 0
    print(f"stored {report.stored} events (source: backfill), {report.already} already backfilled")
    return 0
