"""The template tests against a real daemon: ``RawSink``, a destination that records each request's path
exactly as sent, and a daemon whose ``dest`` connector posts under that destination's ``/api``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from router.demo.standins import serve_app
from tests.support import WEBHOOK_KEY, DaemonProcess, stored, wait_until


@dataclass
class RawSink:
    """An HTTP destination that records each request's path exactly as sent (still percent-encoded)."""

    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> RawSink:
        async def record(request: web.Request) -> web.Response:
            self.requests.append((request.raw_path.split("?")[0], dict(request.query)))
            return web.json_response({"ok": True})

        app = web.Application()
        app.router.add_route("*", "/{path:.*}", record)
        self._runner, self.url = await serve_app(app)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def dest_config(port: int, db: Path, api_url: str, sink_url: str, rules: str, delivery: str = "") -> str:
    """A daemon config whose ``dest`` connector posts under ``/api`` of ``sink_url``, with these ``rules:``."""
    return f"""version: 1
server: {{listen: "127.0.0.1:{port}", path: /webhooks/plugandpay}}
plugandpay: {{api_url: "{api_url}", api_token: "${{PLUGANDPAY_API_TOKEN}}", webhook_key: "{WEBHOOK_KEY}"}}
store: {{url: "sqlite:///{db}"}}
delivery: {{schedule: [0.2s], timeout: 3s{delivery}}}
connectors:
  dest: {{type: http, base_url: "{sink_url}/api"}}
rules:
{rules}"""


def make_daemon(daemon_factory: Callable[..., DaemonProcess], text: Callable[[int], str]) -> DaemonProcess:
    """A daemon whose config needs its own port (``daemon_factory`` picks one when given no text)."""
    probe = daemon_factory("")
    probe.config_path.write_text(text(probe.port))
    return probe.start()


async def settled(db: Path, count: int) -> list[Any]:
    """The deliveries, once there are ``count`` of them and each is delivered or dead."""
    deliveries: list[Any] = []

    async def done() -> bool:
        nonlocal deliveries
        _, deliveries = await stored(db)
        return len(deliveries) >= count and all(d.status in ("delivered", "dead") for d in deliveries)

    await wait_until(done, 20, f"{count} deliveries delivered or dead")
    return deliveries
