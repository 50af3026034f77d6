"""Hardening of the connectors, through the real daemon: customer text cannot add mail recipients (item 1) or
header lines (item 8), oversized answers cost bounded memory (item 13), and stored requests and log lines keep
customer data to what is needed (item 15)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from router.demo.standins.sink import HttpSink
from router.demo.standins.smtp import SmtpServer
from tests.support import DaemonProcess, reserved_port, stored, wait_until, webhook_body

MB = 1024 * 1024
ATTACK_NAME = "Eve <a@evil.example>, b@evil.example;"
CUSTOMER = "bilal@example.nl"
FIRSTNAME = "{{ order.billing.contact.firstname }}"
LASTNAME = "{{ order.billing.contact.lastname }}"
EMAIL = "{{ order.billing.contact.email }}"


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    server = await SmtpServer().start()
    yield server
    await server.stop()


def start_daemon(tmp_path: Path, api_url: str, connectors: str, rules: str) -> DaemonProcess:
    """A daemon with these ``connectors:`` and ``rules:`` sections (YAML, indented by two spaces)."""
    port = reserved_port()
    path = tmp_path / "config.yaml"
    path.write_text(f"""version: 1
server: {{listen: "127.0.0.1:{port}", path: /webhooks/plugandpay}}
plugandpay:
  api_url: {api_url}
  api_token: "${{PLUGANDPAY_API_TOKEN}}"
  allow_unsigned: true
  retry: [0.2s, 0.5s]
store: {{url: "sqlite:///{tmp_path / "router.db"}"}}
delivery: {{schedule: [0.2s, 0.4s], timeout: 5s}}
connectors:
{connectors}
rules:
{rules}""")
    return DaemonProcess(path, port).start()


def mail_rule(to: Any, *, name: str = "welcome-mail") -> str:
    return f"""  - name: {name}
    trigger: order_paid
    actions:
      - connector: mail
        to: {json.dumps(to)}
        subject: "Bedankt voor je bestelling {{{{ order.invoice_number }}}}"
        text: "Hoi {FIRSTNAME}"
"""


def mail_connector(smtp: SmtpServer) -> str:
    return f'  mail: {{type: email, host: 127.0.0.1, port: {smtp.port}, from: "Shop <shop@example.nl>"}}'


async def finished(tmp_path: Path, count: int = 1) -> list[Any]:
    """The deliveries, once ``count`` of them are delivered or dead."""
    found: list[Any] = []

    async def done() -> bool:
        found[:] = (await stored(tmp_path / "router.db"))[1]
        return sum(d.status in ("delivered", "dead") for d in found) >= count

    await wait_until(done, 15, f"{count} finished deliveries")
    return found


def peak_rss_mb(daemon: DaemonProcess) -> float:
    """The daemon's peak resident memory (VmHWM) so far, in MB."""
    assert daemon.proc is not None
    for line in Path(f"/proc/{daemon.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc/<pid>/status")


# ---------------------------------------------------------------- item 1: recipients


async def test_item1_attack_first_name_reaches_only_the_customer(tmp_path, sandbox, smtp):
    sandbox.state.fixtures["orders"]["1042"]["billing"]["contact"]["firstname"] = ATTACK_NAME
    to = [{"name": f"{FIRSTNAME} {LASTNAME}", "email": EMAIL}]
    daemon = start_daemon(tmp_path, sandbox.url, mail_connector(smtp), mail_rule(to))
    try:
        assert (await daemon.post(webhook_body("order_paid", 1042))).status_code == 202
        received = await smtp.next_message()
        assert received.rcpt_tos == [CUSTOMER]  # exactly one RCPT: the real customer
        (address,) = received.message["To"].addresses
        assert address.addr_spec == CUSTOMER
        assert address.display_name == f"{ATTACK_NAME} de Wit"  # only ever a quoted display name
        assert received.message["To"].startswith('"Eve <a@evil.example>, b@evil.example; de Wit" <')
        await daemon.wait_log("delivered", connector="mail")
        assert len(smtp.received) == 1
    finally:
        assert daemon.stop() == 0


async def test_item1_string_to_with_two_addresses_is_dead_with_the_reason(tmp_path, sandbox, smtp):
    to = "{{ order.billing.contact.email }}, {{ order.billing.contact.invoice_email }}"
    daemon = start_daemon(tmp_path, sandbox.url, mail_connector(smtp), mail_rule(to))
    try:
        await daemon.post(webhook_body("order_paid", 1042))
        (delivery,) = await finished(tmp_path)
        assert delivery.status == "dead" and delivery.attempts == 1
        assert "a plain string must be exactly one address, got 2 addresses" in (delivery.last_error or "")
        assert smtp.received == []
    finally:
        assert daemon.stop() == 0


async def test_item1_eleven_recipients_are_dead_under_the_default_cap(tmp_path, sandbox, smtp):
    to = [{"email": f"student{n}@example.nl"} for n in range(11)]
    daemon = start_daemon(tmp_path, sandbox.url, mail_connector(smtp), mail_rule(to))
    try:
        await daemon.post(webhook_body("order_paid", 1042))
        (delivery,) = await finished(tmp_path)
        assert delivery.status == "dead"
        assert "11 recipients, more than max_recipients (10)" in (delivery.last_error or "")
        assert smtp.received == []
    finally:
        assert daemon.stop() == 0


# ---------------------------------------------------------------- item 8: header lines


