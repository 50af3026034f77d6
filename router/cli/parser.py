"""The argparse tree of ``plugpay-router``: every command, its arguments and help, and the function it runs.

Every option has a help text, and its default is shown (``Formatter``); every command has a description.
A usage error names the command it is about (``parse``): argparse would print the top level's usage for an
unknown option after a command.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from router import __version__
from router.cli.alerts import cmd_alerts_test
from router.cli.check import cmd_check
from router.cli.doctor import cmd_doctor
from router.cli.init import cmd_init
from router.cli.quarantine import cmd_quarantine_list, cmd_quarantine_release
from router.cli.reconcile import cmd_reconcile
from router.cli.service import cmd_serve
from router.cli.shop import cmd_backfill, cmd_connect
from router.cli.standins import cmd_standins
from router.cli.store_commands import cmd_deliveries, cmd_events, cmd_purge, cmd_replay, cmd_reroute
from router.cli.tools import cmd_demo, cmd_sandbox, cmd_simulate, cmd_test, cmd_trigger
from router.cli.trace import cmd_trace
from router.events import TRIGGERS, wire_id
from router.store.base import DELIVERY_STATUSES, EVENT_STATUSES


def _port_base(text: str) -> int:
    value = int(text)
    if not 1024 <= value <= 65000:
        raise argparse.ArgumentTypeError("must be a port from 1024 to 65000")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be a positive number")
    return value


class Formatter(argparse.HelpFormatter):
    """Shows each option's default after its help, unless there is none to show."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "%(default)" in text or "default" in text or default in (None, False, argparse.SUPPRESS):
            return text
        if action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
            return f"{text} (default: %(default)s)"
        return text


