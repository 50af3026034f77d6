"""Webhooks that fail verification get 401 but are kept, bounded, until the settings are fixed and they are
released; forged floods cannot grow the store past the configured caps."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import aiohttp
import httpx

from router.store.sqlite import SqliteStore
from tests.conftest import run_cli
from tests.support import WEBHOOK_KEY, DaemonProcess, signed_headers, stored, webhook_body


def configured(daemon: DaemonProcess, old: str, new: str) -> DaemonProcess:
    text = daemon.config_path.read_text()
    assert old in text
    daemon.config_path.write_text(text.replace(old, new))
    return daemon


async def quarantine_stats(db: Path) -> tuple[int, int]:
    store = SqliteStore(db)
    await store.open()
    try:
        stats = await store.quarantine_stats()
    finally:
        await store.close()
    return stats.entries, stats.bytes


async def test_bad_signature_is_quarantined_and_released_once_after_the_key_is_fixed(
    sandbox, sink, daemon_factory, tmp_path
):
    daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url)
    configured(daemon, f'webhook_key: "{WEBHOOK_KEY}"', 'webhook_key: "a-key-typed-wrong-0000"').start()
    body = webhook_body("order_paid", 1042)
    refused = await daemon.post(body)  # signed with the shop's real key, which the config does not have yet
    assert refused.status_code == 401
    assert refused.json()["error"].startswith("invalid signature: expected header X-Signature")
    line = await daemon.wait_log("webhook signature invalid")
    assert line["quarantined"] == 1
    assert "plugpay-router quarantine list -c CONFIG" in line["hint"]
    assert signed_headers(body)["X-Signature"] not in daemon.log()  # header names are logged, never values
    async with httpx.AsyncClient() as client:
        metrics = (await client.get(f"{daemon.admin_url}/metrics")).text
    assert 'plugpay_router_webhooks_quarantined_total{outcome="kept"} 1.0' in metrics
    assert "plugpay_router_quarantine_entries 1.0" in metrics

    listed = run_cli("quarantine", "list", "-c", str(daemon.config_path), "--json")
    assert listed.returncode == 0, listed.stderr
    [entry] = json.loads(listed.stdout)
    assert entry["verifies_now"] is False and entry["signature_headers"] == ["X-Signature"]
    assert "Content-Type" in entry["headers"] and json.loads(entry["body"])["event"]["triggerable_id"] == 1042

    configured(daemon, 'webhook_key: "a-key-typed-wrong-0000"', f'webhook_key: "{WEBHOOK_KEY}"')
    daemon.signal(signal.SIGHUP)
    await daemon.wait_log("config reloaded")
    released = run_cli("quarantine", "release", "-c", str(daemon.config_path))
    assert released.returncode == 0, released.stderr
    assert "1 released (1 new events), 0 dropped, 0 still fail verification" in released.stdout
    await sink.wait_for(1, path="/welcome", timeout=20)

    again = run_cli("quarantine", "release", "-c", str(daemon.config_path))
    assert "0 released (0 new events)" in again.stdout
    retried = await daemon.post(body)  # Plug&Pay's own retry of the same webhook, now verified
    assert retried.status_code == 200 and retried.json()["duplicate"] is True
    events, deliveries = await stored(tmp_path / "router.db")
    assert len(events) == 1 and len(deliveries) == 1 and len(sink.to("/welcome")) == 1
    assert await quarantine_stats(tmp_path / "router.db") == (0, 0)


async def test_quarantine_bound_holds_under_20000_forged_posts(sandbox, sink, daemon_factory, tmp_path):
    daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url)
    cap = 20_000
    daemon.config_path.write_text(
        daemon.config_path.read_text() + f"quarantine: {{max_entries: 50, max_bytes: {cap}, per_ip: 1000000/s}}\n"
    )
    daemon.start()
    forged = json.dumps({"event": {"trigger_type": "order_paid", "triggerable_id": 1}, "pad": "x" * 900}).encode()
    headers = {"Content-Type": "application/json", "X-Signature": "0" * 64}
    statuses: dict[int, int] = {}

    async def worker(session: aiohttp.ClientSession, count: int) -> None:
        for _ in range(count):
            async with session.post(daemon.webhook_url, data=forged, headers=headers) as response:
                statuses[response.status] = statuses.get(response.status, 0) + 1

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session, 500) for _ in range(40)))
    assert statuses == {401: 20_000}
    entries, size = await quarantine_stats(tmp_path / "router.db")
    assert entries <= 50 and 0 < size <= cap
    db = tmp_path / "router.db"
    on_disk = sum(p.stat().st_size for p in (db, db.with_name("router.db-wal")) if p.exists())
    assert on_disk < 6 * 1024 * 1024  # 18 MB of forged bodies arrived


async def test_forged_posts_beyond_the_per_ip_rate_are_counted_not_kept(sandbox, sink, daemon_factory, tmp_path):
    daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url)
    daemon.config_path.write_text(daemon.config_path.read_text() + "quarantine: {per_ip: 5/m}\n")
    daemon.start()
    body = webhook_body("order_paid", 1042)
    for _ in range(12):
        assert (await daemon.post(body, signed_headers(body, "not-the-key"))).status_code == 401
    assert (await quarantine_stats(tmp_path / "router.db"))[0] == 5
    async with httpx.AsyncClient() as client:
        metrics = (await client.get(f"{daemon.admin_url}/metrics")).text
    assert 'plugpay_router_webhooks_quarantined_total{outcome="rate_limited"} 7.0' in metrics


async def test_a_flood_from_many_addresses_never_pushes_out_the_webhooks_refused_first(
    sandbox, sink, daemon_factory, tmp_path
):
    daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url)
    configured(daemon, f'webhook_key: "{WEBHOOK_KEY}"', 'webhook_key: "a-key-typed-wrong-0000"')
    daemon.config_path.write_text(daemon.config_path.read_text() + "quarantine: {max_entries: 10, per_ip: 4/m}\n")
    daemon.start()
    real = [webhook_body("order_paid", 1042 + n) for n in range(4)]  # Plug&Pay's, refused by the wrong key
    for body in real:
        assert (await daemon.post(body)).status_code == 401
    forged = json.dumps({"event": {"trigger_type": "order_paid", "triggerable_id": 1}}).encode()
    headers = {"Content-Type": "application/json", "X-Signature": "0" * 64}
    for n in range(2, 22):  # 20 addresses, each within its own rate
        transport = httpx.AsyncHTTPTransport(local_address=f"127.0.0.{n}")
        async with httpx.AsyncClient(transport=transport, timeout=10) as client:
            for _ in range(3):
                assert (await client.post(daemon.webhook_url, content=forged, headers=headers)).status_code == 401
    listed = run_cli("quarantine", "list", "-c", str(daemon.config_path), "--json")
    bodies = [entry["body"] for entry in json.loads(listed.stdout)]
    assert len(bodies) == 10
    assert bodies[:4] == [body.decode() for body in real]  # the oldest half is reserved
    configured(daemon, 'webhook_key: "a-key-typed-wrong-0000"', f'webhook_key: "{WEBHOOK_KEY}"')
    released = run_cli("quarantine", "release", "-c", str(daemon.config_path))
    assert "4 released (4 new events), 0 dropped, 6 still fail verification" in released.stdout


def test_releasing_with_allow_unsigned_needs_unsigned_said_on_purpose(tmp_path):
    db = tmp_path / "router.db"

    async def keep_one() -> None:
        from router.store.quarantined import QuarantineBounds, Quarantined

        store = SqliteStore(db)
        await store.open()
        body = webhook_body("order_paid", 1042)
        entry = Quarantined(0.0, "127.0.0.9", "/webhooks/plugandpay", "application/json", [], {}, body)
        await store.quarantine_add(entry, QuarantineBounds(10, 1_000_000, before=0.0))
        await store.close()

    asyncio.run(keep_one())
    config = tmp_path / "shop.yaml"
    config.write_text(
        f'version: 1\nplugandpay: {{api_url: "http://127.0.0.1:9", allow_unsigned: true}}\nstore: {{url: "sqlite:///{db}"}}\n'
    )
    refused = run_cli("quarantine", "release", "-c", str(config))
    assert refused.returncode == 1
    assert "forged ones included" in refused.stderr and "--unsigned" in refused.stderr
    released = run_cli("quarantine", "release", "-c", str(config), "--unsigned")
    assert released.returncode == 0, released.stderr
    assert "1 released (1 new events)" in released.stdout


async def test_quarantine_list_prints_a_forged_trigger_s_control_characters_as_escapes(
    sandbox, sink, daemon_factory, tmp_path
):
    daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url).start()
    trigger = "order_paid\x1b]0;owned\x07\x1b[2J"
    forged = json.dumps({"event": {"trigger_type": trigger, "triggerable_type": "order", "triggerable_id": 1}}).encode()
    headers = {"Content-Type": "application/json", "X-Signature": "0" * 64}
    async with httpx.AsyncClient(timeout=10) as client:
        assert (await client.post(daemon.webhook_url, content=forged, headers=headers)).status_code == 401
    listed = run_cli("quarantine", "list", "-c", str(daemon.config_path))
    assert listed.returncode == 0, listed.stderr
    assert "\x1b" not in listed.stdout and "\x07" not in listed.stdout
    assert "order_paid\\x1b]0;owned\\x07\\x1b[2j order:1" in listed.stdout  # the trigger, lower-cased
