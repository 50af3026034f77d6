"""``plugpay-router demo``: the example shop, working end to end on this machine, with no account and no setup.

In one process it starts the Plug&Pay sandbox and a local stand-in for every destination (``DemoTargets``),
points ``config.example.yaml`` at them through its environment variables only (addresses and secrets), runs
the real daemon on a SQLite store in a temporary folder, sends one correctly signed webhook per trigger,
waits until every delivery is delivered or dead (polling the store, with a progress line on a terminal), and
prints where each one went. Exit 0 when everything arrived, 1 otherwise (the folder with the store, the log
and the mails is then kept). ``--keep-running`` leaves it all up, prints what to try by hand and reports
each further delivery until Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TextIO

import aiohttp
import structlog
import yaml

from router import logs
from router.config import Config, load_config
from router.daemon import Daemon
from router.demo.live import Live
from router.demo.ports import PortReservation
from router.demo.report import Row, Screen, build_rows, connector_kinds, render_table
from router.demo.targets import PORT_ORDER, DemoTargets
from router.events import webhook_body, wire_id
from router.inbound import verify
from router.store.base import DeliveryFilter, DeliveryRecord, EventRecord

# One webhook per trigger, about the sandbox's fixtures: orders 1042/1043, subscription 901, sellers 14/15.
WEBHOOKS: tuple[tuple[str, str], ...] = (
    ("order_paid", "1042"),
    ("invoice_created", "1042"),
    ("subscription_ended", "901"),
    ("affiliate_accepted", "14"),
    ("affiliate_denied", "15"),
    ("affiliate_quit", "14"),
)
FIRST_PLUGANDPAY_RULE = 318  # the Plug&Pay rule ids the webhooks claim: 318, 319, ...
TENANT_ID = 42
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")


class DemoError(Exception):
    """The demo could not run; the message says why (exit 1)."""


@dataclass
class DemoOptions:
    keep_running: bool = False
    timeout: float = 60.0  # how long to wait for the deliveries
    port_base: int | None = None  # fixed ports: the stand-ins from here on (PORT_ORDER), then the daemon
    out: TextIO = field(default_factory=lambda: sys.stdout)


@dataclass(frozen=True)
class Fired:
    trigger: str
    ident: str
    status: int
    event_id: int | None
    answer: str


@dataclass(frozen=True)
class DemoRun:
    """Everything one run has started: the daemon with its config, the stand-ins, the screen and Ctrl-C."""

    daemon: Daemon
    config: Config
    config_path: Path
    targets: DemoTargets
    env: dict[str, str]
    screen: Screen
    stop: asyncio.Event

    @property
    def webhook_url(self) -> str:
        server = self.config.server
        return f"http://{server.host}:{server.port}{server.path}"


@contextlib.contextmanager
def example_config() -> Iterator[Path]:
    """The packaged config.example.yaml as a real file (the repository's root file links to it)."""
    ref = resources.files("router").joinpath("examples", "config.example.yaml")
    if not ref.is_file():
        raise DemoError("config.example.yaml is missing from the installed package; reinstall it with pip install .")
    with resources.as_file(ref) as path:
        yield path


def demo_config(folder: Path, example: Path) -> Path:
    """config.example.yaml with the tour of the other connector types (examples/demo.tour.yaml) merged in,
    written to ``folder`` beside a copy of the example's templates."""
    text = resources.files("router").joinpath("examples", "demo.tour.yaml").read_text(encoding="utf-8")
    merged, tour = yaml.safe_load(example.read_text(encoding="utf-8")), yaml.safe_load(text)
    merged["connectors"] = {**merged["connectors"], **tour["connectors"]}
    merged["rules"] = [*merged["rules"], *tour["rules"]]
    shutil.copytree(example.parent / "templates", folder / "templates")
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(merged, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def config_variables(text: str) -> set[str]:
    """The names of every ``${VAR}`` in a config's values (comments do not count)."""
    found: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str):
            found.update(_VARIABLE.findall(node))

    walk(yaml.safe_load(text))
    return found


def run(options: DemoOptions) -> int:
    """Run the demo; returns the exit code. Raises DemoError (or ConfigError) with a readable message."""
    folder = Path(tempfile.mkdtemp(prefix="plugpay-router-demo-"))
    screen = Screen(options.out)
    code = 1
    try:
        with example_config() as example:
            config_path = demo_config(folder, example)
            variables = config_variables(config_path.read_text(encoding="utf-8"))
            code = asyncio.run(_demo(folder, config_path, variables, options, screen))
    except OSError as exc:
        if options.port_base is None:
            raise
        raise DemoError(f"cannot use the ports from {options.port_base} on: {exc.strerror or exc}") from None
    finally:
        if code == 0 or not any(folder.iterdir()):
            shutil.rmtree(folder, ignore_errors=True)
        else:
            screen.say(f"The store, the log (router.log) and the mails are kept in {folder}")
    return code


async def _demo(folder: Path, config_path: Path, variables: set[str], options: DemoOptions, screen: Screen) -> int:
    targets = await DemoTargets.start(folder, port_base=options.port_base)
    reservation = PortReservation()
    try:
        port = reservation.port if options.port_base is None else options.port_base + len(PORT_ORDER)
        env = targets.environment(f"127.0.0.1:{port}", f"sqlite:///{folder / 'router.db'}")
        missing = sorted(variables - set(env))
        if missing:
            raise DemoError(f"config.example.yaml uses variables the demo does not set: {', '.join(missing)}")
        os.environ.update(env)  # the daemon re-reads the file with them on SIGHUP, too
        config = load_config(config_path)
        log_file = _log_to(folder / "router.log", config)
        daemon = Daemon(config_path, config)
        reservation.hand_over()
        try:
            await daemon.start()
        except OSError as exc:
            await daemon.shutdown()
            raise DemoError(f"cannot start the daemon: {exc.strerror or exc}") from None
        demo = DemoRun(daemon, config, config_path, targets, env, screen, _stop_on_signals())
        try:
            return await _show(demo, options)
        finally:
            await daemon.shutdown()
            log_file.close()
    finally:
        reservation.release()
        await targets.stop()


def _log_to(path: Path, config: Config) -> TextIO:
    """The daemon's JSON log (and any library warning) goes to a file, so the terminal stays readable."""
    stream = path.open("a", encoding="utf-8", buffering=1)
    logs.configure("info", json=True)
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(stream))
    logs.set_secrets(config.secrets)
    handler = logging.StreamHandler(stream)
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)
    return stream


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _show(demo: DemoRun, options: DemoOptions) -> int:
    config, screen, env = demo.config, demo.screen, demo.env
    webhook_url = demo.webhook_url
    screen.say("plugpay-router demo: the example shop, end to end on this machine")
    screen.say(f"  config  {demo.config_path} ({len(config.rules.rules)} rules, {len(config.connectors)} connectors)")
    screen.say(f"  daemon  {webhook_url}, store {env['ROUTER_STORE_URL']}")
    screen.say("  local   Plug&Pay sandbox, SMTP catcher, HTTP sink (course platform, Slack), and stand-ins for")
    screen.say("          ActiveCampaign, Moneybird, Mailchimp, MailerLite, Laposta, e-Boekhouden, Postmark,")
    screen.say("          Slack and Discord")
    screen.say()
    screen.say("Sending one signed webhook per trigger:")
    started = time.monotonic()
    fired = await _fire_all(config, webhook_url, env["PLUGANDPAY_WEBHOOK_KEY"], screen)
    events, deliveries = await _wait(demo, fired, options.timeout)
    if demo.stop.is_set():
        screen.say("Interrupted.")
        return 130
    rows = _rows(fired, events, deliveries, config, demo.targets)
    screen.say()
    screen.say(render_table(rows, screen.width))
    screen.say()
    code = _verdict(fired, rows, time.monotonic() - started, screen)
    if options.keep_running:
        live = Live(demo.daemon.store, config, demo.targets, screen)
        live.print_try_it(webhook_url, demo.config_path, env)
        await live.follow(demo.stop, done={e.id for e in events})
    return code


