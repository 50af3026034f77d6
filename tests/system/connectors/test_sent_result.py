"""What each connector reports the destination made of a send (``Sent.result``, kept with the attempt)."""

from __future__ import annotations

from tests.system.connectors.conftest import build, outgoing
from tests.system.connectors.test_activecampaign import SYNC, crm
from tests.system.connectors.test_email import KEY, WELCOME, mail_connector
from tests.system.connectors.test_invoice import books, invoice_request


async def test_activecampaign_reports_the_contact_tags_and_lists(ac):
    connectors, connector = crm(ac)
    sent = await connector.send(outgoing({**SYNC, "fields": {}}))
    assert sent.result is not None
    contact = sent.result["contact_id"]
    assert sent.result == {"contact_id": contact, "op": "sync_contact", "tags": ["cursus", "cursus-77"], "lists": ["3"]}
    assert [c["id"] for c in ac.contacts.values()] == [contact]
    await connectors.aclose()


async def test_moneybird_reports_the_invoice_and_whether_it_was_created_or_found(mb):
    connector = books(mb)
    first = await connector.send(outgoing(invoice_request()))
    again = await connector.send(outgoing(invoice_request()))
    [invoice_id] = [str(i) for i in mb.invoices]
    assert first.result == {"invoice_id": invoice_id, "number": "2025-0042", "created": True, "sent": False}
    assert again.result is not None and (again.result["invoice_id"], again.result["created"]) == (invoice_id, False)
    await connector.aclose()


async def test_email_reports_the_message_id(smtp):
    connector = mail_connector(smtp.port)
    sent = await connector.send(outgoing(WELCOME, key=KEY))
    await smtp.next_message()
    assert sent.result is not None
    assert sent.result["message_id"] == f"<{KEY}@example.nl>"
    assert sent.result["recipients"] == 3
    await connector.aclose()


async def test_http_reports_the_status_and_the_start_of_the_answer(sink):
    sink.text_replies["/long"] = "x" * 500
    connectors = build(f'  hook: {{type: http, base_url: "{sink.url}"}}')
    sent = await connectors.get("hook").send(outgoing({"method": "POST", "path": "/long", "json": {"a": 1}}))
    assert sent.result == {"status": 200, "answer": "x" * 200}
    await connectors.aclose()
