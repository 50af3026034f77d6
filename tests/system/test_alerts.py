"""Alerts tell the owner once and usefully, and never get in the way: many dead deliveries give one alert at
once and one digest, a SIGKILL between the cause and the sending loses no alert and sends none twice, a
channel that hangs slows no webhook, an alert that cannot be sent raises no alert about itself, and a
failed reload is told, and so is yesterday's summary. A real daemon, a recording HTTP server as the channel
(``ops``)."""

from __future__ import annotations

import datetime as dt
import json
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from router.demo.sandbox import SandboxServer
from router.demo.standins.sink import HttpSink, Reply
from router.events import Event
from router.store.sqlite import SqliteStore
from tests.support import DaemonProcess, base_config, reserved_port, wait_until, webhook_body

ALERTS = """alerts:
  channels: [{{connector: ops, path: /ops}}]
  dashboard_url: https://router.shop.nl/ui
  digest_every: {digest}
"""


def alerting_daemon(
    factory: Callable[..., DaemonProcess], api: SandboxServer, sink: HttpSink, ops: HttpSink, tmp_path: Path, **kw: Any
) -> DaemonProcess:
    port = reserved_port()
    text = base_config(api_url=api.url, sink_url=sink.url, db=tmp_path / "router.db", port=port, schedule="[0.2s]")
    text = text.replace("connectors:\n", f'connectors:\n  ops: {{type: http, base_url: "{ops.url}"}}\n')
    made = factory(text + ALERTS.format(digest=kw.get("digest", "3s")) + kw.get("extra", ""))
    return DaemonProcess(made.config_path, port, made.env)


def alerts_of(ops: HttpSink) -> list[dict[str, Any]]:
    return [json.loads(r.body)["alert"] for r in ops.requests if r.path == "/ops"]


async def test_many_dead_deliveries_give_one_alert_at_once_and_one_digest(
    daemon_factory, any_order_api, sink, ops, tmp_path
) -> None:
    sink.default = Reply(400, {"error": "unknown course"})  # every welcome is refused: dead at once
    daemon = alerting_daemon(daemon_factory, any_order_api, sink, ops, tmp_path).start()
    for ident in range(2001, 2013):
        assert (await daemon.post(webhook_body(ident=ident))).status_code == 202

    async def all_told() -> bool:
        return sum(a["count"] for a in alerts_of(ops)) == 12

    await wait_until(all_told, 20, "alerts about all 12 dead deliveries")
    told = alerts_of(ops)
    assert 1 <= len(told) <= 2, told  # one at once, the rest in one digest
    first = told[0]
    assert first["kind"] == "dead_delivery" and first["dashboard"] == "https://router.shop.nl/ui"
    assert {"delivery_id", "event_id", "triggerable_id", "rule", "connector", "error"} <= set(first["items"][0])
    assert first["items"][0]["rule"] == "welcome" and "400" in first["items"][0]["error"]
    assert first["fix"].startswith("see plugpay-router deliveries")
    text = json.loads(ops.requests[0].body)["text"]
    assert text.startswith("plugpay-router: ") and "deliveries went dead" in text
    assert "bilal@example.nl" not in ops.requests[0].body.decode()  # ids, not customer data
    assert daemon.stop() == 0


async def test_a_sigkill_between_the_cause_and_the_sending_loses_no_alert_and_sends_none_twice(
    daemon_factory, any_order_api, sink, ops, tmp_path
) -> None:
    sink.default = Reply(400, {"error": "unknown course"})
    daemon = alerting_daemon(daemon_factory, any_order_api, sink, ops, tmp_path, digest="1h").start()
    event_id = (await daemon.post(webhook_body(ident=2042))).json()["event_id"]
    await daemon.wait_log("delivery dead", event_id=event_id)
    daemon.signal(signal.SIGKILL)  # the alert is in the outbox (same transaction) but maybe not sent yet
    assert daemon.proc is not None
    daemon.proc.wait(10)
    daemon.start()

    async def told() -> bool:
        return len(alerts_of(ops)) >= 1

    await wait_until(told, 20, "the alert after the restart")
    await daemon.wait_log("daemon started")
    assert (await daemon.post(webhook_body(ident=2043))).status_code == 202  # life goes on
    await daemon.wait_log("delivery dead", timeout=20)
    assert [a["count"] for a in alerts_of(ops)] == [1]  # once; the second dead waits for the hourly digest
    assert daemon.stop() == 0


