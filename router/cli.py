"""The ``plugpay-router`` command line: argument parsing and one function per command.

Exit codes: 0 ok, 1 a user error (bad config, unreachable store, unknown id) with a readable message and
never a traceback, 2 wrong usage (argparse). Commands that read the store open it directly, so they work
whether or not the daemon runs.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from connectors.units import format_duration, parse_duration, parse_timestamp
from router import logs, verify
from router.config import Config, ConfigError, load_config
from router.events import TRIGGERS, webhook_body
from router.store import Store, StoreUnavailable, make_store
from router.store.base import DELIVERY_STATUSES, EVENT_STATUSES, DeliveryFilter, EventFilter

T = TypeVar("T")


class UserError(Exception):
    """Printed as one line (or a list of config problems) with exit code 1."""


def _config(path: str) -> Config:
    return load_config(path)


def _store(args: argparse.Namespace) -> tuple[Config, Store]:
    config = _config(args.config)
    return config, make_store(config.store.url, base=Path(args.config).resolve().parent)


async def _with_store(args: argparse.Namespace, work: Callable[[Store], Awaitable[T]]) -> T:
    _, store = _store(args)
    await store.open()
    try:
        return await work(store)
    finally:
        await store.close()


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    cells = [[str(c) for c in headers], *[["-" if c is None else str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells)


# ---------------------------------------------------------------- commands


def cmd_serve(args: argparse.Namespace) -> int:
    from router.daemon import Daemon

    config = _config(args.config)
    logs.configure(args.log_level)
    logs.set_secrets(config.secrets)
    daemon = Daemon(args.config, config)
    try:
        asyncio.run(daemon.run())
    except StoreUnavailable as exc:
        raise UserError(f"store unavailable: {exc}") from None
    except OSError as exc:
        raise UserError(f"cannot start: {exc.strerror or exc}") from None
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    config = _config(args.config)
    rules = config.rules.rules
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"{args.config}: ok: {len(rules)} rules, {len(config.connectors)} connectors, version {config.version}")
    return 0


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


class Progress:
    """``done/total`` on one rewritten line, only when stderr is a terminal."""

    def __init__(self, what: str, total: int | None = None):
        self.what, self.total, self.done = what, total, 0
        self.shown = sys.stderr.isatty()

    def add(self, count: int) -> None:
        self.done += count
        if self.shown:
            of = f"/{self.total}" if self.total is not None else ""
            print(f"\r{self.what} {self.done}{of}", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.shown:
            print(file=sys.stderr)


def cmd_events(args: argparse.Namespace) -> int:
    flt = _event_filter(args)
    records = asyncio.run(_with_store(args, lambda s: s.list_events(flt, limit=args.limit)))
    if args.json:
        print(json.dumps([r.as_dict() for r in records], indent=2))
        return 0
    rows = [
        (
            r.id,
            _when(r.received_at),
            r.event.trigger,
            f"{r.event.triggerable_type}:{r.event.triggerable_id}",
            r.event.rule_id,
            r.status,
            r.attempts,
            (r.last_error or "")[:60],
        )
        for r in records
    ]
    print(_table(rows, ("id", "received", "trigger", "object", "pp_rule", "status", "tries", "error")))
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
            _when(r.next_attempt_at) if r.status == "pending" else "-",
            (r.last_error or "")[:60],
        )
        for r in records
    ]
    print(_table(rows, ("id", "event", "rule", "connector", "status", "tries", "next", "error")))
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
    config = _config(args.config)
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


def cmd_trigger(args: argparse.Namespace) -> int:
    payload = webhook_body(
        args.trigger, args.id, kind=args.type, rule_id=args.rule_id, tenant_id=args.tenant_id, flat=args.flat
    )
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    if args.key:
        headers[args.header] = verify.sign(args.key, body, args.encoding)
    request = urllib.request.Request(args.url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, text = response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:  # a 4xx/5xx answer is still an answer: show it
        status, text = exc.code, exc.read().decode(errors="replace")
    except (urllib.error.URLError, OSError) as exc:
        raise UserError(f"cannot reach {args.url}: {getattr(exc, 'reason', exc)}") from None
    print(f"{status} {text.strip()}")
    return 0 if status < 300 else 1


def cmd_sandbox(args: argparse.Namespace) -> int:
    from router.demo.sandbox import Sandbox, load_fixtures, serve_sandbox

    sandbox = Sandbox(load_fixtures(args.fixtures), token=args.token, synthesize=args.synthesize)

    async def run() -> None:
        runner = await serve_sandbox(sandbox, args.host, args.port)
        print(
            f"Plug&Pay sandbox API on http://{args.host}:{args.port} "
            f"(orders {', '.join(sandbox.fixtures['orders'])}; subscriptions "
            f"{', '.join(sandbox.fixtures['subscriptions'])}; sellers {', '.join(sandbox.fixtures['sellers'])})",
            flush=True,
        )
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        raise UserError(f"cannot start the sandbox: {exc.strerror or exc}") from None
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from router.demo import run as demo

    try:
        return demo.run(demo.DemoOptions(keep_running=args.keep_running, timeout=args.timeout))
    except demo.DemoError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"cannot start the demo: {exc.strerror or exc}") from None


def cmd_simulate(args: argparse.Namespace) -> int:
    from router import simulate

    config = _config(args.config)
    try:
        print(simulate.run_command(config, args))
    except simulate.SimulateError as exc:
        raise UserError(str(exc)) from None
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    from router import casetest

    config = _config(args.config)
    report = casetest.run_file(config, args.cases)
    print(report.text())
    return 0 if report.ok else 1


# ---------------------------------------------------------------- parsing


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be a positive number")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="plugpay-router", description="Route Plug&Pay webhooks by YAML rules.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(p: argparse.ArgumentParser) -> None:
        p.add_argument("-c", "--config", required=True, help="the YAML config file")

    p = sub.add_parser("serve", help="run the daemon: receive, route and deliver")
    with_config(p)
    p.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("check", help="validate the config and exit")
    with_config(p)
    p.set_defaults(func=cmd_check)

    def with_time(p: argparse.ArgumentParser, what: str) -> None:
        p.add_argument("--since", help=f"{what} at or after this time (2025-03-01, ISO time, epoch) or age (2h)")
        p.add_argument("--until", help=f"{what} before this time or age")

    p = sub.add_parser("events", help="list stored events, newest first")
    with_config(p)
    p.add_argument("--status", choices=EVENT_STATUSES)
    p.add_argument("--trigger", help="only this trigger (Plug&Pay's name, e.g. order_paid)")
    p.add_argument("--triggerable-id", help="only events about this order / subscription / seller id")
    with_time(p, "received")
    p.add_argument("--limit", type=_positive, default=50)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_events)

    def with_delivery_filters(p: argparse.ArgumentParser) -> None:
        p.add_argument("--connector", help="only deliveries through this connector")
        p.add_argument("--rule", help="only deliveries of this rule")
        with_time(p, "created")

    p = sub.add_parser("deliveries", help="list stored deliveries, newest first")
    with_config(p)
    p.add_argument("--status", choices=DELIVERY_STATUSES)
    p.add_argument("--event", type=int, help="only the deliveries of this event")
    with_delivery_filters(p)
    p.add_argument("--limit", type=_positive, default=50)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_deliveries)

    p = sub.add_parser("replay", help="requeue finished deliveries (same request, same delivery key)")
    with_config(p)
    p.add_argument("delivery", nargs="?", type=int, help="a delivery id")
    p.add_argument("--event", type=int, help="the finished deliveries of this event")
    p.add_argument("--dead", action="store_true", help="dead deliveries (narrow with the filters below)")
    with_delivery_filters(p)
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("reroute", help="route an event again with fresh data (replaces its dead deliveries)")
    with_config(p)
    p.add_argument("event_id", type=int)
    p.set_defaults(func=cmd_reroute)

    p = sub.add_parser("purge", help="delete old finished events now (the daemon also does this by itself)")
    with_config(p)
    p.add_argument("--older-than", help="age such as 30d (default: retention.events)")
    p.add_argument("--batch", type=_positive, default=500, help="events deleted per transaction")
    p.set_defaults(func=cmd_purge)

    p = sub.add_parser("simulate", help="show which rules match an event and what they would send; sends nothing")
    with_config(p)
    p.add_argument("trigger", nargs="?", help="a trigger name; with ID, the object is fetched from the API")
    p.add_argument("id", nargs="?", help="the order, subscription or seller id")
    p.add_argument("--event", metavar="EVENT.json", help="a webhook body instead of TRIGGER ID")
    p.add_argument("--data", metavar="DATA.json", help="the object as the API returns it (offline: no API call)")
    p.add_argument("--type", help="triggerable_type for TRIGGER ID (default: implied by the trigger)")
    p.add_argument("--rule-id", help="the Plug&Pay rule id the webhook claims (for source_rules)")
    p.add_argument("--tenant-id", help="the tenant id the webhook claims")
    p.add_argument("--now", help="the time templates see as now (ISO 8601; default: the current time)")
    p.add_argument("--json", action="store_true", help="print JSON for machines")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("test", help="run rule tests: given events and data, check matches and rendered actions")
    with_config(p)
    p.add_argument("cases", metavar="CASES.yaml", help="a YAML list of test cases")
    p.set_defaults(func=cmd_test)

    p = sub.add_parser("trigger", help="send a correctly signed test webhook")
    p.add_argument("trigger", help=f"a trigger name ({', '.join(TRIGGERS)}) or any wire spelling")
    p.add_argument("id", help="the triggerable id (order, subscription or seller id)")
    p.add_argument("--url", required=True, help="the router's webhook URL")
    p.add_argument("--key", help="the webhook key to sign with (omit to send unsigned)")
    p.add_argument("--header", default="X-Signature")
    p.add_argument("--encoding", default="hex", choices=("hex", "base64"))
    p.add_argument("--type", help="triggerable_type (default: implied by the trigger)")
    p.add_argument("--rule-id", type=int, default=1, help="the Plug&Pay rule id to claim (default 1)")
    p.add_argument("--tenant-id", type=int, default=1)
    p.add_argument("--flat", action="store_true", help="send the flat payload instead of nesting under 'event'")
    p.set_defaults(func=cmd_trigger)

    p = sub.add_parser("sandbox", help="run a local Plug&Pay API simulator")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8090)
    p.add_argument("--fixtures", help="a folder with orders.json, subscriptions.json, sellers.json")
    p.add_argument("--token", help="require this Bearer token")
    p.add_argument("--synthesize", action="store_true", help="answer any numeric id with a copy of a fixture")
    p.set_defaults(func=cmd_sandbox)

    p = sub.add_parser(
        "demo", help="run the example shop end to end on this machine: local sandbox, mail and HTTP stand-ins"
    )
    p.add_argument("--keep-running", action="store_true", help="leave everything up and print what to try by hand")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the deliveries (default 60)")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        count = len(exc.problems)
        print(f"{count} problem{'s' if count != 1 else ''} found", file=sys.stderr)
        return 1
    except (UserError, StoreUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
