"""Mail recipients from customer text, through the real daemon: a first name that lists addresses is only a
display name and reaches only the customer, a ``to:`` string that renders two addresses is dead with the
reason, and more recipients than ``max_recipients`` are dead before anything is sent."""

from __future__ import annotations

from tests.support import webhook_body
from tests.system.connectors.conftest import (
    CUSTOMER,
    EMAIL,
    FIRSTNAME,
    LASTNAME,
    finished,
    mail_connector,
    mail_rule,
    start_daemon,
)

ATTACK_NAME = "Eve <a@evil.example>, b@evil.example;"


async def test_a_first_name_never_adds_a_recipient(tmp_path, sandbox, smtp):
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


async def test_a_string_to_that_renders_two_addresses_is_dead_with_the_reason(tmp_path, sandbox, smtp):
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


async def test_eleven_recipients_are_dead_under_the_default_cap(tmp_path, sandbox, smtp):
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
