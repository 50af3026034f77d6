"""The email connector against a real aiosmtpd server: content, Message-ID, and SMTP reply classification."""

from __future__ import annotations

import pytest

from connectors.base import Permanent, Retryable
from tests.support import reserved_port
from tests.system.connectors.conftest import build, outgoing

KEY = "ppr_5f0c2a9d81e34b7c9a0d6e1f2b3c4d5e"


def mail_connector(port: int):
    connectors = build(f'  mail: {{type: email, host: 127.0.0.1, port: {port}, from: "Shop <shop@example.nl>"}}')
    return connectors.get("mail")


WELCOME = {
    "to": "Bilal de Wit <bilal@example.nl>",
    "cc": ["finance@example.nl"],
    "bcc": "archief@example.nl",
    "reply_to": "support@example.nl",
    "subject": "Bedankt voor je bestelling 2025-0042",
    "text": "Hoi Bilal,\n\nje cursus staat klaar.\n",
    "html": "<p>Hoi <b>Bilal</b>, je cursus staat klaar.</p>",
    "headers": {"X-Campaign": "welcome"},
}


async def test_welcome_mail_arrives_with_subject_text_html_and_message_id(smtp):
    connector = mail_connector(smtp.port)
    sent = await connector.send(outgoing(WELCOME, key=KEY))
    received = await smtp.next_message()
    msg = received.message

    assert sent.status_code == 250
    assert received.mail_from == "shop@example.nl"
    assert sorted(received.rcpt_tos) == ["archief@example.nl", "bilal@example.nl", "finance@example.nl"]
    assert msg["Subject"] == "Bedankt voor je bestelling 2025-0042"
    assert msg["To"] == "Bilal de Wit <bilal@example.nl>"
    assert msg["Cc"] == "finance@example.nl"
    assert msg["Bcc"] is None  # envelope only: other recipients must not see it
    assert msg["Reply-To"] == "support@example.nl"
    assert msg["X-Campaign"] == "welcome"
    assert msg["Message-ID"] == f"<{KEY}@example.nl>"
    assert msg.get_content_type() == "multipart/alternative"
    plain = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert plain is not None and plain.get_content().replace("\r\n", "\n") == WELCOME["text"]
    assert html is not None and "<b>Bilal</b>" in html.get_content()
    await connector.aclose()


async def test_every_attempt_of_a_delivery_carries_the_same_message_id(smtp):
    connector = mail_connector(smtp.port)
    html_only = {"to": ["a@example.nl"], "subject": "Hoi", "html": "<p>Hoi</p>"}
    await connector.send(outgoing(html_only, key=KEY))
    await connector.send(outgoing(html_only, key=KEY))
    first, second = await smtp.next_message(), await smtp.next_message()
    assert first.message["Message-ID"] == second.message["Message-ID"] == f"<{KEY}@example.nl>"
    assert first.message.get_content_type() == "text/html"


async def test_smtp_451_is_retryable(smtp):
    smtp.data_replies.append("451 4.3.0 Mailbox temporarily unavailable")
    with pytest.raises(Retryable) as failed:
        await mail_connector(smtp.port).send(outgoing(WELCOME))
    assert failed.value.status_code == 451
    assert "4.3.0 Mailbox temporarily unavailable" in failed.value.message


async def test_smtp_550_is_permanent_with_the_servers_reply(smtp):
    smtp.refuse["bilal@example.nl"] = "550 5.1.1 <bilal@example.nl>: Recipient address rejected"
    request = {"to": "bilal@example.nl", "subject": "Hoi", "text": "Hoi"}
    with pytest.raises(Permanent) as failed:
        await mail_connector(smtp.port).send(outgoing(request))
    assert failed.value.status_code == 550
    assert "550 5.1.1 <bilal@example.nl>: Recipient address rejected" in failed.value.message

    smtp.data_replies.append("554 5.7.1 Message rejected as spam")
    with pytest.raises(Permanent, match=r"554 5\.7\.1 Message rejected as spam"):
        await mail_connector(smtp.port).send(outgoing({**request, "to": "other@example.nl"}))


async def test_no_server_is_retryable_and_no_recipient_is_permanent():
    connector = mail_connector(reserved_port())
    with pytest.raises(Retryable, match=r"SMTP 127\.0\.0\.1"):
        await connector.send(outgoing(WELCOME))
    with pytest.raises(Permanent, match="no recipient"):
        await connector.send(outgoing({**WELCOME, "to": ""}))
    with pytest.raises(Permanent, match="header Subject: the value contains a carriage return"):
        await connector.send(outgoing({**WELCOME, "subject": "Hoi\r\nBcc: everyone@example.nl"}))
