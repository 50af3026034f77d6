"""Operating the daemon: metrics, the admin API, bulk replay, re-route, retention, and faults that lose nothing."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import sqlite3
import subprocess
from collections import defaultdict
from pathlib import Path

import httpx
import pytest

from router.demo.standins.sink import HttpSink, Reply
from tests.admin_support import admin_listen
from tests.conftest import run_cli
from tests.support import (
    API_TOKEN,
    WEBHOOK_KEY,
    DaemonProcess,
    reserved_port,
    sandbox_server,
    signed_headers,
    stored,
    wait_until,
    webhook_body,
    welcome_rule,
)

ADMIN_TOKEN = "admin-token-9d1f2c"
CRM_ACTION = """      - connector: crm
        path: /crm
        json: {order: "{{ order.id }}"}
"""
LMS_SECRET = "lms-secret-header-77aa"


def ops_config(
    *,
    api_url: str,
    sink: str,
    crm: str,
    db: Path,
    port: int,
    extra: str = "",
    retention: str = "",
    schedule: str = "[0.1s]",
    admin_listen: str = "127.0.0.1:8081",
) -> str:
    return f"""version: 1
server: {{listen: "127.0.0.1:{port}", path: /webhooks/plugandpay}}
admin: {{token: "${{ROUTER_ADMIN_TOKEN}}", listen: "{admin_listen}"}}
plugandpay:
  api_url: {api_url}
  api_token: "${{PLUGANDPAY_API_TOKEN}}"
  webhook_key: "{WEBHOOK_KEY}"
  retry: [0.1s]
