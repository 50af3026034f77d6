"""Rules that did not match are part of the story: routing records a reason for every rule of the event's
trigger (scoped to other products or checkouts, a false ``when``), and ``trace`` and the stored event show
them, not only the rules the index looked at."""

from __future__ import annotations

import asyncio
import json
import subprocess

from tests.conftest import run_cli
from tests.support import DaemonProcess, base_config, reserved_port, webhook_body

RULES = """\
  - name: course-77
    trigger: order_paid
    products: [77]
    actions: [{connector: sink, path: /c77, json: {id: "{{ order.id }}"}}]
  - name: course-999
    trigger: order_paid
    products: [999]
    actions: [{connector: sink, path: /c999, json: {id: "{{ order.id }}"}}]
  - name: checkout-5
    trigger: order_paid
    checkouts: [5]
    actions: [{connector: sink, path: /co5, json: {id: "{{ order.id }}"}}]
  - name: test-orders-only
    trigger: order_paid
    when: "order.mode == 'test'"
    actions: [{connector: sink, path: /test, json: {id: "{{ order.id }}"}}]
  - name: affiliates
    trigger: affiliate_accepted
    actions: [{connector: sink, path: /aff, json: {id: "{{ affiliate.id }}"}}]
"""


async def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(run_cli, *args)


async def test_trace_and_the_stored_event_give_a_reason_for_every_rule_of_the_trigger(
    daemon_factory, sandbox, sink, tmp_path
) -> None:
    port = reserved_port()
    text = base_config(api_url=sandbox.url, sink_url=sink.url, db=tmp_path / "router.db", port=port, extra_rules=RULES)
    made = daemon_factory(text)
    daemon = DaemonProcess(made.config_path, port, made.env).start()
    event_id = (await daemon.post(webhook_body(ident=1042))).json()["event_id"]
    await daemon.wait_log("event routed", event_id=event_id)
    events = await cli("events", "-c", str(daemon.config_path), "--json")
    [event] = json.loads(events.stdout)
    reasons = {o["rule"]: (o["matched"], o["reason"]) for o in event["outcomes"]}
    assert set(reasons) == {"welcome", "course-77", "course-999", "checkout-5", "test-orders-only"}
    assert reasons["welcome"][0] and reasons["course-77"][0]
    assert reasons["course-999"] == (False, reasons["course-999"][1]) and reasons["course-999"][1].startswith(
        "products:"
    )
    assert reasons["checkout-5"][1].startswith("checkouts:")
    assert reasons["test-orders-only"][1].startswith("when:")
    trace = await cli("trace", "-c", str(daemon.config_path), "order", "1042")
    assert trace.returncode == 0, trace.stderr
    assert "course-999" in trace.stdout and "not matched: products:" in trace.stdout
    assert "checkout-5" in trace.stdout and "not matched: checkouts:" in trace.stdout
    assert "affiliates" not in trace.stdout  # another trigger's rules are not this event's story
