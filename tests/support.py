"""Test support: real local servers (Plug&Pay sandbox, an HTTP sink) and the daemon as a subprocess.

Nothing here patches a client. The sink records every request and lets a test await "N requests have
arrived" instead of sleeping; its answers can be scripted (status codes, Retry-After, delays). The
daemon runs as ``python -m router serve`` with a config written to a temporary folder, so signals,
crashes and restarts are real.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

from router import verify
from router.demo.sandbox import Sandbox, load_fixtures, make_app

WEBHOOK_KEY = "test-webhook-key-4f9a"
# Every daemon process a test started; conftest kills the ones still running when the test ends.
STARTED: list[subprocess.Popen[bytes]] = []
API_TOKEN = "test-api-token-7c2e"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_until(predicate: Callable[[], Awaitable[bool]], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``predicate`` (for state only visible by asking, such as the store) until true or fail."""
    deadline = time.monotonic() + timeout
    while True:
        if await predicate():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


async def serve_app(app: web.Application) -> tuple[web.AppRunner, str]:
    """Serve ``app`` on a free port of 127.0.0.1; the runner (to clean up) and the base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class Sink:
    """An HTTP destination on 127.0.0.1 that records requests and answers as scripted."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.replies: list[Reply] = []  # consumed first; then ``default``
        self.default = Reply(200, {"ok": True})
        self._changed = asyncio.Condition()
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> Sink:
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._handle)
        self._runner, self.url = await serve_app(app)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        reply = self.replies.pop(0) if self.replies else self.default
        if reply.delay:
            await asyncio.sleep(reply.delay)
        async with self._changed:
            self.requests.append(Recorded(request.method, request.path_qs, dict(request.headers), body))
            self._changed.notify_all()
        return web.json_response(
            reply.body if reply.body is not None else {}, status=reply.status, headers=reply.headers
        )

    async def wait_for(self, count: int, timeout: float = 10.0, path: str | None = None) -> list[Recorded]:
        """Wait until at least ``count`` requests (to ``path``, if given) have arrived."""

        def matching() -> list[Recorded]:
            return [r for r in self.requests if path is None or r.path.split("?")[0] == path]

        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: len(matching()) >= count), timeout)
            except TimeoutError:
                raise AssertionError(f"sink got {len(matching())} requests, expected {count}") from None
        return matching()


class SandboxServer:
    """The Plug&Pay API simulator (router.demo.sandbox) on a free port."""

    def __init__(self, *, token: str | None = API_TOKEN, synthesize: bool = False):
        self.state = Sandbox(load_fixtures(), token=token, synthesize=synthesize)
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> SandboxServer:
        self._runner, self.url = await serve_app(make_app(self.state))
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def fail(self, path: str, status: int, *, times: int = 1, retry_after: str | None = None) -> None:
        from router.demo.sandbox import Fault

        self.state.faults.setdefault(path, []).append(Fault(status, times, retry_after))


def webhook_body(
    trigger: str = "order_paid",
    ident: int | str = 1042,
    *,
    kind: str | None = "order",
    rule_id: int | None = 318,
    tenant_id: int | None = 42,
    nested: bool = True,
) -> bytes:
    event: dict[str, Any] = {"trigger_type": trigger, "triggerable_id": ident}
    if kind is not None:
        event["triggerable_type"] = kind
    envelope = {"rule_id": rule_id, "tenant_id": tenant_id, "sent_at": "2025-03-14T09:13:41.000000Z"}
    payload = {"event": event, **envelope} if nested else {**event, **envelope}
    return json.dumps(payload).encode()


def signed_headers(body: bytes, key: str = WEBHOOK_KEY) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Signature": verify.sign(key, body)}


def base_config(
    *,
    api_url: str,
    sink_url: str,
    db: Path,
    port: int,
    schedule: str = "[0.2s, 0.4s]",
    extra_rules: str = "",
    key: str | None = WEBHOOK_KEY,
) -> str:
    key_line = f'  webhook_key: "{key}"\n' if key else "  allow_unsigned: true\n"
    return f"""version: 1
server: {{listen: "127.0.0.1:{port}", path: /webhooks/plugandpay, max_body_bytes: 4096}}
plugandpay:
  api_url: {api_url}
  api_token: "${{PLUGANDPAY_API_TOKEN}}"
{key_line}  retry: [0.2s, 0.5s]
store: {{url: "sqlite:///{db}"}}
delivery: {{schedule: {schedule}, timeout: 3s, concurrency: 8}}
connectors:
  sink: {{type: http, base_url: "{sink_url}"}}
rules:
  - name: welcome
    trigger: order_paid
    actions:
      - connector: sink
        path: /welcome
        json: {{email: "{{{{ order.billing.contact.email }}}}", invoice: "{{{{ order.invoice_number }}}}"}}
{extra_rules}"""


class DaemonProcess:
    """``python -m router serve -c FILE`` in a subprocess, with its log in a file."""

    def __init__(self, config_path: Path, port: int, env: dict[str, str] | None = None):
        self.config_path = config_path
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.webhook_url = f"{self.url}/webhooks/plugandpay"
        self.log_path = config_path.with_suffix(".log")
        self.env = {**os.environ, "PLUGANDPAY_API_TOKEN": API_TOKEN, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15.0) -> DaemonProcess:
        log = self.log_path.open("ab")
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

    async def post(self, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
        async with httpx.AsyncClient(timeout=10) as client:
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