async def _fire_all(config: Config, url: str, key: str, screen: Screen) -> list[Fired]:
    fired = []
    sig = config.plugandpay.signature
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        for number, (trigger, ident) in enumerate(WEBHOOKS):
            payload = webhook_body(
                trigger,
                wire_id(ident),
                kind=None,
                rule_id=FIRST_PLUGANDPAY_RULE + number,
                tenant_id=TENANT_ID,
                flat=False,
            )
            body = json.dumps(payload).encode()
            headers = {"Content-Type": "application/json", sig.header: verify.sign(key, body, sig.encoding)}
            async with session.post(url, data=body, headers=headers) as response:
                answer = (await response.text()).strip()
            event_id = None
            with contextlib.suppress(ValueError, AttributeError):
                event_id = int(json.loads(answer)["event_id"]) if response.status < 300 else None
            fired.append(Fired(trigger, ident, response.status, event_id, answer))
            screen.say(f"  {trigger} {ident}".ljust(28) + f"{response.status} {answer}")
    return fired


async def _wait(demo: DemoRun, fired: list[Fired], patience: float) -> tuple[list[EventRecord], list[DeliveryRecord]]:
    """Poll the store until every event is routed (or failed) and every delivery delivered or dead."""
    store, screen, stop = demo.daemon.store, demo.screen, demo.stop
    ids = [f.event_id for f in fired if f.event_id is not None]
    begun = time.monotonic()
    events: list[EventRecord] = []
    deliveries: list[DeliveryRecord] = []
    if not screen.tty:
        screen.say("Waiting for the deliveries ...")
    while True:
        events = [e for e in [await store.get_event(i) for i in ids] if e is not None]
        deliveries = []
        for event_id in ids:
            deliveries += await store.list_deliveries(DeliveryFilter(event_id=event_id), limit=10_000)
        routing = sum(e.status == "pending" for e in events)
        pending = sum(d.status == "pending" for d in deliveries)
        finished = len(deliveries) - pending
        dead = sum(d.status == "dead" for d in deliveries)
        state = f"{finished} of {len(deliveries)} deliveries done ({dead} dead)"
        if routing:
            state += f", {routing} events still being routed"
        waited = time.monotonic() - begun
        if (not routing and not pending) or waited > patience or stop.is_set():
            screen.end_progress(f"Waited {waited:.1f} s: {state}.")
            return events, deliveries
        screen.progress(f"Waiting: {state} ...")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.1)


