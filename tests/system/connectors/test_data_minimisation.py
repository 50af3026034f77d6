"""Customer data kept to what is needed, through the real daemon: the stored request of an invoice holds only
what the invoice needs, and the log of a mail holds no customer address."""

from __future__ import annotations

import json

from tests.support import webhook_body
from tests.system.connectors.conftest import CUSTOMER, EMAIL, finished, mail_connector, mail_rule, start_daemon


async def test_the_stored_invoice_request_holds_only_what_the_invoice_needs(tmp_path, sandbox, sink):
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


async def test_the_log_of_a_mail_holds_no_customer_address(tmp_path, sandbox, smtp):
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
