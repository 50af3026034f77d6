"""Typed values and template files in the real daemon: what a destination receives, and a reload picks up edits."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from router.demo.standins.smtp import SmtpServer
from tests.support import API_TOKEN, WEBHOOK_KEY, DaemonProcess, reserved_port, webhook_body


def daemon_config(tmp_path: Path, *, api_url: str, connectors: str, rules: str) -> DaemonProcess:
    port = reserved_port()
    path = tmp_path / "config.yaml"
    path.write_text(f"""version: 1
server: {{listen: "127.0.0.1:{port}", path: /webhooks/plugandpay}}
plugandpay:
  api_url: {api_url}
  api_token: "${{PLUGANDPAY_API_TOKEN}}"
  webhook_key: "{WEBHOOK_KEY}"
store: {{url: "sqlite:///{tmp_path / "router.db"}"}}
delivery: {{schedule: [0.2s, 0.4s], timeout: 3s}}
connectors:
{connectors}
rules:
{rules}""")
    return DaemonProcess(path, port, {"PLUGANDPAY_API_TOKEN": API_TOKEN})


async def test_a_native_value_reaches_the_destination_as_a_json_number(sandbox, sink, tmp_path):
    daemon = daemon_config(
        tmp_path,
        api_url=sandbox.url,
        connectors=f'  lms: {{type: http, base_url: "{sink.url}"}}',
        rules="""  - name: enrol
    trigger: order_paid
    actions:
      - connector: lms
        for_each: order.items
        path: /enrolments
        json:
          product: "{{ item.product_id | native }}"
          seats: "{{ item.quantity | native }}"
          price: "{{ item.amount | float | native }}"
          tags: "{{ order.tags | native }}"
          live: "{{ (order.mode == 'live') | native }}"
          as_text: "{{ item.quantity }}"
""",
    ).start()
    try:
        response = await daemon.post(webhook_body("order_paid", 1042))
        assert response.status_code == 202, response.text
        first, second = await sink.wait_for(2, path="/enrolments")
    finally:
        daemon.stop()
    bodies = sorted((json.loads(r.body) for r in (first, second)), key=lambda b: b["product"])
    assert bodies[0] == {
        "product": 77,
        "seats": 1,
        "price": 90.0,
        "tags": ["cursus", "voorjaar-2025"],
        "live": True,
        "as_text": "1",  # without | native a value stays text, as before
    }
    assert b'"seats":1,' in first.body or b'"seats":1,' in second.body


async def test_an_html_template_file_renders_and_a_change_applies_on_sighup(sandbox, tmp_path):
    smtp = await SmtpServer().start()
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "welcome.html").write_text(
        '{% include "templates/greeting.html" %}\n<p>Factuur {{ order.invoice_number }}</p>\n'
    )
    (templates / "greeting.html").write_text("<p>Hoi {{ order.billing.contact.company }}</p>")
    daemon = daemon_config(
        tmp_path,
        api_url=sandbox.url,
        connectors=f"""  mail: {{type: email, host: 127.0.0.1, port: {smtp.port}, starttls: false,
          from: "Shop <shop@example.nl>"}}""",
        rules="""  - name: welcome
    trigger: order_paid
    actions:
      - connector: mail
        to: [{email: "{{ order.billing.contact.email }}"}]
        subject: "Bedankt {{ order.invoice_number }}"
        text_file: templates/welcome.txt
        html_file: templates/welcome.html
""",
    )
    (templates / "welcome.txt").write_text("Hoi {{ order.billing.contact.firstname }}\n")
    daemon.start()
    try:
        assert (await daemon.post(webhook_body("order_paid", 1042))).status_code == 202
        first = await smtp.next_message()
        (templates / "greeting.html").write_text("<p>Beste {{ order.billing.contact.firstname }}</p>")
        daemon.signal(signal.SIGHUP)
        await daemon.wait_log("config reloaded")
        assert (await daemon.post(webhook_body("order_paid", 1043))).status_code == 202
        second = await smtp.next_message()
    finally:
        daemon.stop()
        await smtp.stop()
    html = first.message.get_body(("html",)).get_content().replace("\r\n", "\n")
    assert "<p>Hoi Timmermans &amp; Zn</p>\n<p>Factuur 2025-0042</p>" in html  # values in .html files are escaped
    assert first.message.get_body(("plain",)).get_content().strip() == "Hoi Bilal"
    assert "<p>Beste " in second.message.get_body(("html",)).get_content()
