"""Test support: the daemon as a subprocess, its config, ports for it, and signed webhooks to send it.

Nothing here patches a client: the destinations and the Plug&Pay API are the stand-ins of ``router.demo``
(``HttpSink`` records every request and lets a test await "N requests have arrived" instead of sleeping, and
its answers can be scripted; ``SandboxServer`` is the API simulator). The daemon runs as ``python -m router
serve`` with a config written to a temporary folder, so signals, crashes and restarts are real.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

from router import events
from router.demo.ports import PortReservation
from router.demo.sandbox import Sandbox, SandboxServer, load_fixtures
from router.inbound import verify

WEBHOOK_KEY = "test-webhook-key-4f9a"
# Every daemon process a test started; conftest kills the ones still running when the test ends.
STARTED: list[subprocess.Popen[bytes]] = []
# Every port a test reserved, by number; conftest releases them when the test ends.
RESERVED: dict[int, PortReservation] = {}
API_TOKEN = "test-api-token-7c2e"
SENT_AT = "2025-03-14T09:13:41.000000Z"  # a fixed sent_at, so a test's webhook bodies are reproducible


def reserved_port() -> int:
    """A free port of 127.0.0.1 for a server in another process (or one that is not listening on purpose),
    held until the test ends so that restarts find it free too (see ``router.demo.ports``)."""
    reservation = PortReservation()
    RESERVED[reservation.port] = reservation
    return reservation.port


def hand_over(port: int) -> None:
    """Call just before a server binds a reserved port (a no-op where it can bind while the port is held)."""
    reservation = RESERVED.get(port)
    if reservation is not None:
        reservation.hand_over()


async def wait_until(predicate: Callable[[], Awaitable[bool]], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``predicate`` (for state only visible by asking, such as the store) until true or fail."""
    deadline = time.monotonic() + timeout
    while True:
        if await predicate():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


def sandbox_server(*, synthesize: bool = False) -> SandboxServer:
    """The Plug&Pay API simulator with the packaged fixtures, requiring ``API_TOKEN`` (not started)."""
    return SandboxServer(Sandbox(load_fixtures(), token=API_TOKEN, synthesize=synthesize))


def webhook_body(
    trigger: str = "order_paid",
    ident: int | str = 1042,
    *,
    rule_id: int | None = 318,
    tenant_id: int | None = 42,
    nested: bool = True,
) -> bytes:
    """The bytes of a Webhooks V2 body (``router.events.webhook_body``) about an order, sent now (old is stale)."""
    payload = events.webhook_body(
        trigger, ident, kind="order", rule_id=rule_id, tenant_id=tenant_id, flat=not nested, sent_at=True
    )
    return json.dumps(payload).encode()


def signed_headers(body: bytes, key: str = WEBHOOK_KEY) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Signature": verify.sign(key, body)}


def welcome_rule(json_fields: Mapping[str, str], *, more_actions: str = "") -> str:
    """The ``rules:`` section the test configs share: each paid order is posted to the ``sink`` connector's
    ``/welcome`` as JSON, one field per Jinja expression over the fetched order; ``more_actions`` are YAML
    list items appended to the rule's actions."""
    fields = ", ".join(f'{name}: "{{{{ {expression} }}}}"' for name, expression in json_fields.items())
    return f"""rules:
  - name: welcome
    trigger: order_paid
    actions:
      - connector: sink
        path: /welcome
        json: {{{fields}}}
{more_actions}"""


def base_config(
    *,
    api_url: str,
    sink_url: str,
    db: Path,
    port: int,
    schedule: str = "[0.2s, 0.4s]",
    extra_rules: str = "",
    key: str | None = WEBHOOK_KEY,
    admin_port: int | None = None,
) -> str:
    key_line = f'  webhook_key: "{key}"\n' if key else "  allow_unsigned: true\n"
    admin = f'admin: {{listen: "127.0.0.1:{admin_port}"}}\n' if admin_port else ""
    return f"""version: 1
server: {{listen: "127.0.0.1:{port}", path: /webhooks/plugandpay, max_body_bytes: 4096}}
{admin}plugandpay:
  api_url: {api_url}
  api_token: "${{PLUGANDPAY_API_TOKEN}}"
{key_line}  retry: [0.2s, 0.5s]
store: {{url: "sqlite:///{db}"}}
delivery: {{schedule: {schedule}, timeout: 3s, concurrency: 8}}
connectors:
  sink: {{type: http, base_url: "{sink_url}"}}
{welcome_rule({"email": "order.billing.contact.email", "invoice": "order.invoice_number"})}{extra_rules}"""


