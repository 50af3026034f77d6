"""Two shops of one router for the daemon tests: cursusshop and yogastudio, each with its own Plug&Pay sandbox
(token, tenant 42 and 77), webhook key and rules, and a config writer for a two-shop daemon with an admin
listener (``/metrics``, the admin API and its users)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from router.demo.sandbox import Sandbox, SandboxServer, load_fixtures
from tests.admin_support import admin_listen
from tests.support import DaemonProcess, reserved_port, signed_headers

CURSUS_KEY, YOGA_KEY = "cursus-webhook-key-5d8e1f0a", "yoga-webhook-key-8c1d4e7f0a"
CURSUS_TOKEN, YOGA_TOKEN = "cursus-api-token-7f3a9b2c", "yoga-api-token-2b7c9d0e1f"
ENV = {
    "CURSUS_API_TOKEN": CURSUS_TOKEN,
    "CURSUS_WEBHOOK_KEY": CURSUS_KEY,
    "YOGA_API_TOKEN": YOGA_TOKEN,
    "YOGA_WEBHOOK_KEY": YOGA_KEY,
}
RULE = "[{{name: welcome, trigger: order_paid, actions: [{{connector: sink, path: {path}, json: {{id: x}}}}]}}]"


@asynccontextmanager
async def two_apis(*, synthesize: bool = True) -> AsyncIterator[tuple[SandboxServer, SandboxServer]]:
    """The course shop's API (tenant 42) and the yoga studio's (tenant 77), each taking only its own token."""
    cursus = await SandboxServer(Sandbox(load_fixtures(), token=CURSUS_TOKEN, synthesize=synthesize)).start()
    yoga = await SandboxServer(Sandbox(load_fixtures(), token=YOGA_TOKEN, synthesize=synthesize, tenant_id=77)).start()
    try:
        yield cursus, yoga
    finally:
        await cursus.stop()
        await yoga.stop()


async def post(
    daemon: DaemonProcess, shop: str, body: bytes, key: str, client: httpx.AsyncClient | None = None
) -> httpx.Response:
    """A webhook signed with ``key`` to ``shop``'s URL."""
    if client is None:
        async with httpx.AsyncClient(timeout=10) as client:
            return await post(daemon, shop, body, key, client)
    return await client.post(f"{daemon.webhook_url}/{shop}", content=body, headers=signed_headers(body, key))


def two_shops_admin(
    tmp_path: Path, cursus_api: str, yoga_api: str, sink: str, *, admin: str = "", yoga: str = "", more: str = ""
) -> DaemonProcess:
    """cursusshop and yogastudio, each posting paid orders to the shared sink (``/cursus``, ``/yoga``), with an
    admin listener; ``admin`` adds lines to the admin section, ``yoga`` to the yoga studio's, ``more`` further
    shops (YAML at the shops' indent)."""
    port = reserved_port()
    listen, admin_url = admin_listen()
    config = tmp_path / "router.yaml"
    config.write_text(f"""version: 1
server: {{listen: "127.0.0.1:{port}", path: /webhooks/plugandpay}}
admin:
  listen: "{listen}"
{admin}plugandpay: {{retry: [0.2s]}}
store: {{url: "sqlite:///{tmp_path / "router.db"}"}}
delivery: {{schedule: [0.2s], timeout: 5s, concurrency: 4}}
connectors:
  sink: {{type: http, base_url: "{sink}"}}
shops:
  cursusshop:
    plugandpay: {{api_url: "{cursus_api}", api_token: "${{CURSUS_API_TOKEN}}", webhook_key: "${{CURSUS_WEBHOOK_KEY}}"}}
    rules: {RULE.format(path="/cursus")}
  yogastudio:
    plugandpay: {{api_url: "{yoga_api}", api_token: "${{YOGA_API_TOKEN}}", webhook_key: "${{YOGA_WEBHOOK_KEY}}"}}
    rules: {RULE.format(path="/yoga")}
{yoga}{more}""")
    daemon = DaemonProcess(config, port, ENV)
    daemon.admin_url = admin_url
    return daemon