async def test_a_hanging_channel_slows_no_webhook_and_a_dead_alert_raises_no_alert(
    daemon_factory, any_order_api, sink, ops, tmp_path
) -> None:
    sink.default = Reply(400, {"error": "unknown course"})
    ops.replies = [Reply(200, delay=30)]  # the alert channel hangs on the first alert
    ops.default = Reply(400, {"error": "no such channel"})  # and refuses the rest: dead alert deliveries
    daemon = alerting_daemon(daemon_factory, any_order_api, sink, ops, tmp_path, digest="1s").start()
    for ident in range(3001, 3006):
        assert (await daemon.post(webhook_body(ident=ident))).status_code == 202

    async def all_dead() -> bool:
        return len([e for e in daemon.log_events() if e.get("event") == "delivery dead"]) >= 5

    await wait_until(all_dead, 20, "every welcome to go dead while the alert channel hangs")
    await daemon.wait_log("alert stored for sending")
    await daemon.wait_log("delivery dead", rule="alert:dead_delivery", timeout=20)
    kinds = [e.get("kind") for e in daemon.log_events() if e.get("event") == "alert stored for sending"]
    assert set(kinds) == {"dead_delivery"}  # the alert's own dead delivery is told to nobody
    assert daemon.stop() == 0


async def test_a_failed_reload_is_told(daemon_factory, any_order_api, sink, ops, tmp_path) -> None:
    daemon = alerting_daemon(daemon_factory, any_order_api, sink, ops, tmp_path).start()
    daemon.config_path.write_text(daemon.config_path.read_text().replace("rules:", "rulez:"))
    daemon.signal(signal.SIGHUP)

    async def told() -> bool:
        return any(a["kind"] == "reload_failed" for a in alerts_of(ops))

    await wait_until(told, 20, "the reload_failed alert")
    [alert] = alerts_of(ops)
    assert "rulez" in alert["items"][0]["error"]
    assert daemon.stop() == 0


async def test_webhooks_refused_by_verification_are_told_with_what_to_check(
    daemon_factory, any_order_api, sink, ops, tmp_path
) -> None:
    daemon = alerting_daemon(daemon_factory, any_order_api, sink, ops, tmp_path).start()
    forged = {"Content-Type": "application/json", "X-Signature": "0" * 64}
    assert (await daemon.post(webhook_body(ident=4001), headers=forged)).status_code == 401

    async def told() -> bool:
        return any(a["kind"] == "quarantined" for a in alerts_of(ops))

    await wait_until(told, 20, "the quarantined alert")
    [alert] = alerts_of(ops)
    assert alert["count"] == 1 and "webhook_key" in alert["fix"]
    assert daemon.stop() == 0


async def test_yesterdays_summary_reaches_the_channel_with_what_the_store_holds_for_that_day(
    daemon_factory, any_order_api, sink, ops, tmp_path
) -> None:
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    store = SqliteStore(tmp_path / "router.db")
    await store.open()
    for ident, at in ((5001, today - 3600 * 12), (5002, today - 3600 * 2), (5003, today - 3600 * 30)):
        await store.add_event(Event("order_paid", "order_paid", "order", str(ident)), dedupe_window=60, now=at)
    await store.close()
    daily = '  daily_summary: "00:00"\n  timezone: UTC\n'  # always past: sent as the daemon starts
    daemon = alerting_daemon(daemon_factory, any_order_api, sink, ops, tmp_path, extra=daily).start()

    async def told() -> bool:
        return any(a["kind"] == "daily_summary" for a in alerts_of(ops))

    await wait_until(told, 20, "the daily summary")
    [summary] = [a for a in alerts_of(ops) if a["kind"] == "daily_summary"]
    yesterday = dt.datetime.fromtimestamp(today - 1, dt.UTC).date().isoformat()
    assert summary["day"] == yesterday and summary["received"] == {"order_paid": 2}
    texts = [json.loads(r.body)["text"] for r in ops.requests]
    assert f"plugpay-router: {yesterday} (UTC): 2 events, 0 delivered, 0 dead, 0 failed" in texts
    assert daemon.stop() == 0