def offline_config(folder: Path, key: str | None = WEBHOOK_KEY) -> str:
    """The base config with every address on port 9, where nothing answers: for ``check`` and ``serve`` runs
    that stop before they listen or fetch."""
    return base_config(api_url="http://127.0.0.1:9", sink_url="http://127.0.0.1:9", db=folder / "r.db", port=9, key=key)


def config_file(folder: Path, text: str, name: str = "shop.yaml") -> Path:
    """``text`` written to ``folder/name``: the path to give ``-c``."""
    path = folder / name
    path.write_text(text)
    return path


class DaemonProcess:
    """``python -m router serve -c FILE`` in a subprocess, with its log in a file."""

    def __init__(self, config_path: Path, port: int, env: dict[str, str] | None = None):
        self.config_path = config_path
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.webhook_url = f"{self.url}/webhooks/plugandpay"
        self.admin_url: str | None = None  # the admin listener (/api, /ui, /metrics), where the test set one
        self.log_path = config_path.with_suffix(".log")
        self.env = {**os.environ, "PLUGANDPAY_API_TOKEN": API_TOKEN, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15.0) -> DaemonProcess:
        log = self.log_path.open("ab")
        hand_over(self.port)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "router", "serve", "-c", str(self.config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
        )
        STARTED.append(self.proc)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited with {self.proc.returncode}:\n{self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=0.5).status_code == 200:
                    return self
            time.sleep(0.05)
        raise AssertionError(f"daemon did not start:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_events(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log().splitlines():
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
        return out

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        assert self.proc is not None
        self.proc.wait(10)

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    async def post(
        self, body: bytes, headers: dict[str, str] | None = None, *, timeout: float = 10.0
    ) -> httpx.Response:
        async with httpx.AsyncClient(timeout=timeout) as client:
            return await client.post(
                self.webhook_url, content=body, headers=signed_headers(body) if headers is None else headers
            )

    async def wait_log(self, event: str, timeout: float = 10.0, **fields: Any) -> dict[str, Any]:
        """Wait for a log line with this ``event`` text (and fields); the daemon's log is its event stream."""
        found: dict[str, Any] = {}

        async def seen() -> bool:
            for line in self.log_events():
                if line.get("event") == event and all(line.get(k) == v for k, v in fields.items()):
                    found.update(line)
                    return True
            return False

        await wait_until(seen, timeout, f"log line {event!r} {fields or ''}")
        return found


async def stored(db: Path) -> tuple[list[Any], list[Any]]:
    """Every event and delivery in a SQLite store file, read the way the CLI reads it."""
    from router.store.sqlite import SqliteStore

    store = SqliteStore(db)
    await store.open()
    try:
        events = await store.list_events(limit=100_000)
        deliveries = await store.list_deliveries(limit=100_000)
    finally:
        await store.close()
    return events, deliveries


def free_port_base(count: int) -> int:
    """A first port from which ``count`` ports are free right now, for a command that binds a fixed range
    (``standins --port-base``, ``demo --port-base``) next."""
    # Below the kernel's ephemeral range: every bind(0) and outgoing connection of the other test workers takes
    # its port from that range, so a base inside it can be taken between this check and the command's bind.
    ephemeral_low = _ephemeral_range_start()
    for _ in range(50):
        base = random.randrange(10000, ephemeral_low - count)
        sockets = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise AssertionError("no free range of ports")


def _ephemeral_range_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default, and the start of IANA's dynamic range is higher still
