"""``trace`` and the store-reading commands: one object's whole story, counts instead of silent truncation,
and no connector secrets needed to read the store."""

from __future__ import annotations

import json

from tests.conftest import run_cli
from tests.dashboard_support import HOSTILE_NAME, shop_with_history


async def test_trace_tells_what_happened_to_an_order(daemon_factory, sandbox, sink, tmp_path):
    shop = await shop_with_history(daemon_factory, sandbox, sink, tmp_path)
    store = f"sqlite:///{tmp_path / 'router.db'}"
    done = run_cli("trace", "--store", store, "order", "1042")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("order 1042: 1 event")
    assert f"event {shop.delivered_event}  order_paid" in out
    assert "rule welcome: matched" in out
    assert "-> sink  delivered" in out
    assert "attempt 1" in out and "delivered  200" in out
    assert "result: status=200 answer=" in out  # what the destination answered

    dead = run_cli("trace", "-c", str(shop.daemon.config_path), "order", "1043", "--json")
    assert dead.returncode == 0, dead.stderr
    body = json.loads(dead.stdout)
    [ev] = body["events"]
    [delivery] = ev["deliveries"]
    assert (delivery["status"], delivery["request"]["json"]["name"]) == ("dead", HOSTILE_NAME)
    assert delivery["attempts"][0]["status_code"] == 400
    assert "unknown course" in delivery["attempts"][0]["error"]
    assert [o["rule"] for o in ev["outcomes"] if o["matched"]] == ["welcome"]

    missing = run_cli("trace", "--store", store, "subscription", "1042")
    assert missing.returncode == 1 and "nothing stored about subscription 1042" in missing.stdout


async def test_store_commands_need_no_connector_secrets_and_say_what_they_leave_out(
    daemon_factory, sandbox, sink, tmp_path
):
    shop = await shop_with_history(daemon_factory, sandbox, sink, tmp_path)
    config = tmp_path / "ops.yaml"
    text = shop.daemon.config_path.read_text()
    config.write_text(text.replace("connectors:\n", 'connectors:\n  crm: {type: http, base_url: "${CRM_URL}"}\n'))
    assert "CRM_URL" in run_cli("check", "-c", str(config)).stderr  # the daemon would refuse it ...
    listed = run_cli("events", "-c", str(config), "--limit", "1")  # ... reading the store does not care
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert "rules" in header and "deliveries" in header
    assert "1/1" in row
    assert "1 of 2 shown; --limit 2 shows all" in listed.stderr
    dead = run_cli("deliveries", "-c", str(config), "--triggerable-id", "1043")
    assert dead.returncode == 0, dead.stderr
    rows = dead.stdout.splitlines()[1:]
    assert len(rows) == 1 and "dead" in rows[0] and "HTTP 400" in rows[0]
    assert run_cli("trace", "-c", str(config), "--event", str(shop.dead_event)).returncode == 0
