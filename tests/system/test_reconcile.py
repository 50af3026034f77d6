"""Reconcile against the sandbox and real daemons: webhooks that never came are found and delivered once, the
late ones are answered as duplicates, the watermark survives a restart, and two PostgreSQL instances share
the work without a double event."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import httpx

from router.demo.sandbox import SandboxServer
from router.demo.sandbox_api import synthesize_orders
from router.demo.standins.sink import HttpSink
from router.derive import api_time
from router.store.sqlite import SqliteStore
from tests.admin_support import admin_listen
from tests.conftest import run_cli
from tests.fleet import fleet_config
from tests.support import DaemonProcess, reserved_port, wait_until, webhook_body

RECONCILE = "\nreconcile: {every: 1h, grace: 0s}\n"


def write_config(path: Path, port: int, api: SandboxServer, sink: HttpSink, store_url: str, extra: str = "") -> None:
    path.write_text(fleet_config(port=port, api_url=api.url, sink_url=sink.url, store_url=store_url) + extra)


def delivered_orders(sink: HttpSink) -> Counter[int]:
    return Counter(int(r.json()["order"]) for r in sink.to("/welcome"))


async def test_missed_webhooks_are_found_delivered_once_and_late_ones_are_duplicates(
    tmp_path: Path, sandbox: SandboxServer, sink: HttpSink
) -> None:
    ids = [int(i) for i in synthesize_orders(sandbox.state, 20, days=2)]
    db = tmp_path / "router.db"
    config, port = tmp_path / "router.yaml", reserved_port()
    listen, admin_url = admin_listen()
    admin = f'admin: {{listen: "{listen}"}}\n'
    write_config(config, port, sandbox, sink, f"sqlite:///{db}", admin)  # no reconcile section: off
    daemon = DaemonProcess(config, port).start()
    sent, missed = ids[:15], ids[15:]
    for ident in sent:
        assert (await daemon.post(webhook_body("order_paid", ident))).status_code == 202
    await sink.wait_for(15, path="/welcome")

    write_config(config, port, sandbox, sink, f"sqlite:///{db}", admin + RECONCILE)
    daemon.signal(1)  # SIGHUP: the reload turns reconcile on and runs a pass at once
    passed = await daemon.wait_log("reconcile pass", timeout=15)
    assert passed["found"] == 5 and passed["checked"] == 20
    await sink.wait_for(20, path="/welcome")
    found = {line["triggerable"] for line in daemon.log_events() if line.get("event") == "missed event found"}
    assert found == {f"order:{ident}" for ident in missed}

    for ident in missed:  # the webhooks that were late, not lost
        answer = await daemon.post(webhook_body("order_paid", ident))
        assert answer.status_code == 200 and answer.json()["duplicate"] is True
    async with httpx.AsyncClient() as client:
        metrics = (await client.get(f"{admin_url}/metrics")).text
    assert 'plugpay_router_reconcile_events_found_total{trigger="order_paid"} 5.0' in metrics
    assert 'plugpay_router_reconcile_objects_checked_total{trigger="order_paid"} 20.0' in metrics
    assert daemon.stop() == 0
    assert delivered_orders(sink) == Counter({ident: 1 for ident in ids})

    listed = run_cli("events", "-c", str(config), "--source", "reconcile", "--json")
    assert listed.returncode == 0, listed.stderr
    assert sorted(int(e["triggerable_id"]) for e in json.loads(listed.stdout)) == missed

    # The watermark survives the restart: the next pass lists from where the last one ended.
    store = SqliteStore(db)
    await store.open()
    mark = await store.get_watermark("reconcile:order_paid")
    await store.close()
    assert mark is not None
    sandbox.state.requests.clear()
    DaemonProcess(config, port).start()

    async def listed_from_mark() -> bool:
        queries = [r["query"] for r in sandbox.state.requests if r["path"] == "/v2/orders"]
        return any(q.get("since_paid_at") == api_time(mark) for q in queries)

    await wait_until(listed_from_mark, 15, "a pass listing from the stored watermark")
    assert delivered_orders(sink) == Counter({ident: 1 for ident in ids})


async def test_two_postgresql_instances_reconcile_without_double_events(
    tmp_path: Path, pg_url: str, sandbox: SandboxServer, sink: HttpSink
) -> None:
    ids = [int(i) for i in synthesize_orders(sandbox.state, 30, days=1)]
    daemons = []
    for number in range(2):
        path, port = tmp_path / f"instance-{number}.yaml", reserved_port()
        write_config(path, port, sandbox, sink, pg_url, "\nreconcile: {every: 0.3s, grace: 0s}\n")
        daemons.append(DaemonProcess(path, port))
    for daemon in daemons:
        daemon.start()
    await sink.wait_for(30, timeout=30, path="/welcome")

    async def both_passed_twice() -> bool:
        return all(sum(1 for e in d.log_events() if e.get("event") == "reconcile pass") >= 2 for d in daemons)

    await wait_until(both_passed_twice, 20, "several passes by each instance")
    for daemon in daemons:
        assert daemon.stop() == 0
    assert delivered_orders(sink) == Counter({ident: 1 for ident in ids})
    listed = run_cli(
        "events", "-c", str(tmp_path / "instance-0.yaml"), "--source", "reconcile", "--json", "--limit", "1000"
    )
    assert listed.returncode == 0, listed.stderr
    assert sorted(int(e["triggerable_id"]) for e in json.loads(listed.stdout)) == ids
