"""Hardening of templates through the real daemon: a customer value cannot move a request to another
endpoint of the destination (item 3), and a template that would run for hours neither stalls the webhook
listener nor gets past its render timeout (item 14)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from aiohttp import web

from router.demo.sandbox import SandboxServer
from router.demo.standins import serve_app
from tests.support import WEBHOOK_KEY, DaemonProcess, stored, wait_until, webhook_body

ATTACK = "../../admin?x=1#"


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


@pytest.fixture
async def raw_sink() -> AsyncIterator[RawSink]:
    server = await RawSink().start()
    yield server
    await server.stop()


def config(port: int, db: Path, api_url: str, sink_url: str, rules: str, delivery: str = "") -> str:
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
    deliveries: list[Any] = []

    async def done() -> bool:
        nonlocal deliveries
        _, deliveries = await stored(db)
        return len(deliveries) >= count and all(d.status in ("delivered", "dead") for d in deliveries)

    await wait_until(done, 20, f"{count} deliveries delivered or dead")
    return deliveries


PATH_RULES = """\
  - name: enrol
    trigger: order_paid
    actions:
      - connector: dest
        path: "/contacts/{{ order.billing.contact.email }}/enrol"
        query: {email: "{{ order.billing.contact.email }}"}
  - name: nested
    trigger: order_paid
    actions: [{connector: dest, path: "/files/{{ order.reference | safe_path }}"}]
  - name: climbing
    trigger: order_paid
    actions: [{connector: dest, path: "/files/{{ order.customer_id | safe_path }}"}]
  - name: outside
    trigger: order_paid
    actions: [{connector: dest, path: "/../admin"}]
  - name: query-in-path
    trigger: order_paid
    actions: [{connector: dest, path: "/search?q={{ order.id }}"}]
"""


async def test_item3_template_values_stay_one_path_segment_under_base_url(
    tmp_path: Path, sandbox: SandboxServer, raw_sink: RawSink, daemon_factory: Callable[..., DaemonProcess]
):
    order = sandbox.state.fixtures["orders"]["1042"]
    order["billing"]["contact"]["email"] = ATTACK
    order["reference"] = "2025/0042"
    order["customer_id"] = "../x"
    db = tmp_path / "router.db"
    daemon = make_daemon(daemon_factory, lambda port: config(port, db, sandbox.url, raw_sink.url, PATH_RULES))
    assert (await daemon.post(webhook_body())).status_code == 202

    deliveries = {d.rule: d for d in await settled(db, 5)}
    (enrol_path, enrol_query), nested = sorted(raw_sink.requests, key=lambda request: request[0])
    assert nested == ("/api/files/2025/0042", {})
    root, api, contacts, segment, enrol = enrol_path.split("/")  # the attack is one segment, in its place
    assert (root, api, contacts, enrol) == ("", "api", "contacts", "enrol")
    assert unquote(segment) == ATTACK
    assert enrol_query == {"email": ATTACK}
    assert deliveries["enrol"].status == deliveries["nested"].status == "delivered"
    reasons = {name: deliveries[name].last_error or "" for name in ("climbing", "outside", "query-in-path")}
    assert all(deliveries[name].status == "dead" for name in reasons)
    assert "safe_path: '../x' has a '.' or '..' segment" in reasons["climbing"]
    assert "resolves to '/admin', outside base_url's path '/api'" in reasons["outside"]
    assert "use query: for query parameters" in reasons["query-in-path"]


SLOW_RULES = """\
  - name: slow
    trigger: order_paid
    actions:
      - connector: dest
        path: /slow
        json: {x: "{% set r = range(100000) | list %}{% for a in r %}{% for b in r %}{% endfor %}{% endfor %}"}
      - connector: dest
        path: "/fast/{{ order.id }}"
"""


async def test_item14_a_runaway_template_neither_stalls_webhooks_nor_outlives_its_timeout(
    tmp_path: Path, sandbox: SandboxServer, raw_sink: RawSink, daemon_factory: Callable[..., DaemonProcess]
):
    db = tmp_path / "router.db"
    daemon = make_daemon(
        daemon_factory,
        lambda port: config(port, db, sandbox.url, raw_sink.url, SLOW_RULES, ", render_timeout: 3s"),
    )
    assert (await daemon.post(webhook_body(ident=1042))).status_code == 202

    async def fetched() -> bool:
        return any(r["path"] == "/v2/orders/1042" for r in sandbox.state.requests)

    await wait_until(fetched, 10, "the router to fetch order 1042 (the slow render starts right after)")
    await asyncio.sleep(0.2)  # let the render get going: this is the window the test is about
    started = time.monotonic()
    answer = await daemon.post(webhook_body(ident=1043))
    answered_in = time.monotonic() - started
    assert answer.status_code == 202
    assert answered_in < 1, f"webhook answered in {answered_in:.2f}s while a template was rendering"
    assert not any(e.get("event") == "action could not be rendered" for e in daemon.log_events()), (
        "the render finished before the webhook was sent: the test did not measure anything"
    )

    line = await daemon.wait_log("action could not be rendered", timeout=15)
    assert "render timed out after 3s" in line["error"]
    deliveries = await settled(db, 4)
    slow = [d for d in deliveries if d.action_index == 0]
    assert [d.status for d in slow] == ["dead", "dead"]
    assert all("render timed out after 3s" in (d.last_error or "") for d in slow)
    assert sorted(path for path, _ in raw_sink.requests) == ["/api/fast/1042", "/api/fast/1043"]