async def test_item8_line_break_in_a_rendered_header_is_dead_at_once(tmp_path, sandbox, sink):
    sandbox.state.fixtures["orders"]["1042"]["billing"]["contact"]["firstname"] = "Bilal\r\nX-Injected: yes"
    rules = f"""  - name: crm-hook
    trigger: order_paid
    actions:
      - connector: hook
        path: /contacts
        headers: {{X-Customer: "{FIRSTNAME}"}}
        json: {{email: "{EMAIL}"}}
"""
    daemon = start_daemon(tmp_path, sandbox.url, f'  hook: {{type: http, base_url: "{sink.url}"}}', rules)
    try:
        await daemon.post(webhook_body("order_paid", 1042))
        line = await daemon.wait_log("delivery dead", connector="hook")
        (delivery,) = await finished(tmp_path)
        assert delivery.status == "dead" and delivery.attempts == 1
        assert "header X-Customer: the value contains a carriage return" in (delivery.last_error or "")
        assert "\n" not in line["error"]
        assert "Traceback" not in daemon.log() and "unexpected error" not in daemon.log()
        assert sink.requests == []
    finally:
        assert daemon.stop() == 0


# ---------------------------------------------------------------- item 13: oversized answers


async def test_item13_a_150_mb_answer_costs_bounded_memory_and_a_bounded_excerpt(tmp_path, sandbox):
    big = HttpSink(streams={"/big": (200, 150 * MB), "/broken": (500, 150 * MB)})
    await big.start()
    rules = """  - name: big
    trigger: order_paid
    actions:
      - {connector: hook, path: /big, json: {id: "{{ order.id }}"}}
      - {connector: hook, path: /broken, json: {id: "{{ order.id }}"}}
"""
    daemon = start_daemon(tmp_path, sandbox.url, f'  hook: {{type: http, base_url: "{big.url}"}}', rules)
    try:
        await daemon.post(webhook_body("order_paid", 1042))
        deliveries = await finished(tmp_path, 2)
        status = {d.request["path"]: d for d in deliveries}
        assert status["/big"].status == "delivered"
        broken = status["/broken"]
        assert broken.status == "dead" and broken.attempts == 3
        assert "last error: HTTP 500: yyyy" in (broken.last_error or "") and len(broken.last_error or "") < 1000
        assert peak_rss_mb(daemon) < 120, f"peak RSS {peak_rss_mb(daemon):.0f} MB"
    finally:
        assert daemon.stop() == 0
        await big.stop()


async def test_item13_an_oversized_plugandpay_answer_fails_the_event(tmp_path, sandbox):
    from router.demo.sandbox import Fault

    sandbox.state.faults["/v2/orders/1042"] = [Fault(200, oversize=150 * MB)]
    rules = "  - {name: hook, trigger: order_paid, actions: [{connector: hook, path: /x, json: {a: 1}}]}\n"
    daemon = start_daemon(tmp_path, sandbox.url, '  hook: {type: http, base_url: "http://127.0.0.1:9"}', rules)
    try:
        await daemon.post(webhook_body("order_paid", 1042))
        line = await daemon.wait_log("event failed", timeout=15)
        assert "Plug&Pay answer larger than 10485760 bytes on GET /v2/orders/1042" in line["reason"]
        events, _ = await stored(tmp_path / "router.db")
        assert events[0].status == "failed" and "larger than" in (events[0].last_error or "")
        assert peak_rss_mb(daemon) < 120, f"peak RSS {peak_rss_mb(daemon):.0f} MB"
    finally:
        assert daemon.stop() == 0


# ---------------------------------------------------------------- item 15: privacy


async def test_item15_the_stored_invoice_request_holds_only_what_the_invoice_needs(tmp_path, sandbox, sink):
    rules = "  - {name: books, trigger: order_paid, actions: [{connector: books}]}\n"
    connectors = f'  books: {{type: invoice, flavor: generic, url: "{sink.url}/invoices"}}'
    daemon = start_daemon(tmp_path, sandbox.url, connectors, rules)
    try:
        await daemon.post(webhook_body("order_paid", 1042))
        (posted,) = await sink.wait_for(1)
        (delivery,) = await finished(tmp_path)
        assert delivery.status == "delivered"
        stored_text = json.dumps(delivery.request)
        for private in ("+31612345678", "telephone", "mdt_pWUnw6pkBN", "tr_7UhSN1zuXS", "payment-link", "WELKOM10"):
            assert private not in stored_text
        order = json.loads(delivery.request["order"])
        assert set(order["billing"]["contact"]) <= {
            "email",
            "invoice_email",
            "firstname",
            "lastname",
            "company",
            "vat_id_number",
        }
        # What an invoice must show stays: the billing address and the customer's VAT number.
        assert order["billing"]["address"]["street"] == "Sanderslaan"
        customer = posted.json()["customer"]
        assert customer["vat_id"] == "NL000099998B57" and "phone" not in customer
        assert posted.json()["totals"] == {"amount": "100.00", "tax": "21.00", "amount_with_tax": "121.00"}
    finally:
        assert daemon.stop() == 0


async def test_item15_the_log_of_a_mail_holds_no_customer_address(tmp_path, sandbox, smtp):
    smtp.refuse["finance@example.nl"] = "550 5.1.1 <finance@example.nl>: Recipient address rejected"
    rules = mail_rule(EMAIL) + mail_rule("{{ order.billing.contact.invoice_email }}", name="invoice-mail")
    daemon = start_daemon(tmp_path, sandbox.url, mail_connector(smtp), rules)
    try:
        await daemon.post(webhook_body("order_paid", 1042))
        await smtp.next_message()
        await daemon.wait_log("delivered", connector="mail")
        dead = await daemon.wait_log("delivery dead", connector="mail")
        assert "Recipient address rejected" in dead["error"]
        log = daemon.log()
        assert CUSTOMER not in log and "finance@example.nl" not in log
        assert "f***@example.nl" in dead["error"]
    finally:
        assert daemon.stop() == 0
