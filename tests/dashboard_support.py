"""A daemon with the dashboard on for tests: one delivered and one dead delivery, and a customer name that is
an HTML injection attempt, so pages have something real to show; ``add_failed_event`` adds an event whose
order the API does not know (failed), and ``login``/``csrf_of`` drive the pages over plain HTTP."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from router.demo.sandbox import SandboxServer
from router.demo.standins.sink import HttpSink, Reply
from tests.admin_support import admin_listen
from tests.support import WEBHOOK_KEY, DaemonProcess, reserved_port, webhook_body, welcome_rule

ADMIN_TOKEN = "dashboard-token-5b7e1c"
HOSTILE_NAME = "<img src=x onerror=alert(1)>"
DEAD_ERROR = "unknown course"
UNKNOWN_ORDER = 4040  # the sandbox has no such order: its event fails (404)


@dataclass
class Shop:
    daemon: DaemonProcess
    admin_url: str
    delivered_event: int
    dead_event: int


def dashboard_config(*, api_url: str, sink_url: str, db: Path, port: int, listen: str) -> str:
    rule = welcome_rule({"email": "order.billing.contact.email", "name": "order.billing.contact.firstname"})
    return f"""version: 1
server: {{listen: "127.0.0.1:{port}", path: /webhooks/plugandpay}}
admin: {{token: "{ADMIN_TOKEN}", listen: "{listen}"}}
plugandpay:
  api_url: {api_url}
  api_token: "${{PLUGANDPAY_API_TOKEN}}"
  webhook_key: "{WEBHOOK_KEY}"
  retry: [0.2s]
store: {{url: "sqlite:///{db}"}}
delivery: {{schedule: [0.2s], timeout: 3s, concurrency: 4}}
connectors:
  sink: {{type: http, base_url: "{sink_url}"}}
{rule}"""


async def shop_with_history(
    daemon_factory: Callable[..., DaemonProcess],
    sandbox: SandboxServer,
    sink: HttpSink,
    tmp_path: Path,
    *,
    dead_error: str = DEAD_ERROR,
) -> Shop:
    """Order 1042 delivered; order 1043 (whose customer is called ``HOSTILE_NAME``) dead after a 400 whose
    body says ``dead_error``."""
    sandbox.state.fixtures["orders"]["1043"]["billing"]["contact"]["firstname"] = HOSTILE_NAME
    port = reserved_port()
    listen, admin_url = admin_listen()
    text = dashboard_config(api_url=sandbox.url, sink_url=sink.url, db=tmp_path / "router.db", port=port, listen=listen)
    made = daemon_factory(text)
    daemon = DaemonProcess(made.config_path, port, made.env).start()
    daemon.admin_url = admin_url
    delivered = (await daemon.post(webhook_body(ident=1042))).json()["event_id"]
    await sink.wait_for(1)
    await daemon.wait_log("delivered", event_id=delivered)
    sink.replies = [Reply(400, {"error": dead_error})]
    dead = (await daemon.post(webhook_body(ident=1043))).json()["event_id"]
    await daemon.wait_log("delivery dead", event_id=dead)
    return Shop(daemon, admin_url, delivered, dead)


async def add_failed_event(shop: Shop) -> int:
    """An event about an order the Plug&Pay API does not know: it fails (404); its id."""
    failed = (await shop.daemon.post(webhook_body(ident=UNKNOWN_ORDER))).json()["event_id"]
    await shop.daemon.wait_log("event failed", event_id=failed)
    return int(failed)


async def login(client: httpx.AsyncClient, admin_url: str) -> httpx.Response:
    return await client.post(f"{admin_url}/ui/login", data={"token": ADMIN_TOKEN, "next": "/ui"})


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert found is not None, "the page has no CSRF field"
    return found.group(1)
