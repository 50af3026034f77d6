"""End to end through the real daemon: one paid order becomes a welcome mail (SMTP) and a synced, tagged CRM contact."""

from __future__ import annotations

from router.demo.standins.activecampaign import TOKEN as AC_TOKEN
from tests.support import DaemonProcess, reserved_port, webhook_body


def config(tmp_path, *, port: int, api_url: str, smtp_port: int, ac_url: str) -> str:
    return f"""version: 1
server: {{listen: "127.0.0.1:{port}", path: /webhooks/plugandpay}}
plugandpay:
  api_url: {api_url}
  api_token: "${{PLUGANDPAY_API_TOKEN}}"
  allow_unsigned: true
store: {{url: "sqlite:///{tmp_path / "router.db"}"}}
delivery: {{schedule: [0.2s, 0.4s], timeout: 3s}}
connectors:
  mail: {{type: email, host: 127.0.0.1, port: {smtp_port}, from: "Cursusshop <shop@example.nl>"}}
  crm: {{type: activecampaign, base_url: "{ac_url}", api_token: "${{AC_API_TOKEN}}"}}
rules:
  - name: welcome-mail
    trigger: order_paid
    actions:
      - connector: mail
        to: "{{{{ order.billing.contact.firstname }}}} {{{{ order.billing.contact.lastname }}}}
          <{{{{ order.billing.contact.email }}}}>"
        subject: "Bedankt voor je bestelling {{{{ order.invoice_number }}}}"
        text: "Hoi {{{{ order.billing.contact.firstname }}}},
          je bestelling van {{{{ order.amount_with_tax | money }}}} is binnen."
        html: "<p>Hoi <b>{{{{ order.billing.contact.firstname }}}}</b>!</p>"
  - name: course-access
    trigger: order_paid
    products: [77]
    actions:
      - connector: crm
        op: sync_contact
        email: "{{{{ order.billing.contact.email }}}}"
        first_name: "{{{{ order.billing.contact.firstname }}}}"
        tags: ["cursus-77"]
        lists: [3]
"""


async def test_a_paid_order_mails_the_customer_and_syncs_the_crm(tmp_path, sandbox, smtp, ac):
    port = reserved_port()
    path = tmp_path / "config.yaml"
    path.write_text(config(tmp_path, port=port, api_url=sandbox.url, smtp_port=smtp.port, ac_url=ac.url))
    ac.fail("/api/3/contactLists", 429, {"Retry-After": "1"})  # the last step is refused once
    daemon = DaemonProcess(path, port, {"AC_API_TOKEN": AC_TOKEN}).start()
    try:
        response = await daemon.post(webhook_body("order_payment_completed", 1042))
        assert response.status_code == 202

        received = await smtp.next_message()
        msg = received.message
        assert msg["Subject"] == "Bedankt voor je bestelling 2025-0042"
        assert msg["To"] == "Bilal de Wit <bilal@example.nl>"
        assert msg["Message-ID"].startswith("<ppr_") and msg["Message-ID"].endswith("@example.nl>")
        plain, html = msg.get_body(("plain",)), msg.get_body(("html",))
        assert plain is not None and "je bestelling van € 121,00 is binnen" in plain.get_content()
        assert html is not None and "<b>Bilal</b>" in html.get_content()

        await daemon.wait_log("delivered", connector="crm", timeout=15)
        steps = [(h.method, h.path, h.status) for h in ac.hits]
        assert steps == [
            ("POST", "/api/3/contact/sync", 201),
            ("GET", "/api/3/tags", 200),
            ("POST", "/api/3/tags", 201),
            ("POST", "/api/3/contactTags", 201),
            ("POST", "/api/3/contactLists", 429),
            # the retry resumes from the top: every step is idempotent, the tag id is cached
            ("POST", "/api/3/contact/sync", 201),
            ("POST", "/api/3/contactTags", 201),
            ("POST", "/api/3/contactLists", 200),
        ]
        refused, retried = ac.hits[4], ac.hits[5]
        assert retried.at - refused.at >= 1.0  # Retry-After honoured, though the schedule said 0.2 s
        assert len(ac.contact_tags) == 1
        assert ac.contacts["bilal@example.nl"]["firstName"] == "Bilal"
        assert AC_TOKEN not in daemon.log()
    finally:
        assert daemon.stop() == 0