store: {{url: "sqlite:///{db}"}}
delivery: {{schedule: {schedule}, timeout: 3s, concurrency: 8}}
{retention}connectors:
  sink: {{type: http, base_url: "{sink}", headers: {{X-Lms-Secret: "${{LMS_SECRET}}"}}}}
  crm: {{type: http, base_url: "{crm}"}}
{welcome_rule({"email": "order.billing.contact.email", "order": "order.id"}, more_actions=CRM_ACTION)}{extra}"""


ENV = {"ROUTER_ADMIN_TOKEN": ADMIN_TOKEN, "LMS_SECRET": LMS_SECRET}


def start(daemon_factory, tmp_path, sandbox_url, sink, crm, **kwargs) -> DaemonProcess:
    port = reserved_port()
    listen, admin_url = admin_listen()
    text = ops_config(
        api_url=sandbox_url,
        sink=sink.url,
        crm=crm.url,
        db=tmp_path / "router.db",
        port=port,
        admin_listen=listen,
        **kwargs,
    )
    made = daemon_factory(text, env=ENV)
    daemon = DaemonProcess(made.config_path, port, ENV)
    daemon.admin_url = admin_url
    return daemon.start()


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text format (0 when absent)."""
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        match = re.match(r"^([a-z_]+)(\{(.*)\})? (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(3) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(4))
    return 0.0


async def api(
    daemon: DaemonProcess, method: str, path: str, *, token: str | None = ADMIN_TOKEN, **kwargs
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.request(method, f"{daemon.admin_url}{path}", headers=headers, **kwargs)


async def get(url: str, **kwargs) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.get(url, **kwargs)


async def test_metrics_move_as_events_flow(sandbox, sink, daemon_factory, tmp_path):
    crm = await HttpSink().start()
    try:
        crm.replies = [Reply(503, {"error": "busy"})]
        daemon = start(daemon_factory, tmp_path, sandbox.url, sink, crm)
        before = (await get(f"{daemon.admin_url}/metrics")).text
        assert metric(before, "plugpay_router_events_received_total", trigger="order_paid", outcome="accepted") == 0
        await daemon.post(webhook_body(ident=1042))
        await daemon.post(webhook_body(ident=1042))  # duplicate
        await daemon.post(webhook_body(ident=1043), {"Content-Type": "application/json"})  # unsigned
        await sink.wait_for(1)
        await crm.wait_for(2)
        await daemon.wait_log("delivered", connector="crm")
        text = (await get(f"{daemon.admin_url}/metrics")).text
        assert metric(text, "plugpay_router_events_received_total", trigger="order_paid", outcome="accepted") == 1
        assert metric(text, "plugpay_router_events_received_total", trigger="order_paid", outcome="duplicate") == 1
        assert metric(text, "plugpay_router_events_received_total", outcome="rejected_signature") == 1
        assert metric(text, "plugpay_router_delivery_attempts_total", connector="crm", outcome="retry") == 1
        assert metric(text, "plugpay_router_delivery_attempts_total", connector="crm", outcome="delivered") == 1
        assert metric(text, "plugpay_router_attempt_duration_seconds_count", connector="sink") == 1
        assert metric(text, "plugpay_router_events_routed_total", outcome="routed") == 1
        assert metric(text, "plugpay_router_pending", kind="deliveries") == 0
        assert metric(text, "plugpay_router_breaker_state", connector="crm", state="closed") == 1
        version = re.search(r'plugpay_router_config_info\{version="(\w+)"\} 1', text)
        assert version is not None

        daemon.config_path.write_text(daemon.config_path.read_text() + "\n")
        daemon.signal(1)  # SIGHUP
        await daemon.wait_log("config reloaded")
        text = (await get(f"{daemon.admin_url}/metrics")).text
        assert metric(text, "plugpay_router_config_reloads_total", result="ok") == 1
        assert f'version="{version.group(1)}"' not in text  # the new version replaced the old one
    finally:
        await crm.stop()


async def test_admin_api_needs_the_token_filters_and_never_returns_a_secret(sandbox, sink, daemon_factory, tmp_path):
    crm = await HttpSink().start()
    try:
        crm.default = Reply(400, {"error": "unknown contact"})
        daemon = start(daemon_factory, tmp_path, sandbox.url, sink, crm)
        assert (await api(daemon, "GET", "/api/events", token=None)).status_code == 401
        assert (await api(daemon, "GET", "/api/events", token="wrong")).status_code == 401
        await daemon.post(webhook_body(ident=1042))
        await daemon.post(webhook_body("order_invoice_created", ident=1043))
        await sink.wait_for(1)
        await daemon.wait_log("delivery dead", connector="crm")

        events = (await api(daemon, "GET", "/api/events", params={"trigger": "order_paid"})).json()["events"]
        assert [e["triggerable_id"] for e in events] == ["1042"]
        assert (await api(daemon, "GET", "/api/events", params={"since": "1h", "until": "2000-01-01"})).json()[
            "events"
        ] == []
        assert (await api(daemon, "GET", "/api/events", params={"since": "yesterday"})).status_code == 400
        detail = (await api(daemon, "GET", f"/api/events/{events[0]['id']}")).json()
        assert detail["fetched"]["summary"]["invoice_number"] == "2025-0042"
        assert "billing" not in str(detail["fetched"])  # a summary, not the customer's data
        assert {o["rule"]: o["matched"] for o in detail["outcomes"]} == {"welcome": True}
        dead = [d for d in detail["deliveries"] if d["status"] == "dead"]
        assert dead[0]["connector"] == "crm" and dead[0]["attempts"][0]["status_code"] == 400
        assert "unknown contact" in dead[0]["attempts"][0]["error"]

        listed = (await api(daemon, "GET", "/api/deliveries", params={"status": "dead", "connector": "crm"})).json()
        assert [d["rule"] for d in listed["deliveries"]] == ["welcome"]
        assert (await api(daemon, "GET", "/api/deliveries/999")).status_code == 404

        responses = [
            (await api(daemon, "GET", path)).text
            for path in (
                "/api/events",
                f"/api/events/{events[0]['id']}",
                "/api/deliveries",
                "/api/deliveries/1",
            )
        ]
        for text in [*responses, (await get(f"{daemon.admin_url}/metrics")).text, daemon.log()]:
            for secret in (ADMIN_TOKEN, WEBHOOK_KEY, API_TOKEN, LMS_SECRET):
                assert secret not in text
    finally:
        await crm.stop()


async def test_admin_api_is_off_without_a_token(sandbox, sink, daemon_factory):
    daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url, admin_port=None).start()
    response = await get(f"{daemon.url}/api/events", headers={"Authorization": "Bearer x"})
    assert response.status_code == 404 and "admin listener" in response.json()["error"]
    assert "admin API disabled" in daemon.log()
    assert "admin listener started" not in daemon.log()  # no token, no admin.listen: nothing else listens


async def test_admin_api_dashboard_and_metrics_are_only_on_the_admin_listener(sandbox, sink, daemon_factory, tmp_path):
    crm = await HttpSink().start()
    try:
        daemon = start(daemon_factory, tmp_path, sandbox.url, sink, crm)
        for path in ("/api/events", "/metrics", "/ui", "/ui/login"):
            answer = await get(f"{daemon.url}{path}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
            assert answer.status_code == 404, path  # the webhook port never serves them
        assert (await api(daemon, "GET", "/api/events")).status_code == 200
        assert "plugpay_router_pending" in (await get(f"{daemon.admin_url}/metrics")).text
        assert (await get(f"{daemon.admin_url}/ui/login")).status_code == 200
    finally:
        await crm.stop()


async def test_bulk_replay_redelivers_exactly_the_selected_deliveries(sandbox, sink, daemon_factory, tmp_path):
    crm = await HttpSink().start()
    try:
        sink.default = Reply(410, {"error": "gone"})
        crm.default = Reply(422, {"error": "invalid"})
        # An hour's wait before any retry: only a 410 and a 422 treated as permanent make the deliveries dead.
        daemon = start(daemon_factory, tmp_path, sandbox.url, sink, crm, schedule="[1h]")
        for ident in (1042, 1043):
            await daemon.post(webhook_body(ident=ident))
        await sink.wait_for(2)
        await crm.wait_for(2)

        async def all_dead() -> bool:
            _, deliveries = await stored(tmp_path / "router.db")
            return len(deliveries) == 4 and all(d.status == "dead" for d in deliveries)

        await wait_until(all_dead, what="four dead deliveries")
        sink.default = crm.default = Reply(200, {"ok": True})
        replayed = await api(daemon, "POST", "/api/replay", json={"connector": "crm"})
        assert replayed.status_code == 202 and replayed.json() == {"replayed": 2}
        again = await crm.wait_for(4)
        assert {r.headers["Idempotency-Key"] for r in again[2:]} == {r.headers["Idempotency-Key"] for r in again[:2]}
        # The CLI takes the same filters: replay what is left dead of the sink, by rule.
        result = run_cli(
            "replay", "-c", str(daemon.config_path), "--dead", "--connector", "sink", "--rule", "welcome", env=ENV
        )
        assert result.returncode == 0 and "requeued 2 deliveries" in result.stdout
        await sink.wait_for(4)
        await wait_until(lambda: _settled(tmp_path), what="every delivery delivered")
        assert len(crm.requests) == 4  # the crm ones were not replayed twice
    finally:
        await crm.stop()


async def _settled(tmp_path: Path) -> bool:
    _, deliveries = await stored(tmp_path / "router.db")
    return all(d.status == "delivered" for d in deliveries)


async def test_reroute_renders_again_with_fresh_data(sandbox, sink, daemon_factory, tmp_path):
    crm = await HttpSink().start()
    try:
        order = sandbox.state.fixtures["orders"]["1042"]
        del order["billing"]["contact"]["email"]  # the template needs it: rendering fails, delivery dead
        daemon = start(daemon_factory, tmp_path, sandbox.url, sink, crm)
        response = await daemon.post(webhook_body(ident=1042))
        event_id = response.json()["event_id"]
        line = await daemon.wait_log("action could not be rendered")
        assert "email" in line["error"]
        await crm.wait_for(1)

        order["billing"]["contact"]["email"] = "new@example.nl"  # fixed in the shop
        assert (await api(daemon, "POST", f"/api/events/{event_id}/reroute")).status_code == 202
        [request] = await sink.wait_for(1, path="/welcome")
        assert request.json()["email"] == "new@example.nl"
        detail = (await api(daemon, "GET", f"/api/events/{event_id}")).json()
        statuses = sorted(d["status"] for d in detail["deliveries"])
        assert statuses == ["delivered", "delivered", "superseded"]
        assert len(crm.requests) == 1  # the crm action was delivered already: not sent again
        assert (await api(daemon, "POST", "/api/events/999/reroute")).status_code == 404
    finally:
        await crm.stop()


async def test_retention_purges_old_finished_events_only(sandbox, sink, daemon_factory, tmp_path):
    crm = await HttpSink().start()
    try:
        crm.default = Reply(503, {"error": "down"})
        retention = "retention: {events: 1s, dedupe_window: 1s, interval: 0.3s}\n"
        daemon = start(daemon_factory, tmp_path, sandbox.url, sink, crm, retention=retention, schedule="[30s]")
        await daemon.post(webhook_body(ident=1042))  # crm keeps failing: a pending retry, kept
        await daemon.post(webhook_body(ident=999999))  # unknown order: failed, purged
        await daemon.wait_log("event failed")
        await daemon.wait_log("retention purge", timeout=15)
        events, deliveries = await stored(tmp_path / "router.db")
        assert [e.event.triggerable_id for e in events] == ["1042"]
        assert sorted(d.connector for d in deliveries) == ["crm", "sink"]
    finally:
        await crm.stop()


async def test_store_that_cannot_write_fails_readiness_and_recovers(sandbox, sink, daemon_factory, tmp_path):
    daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url).start()
    assert (await get(f"{daemon.url}/readyz")).status_code == 200
    blocker = sqlite3.connect(tmp_path / "router.db", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        ready = await get(f"{daemon.url}/readyz")
        assert ready.status_code == 503 and ready.json()["status"] == "unavailable"
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert (await get(f"{daemon.url}/readyz")).status_code == 200


async def test_plugandpay_api_down_for_long_events_wait_then_route(sink, daemon_factory):
    sandbox = await sandbox_server().start()
    try:
        sandbox.fail("/v2/orders/1042", 503, times=8)
        daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url).start()
        await daemon.post(webhook_body(ident=1042))
        await sink.wait_for(1, path="/welcome", timeout=20)
        retries = [e for e in daemon.log_events() if e.get("event") == "event fetch failed, will retry"]
        assert len(retries) == 8
    finally:
        await sandbox.stop()


async def test_repeated_sigkill_under_steady_load_loses_no_acknowledged_webhook(sink, daemon_factory, tmp_path):
    sandbox = await sandbox_server(synthesize=True).start()
    try:
        port = reserved_port()
        made = daemon_factory(api_url=sandbox.url, sink_url=sink.url)
        text = made.config_path.read_text().replace('invoice: "{{ order.invoice_number }}"', 'order: "{{ order.id }}"')
        made.config_path.write_text(
            re.sub(r"server: \{listen: \"127.0.0.1:\d+\"", f'server: {{listen: "127.0.0.1:{port}"', text)
        )
        daemon = DaemonProcess(made.config_path, port).start()
        acked: set[int] = set()
        stop = asyncio.Event()
        rng = random.Random(7)

        async def load() -> None:
            order = 20_000
            async with httpx.AsyncClient(timeout=5) as client:
                while not stop.is_set():
                    order += 1
                    body = webhook_body(ident=order)
                    try:
                        response = await client.post(daemon.webhook_url, content=body, headers=signed_headers(body))
                    except httpx.HTTPError:
                        await asyncio.sleep(0.02)  # the daemon is down: Plug&Pay would retry later
                        continue
                    if response.status_code in (200, 202):
                        acked.add(order)

        senders = [asyncio.create_task(load()) for _ in range(4)]
        for _ in range(3):
            target = len(acked) + rng.randint(20, 80)
            await wait_until(lambda target=target: _true(len(acked) >= target), timeout=20, what="load")
            daemon.kill()
            daemon = DaemonProcess(made.config_path, port).start()
        await wait_until(lambda: _true(len(acked) >= 300), timeout=20, what="more load")
        stop.set()
        await asyncio.gather(*senders)

        def delivered() -> dict[int, set[str]]:
            keys: dict[int, set[str]] = defaultdict(set)
            for request in sink.requests:
                keys[int(request.json()["order"])].add(request.headers["Idempotency-Key"])
            return keys

        await wait_until(lambda: _true(acked <= set(delivered())), timeout=30, what="every acked webhook delivered")
        assert all(len(keys) == 1 for keys in delivered().values())
    finally:
        await sandbox.stop()


async def _true(value: bool) -> bool:
    return value


async def test_disk_full_answers_503_and_recovers_when_space_returns(sandbox, sink, daemon_factory, tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(  # noqa: ASYNC221 - a one-off set-up step before the daemon starts
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        reason = f"cannot mount a small tmpfs to fill up: {mounted.stderr.decode().strip()}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url)
        daemon.config_path.write_text(
            daemon.config_path.read_text().replace(str(tmp_path / "router.db"), str(disk / "r.db"))
        )
        daemon.start()
        assert (await daemon.post(webhook_body(ident=1042))).status_code == 202
        filler = disk / "filler"
        with contextlib.suppress(OSError), filler.open("wb") as handle:  # closing may hit ENOSPC too
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        response = await daemon.post(webhook_body(ident=1043))
        assert response.status_code == 503 and "retry later" in response.json()["error"]
        assert (await get(f"{daemon.url}/readyz")).status_code == 503
        filler.unlink()
        assert (await daemon.post(webhook_body(ident=1043))).status_code == 202
        assert (await get(f"{daemon.url}/readyz")).status_code == 200
        await sink.wait_for(2, timeout=30, path="/welcome")  # the route stage may be in a retry wait
        assert daemon.stop() == 0
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)  # noqa: ASYNC221 - teardown
