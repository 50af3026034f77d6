"""The MailerLite connector against its stand-in: the upsert by e-mail and additive group assignment, taking a
subscriber out of groups, a retry after a lost answer, MailerLite's error bodies, 429 + Retry-After and the
120/min default, customer text as data, the contract kit, and one paid order through the real daemon."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from connectors.base import Permanent, Retryable
from connectors.mailerlite import MailerLiteConnector
from connectors.testing import ContractTests, Recorded
from router.demo.standins.mailerlite import TOKEN, MailerLiteServer
from tests.support import DaemonProcess, reserved_port, webhook_body
from tests.system.connectors.conftest import CUSTOMER, EMAIL, FIRSTNAME, LASTNAME, build, outgoing

HOSTILE = "Eve <a@evil.example>, b@evil.example\r\nX-Injected: yes\r\n../../admin?x=1#frag"


@pytest.fixture
async def ml() -> AsyncIterator[MailerLiteServer]:
    server = await MailerLiteServer().start()
    yield server
    await server.stop()


def account(ml: MailerLiteServer, token: str = TOKEN, *, timeout: float = 5.0, extra: str = "") -> Any:
    yaml = f'  news: {{type: mailerlite, api_token: "{token}", base_url: "{ml.base_url}"{extra}}}'
    return build(yaml, timeout=timeout).get("news")


UPSERT = {"email": CUSTOMER, "fields": {"name": "Bilal", "last_name": "de Wit", "company": ""}, "groups": ["111", 222]}


async def test_a_subscriber_is_upserted_then_added_to_each_group_without_leaving_others(ml):
    ident = ml.add_subscriber(CUSTOMER, company="Timmermans & Zn")
    ml.memberships.add((ident, "999"))  # a group the shop put the subscriber in by hand
    sent = await account(ml, extra=", api_version: 2038-01-19").send(outgoing(UPSERT))

    assert [(h.method, h.path, h.status) for h in ml.hits] == [
        ("POST", "/api/subscribers", 200),
        ("POST", f"/api/subscribers/{ident}/groups/111", 200),
        ("POST", f"/api/subscribers/{ident}/groups/222", 200),
    ]
    upsert = ml.hits[0]
    assert upsert.body == {
        "email": CUSTOMER,
        "fields": {"name": "Bilal", "last_name": "de Wit"},
    }  # no groups, no status
    assert upsert.headers["Authorization"] == f"Bearer {TOKEN}" and upsert.headers["X-Version"] == "2038-01-19"
    subscriber = ml.subscribers[CUSTOMER]
    assert subscriber["fields"] == {"company": "Timmermans & Zn", "name": "Bilal", "last_name": "de Wit"}
    assert ml.groups_of(CUSTOMER) == {"111", "222", "999"}
    assert sent.detail == f"subscriber {CUSTOMER}: active; in groups 111, 222"


async def test_an_unsubscribed_subscriber_stays_unsubscribed(ml):
    ml.add_subscriber(CUSTOMER, status="unsubscribed")
    sent = await account(ml).send(outgoing(UPSERT))
    assert ml.subscribers[CUSTOMER]["status"] == "unsubscribed"
    assert sent.detail.startswith(f"subscriber {CUSTOMER}: unsubscribed")


async def test_taking_a_subscriber_out_of_groups_never_creates_one(ml):
    connector = account(ml)
    await connector.send(outgoing(UPSERT))
    out = await connector.send(outgoing({"op": "remove_from_groups", "email": CUSTOMER, "remove_groups": [222, 333]}))
    nobody = await connector.send(
        outgoing({"op": "remove_from_groups", "email": "nobody@example.nl", "remove_groups": [111]})
    )

    assert ml.groups_of(CUSTOMER) == {"111"}
    assert out.detail == f"subscriber {CUSTOMER}: out of groups 222, 333"  # 333: not in it, nothing to take out
    assert nobody.detail == "no subscriber nobody@example.nl: nothing to take out"
    assert "nobody@example.nl" not in ml.subscribers
    lookup = ml.calls("GET")[0]
    assert lookup.path == f"/api/subscribers/{CUSTOMER}"


async def test_a_retry_after_a_lost_answer_finds_the_same_subscriber(ml):
    ml.slow_create = 1.5
    connector = account(ml, timeout=0.5)
    with pytest.raises(Retryable, match="upsert subscriber: timeout"):
        await connector.send(outgoing(UPSERT))
    await connector.send(outgoing(UPSERT))

    await ml.wait_hits(4)  # the first upsert is recorded once its stalled answer is out
    assert len(ml.subscribers) == 1 and ml.groups_of(CUSTOMER) == {"111", "222"}
    upserts = sorted((h for h in ml.hits if h.path == "/api/subscribers"), key=lambda h: h.at)
    assert [h.status for h in upserts] == [201, 200]  # created once, then found and updated


async def test_a_retry_after_a_failure_half_way_repeats_every_step_without_duplicates(ml):
    ident = ml.add_subscriber(CUSTOMER)
    ml.fail(f"/api/subscribers/{ident}/groups/222", 500)
    connector = account(ml)
    with pytest.raises(Retryable, match="group 222: HTTP 500"):
        await connector.send(outgoing(UPSERT))
    await connector.send(outgoing(UPSERT))

    assert len(ml.subscribers) == 1 and ml.groups_of(CUSTOMER) == {"111", "222"}
    assert [h.path.rpartition("/")[2] for h in ml.hits] == ["subscribers", "111", "222", "subscribers", "111", "222"]


async def test_mailerlite_s_error_bodies_become_reasons(ml):
    connector = account(ml)
    with pytest.raises(Permanent, match=r"upsert subscriber: HTTP 422: The email must be a valid email address\."):
        await connector.send(outgoing({"email": "bilal@example.invalid"}))
    with pytest.raises(Permanent, match=r"group 555: HTTP 404: Resource not found\."):
        await connector.send(outgoing({"email": CUSTOMER, "groups": [555]}))
    with pytest.raises(Permanent, match=r"HTTP 401: Unauthenticated\."):
        await account(ml, "wrong-token").send(outgoing(UPSERT))
    ml.fail("/api/subscribers", 502)
    with pytest.raises(Retryable, match="upsert subscriber: HTTP 502"):
        await connector.send(outgoing(UPSERT))
    with pytest.raises(Permanent, match="groups: expected MailerLite group ids"):
        await connector.send(outgoing({"email": CUSTOMER, "groups": ["Klanten"]}))


async def test_a_429_pauses_the_connector_for_its_retry_after(ml):
    ml.rate = 2  # the stand-in's window is full after two requests; MailerLite answers 429 + Retry-After
    ml.window = 1.0
    connector = account(ml)
    await connector.send(outgoing({"email": "a@example.nl", "groups": [111]}))
    with pytest.raises(Retryable) as failed:
        await connector.send(outgoing({"email": "b@example.nl"}))
    assert failed.value.status_code == 429 and failed.value.retry_after == 1.0
    assert ml.hits[-1].status == 429

    await connector.send(outgoing({"email": "c@example.nl"}))  # waits out the pause instead of knocking again
    refused, accepted = ml.hits[-2], ml.hits[-1]
    assert accepted.status == 201 and accepted.at - refused.at >= 1.0


async def test_the_default_rate_limit_is_mailerlite_s_120_per_minute_per_token(ml):
    connectors = build(
        f'  a: {{type: mailerlite, api_token: "{TOKEN}", base_url: "{ml.base_url}"}}\n'
        f'  b: {{type: mailerlite, api_token: "{TOKEN}", base_url: "{ml.base_url}/"}}\n'
        f'  c: {{type: mailerlite, api_token: "another-token", base_url: "{ml.base_url}"}}'
    )
    assert str(connectors.guards["a"].limiter.rate) == "120/1m"
    assert connectors.guards["a"].limiter is connectors.guards["b"].limiter  # one account, one budget
    assert connectors.guards["a"].limiter is not connectors.guards["c"].limiter


async def test_customer_text_stays_data(ml):
    await account(ml).send(outgoing({"email": CUSTOMER, "fields": {"name": HOSTILE}, "groups": [111]}))
    upsert, assign = ml.hits
    assert upsert.body["fields"]["name"] == HOSTILE and ml.subscribers[CUSTOMER]["fields"]["name"] == HOSTILE
    assert assign.path.endswith("/groups/111") and "X-Injected" not in upsert.headers
    for hostile in (f"{CUSTOMER}, eve@evil.example", "../../admin@example.nl", "a@b.nl/../groups"):
        with pytest.raises(Permanent, match="not one plain address"):
            await account(ml).send(outgoing({"op": "remove_from_groups", "email": hostile, "remove_groups": [1]}))
    assert len(ml.hits) == 2


class TestTheMailerLiteConnectorKeepsTheContract(ContractTests):
    connector = MailerLiteConnector

    def settings(self, base_url: str) -> dict[str, Any]:
        return {"api_token": "kit-token", "base_url": base_url + "/api"}

    def action(self, customer_text: str) -> dict[str, Any]:
        return {"email": CUSTOMER, "fields": {"name": customer_text}}

    def delivery_key_of(self, request: Recorded) -> str | None:
        return None  # MailerLite takes no idempotency key: the upsert by e-mail is the natural one


async def test_a_paid_order_subscribes_the_customer_through_the_daemon(tmp_path, sandbox, ml):
    port = reserved_port()
    ml.fail("/api/subscribers", 429, {"Retry-After": "1"})  # refused once; the retry waits it out
    path = tmp_path / "config.yaml"
    path.write_text(f"""version: 1
