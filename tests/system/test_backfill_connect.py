"""``backfill`` and ``connect`` against the sandbox: a backfill runs only the named rule, once, and a dry run
changes nothing; ``connect`` plans, applies, is a no-op the second time and never touches a rule that is
readonly or was not created by the router."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import httpx

from router.demo.sandbox import SandboxServer
from router.demo.sandbox_api import synthesize_orders
from router.demo.standins.sink import HttpSink
from tests.conftest import run_cli
from tests.fleet import fleet_config
from tests.support import API_TOKEN, DaemonProcess, reserved_port

NEW_RULE = """  - name: new-rule
    trigger: order_paid
    actions:
      - connector: sink
        path: /new
        json: {order: "{{ order.id }}"}
  - name: books
    trigger: invoice_created
    actions:
      - connector: sink
        path: /books
        json: {order: "{{ order.id }}"}
"""


async def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(run_cli, *args)


def config_for(tmp_path: Path, api: SandboxServer, sink: HttpSink) -> tuple[Path, int]:
    port = reserved_port()
    path = tmp_path / "router.yaml"
    store = f"sqlite:///{tmp_path / 'router.db'}"
    path.write_text(fleet_config(port=port, api_url=api.url, sink_url=sink.url, store_url=store) + NEW_RULE)
    return path, port


async def test_backfill_runs_only_the_named_rule_once(tmp_path: Path, sandbox: SandboxServer, sink: HttpSink) -> None:
    ids = sorted(int(i) for i in synthesize_orders(sandbox.state, 1000, days=20))
    config, port = config_for(tmp_path, sandbox, sink)
    args = ("backfill", "-c", str(config), "--trigger", "order_paid", "--since", "30d", "--rule", "new-rule")

    dry = await cli(*args)
    assert dry.returncode == 0, dry.stderr
    assert "1000 in the order_paid state" in dry.stdout and "new-rule: 1000 deliveries" in dry.stdout
    assert "nothing stored" in dry.stdout
    assert not (tmp_path / "router.db").exists(), "a dry run does not even create the store"

    done = await cli(*args, "--yes")
    assert done.returncode == 0, done.stderr
    assert "stored 1000 events (source: backfill), 0 already backfilled" in done.stdout
    again = await cli(*args, "--yes")
    assert "stored 0 events (source: backfill), 1000 already backfilled" in again.stdout

    daemon = DaemonProcess(config, port).start()
    await sink.wait_for(1000, timeout=120, path="/new")
    assert daemon.stop() == 0
    assert sorted(int(r.json()["order"]) for r in sink.to("/new")) == ids
    assert sink.to("/welcome") == [], "rules not named by the backfill do not run"
    listed = await cli("events", "-c", str(config), "--source", "backfill", "--json", "--limit", "5000")
    assert len(json.loads(listed.stdout)) == 1000

    after = await cli(*args, "--yes")  # a backfill run again after routing creates nothing either
    assert "stored 0 events" in after.stdout
    assert len(sink.to("/new")) == 1000


async def rules(api: SandboxServer) -> list[dict[str, object]]:
    async with httpx.AsyncClient(headers={"Accept": "application/json", "Authorization": f"Bearer {API_TOKEN}"}) as c:
        return list((await c.get(f"{api.url}/v2/rules", params={"limit": "100"})).json()["data"])


async def test_connect_plans_applies_once_and_leaves_foreign_and_readonly_rules(
    tmp_path: Path, sandbox: SandboxServer, sink: HttpSink
) -> None:
    config, _ = config_for(tmp_path, sandbox, sink)
    url = "https://router.example.nl/webhooks/plugandpay"
    hook = {"url": url}
    seeded = [
        ("Zapier", "order_paid", {"url": "https://hooks.zapier.com/x"}, {}, False),
        ("plugpay-router: order_paid product 5", "order_paid", hook, {"product_id": [5]}, True),
        ("hand-made", "subscription_ended", hook, {}, False),
        ("plugpay-router: affiliate_quit", "affiliate_quit", hook, {}, False),
    ]
    async with httpx.AsyncClient(headers={"Accept": "application/json", "Authorization": f"Bearer {API_TOKEN}"}) as c:
        for name, trigger, action, condition, readonly in seeded:
            body = {"name": name, "driver": "webhook", "trigger_type": trigger, "action_type": "call_webhook"}
            body.update(action_data=action, condition_data=condition, readonly=readonly)
            assert (await c.post(f"{sandbox.url}/v2/rules", json=body)).status_code == 201
    before = await rules(sandbox)

    planned = await cli("connect", "-c", str(config), "--url", url)
    assert planned.returncode == 0, planned.stderr
    assert "shop: Sandbox Shop (tenant 42)" in planned.stdout
    # "plugpay-router: affiliate_quit" was made by hand: a name is no proof that the router created it.
    assert "2 to create, 0 already there, 0 of ours not needed, 3 calling the router left alone" in planned.stdout
    assert "no record of creating it" in planned.stdout
    assert await rules(sandbox) == before

    applied = await cli("connect", "-c", str(config), "--url", url, "--apply")
    assert applied.returncode == 0, applied.stderr
    created = [r for r in await rules(sandbox) if r not in before]
    assert {(r["name"], r["trigger_type"]) for r in created} == {
        ("plugpay-router: order_paid", "order_paid"),
        ("plugpay-router: invoice_created", "order_invoice_created"),
    }
    assert all(r["action_data"] == {"hook_url": url} and r["driver"] == "webhook" for r in created)

    second = await cli("connect", "-c", str(config), "--url", url, "--apply")
    assert "0 to create, 2 already there" in second.stdout
    assert len(await rules(sandbox)) == len(before) + 2

    # The YAML stops needing invoice_created: --prune deletes the rule the router created for it, and only that.
    config.write_text(config.read_text().replace("invoice_created", "order_paid"))
    pruned = await cli("connect", "-c", str(config), "--url", url, "--prune")
    assert pruned.returncode == 0, pruned.stderr
    left = await rules(sandbox)
    assert [r["name"] for r in [*before, *created] if r not in left] == ["plugpay-router: invoice_created"]
    assert all(r in left for r in before), "the hand-made rule named like ours, and the others, are still there"
