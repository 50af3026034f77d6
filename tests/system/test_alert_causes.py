"""Each cause of an alert, seen across the process boundary: a real daemon driven over HTTP, the Plug&Pay API
the sandbox, and the alert channel a real recording server (an ``HttpSink``, or aiosmtpd for mail).

A destination whose circuit breaker opens is told down once and recovered once, never through itself; a
backlog is told once, not every tick; reconcile finding a missed webhook and an order the API answers 404
for are told with ids and no customer data; a dead delivery reaches an email channel as one plain-text mail
whose headers customer text cannot touch; and two instances on one PostgreSQL store send each alert once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from router.demo.sandbox import SandboxServer
from router.demo.sandbox_api import synthesize_orders
from router.demo.standins import serve_app
from router.demo.standins.sink import HttpSink, Reply
from router.demo.standins.smtp import SmtpServer
from router.store.base import EventFilter
from router.store.postgres import PostgresStore
from tests.support import (
    WEBHOOK_KEY,
    DaemonProcess,
    reserved_port,
    wait_until,
    webhook_body,
    welcome_rule,
)

OPS = "/ops"  # the path of the recording alert channel
SENDER = "Router <router@shop.nl>"
DEAD_FIX = "see plugpay-router deliveries -c CONFIG --status dead; fix it, then replay -c CONFIG --dead"


def router_config(
    *,
    port: int,
    api: SandboxServer,
    store_url: str,
    connectors: dict[str, str],
    alerts: str,
    rules: str | None = None,
    schedule: str = "[0.2s]",
    extra: str = "",
) -> str:
    """A daemon config: ``connectors`` by name (their YAML flow mappings), the ``alerts:`` section's body,
    and the welcome rule (each paid order POSTed to the ``sink`` connector's /welcome) unless ``rules``."""
    listed = "".join(f"  {name}: {body}\n" for name, body in connectors.items())
    rules = rules or welcome_rule({"order": "order.id", "invoice": "order.invoice_number"})
    return f"""version: 1
server: {{listen: "127.0.0.1:{port}", path: /webhooks/plugandpay}}
plugandpay:
  api_url: {api.url}
  api_token: "${{PLUGANDPAY_API_TOKEN}}"
  webhook_key: "{WEBHOOK_KEY}"
  retry: [0.2s, 0.5s]
store: {{url: "{store_url}"}}
delivery: {{schedule: {schedule}, timeout: 3s, concurrency: 8}}
connectors:
{listed}{rules}alerts:
{alerts}{extra}"""


def start_daemon(folder: Path, name: str, **config: Any) -> DaemonProcess:
    port = reserved_port()
    config.setdefault("store_url", f"sqlite:///{folder / 'router.db'}")
    path = folder / f"{name}.yaml"
    path.write_text(router_config(port=port, **config))
    return DaemonProcess(path, port).start()


def http(sink: HttpSink, **settings: str) -> str:
    more = "".join(f", {key}: {value}" for key, value in settings.items())
    return f'{{type: http, base_url: "{sink.url}"{more}}}'


def alerts_at(sink: HttpSink, path: str = OPS) -> list[dict[str, Any]]:
    """The ``alert`` objects an http channel received at ``path``, in order."""
    return [json.loads(r.body)["alert"] for r in sink.to(path)]


def texts_at(sink: HttpSink, path: str = OPS) -> list[str]:
    return [json.loads(r.body)["text"] for r in sink.to(path)]


def kinds(alerts: list[dict[str, Any]]) -> list[str]:
    return [a["kind"] for a in alerts]


async def told(sink: HttpSink, kind: str, timeout: float = 15.0, path: str = OPS) -> list[dict[str, Any]]:
    """Wait until the channel at ``path`` received an alert of ``kind``; returns the alerts of that kind."""

    async def arrived() -> bool:
        return kind in kinds(alerts_at(sink, path))

    await wait_until(arrived, timeout, f"a {kind} alert at {path}")
    return [a for a in alerts_at(sink, path) if a["kind"] == kind]


async def stopped(daemon: DaemonProcess) -> int:
    """SIGTERM and the exit code, waited for in a thread: the stand-ins on this event loop keep answering the
    daemon's last requests while it drains, instead of leaving them to time out."""
    return await asyncio.to_thread(daemon.stop)


def stored_alerts(daemon: DaemonProcess) -> int:
    """How many alerts the daemon stored for sending (each goes to every channel it may go to)."""
    return sum(1 for line in daemon.log_events() if line.get("event") == "alert stored for sending")


def postgres_instances(folder: Path, count: int, **config: Any) -> list[DaemonProcess]:
    """``count`` daemons (not started) with one config on one store."""
    daemons = []
    for number in range(count):
        port = reserved_port()
        path = folder / f"instance-{number}.yaml"
        path.write_text(router_config(port=port, **config))
        daemons.append(DaemonProcess(path, port))
    return daemons


async def test_a_failing_destination_is_told_down_and_recovered_once_never_through_itself_and_its_backlog_once(
    tmp_path: Path, any_order_api: SandboxServer, ops: HttpSink
) -> None:
    # The destination ``sink`` answers 503: its breaker (judging each call) opens at the first failure and
    # reopens after each failed probe until it answers again. It is an alert channel too, beside ``ops``.
    # Each order also goes to ``slow`` (the same server), whose one failure waits an hour for its retry: the
    # backlog lasts the whole test, through every tick of the alert loop after the first backlog alert.
    sink = await HttpSink(default=Reply(503, {"error": "maintenance"})).start()
    slow = '      - {connector: slow, path: /slow, json: {order: "{{ order.id }}"}}\n'
    try:
        daemon = start_daemon(
            tmp_path,
            "down",
            api=any_order_api,
            connectors={
                "ops": http(ops),
                "sink": http(sink, breaker="{calls: 1, failure_ratio: 1, open_for: 0.5s}"),
                "slow": http(sink, schedule="[1h]"),
            },
            rules=welcome_rule({"order": "order.id"}, more_actions=slow),
            schedule="[0.1s, 0.1s, 0.1s, 0.1s, 0.1s, 0.1s, 0.1s, 0.1s, 0.1s, 0.1s]",
            alerts=(
                f"  channels: [{{connector: ops, path: {OPS}}}, {{connector: sink, path: /alerts}}]\n"
                "  digest_every: 1s\n"  # a backlog told again on a later tick would go out on that tick
                "  when: {backlog: 0.5s}\n"
            ),
        )
        assert (await daemon.post(webhook_body(ident=5001))).status_code == 202

        [down] = await told(ops, "destination_down")
        [item] = down["items"]
        assert item["connector"] == "sink"
        assert "HTTP 503" in str(item.get("error")), item  # what the destination last said
        assert "destination sink is failing" in texts_at(ops)[kinds(alerts_at(ops)).index("destination_down")]
        assert down["fix"].startswith("nothing is lost")

        [backlog] = await told(ops, "backlog")
        assert backlog["count"] == 1 and "is a destination down?" in backlog["fix"]
        sink.default = None  # the destination answers again: the next probe closes the breaker

        # Noticing the recovery takes a later tick of the alert loop, with the backlog (``slow``) still there.
        [recovered] = await told(ops, "destination_recovered")
        [item] = recovered["items"]
        assert item["connector"] == "sink" and item["down_for"].endswith(" s")  # down for a second or two
        line = texts_at(ops)[kinds(alerts_at(ops)).index("destination_recovered")]
        assert line == f"plugpay-router: destination sink recovered after {item['down_for']}"
        await sink.wait_for(1, path="/alerts")  # the sink channel works: the backlog alert reached it

        async def every_stored_alert_arrived() -> bool:
            return len(alerts_at(ops)) >= stored_alerts(daemon)

        await wait_until(every_stored_alert_arrived, 10, "every alert the daemon stored at the ops channel")
        assert sorted(kinds(alerts_at(ops))) == ["backlog", "destination_down", "destination_recovered"]
        # Nothing about the sink was ever sent (or tried) through the sink itself.
        assert kinds(alerts_at(sink, "/alerts")) == ["backlog"]
        assert await stopped(daemon) == 0
    finally:
        await sink.stop()


async def test_reconcile_finding_orders_whose_webhook_never_came_gives_one_missed_webhooks_alert(
    tmp_path: Path, sandbox: SandboxServer, sink: HttpSink, ops: HttpSink
) -> None:
    missed = synthesize_orders(sandbox.state, 2, days=1)  # paid in the last day; no webhook is ever sent
    daemon = start_daemon(
        tmp_path,
        "reconcile",
        api=sandbox,
        connectors={"ops": http(ops), "sink": http(sink)},
        alerts=f"  channels: [{{connector: ops, path: {OPS}}}]\n",
        extra="reconcile: {every: 1h, grace: 0s, triggers: [order_paid]}\n",  # a pass at start
    )
    passed = await daemon.wait_log("reconcile pass", timeout=15)
    assert passed["found"] == 2
    [alert] = await told(ops, "missed_webhooks")
    assert alert["count"] == 2 and alert["items"] == [{"trigger": "order_paid", "count": 2}]
    assert "webhook rule" in alert["fix"] and "doctor" in alert["fix"]
    assert "reconcile found 2 events whose webhook never arrived" in texts_at(ops)[0]
    await sink.wait_for(2, path="/welcome")  # and the orders themselves were delivered
    assert sorted(str(r.json()["order"]) for r in sink.to("/welcome")) == sorted(missed)
    assert kinds(alerts_at(ops)) == ["missed_webhooks"]
    assert await stopped(daemon) == 0


async def test_an_order_the_api_answers_404_for_gives_one_event_failed_alert_with_ids_and_no_customer_data(
    tmp_path: Path, sandbox: SandboxServer, sink: HttpSink, ops: HttpSink
) -> None:
    contact = sandbox.state.fixtures["orders"]["1042"]["billing"]["contact"]  # Bilal de Wit, bilal@example.nl
    daemon = start_daemon(
        tmp_path,
        "failed",
        api=sandbox,
        connectors={"ops": http(ops), "sink": http(sink)},
        alerts=f"  channels: [{{connector: ops, path: {OPS}}}]\n",
    )
    sandbox.fail("/v2/orders/1042", 404)  # the order exists, but the API says it does not
    event_id = (await daemon.post(webhook_body(ident=1042))).json()["event_id"]
    [alert] = await told(ops, "event_failed")
    [item] = alert["items"]
    assert item["event_id"] == event_id and str(item["triggerable_id"]) == "1042"
    assert item["object"] == "order 1042" and item["trigger"] == "order_paid" and "404" in item["error"]
    assert set(item) == {"event_id", "triggerable_id", "object", "trigger", "error"}  # ids and the reason
    assert "events -c CONFIG --status failed" in alert["fix"] and "reroute" in alert["fix"]
    body = ops.to(OPS)[0].body.decode()
    for private in (contact["firstname"], contact["lastname"], contact["email"], contact["invoice_email"]):
        assert private not in body
    assert kinds(alerts_at(ops)) == ["event_failed"] and sink.requests == []
    assert await stopped(daemon) == 0


@pytest.fixture
async def echoing_crm() -> AsyncIterator[str]:
    """A destination that refuses every request with a 422 whose text echoes the customer's name, as many APIs
    do: customer-typed text reaches the delivery's error, and so the alert about it."""

    async def refuse(request: web.Request) -> web.Response:
        name = (await request.json()).get("name", "")
        return web.Response(status=422, text=f"unknown customer {name}")

    app = web.Application()
    app.router.add_post("/{path:.*}", refuse)
    runner, url = await serve_app(app)
    yield url
    await runner.cleanup()


async def test_a_dead_delivery_is_mailed_to_the_email_channel_and_customer_text_adds_no_recipient_or_header(
    tmp_path: Path, sandbox: SandboxServer, echoing_crm: str
) -> None:
    contact = sandbox.state.fixtures["orders"]["1042"]["billing"]["contact"]
    contact["firstname"] = "Jan\r\nBcc: evil@attacker.example\r\nX-Injected: yes"  # typed at the checkout
    smtp = await SmtpServer().start()
    try:
        daemon = start_daemon(
            tmp_path,
            "mail",
            api=sandbox,
            connectors={
                "mail": f'{{type: email, host: 127.0.0.1, port: {smtp.port}, starttls: false, from: "{SENDER}"}}',
                "sink": f'{{type: http, base_url: "{echoing_crm}"}}',
            },
            rules=welcome_rule({"order": "order.id", "name": "order.billing.contact.firstname"}),
            alerts='  channels: [{connector: mail, to: "ops@shop.nl"}]\n',
        )
        assert (await daemon.post(webhook_body(ident=1042))).status_code == 202
        received = await smtp.next_message(timeout=15)
        await daemon.wait_log("delivered", rule="alert:dead_delivery", connector="mail")
        assert await stopped(daemon) == 0
    finally:
        await smtp.stop()
    message = received.message
    assert received.rcpt_tos == ["ops@shop.nl"] and received.mail_from == "router@shop.nl"
    subject = "plugpay-router: 1 deliveries went dead"  # the alert's one line
    assert message["Subject"] == subject and message["To"] == "ops@shop.nl"
    assert sorted(message.keys()) == sorted(
        ["From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type", "Content-Transfer-Encoding"]
    )
    assert message.get_content_type() == "text/plain" and not message.is_multipart()
    lines = message.get_content().splitlines()
    assert lines[0] == subject
    [item] = [line for line in lines if line.startswith("- ")]
    assert "object order 1042" in item and "rule welcome" in item and "connector sink" in item
    # The customer's text reached the body, on one line and with the address masked as in the logs; not a header.
    assert "error HTTP 422: unknown customer Jan Bcc: e***@attacker.example X-Injected: yes" in item
    assert f"What to do: {DEAD_FIX}" in lines
    assert "evil@attacker.example" not in message.as_string() and contact["email"] not in message.as_string()
    assert len(smtp.received) == 1


async def test_two_instances_on_one_postgresql_store_send_the_first_alert_once_and_at_most_one_digest(
    tmp_path: Path, pg_url: str, any_order_api: SandboxServer, sink: HttpSink, ops: HttpSink
) -> None:
    sink.default = Reply(400, {"error": "unknown course"})  # every welcome is refused: dead at once
    daemons = postgres_instances(
        tmp_path,
        2,
        api=any_order_api,
        store_url=pg_url,
        connectors={"ops": http(ops), "sink": http(sink)},
        alerts=f"  channels: [{{connector: ops, path: {OPS}}}]\n  digest_every: 2s\n",
    )
    try:
        await asyncio.gather(*(asyncio.to_thread(d.start) for d in daemons))

        async def post(idents: range) -> None:
            posted = await asyncio.gather(*(daemons[n % 2].post(webhook_body(ident=n)) for n in idents))
            assert [answer.status_code for answer in posted] == [202] * len(idents)

        async def all_told() -> bool:
            return sum(int(a["count"]) for a in alerts_at(ops)) >= 10

        await post(range(6000, 6005))  # five dead deliveries, spread over both instances
        await told(ops, "dead_delivery")
        await post(range(6005, 6010))  # five more while the first alert's digest interval runs
        await wait_until(all_told, 20, "alerts about all 10 dead deliveries")
        alerts = alerts_at(ops)
        assert kinds(alerts) == ["dead_delivery", "dead_delivery"]  # the first alert at once, then one digest
        listed = [item["delivery_id"] for alert in alerts for item in alert["items"]]
        assert sum(a["count"] for a in alerts) == 10 and len(listed) == len(set(listed)) == 10  # none told twice
        keys = [r.key for r in ops.to(OPS)]
        assert len(keys) == len(set(keys))  # no alert delivery sent twice either
        store = PostgresStore(pg_url)
        await store.open()
        try:
            stored = await store.list_events(EventFilter(source="alert"), limit=100)
        finally:
            await store.close()
        assert len(stored) == 2  # and no other alert on its way from either instance
        logged = [line for d in daemons for line in d.log_events() if line.get("event") == "alert stored for sending"]
        assert len(logged) == 2
    finally:
        assert await asyncio.gather(*(stopped(d) for d in daemons)) == [0, 0]  # before the fixture drops the schema


async def test_two_instances_on_one_postgresql_store_tell_a_backlog_once(
    tmp_path: Path, pg_url: str, any_order_api: SandboxServer, sink: HttpSink, ops: HttpSink
) -> None:
    sink.default = Reply(503, {"error": "maintenance"})  # the welcome fails once and waits an hour to try again
    daemons = postgres_instances(
        tmp_path,
        2,
        api=any_order_api,
        store_url=pg_url,
        connectors={"ops": http(ops), "sink": http(sink)},
        schedule="[1h]",
        alerts=f"  channels: [{{connector: ops, path: {OPS}}}]\n  digest_every: 1s\n  when: {{backlog: 0.5s}}\n",
    )
    try:
        await asyncio.gather(*(asyncio.to_thread(d.start) for d in daemons))
        assert (await daemons[0].post(webhook_body(ident=7001))).status_code == 202
        await told(ops, "backlog")
        # Two forged webhooks, one after the other's alert: the second quarantined alert is a digest, stored
        # at least a second after the first, so every instance has ticked (and noted the backlog, if it
        # would) in between. Then every alert stored by then has arrived.
        forged = {"Content-Type": "application/json", "X-Signature": "0" * 64}
        for number, ident in enumerate((7002, 7003), start=1):
            assert (await daemons[number % 2].post(webhook_body(ident=ident), headers=forged)).status_code == 401

            async def quarantine_told(number: int = number) -> bool:
                return kinds(alerts_at(ops)).count("quarantined") >= number

            await wait_until(quarantine_told, 15, f"quarantined alert number {number}")
        store = PostgresStore(pg_url)
        await store.open()
        try:

            async def every_stored_alert_arrived() -> bool:
                stored = await store.list_events(EventFilter(source="alert"), limit=100)
                return len(alerts_at(ops)) >= len(stored)

            await wait_until(every_stored_alert_arrived, 15, "every stored alert at the channel")
        finally:
            await store.close()
        assert kinds(alerts_at(ops)).count("backlog") == 1
    finally:
        assert await asyncio.gather(*(stopped(d) for d in daemons)) == [0, 0]  # before the fixture drops the schema