server: {{listen: "127.0.0.1:{port}", path: /webhooks/plugandpay}}
plugandpay: {{api_url: {sandbox.url}, api_token: "${{PLUGANDPAY_API_TOKEN}}", allow_unsigned: true}}
store: {{url: "sqlite:///{tmp_path / "router.db"}"}}
delivery: {{schedule: [0.2s, 0.4s], timeout: 3s}}
connectors:
  news: {{type: mailerlite, api_token: "${{MAILERLITE_API_TOKEN}}", base_url: "{ml.base_url}"}}
rules:
  - name: newsletter
    trigger: order_paid
    products: [77]
    actions:
      - connector: news
        email: "{EMAIL}"
        fields: {{name: "{FIRSTNAME}", last_name: "{LASTNAME}"}}
        groups: [111, 222]
""")
    daemon = DaemonProcess(path, port, {"MAILERLITE_API_TOKEN": TOKEN}).start()
    try:
        assert (await daemon.post(webhook_body("order_payment_completed", 1042))).status_code == 202
        await daemon.wait_log("delivered", connector="news", timeout=15)
        assert ml.subscribers[CUSTOMER]["fields"] == {"name": "Bilal", "last_name": "de Wit"}
        assert ml.groups_of(CUSTOMER) == {"111", "222"}
        refused, retried = ml.hits[0], ml.hits[1]
        assert (refused.status, retried.status) == (429, 201) and retried.at - refused.at >= 1.0
        assert TOKEN not in daemon.log()
    finally:
        assert daemon.stop() == 0