def _rows(
    fired: list[Fired],
    events: list[EventRecord],
    deliveries: list[DeliveryRecord],
    config: Config,
    targets: DemoTargets,
) -> list[Row]:
    by_id = {e.id: e for e in events}
    arrivals = targets.arrivals()
    rows: list[Row] = []
    for shot in fired:
        event = by_id.get(shot.event_id) if shot.event_id is not None else None
        if event is None:
            rows.append(Row(f"{shot.trigger} {shot.ident}", "-", "-", "rejected", f"HTTP {shot.status} {shot.answer}"))
            continue
        rows += build_rows([event], deliveries, connector_kinds(config), arrivals)
    return rows


def _verdict(fired: list[Fired], rows: list[Row], seconds: float, screen: Screen) -> int:
    delivered = sum(r.outcome == "delivered" for r in rows)
    triggers = {r.trigger for r in rows if r.outcome == "delivered"}
    failing = [r for r in rows if r.outcome != "delivered"]
    if not failing and len(triggers) == len(fired):
        screen.say(f"All {delivered} deliveries of {len(fired)} webhooks arrived, in {seconds:.1f} s.")
        return 0
    screen.say(
        f"error: {len(failing)} of {len(rows)} rows did not arrive ({', '.join(sorted({r.outcome for r in failing}))});"
        " the table says why, the log has every attempt."
    )
    return 1
