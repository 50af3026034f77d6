"""The Mailchimp connector against its stand-in: the member upsert by address hash, tags, a retry after a lost
answer, Mailchimp's problem documents, 429s and the 10-connection cap, customer text as data, the contract kit,
and one paid order through the real daemon."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from connectors.base import Permanent, Retryable, Sent
from connectors.mailchimp import MailchimpConnector
from connectors.testing import ContractTests, Recorded
from router.demo.standins.mailchimp import API_KEY, LIST_ID, MailchimpServer
from tests.support import DaemonProcess, reserved_port, webhook_body
from tests.system.connectors.conftest import CUSTOMER, EMAIL, FIRSTNAME, LASTNAME, build, outgoing

HOSTILE = "Eve <a@evil.example>, b@evil.example\r\nX-Injected: yes\r\n../../admin?x=1#frag"


@pytest.fixture
async def mc() -> AsyncIterator[MailchimpServer]:
    server = await MailchimpServer().start()
    yield server
    await server.stop()


def audience(mc: MailchimpServer, key: str = API_KEY, *, timeout: float = 5.0, extra: str = "") -> Any:
    connectors = build(
        f'  news: {{type: mailchimp, api_key: "{key}", base_url: "{mc.base_url}", list_id: {LIST_ID}{extra}}}',
        timeout=timeout,
    )
    return connectors.get("news")


UPSERT = {
    "email": "Bilal@Example.nl",
    "merge_fields": {"FNAME": "Bilal", "LNAME": "de Wit", "PHONE": ""},
    "tags": ["klant", "cursus-77"],
}


def member_path(email: str) -> str:
    return f"/3.0/lists/{LIST_ID}/members/{hashlib.md5(email.lower().encode()).hexdigest()}"


async def test_a_member_is_upserted_by_the_hash_of_the_address_then_tagged(mc):
    sent = await audience(mc).send(outgoing(UPSERT))

    assert [(h.method, h.path, h.status) for h in mc.hits] == [
        ("PUT", member_path("bilal@example.nl"), 200),
        ("POST", member_path("bilal@example.nl") + "/tags", 204),
    ]
    put, tags = mc.hits
    assert put.body == {
        "email_address": "Bilal@Example.nl",
        "status_if_new": "subscribed",
        "merge_fields": {"FNAME": "Bilal", "LNAME": "de Wit"},  # an empty value leaves the field as it is
    }
    assert tags.body == {"tags": [{"name": "klant", "status": "active"}, {"name": "cursus-77", "status": "active"}]}
    member = mc.member("bilal@example.nl")
    assert (
        member is not None and member["status"] == "subscribed" and member["tags"] == {"klant": True, "cursus-77": True}
    )
    assert sent.detail == "member Bilal@Example.nl: subscribed; tagged klant, cursus-77"
    assert sent.result is not None and sent.result["member_id"] == hashlib.md5(b"bilal@example.nl").hexdigest()


async def test_an_unsubscribed_member_is_updated_but_never_resubscribed(mc):
    mc.add_member("bilal@example.nl", "unsubscribed", FNAME="B.")
    sent = await audience(mc).send(outgoing(UPSERT))

    member = mc.member("bilal@example.nl")
    assert member is not None
    assert member["status"] == "unsubscribed" and member["merge_fields"]["FNAME"] == "Bilal"
    assert "left as it is (status_if_new only applies to a new member)" in sent.detail


async def test_removing_tags_untags_and_an_unknown_member_has_nothing_to_untag(mc):
    connector = audience(mc)
    await connector.send(outgoing(UPSERT))
    removed = await connector.send(outgoing({"op": "remove_tags", "email": CUSTOMER, "remove_tags": ["cursus-77"]}))
    nobody = await connector.send(outgoing({"op": "remove_tags", "email": "nobody@example.nl", "remove_tags": "x"}))

    member = mc.member(CUSTOMER)
    assert member is not None and member["tags"] == {"klant": True, "cursus-77": False}
    assert removed.detail == f"member {CUSTOMER}: removed tags cursus-77"
    assert nobody.detail == "no member nobody@example.nl: nothing to untag"
    assert mc.member("nobody@example.nl") is None  # untagging never creates a member
    assert [h.method for h in mc.hits] == ["PUT", "POST", "POST", "POST"]


async def test_a_retry_after_a_lost_answer_puts_the_same_member_again(mc):
    mc.slow_put = 1.5
    connector = audience(mc, timeout=0.5)
    with pytest.raises(Retryable, match="upsert member: timeout"):
        await connector.send(outgoing(UPSERT))
    await connector.send(outgoing(UPSERT))  # the deliver stage's next attempt: same member, same tags

    assert len(mc.members) == 1
    member = mc.member(CUSTOMER)
    assert member is not None and member["tags"] == {"klant": True, "cursus-77": True}


async def test_mailchimp_s_problem_documents_become_permanent_reasons(mc):
    connector = audience(mc)
    with pytest.raises(Permanent, match=r"upsert member: HTTP 400: Invalid Resource: .* looks fake or invalid"):
        await connector.send(outgoing({"email": "someone@example.invalid"}))
    with pytest.raises(Permanent, match="HTTP 404: Resource Not Found"):
        await connector.send(outgoing({"email": CUSTOMER, "list_id": "ffffffffff"}))
    with pytest.raises(Permanent, match="HTTP 401: API Key Invalid"):
        await audience(mc, "wrong-key-us6").send(outgoing(UPSERT))
    mc.fail(member_path(CUSTOMER), 503)
    with pytest.raises(Retryable, match="upsert member: HTTP 503"):
        await connector.send(outgoing(UPSERT))
    mc.fail("/tags", 500)
    with pytest.raises(Retryable, match="tags: HTTP 500"):
        await connector.send(outgoing(UPSERT))


async def test_a_bare_403_is_mailchimp_s_throttle_and_is_retried(mc):
    mc.throttle_with_bare_403 = 1
    with pytest.raises(Retryable, match="HTTP 403 without a problem document"):
        await audience(mc).send(outgoing(UPSERT))


async def test_a_forgotten_address_is_left_alone_not_dead(mc):
    mc.forgotten.add(CUSTOMER)
    sent = await audience(mc).send(outgoing(UPSERT))
    assert sent.detail == "member Bilal@Example.nl: Mailchimp will not (re)add this address; left alone"
    assert mc.members == {} and len(mc.hits) == 1  # no tags for a member that is not there


async def test_a_429_without_retry_after_is_retried_on_the_schedule(mc):
    mc.fail(member_path(CUSTOMER), 429)  # Mailchimp sends no Retry-After (research notes §4.2)
    with pytest.raises(Retryable, match="upsert member: HTTP 429: Too Many Requests") as failed:
        await audience(mc).send(outgoing(UPSERT))
    assert failed.value.retry_after is None


async def test_a_429_is_retried_after_its_retry_after_by_the_whole_connector(mc):
    mc.fail(member_path(CUSTOMER), 429, {"Retry-After": "1"})
    connector = audience(mc)
    with pytest.raises(Retryable) as failed:
        await connector.send(outgoing(UPSERT))
    assert failed.value.status_code == 429 and failed.value.retry_after == 1.0

    await connector.send(outgoing({"email": "other@example.nl"}))  # another delivery waits out the pause
    refused, accepted = mc.hits[0], mc.hits[1]
    assert accepted.status == 200 and accepted.at - refused.at >= 1.0


async def test_at_most_ten_connections_are_open_per_account_even_from_two_connectors(mc):
    mc.answer_delay = 0.2
    connectors = build(
        f'  a: {{type: mailchimp, api_key: "{API_KEY}", base_url: "{mc.base_url}", list_id: {LIST_ID}}}\n'
        f'  b: {{type: mailchimp, api_key: "{API_KEY}", base_url: "{mc.base_url}", list_id: {LIST_ID}}}'
    )
    sends = [
        connectors.get(name).send(outgoing({"email": f"k{i}@example.nl"}, ident=i))
        for i in range(12)
        for name in ("a", "b")
    ]
    results = await asyncio.gather(*sends)

    assert all(isinstance(sent, Sent) for sent in results)
    assert mc.busiest == 10 and all(h.status == 200 for h in mc.hits)  # never the 429 of an 11th connection
    assert connectors.guards["a"].limiter.rate is None  # Mailchimp counts connections, not requests per second


async def test_customer_text_stays_data(mc):
    request = {**UPSERT, "merge_fields": {"FNAME": HOSTILE}, "tags": [HOSTILE]}
    await audience(mc).send(outgoing(request))

    put, tags = mc.hits
    assert put.path == member_path(CUSTOMER) and tags.path == member_path(CUSTOMER) + "/tags"
    assert put.body["merge_fields"] == {"FNAME": HOSTILE}
    assert tags.body["tags"][0]["name"] == HOSTILE
    with pytest.raises(Permanent, match="not one plain address"):
        await audience(mc).send(outgoing({"email": f"{CUSTOMER}, eve@evil.example"}))
    assert len(mc.hits) == 2


class TestTheMailchimpConnectorKeepsTheContract(ContractTests):
    connector = MailchimpConnector

    def settings(self, base_url: str) -> dict[str, Any]:
        return {"api_key": "kit-key-us6", "base_url": base_url + "/3.0", "list_id": LIST_ID}

    def action(self, customer_text: str) -> dict[str, Any]:
        return {"email": CUSTOMER, "merge_fields": {"FNAME": customer_text}, "tags": ["klant"]}

    def delivery_key_of(self, request: Recorded) -> str | None:
        return None  # Mailchimp takes no idempotency key: the member hash is the natural one


async def test_a_paid_order_upserts_the_customer_through_the_daemon(tmp_path, sandbox, mc):
    port = reserved_port()
    mc.fail(member_path(CUSTOMER), 503)  # the first try fails; the schedule's retry succeeds
    path = tmp_path / "config.yaml"
    path.write_text(f"""version: 1
