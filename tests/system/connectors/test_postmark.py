"""The postmark connector against a local Postmark simulator: the message it sends, one mail per delivery key
on a retry (Postmark has no idempotency key), recipients that customer text cannot add to, and the
classification of Postmark's answers (422 ErrorCodes, 401, 429, 5xx)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

import pytest

from connectors.base import Outgoing, Permanent, Retryable
from connectors.postmark import PostmarkConnector
from connectors.testing import ContractTests, Recorded
from router.demo.standins.postmark import TEST_TOKEN, TOKEN, PostmarkServer
from tests.support import webhook_body
from tests.system.connectors.conftest import CUSTOMER, EMAIL, FIRSTNAME, build, finished, start_daemon

KEY = "ppr_0123456789abcdef0123456789abcdef"


@pytest.fixture
async def pm() -> AsyncIterator[PostmarkServer]:
    server = await PostmarkServer().start()
    yield server
    await server.stop()


def mailer(pm: PostmarkServer, *, token: str = TOKEN, timeout: str = "2s", extra: str = "") -> Any:
    connectors = build(
        f"""  mail:
    type: postmark
    base_url: "{pm.url}"
    server_token: "{token}"
    from: "Cursusshop <shop@example.nl>"
    timeout: {timeout}
{extra}"""
    )
    return connectors.get("mail")


def welcome(name: str = "Bilal de Wit", **extra: Any) -> dict[str, Any]:
    return {
        "to": [{"name": name, "email": CUSTOMER}],
        "subject": "Bedankt voor je bestelling 2025-0042",
        "text": f"Hoi {name}, je bestelling is binnen.",
        "html": f"<p>Hoi <b>{name}</b>!</p>",
        **extra,
    }


def attempt(request: dict[str, Any], number: int = 1) -> Outgoing:
    return Outgoing(delivery_id=1, delivery_key=KEY, event_id=1, request=request, attempt=number)


async def test_one_mail_goes_out_with_text_html_stream_and_the_delivery_key_as_metadata(pm):
    sent = await mailer(pm).send(attempt(welcome(tag="welcome", cc=[{"email": "finance@example.nl"}])))

    [message] = pm.messages
    assert {k: message[k] for k in ("From", "To", "Cc", "Subject", "TextBody", "HtmlBody", "MessageStream", "Tag")} == {
        "From": "Cursusshop <shop@example.nl>",
        "To": "Bilal de Wit <bilal@example.nl>",
        "Cc": "finance@example.nl",
        "Subject": "Bedankt voor je bestelling 2025-0042",
        "TextBody": "Hoi Bilal de Wit, je bestelling is binnen.",
        "HtmlBody": "<p>Hoi <b>Bilal de Wit</b>!</p>",
        "MessageStream": "outbound",
        "Tag": "welcome",
    }
    assert message["Metadata"] == {"delivery_key": KEY}
    assert message["Recipients"] == [CUSTOMER, "finance@example.nl"]
    assert sent.detail == f"accepted as {message['MessageID']}"
    assert sent.result is not None and sent.result["message_id"] == message["MessageID"]
    [hit] = pm.hits
    assert hit.headers["X-Postmark-Server-Token"] == TOKEN
    assert hit.headers["Content-Type"] == "application/json"


async def test_a_retry_after_a_lost_answer_finds_the_mail_and_does_not_send_it_twice(pm):
    pm.slow_accept = 0.8  # Postmark accepts the mail, then answers after the connector gave up
    connector = mailer(pm, timeout="0.3s")

    with pytest.raises(Retryable, match="send: timeout"):
        await connector.send(attempt(welcome(), 1))
    retried = await connector.send(attempt(welcome(), 2))

    [message] = pm.messages
    assert retried.detail == f"already sent as {message['MessageID']} (found by its delivery key); not sent again"
    [search] = pm.calls("GET", "/messages/outbound")
    assert search.query == {"count": "1", "offset": "0", "metadata_delivery_key": KEY}
    assert len(pm.calls("POST", "/email")) == 1


async def test_a_retry_that_finds_nothing_sends_and_the_first_attempt_never_searches(pm):
    pm.fail("/email", 500, {"ErrorCode": 0, "Message": "Internal server error"})
    connector = mailer(pm)

    with pytest.raises(Retryable, match="send: HTTP 500"):
        await connector.send(attempt(welcome(), 1))
    await connector.send(attempt(welcome(), 2))

    assert [(h.method, h.path) for h in pm.hits] == [
        ("POST", "/email"),
        ("GET", "/messages/outbound"),
        ("POST", "/email"),
    ]
    assert len(pm.messages) == 1


async def test_a_search_result_without_metadata_is_checked_in_the_message_s_details(pm):
    pm.search_shows_metadata = False
    connector = mailer(pm)
    await connector.send(attempt(welcome(), 1))

    retried = await connector.send(attempt(welcome(), 2))

    assert "already sent" in retried.detail and len(pm.messages) == 1
    [details] = [h for h in pm.hits if h.path.endswith("/details")]
    assert details.path == f"/messages/outbound/{pm.messages[0]['MessageID']}/details"


async def test_a_search_that_ignores_its_filter_never_passes_another_mail_off_as_this_one(pm):
    pm.search_filters = False  # the newest message is returned, whatever the delivery key
    connector = mailer(pm)
    await connector.send(Outgoing(delivery_id=9, delivery_key="ppr_other", event_id=9, request=welcome()))

    await connector.send(attempt(welcome(), 2))

    assert [m["Metadata"]["delivery_key"] for m in pm.messages] == ["ppr_other", KEY]


async def test_find_before_resend_false_sends_on_every_attempt(pm):
    connector = mailer(pm, extra="    find_before_resend: false")
    await connector.send(attempt(welcome(), 1))
    await connector.send(attempt(welcome(), 2))
    assert pm.calls("GET", "/messages/outbound") == [] and len(pm.messages) == 2


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (300, "send: HTTP 422: ErrorCode 300: Invalid 'From' address"),
        (406, "send: HTTP 422: ErrorCode 406: You tried to send to recipient"),
        (401, "send: HTTP 422: ErrorCode 401: Sender signature not confirmed"),
    ],
)
async def test_postmark_s_422_error_codes_are_permanent_with_the_message(pm, code, expected):
    messages = {
        300: "Invalid 'From' address: 'Cursusshop <shop@example.nl>'.",
        406: "You tried to send to recipient(s) that have been marked as inactive. Found inactive addresses: x.",
        401: "Sender signature not confirmed",
    }
    pm.fail("/email", 422, {"ErrorCode": code, "Message": messages[code]})
    with pytest.raises(Permanent, match=expected) as refused:
        await mailer(pm).send(attempt(welcome()))
    assert refused.value.status_code == 422


async def test_an_inactive_recipient_is_dead_with_postmark_s_reason(pm):
    pm.inactive.add(CUSTOMER)
    with pytest.raises(Permanent, match=f"ErrorCode 406: .*inactive addresses: {CUSTOMER}"):
        await mailer(pm).send(attempt(welcome()))


@pytest.mark.parametrize(("code", "why"), [(405, "out of credits"), (429, "rate limit"), (100, "maintenance")])
async def test_error_codes_that_pass_are_retried(pm, code, why):
    pm.fail("/email", 422, {"ErrorCode": code, "Message": "not now"})
    with pytest.raises(Retryable, match=f"ErrorCode {code}: not now .*{why}"):
        await mailer(pm).send(attempt(welcome()))


async def test_a_wrong_server_token_is_permanent(pm):
    with pytest.raises(Permanent, match=r"send: HTTP 401: ErrorCode 10: The Server Token .* \(check server_token"):
        await mailer(pm, token="wrong").send(attempt(welcome()))


async def test_postmark_s_test_token_is_accepted_without_delivering(pm):
    sent = await mailer(pm, token=TEST_TOKEN).send(attempt(welcome()))
    assert sent.detail == "accepted as 00000000-0000-0000-0000-000000000000" and pm.messages == []


async def test_a_429_is_retryable_and_honours_a_retry_after_when_postmark_gives_one(pm):
    limited = {"ErrorCode": 429, "Message": "Rate limit exceeded"}
    pm.fail("/email", 429, limited, {"Retry-After": "2"})
    pm.fail("/email", 429, limited)  # as Postmark documents it: no Retry-After, the schedule decides
    connector = mailer(pm)

    with pytest.raises(Retryable) as said:
        await connector.send(attempt(welcome()))
    with pytest.raises(Retryable) as silent:
        await connector.send(attempt(welcome()))

    assert (said.value.status_code, said.value.retry_after) == (429, 2.0)
    assert (silent.value.status_code, silent.value.retry_after) == (429, None)
    assert said.value.message == "send: HTTP 429: ErrorCode 429: Rate limit exceeded (rate limit exceeded)"


async def test_the_simulator_s_rate_limit_is_answered_with_429(pm):
    pm.rate = 1
    connector = mailer(pm)
    await connector.send(attempt(welcome()))
    with pytest.raises(Retryable, match="HTTP 429"):
        await connector.send(attempt(welcome()))


@pytest.mark.parametrize("status", [500, 503])
async def test_a_server_error_is_retryable(pm, status):
    pm.fail("/email", status, {"ErrorCode": 100, "Message": "Maintenance"} if status == 503 else {})
    with pytest.raises(Retryable, match=f"send: HTTP {status}"):
        await mailer(pm).send(attempt(welcome()))


async def test_customer_text_in_a_name_never_adds_a_recipient_or_a_header(pm):
    hostile = 'Eve <a@evil.example>, b@evil.example; "c@evil.example"\r\nBcc: d@evil.example'
    await mailer(pm).send(attempt(welcome(name=hostile)))

    [message] = pm.messages
    assert message["Recipients"] == [CUSTOMER]  # read by an address-list parser, as a mail system would
    assert "evil.example" not in message["To"].partition("<")[2]
    assert message["TextBody"] == f"Hoi {hostile}, je bestelling is binnen."  # whole, as data
    [hit] = pm.hits
    assert not any(name.lower() in ("bcc", "x-injected") for name in hit.headers)


async def test_customer_text_that_is_not_one_address_is_dead_before_anything_is_sent(pm):
    for to in (["a@example.nl, b@evil.example"], [{"email": "a@example.nl\r\nBcc: b@evil.example"}]):
        with pytest.raises(Permanent, match=r"expected one e-mail address|must be exactly one address"):
            await mailer(pm).send(attempt(welcome(to=to)))
    with pytest.raises(Permanent, match="header Subject: the value contains a carriage return"):
        await mailer(pm).send(attempt(welcome(subject="Bedankt\r\nBcc: b@evil.example")))
    assert pm.hits == []


def test_check_finds_what_postmark_would_refuse():
    settings = {"from": "shop@example.nl", "server_token": "t", "max_recipients": 2}
    many = [{"email": f"k{i}@example.nl"} for i in range(3)]
    assert PostmarkConnector.check_rendered(welcome(), settings) == []
    assert PostmarkConnector.check_rendered(welcome(to=many), settings) == [
        "3 recipients, more than max_recipients (2) allows for one message"
    ]
    assert PostmarkConnector.check_rendered(welcome(text=" ", html=""), settings) == [
        "text and html rendered empty: Postmark needs a TextBody or an HtmlBody (ErrorCode 300)"
    ]
    assert PostmarkConnector.check_settings({"from": "a@x.nl, b@x.nl", "max_recipients": 51}) == [
        (
            "from",
            "a plain string must be exactly one address, got 2 addresses in 'a@x.nl, b@x.nl' (use a list of"
            " {name: ..., email: ...} recipients) (a sender signature in Postmark)",
        ),
        ("max_recipients", "must be 1 to 50 (Postmark's limit per message)"),
    ]
    assert PostmarkConnector.check_action({"to": CUSTOMER, "subject": "x"}) == [
        ("text", "a Postmark mail needs a text or an html body (or both)")
    ]


async def test_the_daemon_mails_a_paid_order_through_postmark(tmp_path, sandbox, pm):
    connectors = f'  mail: {{type: postmark, base_url: "{pm.url}", server_token: "{TOKEN}", from: shop@example.nl}}'
    rules = f"""  - name: welcome-mail
    trigger: order_paid
    actions:
      - connector: mail
        to: [{{name: "{FIRSTNAME}", email: "{EMAIL}"}}]
        subject: "Bedankt voor je bestelling {{{{ order.invoice_number }}}}"
        text: "Hoi {FIRSTNAME}"
        message_stream: outbound"""
    daemon = start_daemon(tmp_path, sandbox.url, connectors, rules)
    try:
        assert (await daemon.post(webhook_body("order_payment_completed", 1042))).status_code == 202
        [delivery] = await finished(tmp_path)
    finally:
        assert daemon.stop() == 0
    assert delivery.status == "delivered", delivery
    [message] = pm.messages
    assert (message["To"], message["Subject"]) == ("Bilal <bilal@example.nl>", "Bedankt voor je bestelling 2025-0042")
    assert message["Metadata"]["delivery_key"].startswith("ppr_")
    assert TOKEN not in daemon.log()
    assert json.loads(pm.hits[0].body)["TextBody"] == "Hoi Bilal"


class TestThePostmarkConnectorKeepsTheContract(ContractTests):
    connector = PostmarkConnector

    def settings(self, base_url: str) -> dict[str, Any]:
        return {"base_url": base_url, "server_token": TOKEN, "from": "Cursusshop <shop@example.nl>"}

    def action(self, customer_text: str) -> dict[str, Any]:
        return welcome(name=customer_text)

    def delivery_key_of(self, request: Recorded) -> str | None:
        # Postmark takes no idempotency key: the key travels as the message's metadata, and a retry searches by it.
        if request.method == "GET":
            return parse_qs(request.query)["metadata_delivery_key"][0]
        return str(json.loads(request.body)["Metadata"]["delivery_key"])
