"""The Laposta connector against its stand-in: add or update a member with custom fields, never re-subscribing an
unsubscribed address (whichever way Laposta answers), a retry after a lost answer, Laposta's error objects,
429 + Retry-After, customer text as form data, the contract kit, and one paid order through the real daemon."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl

import pytest

from connectors.base import Permanent, Retryable, Sent
from connectors.laposta import LapostaConnector
from connectors.testing import ContractTests, Recorded, Reply
from connectors.testing.kit import HOSTILE_TEXT, PLAIN_TEXT
from router.demo.standins.laposta import API_KEY, LIST_ID, LapostaServer
from tests.support import DaemonProcess, reserved_port, webhook_body
from tests.system.connectors.conftest import CUSTOMER, EMAIL, FIRSTNAME, LASTNAME, build, outgoing


@pytest.fixture
async def lp() -> AsyncIterator[LapostaServer]:
    server = await LapostaServer().start()
    yield server
    await server.stop()


def mailing_list(lp: LapostaServer, key: str = API_KEY, *, timeout: float = 5.0, extra: str = "") -> Any:
    yaml = f'  news: {{type: laposta, api_key: "{key}", base_url: "{lp.base_url}", list_id: {LIST_ID}{extra}}}'
    return build(yaml, timeout=timeout).get("news")


ADD = {
    "email": CUSTOMER,
    "custom_fields": {"voornaam": "Bilal", "achternaam": "", "cursus": ["Basis", "Werkboek"]},
    "source_url": "https://shop.example.nl/checkout/12",
}


async def test_a_member_is_added_with_custom_fields_as_one_upsert(lp):
    sent = await mailing_list(lp).send(outgoing(ADD))

    (hit,) = lp.hits
    assert hit.form == [
        ("list_id", LIST_ID),
        ("ip", "127.0.0.1"),
        ("email", CUSTOMER),
        ("source_url", "https://shop.example.nl/checkout/12"),
        ("custom_fields[voornaam]", "Bilal"),  # an empty value leaves the field as it is
        ("custom_fields[cursus][]", "Basis"),
        ("custom_fields[cursus][]", "Werkboek"),
        ("options[upsert]", "true"),
        ("options[suppress_reactivation]", "true"),
    ]
    member = lp.member(CUSTOMER)
    assert member is not None and member["state"] == "active"
    assert member["custom_fields"] == {"voornaam": "Bilal", "achternaam": "", "cursus": ["Basis", "Werkboek"]}
    assert sent.detail == f"member {CUSTOMER}: active"
    assert sent.result == {"member_id": member["member_id"], "state": "active"}


async def test_an_existing_member_is_updated(lp):
    lp.add_member(CUSTOMER, voornaam="B.", achternaam="de Wit")
    await mailing_list(lp, extra=", ip: 198.51.100.7").send(outgoing({**ADD, "ip": "203.0.113.9"}))
    member = lp.member(CUSTOMER)
    assert member is not None and member["custom_fields"]["voornaam"] == "Bilal"
    assert member["custom_fields"]["achternaam"] == "de Wit" and len(lp.members) == 1
    assert dict(lp.hits[0].form)["ip"] == "203.0.113.9"  # the action's ip wins over the connector's


@pytest.mark.parametrize("answer", ["member", "exists"])
async def test_an_unsubscribed_address_is_never_resubscribed_whichever_way_laposta_answers(lp, answer):
    lp.kept_unsubscribed_answer = answer
    lp.add_member(CUSTOMER, state="unsubscribed")
    sent = await mailing_list(lp).send(outgoing(ADD))

    member = lp.member(CUSTOMER)
    assert member is not None and member["state"] == "unsubscribed"
    assert isinstance(sent, Sent)
    expected = "unsubscribed (left as it is: never re-subscribed)" if answer == "member" else "on the list already"
    assert expected in sent.detail


async def test_a_retry_after_a_lost_answer_updates_the_member_the_first_try_made(lp):
    lp.slow_create = 1.5
    connector = mailing_list(lp, timeout=0.5)
    with pytest.raises(Retryable, match="add member: timeout"):
        await connector.send(outgoing(ADD))
    sent = await connector.send(outgoing(ADD))

    assert len(lp.members) == 1 and sent.detail == f"member {CUSTOMER}: active"


async def test_laposta_s_error_objects_become_reasons(lp):
    connector = mailing_list(lp)
    with pytest.raises(
        Permanent, match=r"add member: HTTP 400: Unknown field plaats \(parameter custom_fields\.plaats"
    ):
        await connector.send(outgoing({"email": CUSTOMER, "custom_fields": {"plaats": "Purmerend"}}))
    with pytest.raises(Permanent, match=r"HTTP 400: Unknown list \(parameter list_id, code 203\)"):
        await connector.send(outgoing({"email": CUSTOMER, "list_id": "nolist"}))
    with pytest.raises(Permanent, match="HTTP 401: No valid API key was provided"):
        await mailing_list(lp, "wrong-key").send(outgoing(ADD))
    lp.fail(503)
    with pytest.raises(Retryable, match="add member: HTTP 503"):
        await connector.send(outgoing(ADD))
    with pytest.raises(Permanent, match="no list_id"):
        await build(f'  x: {{type: laposta, api_key: k, base_url: "{lp.base_url}"}}').get("x").send(outgoing(ADD))


async def test_a_429_pauses_the_connector_for_its_retry_after(lp):
    lp.fail(429, {"Retry-After": "1"})
    connector = mailing_list(lp)
    with pytest.raises(Retryable) as failed:
        await connector.send(outgoing(ADD))
    assert failed.value.status_code == 429 and failed.value.retry_after == 1.0

    await connector.send(outgoing({"email": "other@example.nl"}))
    refused, accepted = lp.hits
    assert accepted.status == 200 and accepted.at - refused.at >= 1.0


async def test_the_stand_in_s_own_limit_answers_429_with_retry_after(lp):
    lp.per_minute = 1
    connector = mailing_list(lp, extra=", rate_limit: 100/s")
    await connector.send(outgoing(ADD))
    with pytest.raises(Retryable, match="HTTP 429: Too many requests") as failed:
        await connector.send(outgoing(ADD))
    assert failed.value.retry_after is not None and failed.value.retry_after >= 1


async def test_the_default_rate_limit_is_30_per_minute_per_api_key(lp):
    connectors = build(
        f'  a: {{type: laposta, api_key: "{API_KEY}", base_url: "{lp.base_url}", list_id: {LIST_ID}}}\n'
        f'  b: {{type: laposta, api_key: "{API_KEY}", base_url: "{lp.base_url}", list_id: other}}'
    )
    assert str(connectors.guards["a"].limiter.rate) == "30/1m"
    assert connectors.guards["a"].limiter is connectors.guards["b"].limiter


async def test_customer_text_stays_data(lp):
    hostile = HOSTILE_TEXT.replace("X-Injected", "custom_fields[achternaam]=x&options[upsert]")
    await mailing_list(lp).send(outgoing({"email": CUSTOMER, "custom_fields": {"voornaam": hostile}}))
    member = lp.member(CUSTOMER)
    assert member is not None and member["custom_fields"] == {"voornaam": hostile, "achternaam": "", "cursus": ""}
    for bad in (f"{CUSTOMER}&list_id=other", f"{CUSTOMER}, eve@evil.example"):
        with pytest.raises(Permanent, match="not one plain address"):
            await mailing_list(lp).send(outgoing({"email": bad}))
    with pytest.raises(Permanent, match="is not a Laposta field name"):
        await mailing_list(lp).send(outgoing({"email": CUSTOMER, "custom_fields": {"a][b": "x"}}))
    assert len(lp.hits) == 1


class TestTheLapostaConnectorKeepsTheContract(ContractTests):
    connector = LapostaConnector

    def settings(self, base_url: str) -> dict[str, Any]:
        return {"api_key": "kit-key", "base_url": base_url + "/v2", "list_id": LIST_ID}

    def action(self, customer_text: str) -> dict[str, Any]:
        return {"email": CUSTOMER, "custom_fields": {"voornaam": customer_text}}

    def delivery_key_of(self, request: Recorded) -> str | None:
        return None  # Laposta takes no idempotency key: the upsert by e-mail is the natural one

    def test_customer_text_stays_data(self) -> None:
        """The kit's check, reading the form body Laposta takes (the kit reads JSON or raw text)."""
        _, plain = self._send(Reply(200))
        outcome, hostile = self._send(Reply(200), customer_text=HOSTILE_TEXT)
        assert isinstance(outcome, Sent), outcome
        (before,), (after,) = plain.requests, hostile.requests
        assert (after.method, after.path, after.query) == (before.method, before.path, before.query)
        assert not any(name.lower() == "x-injected" for name in after.headers)
        fields = parse_qsl(after.body.decode(), keep_blank_values=True)
        assert ("custom_fields[voornaam]", HOSTILE_TEXT) in fields
        assert [k for k, _ in fields] == [k for k, _ in parse_qsl(before.body.decode())]
        assert ("custom_fields[voornaam]", PLAIN_TEXT) in parse_qsl(before.body.decode())