server: {{listen: "127.0.0.1:{port}", path: /webhooks/plugandpay}}
plugandpay: {{api_url: {sandbox.url}, api_token: "${{PLUGANDPAY_API_TOKEN}}", allow_unsigned: true}}
store: {{url: "sqlite:///{tmp_path / "router.db"}"}}
delivery: {{schedule: [0.2s, 0.4s], timeout: 3s}}
connectors:
  news: {{type: mailchimp, api_key: "${{MAILCHIMP_API_KEY}}", base_url: "{mc.base_url}", list_id: {LIST_ID}}}
rules:
  - name: newsletter
    trigger: order_paid
    actions:
      - connector: news
        email: "{EMAIL}"
        merge_fields: {{FNAME: "{FIRSTNAME}", LNAME: "{LASTNAME}"}}
        tags: ["klant", "cursus-{{{{ order.items[0].product_id }}}}"]
""")
    daemon = DaemonProcess(path, port, {"MAILCHIMP_API_KEY": API_KEY}).start()
    try:
        assert (await daemon.post(webhook_body("order_payment_completed", 1042))).status_code == 202
        await daemon.wait_log("delivered", connector="news", timeout=15)
        member = mc.member(CUSTOMER)
        assert member is not None and member["merge_fields"] == {"FNAME": "Bilal", "LNAME": "de Wit"}
        assert member["tags"] == {"klant": True, "cursus-77": True}
        assert [h.status for h in mc.hits] == [503, 200, 204]
        assert API_KEY not in daemon.log()
        auth = base64.b64encode(f"plugpay-router:{API_KEY}".encode()).decode()
        assert auth not in daemon.log()
    finally:
        assert daemon.stop() == 0