class _Commands(argparse._SubParsersAction):  # type: ignore[type-arg]
    """Every command gets the formatter, its help line as its description, and knows its own parser."""

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        kwargs.setdefault("formatter_class", Formatter)
        kwargs.setdefault("description", kwargs.get("help"))
        parser: argparse.ArgumentParser = super().add_parser(name, **kwargs)
        parser.set_defaults(command_parser=parser)  # for usage errors found after parsing (``parse``)
        return parser


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The parsed arguments; a usage error prints the usage of the command it is about, and exits with 2."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        command: argparse.ArgumentParser = args.command_parser
        command.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="plugpay-router", description="Route Plug&Pay webhooks by YAML rules.", formatter_class=Formatter
    )
    parser.add_argument("--version", action="version", version=f"plugpay-router {__version__}")
    parser.register("action", "parsers", _Commands)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(p: argparse.ArgumentParser) -> None:
        p.add_argument("-c", "--config", required=True, help="the YAML config file")
        with_shop(p)

    def with_shop(p: argparse.ArgumentParser) -> None:
        p.add_argument("--shop", metavar="NAME", help="the shop, in a config with shops: (its name there)")

    def with_store(p: argparse.ArgumentParser) -> None:
        """Commands that only read or change the store: a config file (its store section) or a store URL."""
        source = p.add_mutually_exclusive_group(required=True)
        source.add_argument("-c", "--config", help="the YAML config file (only store and retention are read)")
        source.add_argument("--store", metavar="URL", help="the store URL instead of a config file")
        with_shop(p)

    p = sub.add_parser("serve", help="run the daemon: receive, route and deliver")
    with_config(p)
    p.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"), help="log detail")
    p.add_argument(
        "--log-format",
        choices=("json", "console"),
        help="JSON lines, or lines for people (default: console on a terminal, JSON otherwise)",
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("init", help="write a working shop folder: config, its templates, an env file, rule tests")
    p.add_argument("folder", metavar="DIR", help="the folder to write (created; files already there are kept)")
    p.add_argument("--systemd", action="store_true", help="also write the systemd unit for this folder")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("check", help="validate the config and exit; --render also renders every rule on sample data")
    with_config(p)
    p.add_argument("--render", action="store_true", help="render every rule's actions on sample objects")
    p.add_argument("--offline", action="store_true", help="check the file without the environment's secrets (for CI)")
    p.add_argument(
        "--data",
        metavar="DIR",
        help='render on recorded objects: DIR/orders.json ({"1042": {...}}) or DIR/orders/1042.json,'
        " likewise subscriptions and sellers (default: the sandbox's fixtures)",
    )
    p.add_argument("--live", action="store_true", help="render on the newest objects of the configured API (GETs only)")
    p.add_argument("--limit", type=_positive, default=3, help="objects of each kind fetched with --live")
    p.set_defaults(func=cmd_check)

    def with_time(p: argparse.ArgumentParser, what: str) -> None:
        p.add_argument("--since", help=f"{what} at or after this time (2025-03-01, ISO time, epoch) or age (2h)")
        p.add_argument("--until", help=f"{what} before this time or age")

    p = sub.add_parser("events", help="list stored events, newest first")
    with_store(p)
    p.add_argument("--status", choices=EVENT_STATUSES, help="only events in this state")
    p.add_argument("--trigger", help="only this trigger (Plug&Pay's name, e.g. order_paid)")
    p.add_argument("--triggerable-id", help="only events about this order / subscription / seller id")
    p.add_argument("--source", help="only events from this source: v2, v1 (webhooks), reconcile, backfill")
    with_time(p, "received")
    p.add_argument("--limit", type=_positive, default=50, help="at most this many")
    p.add_argument("--json", action="store_true", help="print JSON for machines")
    p.add_argument("--wide", action="store_true", help="errors whole, not cut to the column")
    p.set_defaults(func=cmd_events)

    def with_delivery_filters(p: argparse.ArgumentParser) -> None:
        p.add_argument("--connector", help="only deliveries through this connector")
        p.add_argument("--rule", help="only deliveries of this rule")
        with_time(p, "created")

    p = sub.add_parser("deliveries", help="list stored deliveries, newest first")
    with_store(p)
    p.add_argument("--status", choices=DELIVERY_STATUSES, help="only deliveries in this state")
    p.add_argument("--event", type=int, help="only the deliveries of this event")
    p.add_argument("--trigger", help="only deliveries of events of this trigger")
    p.add_argument("--triggerable-id", help="only deliveries about this order / subscription / seller id")
    with_delivery_filters(p)
    p.add_argument("--limit", type=_positive, default=50, help="at most this many")
    p.add_argument("--json", action="store_true", help="print JSON for machines")
    p.add_argument("--wide", action="store_true", help="errors whole, not cut to the column")
    p.set_defaults(func=cmd_deliveries)

    p = sub.add_parser("trace", help="everything that happened to one order, subscription or affiliate")
    with_store(p)
    p.add_argument("kind", nargs="?", metavar="order|subscription|affiliate")
    p.add_argument("id", nargs="?", help="the order, subscription or seller id")
    p.add_argument("--event", type=int, help="trace this one event instead")
    p.add_argument("--json", action="store_true")
    p.add_argument("--wide", action="store_true", help="rendered requests and errors whole")
    p.set_defaults(func=cmd_trace)

    p = sub.add_parser("replay", help="requeue finished deliveries (same request, same delivery key)")
    with_store(p)
    p.add_argument("delivery", nargs="?", type=int, help="a delivery id")
    p.add_argument("--event", type=int, help="the finished deliveries of this event")
    p.add_argument("--dead", action="store_true", help="dead deliveries (narrow with the filters below)")
    p.add_argument(
        "--again", action="store_true", help="also deliveries already delivered: send them again (a second mail)"
    )
    with_delivery_filters(p)
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("reroute", help="route an event again with fresh data (replaces its dead deliveries)")
    with_store(p)
    p.add_argument("event_id", type=int, help="the stored event's id (see the events command)")
    p.set_defaults(func=cmd_reroute)

    p = sub.add_parser("purge", help="delete old finished events now (the daemon also does this by itself)")
    with_store(p)
    p.add_argument("--older-than", help="age such as 30d (default: retention.events)")
    p.add_argument("--batch", type=_positive, default=500, help="events deleted per transaction")
    p.set_defaults(func=cmd_purge)

    p = sub.add_parser("alerts", help="the alerts of the config: test sends one test alert through every channel")
    alerts = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    q = alerts.add_parser("test", help="send a test alert through every channel of alerts: and show each answer")
    with_config(q)
    q.set_defaults(func=cmd_alerts_test)

    p = sub.add_parser("quarantine", help="webhooks that failed verification, kept: list them, or release them")
    quarantine = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    q = quarantine.add_parser("list", help="show the kept webhooks and whether they verify with the current settings")
    with_config(q)
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_quarantine_list)
    q = quarantine.add_parser("release", help="verify each kept webhook again; store those that now pass")
    with_config(q)
    q.add_argument(
        "--unsigned",
        action="store_true",
        help="with plugandpay.allow_unsigned: true, admit every kept webhook without a signature (on purpose)",
    )
    q.set_defaults(func=cmd_quarantine_release)

    p = sub.add_parser("doctor", help="check the API token, includes, webhook key and public URL")
    with_config(p)
    p.add_argument("--url", help="the public webhook URL Plug&Pay posts to (a signed self-test is sent)")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("backfill", help="run rules over past objects listed from the Plug&Pay API")
    with_config(p)
    p.add_argument("--trigger", required=True, help="order_paid, invoice_created, subscription_ended, ...")
    p.add_argument("--since", required=True, help="objects whose state began at or after this time (or age)")
    p.add_argument("--until", help="... and before this time (default: now)")
    p.add_argument("--rule", action="append", metavar="NAME", help="run only this rule (repeatable; default: all)")
    p.add_argument("--dry-run", action="store_true", help="count only (the default without --yes)")
    p.add_argument("--yes", action="store_true", help="store the events")
    p.set_defaults(func=cmd_backfill)

    p = sub.add_parser(
        "reconcile", help="one reconcile pass now: store the events whose webhook never came, as the daemon would"
    )
    with_config(p)
    p.add_argument(
        "--dry-run", action="store_true", help="list and tell what would be stored; store nothing, keep the watermarks"
    )
    p.set_defaults(func=cmd_reconcile)

    p = sub.add_parser("connect", help="plan (and create) the shop's Webhook V2 rules the YAML needs")
    with_config(p)
    p.add_argument("--url", required=True, help="the router's public webhook URL")
    p.add_argument("--apply", action="store_true", help="create the missing rules")
    p.add_argument("--prune", action="store_true", help="delete our rules calling the URL that are not needed")
    p.add_argument("--wire", action="append", metavar="TRIGGER=NAME", help="the trigger_type to create a rule with")
    p.set_defaults(func=cmd_connect)

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
    p.add_argument("id", type=wire_id, help="the triggerable id (order, subscription or seller id)")
    p.add_argument(
        "-c",
        "--config",
        help="take the tenant from this config's API (its token), and by default its webhook key and URL",
    )
    with_shop(p)
    p.add_argument("--url", help="the router's webhook URL (default with -c: server.listen and server.path)")
    p.add_argument("--key", help="the webhook key to sign with (default with -c: the config's; omit to send unsigned)")
    p.add_argument("--header", default="X-Signature", help="the signature header")
    p.add_argument("--encoding", default="hex", choices=("hex", "base64"), help="how the signature is written")
    p.add_argument("--type", help="triggerable_type (default: implied by the trigger)")
    p.add_argument("--rule-id", type=int, default=1, help="the Plug&Pay rule id to claim")
    p.add_argument(
        "--tenant-id", type=int, help="the tenant id to claim (default: the API's tenant with -c, else none)"
    )
    p.add_argument("--flat", action="store_true", help="send the flat payload instead of nesting under 'event'")
    p.set_defaults(func=cmd_trigger)

    p = sub.add_parser("sandbox", help="run a local Plug&Pay API simulator")
    p.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    p.add_argument("--port", type=int, default=8090, help="the port to listen on")
    p.add_argument("--fixtures", help="a folder with orders.json, subscriptions.json, sellers.json")
    p.add_argument("--token", help="require this Bearer token")
    p.add_argument(
        "--synthesize",
        nargs="?",
        type=int,
        const=0,
        metavar="N",
        help="answer any numeric id with a copy of a fixture; with N, also add N orders paid over the past 30 days",
    )
    p.add_argument(
        "--reject-include", action="append", metavar="NAME", help="answer requests for this include with a 400"
    )
    p.set_defaults(func=cmd_sandbox)

    p = sub.add_parser(
        "demo", help="run the example shop end to end on this machine: local sandbox, mail and HTTP stand-ins"
    )
    p.add_argument("--keep-running", action="store_true", help="leave everything up and print what to try by hand")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the deliveries")
    p.add_argument("--port-base", type=_port_base, help="fixed ports from N on for the stand-ins (default: free ones)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "standins",
        help="run every local stand-in (Plug&Pay API, SMTP, HTTP sink, ActiveCampaign, Moneybird) on fixed ports",
    )
    p.add_argument("--port-base", type=_port_base, required=True, help="the first port; the others follow it")
    p.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    p.add_argument("--env-file", metavar="FILE", help="write the stand-ins' URLs and tokens here as VAR=value lines")
    p.set_defaults(func=cmd_standins)
    return parser