async def test_a_paid_order_adds_the_customer_through_the_daemon(tmp_path, sandbox, lp):
    port = reserved_port()
    lp.fail(502)  # the first try fails; the schedule's retry succeeds
    path = tmp_path / "config.yaml"
    path.write_text(f"""version: 1
server: {{listen: "127.0.0.1:{port}", path: /webhooks/plugandpay}}
plugandpay: {{api_url: {sandbox.url}, api_token: "${{PLUGANDPAY_API_TOKEN}}", allow_unsigned: true}}
store: {{url: "sqlite:///{tmp_path / "router.db"}"}}
delivery: {{schedule: [0.2s, 0.4s], timeout: 3s}}
connectors:
  news: {{type: laposta, api_key: "${{LAPOSTA_API_KEY}}", base_url: "{lp.base_url}", list_id: {LIST_ID}}}
rules:
  - name: newsletter
    trigger: order_paid
    actions:
      - connector: news
        email: "{EMAIL}"
        custom_fields: {{voornaam: "{FIRSTNAME}", achternaam: "{LASTNAME}"}}
""")
    daemon = DaemonProcess(path, port, {"LAPOSTA_API_KEY": API_KEY}).start()
    try:
        assert (await daemon.post(webhook_body("order_payment_completed", 1042))).status_code == 202
        await daemon.wait_log("delivered", connector="news", timeout=15)
        member = lp.member(CUSTOMER)
        assert member is not None and member["state"] == "active"
        assert member["custom_fields"]["voornaam"] == "Bilal" and member["custom_fields"]["achternaam"] == "de Wit"
        assert [h.status for h in lp.hits] == [502, 200]
        assert API_KEY not in daemon.log()
        assert base64.b64encode(f"{API_KEY}:".encode()).decode() not in daemon.log()
    finally:
        assert daemon.stop() == 0
