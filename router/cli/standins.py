"""``standins --port-base N``: the demo's local stand-ins on fixed ports, for trying one's own config.

The Plug&Pay API sandbox, the SMTP catcher, the HTTP sink, and the ActiveCampaign and Moneybird stand-ins
(``router.demo.targets``) listen on N, N+1, ... (in ``PORT_ORDER``), each with fresh credentials that it
requires. Their URLs and credentials are printed, and written to ``--env-file`` as ``VAR=value`` lines named
as config.example.yaml names them (``environment``: also the admin token of the folder ``init`` writes, and
the variables of the README's cookbook, whose extra destinations are paths of the HTTP sink), so a config
reads them with ``${VAR}``. Then every mail and request a stand-in receives is printed on one line until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path

from router.cli.errors import UserError
from router.demo.targets import PORT_ORDER, DemoTargets

POLL_SECONDS = 0.1  # how often the received lists are looked at; printing is all that waits on it


def cmd_standins(args: argparse.Namespace) -> int:
    try:
        asyncio.run(_serve(args.port_base, args.host, args.env_file))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        last = args.port_base + len(PORT_ORDER) - 1
        raise UserError(f"cannot listen on ports {args.port_base}-{last}: {exc.strerror or exc}") from None
    return 0


async def _serve(port_base: int, host: str, env_file: str | None) -> None:
    with tempfile.TemporaryDirectory(prefix="plugpay-router-standins-") as folder:
        targets = await DemoTargets.start(Path(folder), port_base=port_base, host=host)
        try:
            env = environment(targets)
            if env_file:
                write_env_file(Path(env_file), env)
            say("plugpay-router stand-ins (Ctrl-C stops them):")
            for name, url in addresses(targets).items():
                say(f"  {name.ljust(15)} {url}")
            say("Variables" + (f" (written to {env_file}):" if env_file else ":"))
            for key, value in env.items():
                say(f"  {key}={value}")
            say("Waiting for mail and requests ...")
            await follow(targets, stop_on_signals())
        finally:
            await targets.stop()


def environment(targets: DemoTargets) -> dict[str, str]:
    """Every variable of the example shop, the shop folder ``init`` writes and the README's cookbook."""
    sink = targets.sink.url
    return {
        **targets.standin_environment(),
        **targets.tour_environment(),
        "ROUTER_ADMIN_TOKEN": secrets.token_urlsafe(24),
        "DISCORD_WEBHOOK_SECRET": f"{sink}/discord/api/webhooks/{secrets.token_hex(8)}/{secrets.token_urlsafe(16)}",
        "BOOKKEEPING_URL": f"{sink}/boekhouding/api/invoices",
        "BOOKKEEPING_SECRET": secrets.token_urlsafe(24),
    }


def say(text: str) -> None:
    print(text, flush=True)


def addresses(targets: DemoTargets) -> dict[str, str]:
    return {
        "Plug&Pay API": targets.sandbox_url,
        "SMTP": f"smtp://{targets.smtp.host}:{targets.smtp.port}",
        "HTTP sink": targets.sink.url,
        "ActiveCampaign": targets.ac.url,
        "Moneybird": targets.mb.base_url,
        "Mailchimp": targets.mc.base_url,
        "MailerLite": targets.ml.base_url,
        "Laposta": targets.lp.base_url,
        "e-Boekhouden": targets.eb.url,
        "Postmark": targets.pm.url,
        "Slack, Discord": targets.chat.url,
    }


def write_env_file(path: Path, env: dict[str, str]) -> None:
    """``VAR=value`` lines, readable by the owner only (the file holds credentials)."""
    text = "".join(f"{key}={value}\n" for key, value in env.items())
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)


def stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def follow(targets: DemoTargets, stop: asyncio.Event) -> None:
    """Print each new mail and request, one line each, until ``stop`` is set."""
    seen = {name: 0 for name in SOURCES}
    while not stop.is_set():
        for name, lines in SOURCES.items():
            found = lines(targets)
            for line in found[seen[name] :]:
                say(line)
            seen[name] = len(found)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), POLL_SECONDS)
    say("Stopped.")


def _mails(targets: DemoTargets) -> list[str]:
    return [
        f"mail    {m.mail_from} -> {', '.join(m.rcpt_tos)}: {' '.join(str(m.message.get('Subject') or '').split())!r}"
        for m in targets.smtp.received
    ]


def _sink(targets: DemoTargets) -> list[str]:
    lines = []
    for r in targets.sink.requests:
        checked = {True: " (signature ok)", False: " (BAD signature)", None: ""}[r.signed]
        lines.append(f"http    {r.method} {r.path}{checked} {_excerpt(r.body)}")
    return lines


def _excerpt(body: bytes, limit: int = 160) -> str:
    text = body.decode(errors="replace")
    with contextlib.suppress(ValueError):
        text = json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 1] + "…"


SOURCES: dict[str, Callable[[DemoTargets], list[str]]] = {
    "api": lambda t: [f"api     {r.get('method')} {r.get('path')}" for r in t.api.state.requests],
    "mail": _mails,
    "sink": _sink,
    "activecampaign": lambda t: [f"ac      {h.method} {h.path} -> {h.status}" for h in t.ac.hits],
    "moneybird": lambda t: [f"mb      {m} {p}" for m, p, _, _ in t.mb.requests],
}
