"""The eboekhouden connector against a local e-Boekhouden simulator: session, relation by e-mail, the invoice under
the shop's own number (a repeat's FACT_101 counts as done), session renewal, and the classification of answers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from connectors.base import Permanent, Retryable
from connectors.eboekhouden import EboekhoudenConnector
from connectors.testing import ContractTests, Recorded, Reply, StandIn
from router.demo.standins.eboekhouden import TEMPLATE, TOKEN, EboekhoudenServer
from tests.support import webhook_body
from tests.system.connectors.conftest import build, finished, order, outgoing, start_daemon

COURSES, REVENUE, DEBTORS = 8010, 8000, 1300


@pytest.fixture
async def eb() -> AsyncIterator[EboekhoudenServer]:
    server = await EboekhoudenServer().start()
    yield server
    await server.stop()


def books(eb: EboekhoudenServer, *, token: str = TOKEN, timeout: str = "2s", extra: str = "") -> Any:
    connectors = build(
        f"""  books:
    type: eboekhouden
    base_url: "{eb.url}"
    api_token: "{token}"
    template_id: {TEMPLATE}
    ledger_id: {REVENUE}
    ledger_ids: {{"77": {COURSES}}}
    invoice_prefix: PP
    timeout: {timeout}
    rate_limit: 1000/s
{extra}"""
    )
    return connectors.get("books")


def invoice_request(ident: str = "1042", **changes: Any) -> dict[str, Any]:
    data = order(ident)
    data["billing"]["contact"].update(changes)
    return {"order": json.dumps(data)}  # as "{{ data | tojson }}" renders it


async def test_an_order_becomes_a_relation_and_an_invoice_under_the_shop_s_own_number(eb):
    connector = books(eb)

    made = await connector.send(outgoing(invoice_request()))

    [relation] = eb.relations.values()
    assert relation == {
        "type": "B",
        "name": "Timmermans & Zn",
        "contact": "Bilal de Wit",
        "address": "Sanderslaan 42",
        "postalCode": "1448VB",
        "city": "Purmerend",
        "country": "NL",
        "emailAddress": "bilal@example.nl",
        "emailAddressInvoice": "finance@example.nl",
        "vatNumber": "NL000099998B57",
        "id": relation["id"],
        "code": relation["code"],
    }
    [invoice] = eb.invoices.values()
    assert {k: v for k, v in invoice.items() if k != "id"} == {
        "relationId": relation["id"],
        "templateId": TEMPLATE,
        "termOfPayment": 14,
        "date": "2025-03-14",
        "invoiceNumber": "PP2025-0042",
        "inExVat": "IN",
        "reference": "order 1042",
        "items": [
            {
                "description": "Online cursus Basis",
                "quantity": 1.0,
                "pricePerUnit": 108.9,
                "vatCode": "HOOG_VERK_21",
                "ledgerId": COURSES,
            },
            {
                "description": "Werkboek (order bump)",
                "quantity": 1.0,
                "pricePerUnit": 12.1,
                "vatCode": "HOOG_VERK_21",
                "ledgerId": REVENUE,
            },
        ],
    }
    assert made.detail == f"invoice PP2025-0042 created (id {invoice['id']})"
    assert [(h.method, h.path, h.status) for h in eb.hits] == [
        ("POST", "/v1/session", 200),
        ("GET", "/v1/relation", 200),
        ("POST", "/v1/relation", 201),
        ("POST", "/v1/invoice", 201),
    ]
    assert eb.hits[1].query == {"email": "bilal@example.nl", "limit": "1"}
    session = next(iter(eb.sessions))
    assert all(h.authorization == session for h in eb.hits[1:])  # the raw session token, as the spec says


async def test_a_retry_after_a_lost_answer_counts_the_invoice_number_in_use_as_done(eb):
    eb.slow_create = 0.8  # e-Boekhouden commits the invoice, then answers after the connector gave up
    connector = books(eb, timeout="0.3s")

    with pytest.raises(Retryable, match="create invoice: timeout"):
        await connector.send(outgoing(invoice_request()))
    retried = await connector.send(outgoing(invoice_request()))

    [invoice] = eb.invoices.values()
    assert len(eb.relations) == 1  # the retry found the relation by e-mail
    _lost, second = eb.calls("POST", "/v1/invoice")
    assert second.status == 400  # FACT_101: the number is in use
    number, ident = "PP2025-0042", invoice["id"]
    assert retried.detail == f"invoice {number} already booked (FACT_101: the number is in use, invoice id {ident})"
    assert retried.result == {
        "number": number,
        "relation_id": invoice["relationId"],
        "invoice_id": ident,
        "already": True,
    }
    assert len(eb.calls("POST", "/v1/session")) == 1  # one session for both attempts


async def test_an_invoice_number_taken_by_another_relation_is_dead_and_says_to_set_a_prefix(eb):
    stranger = eb.add_relation("Iemand Anders", "anders@example.nl")
    eb.add_invoice("PP2025-0042", stranger)
    connector = books(eb)

    with pytest.raises(Permanent, match=f"in use by invoice .* of relation {stranger}.*set invoice_prefix"):
        await connector.send(outgoing(invoice_request()))


async def test_an_existing_relation_is_found_by_its_e_mail_address(eb):
    known = eb.add_relation("Bilal de Wit", "bilal@example.nl")
    connector = books(eb)

    await connector.send(outgoing(invoice_request()))

    assert eb.calls("POST", "/v1/relation") == []
    [invoice] = eb.invoices.values()
    assert invoice["relationId"] == known


async def test_an_expired_session_is_renewed_once_and_the_call_repeated(eb):
    connector = books(eb)
    await connector.send(outgoing(invoice_request()))
    eb.expire_sessions()

    await connector.send(outgoing(invoice_request("1043")))

    assert len(eb.calls("POST", "/v1/session")) == 2
    refused = [h for h in eb.hits if h.status == 401]
    assert [(h.method, h.path) for h in refused] == [("GET", "/v1/relation")]
    assert len(eb.invoices) == 2


async def test_a_session_refused_again_after_renewal_is_permanent(eb):
    connector = books(eb)
    await connector.send(outgoing(invoice_request()))  # the header's form is known from here on
    eb.auth_form = "none"  # every session token is refused from now on

    with pytest.raises(Permanent, match="find relation: HTTP 401: SECURITY_010"):
        await connector.send(outgoing(invoice_request("1043")))
    assert len(eb.calls("POST", "/v1/session")) == 2  # renewed once, not in a loop


async def test_the_bearer_form_is_tried_once_when_the_raw_token_is_refused_and_then_kept(eb):
    eb.auth_form = "bearer"
    connector = books(eb)

    await connector.send(outgoing(invoice_request()))
    await connector.send(outgoing(invoice_request("1043")))

    forms = [str(h.authorization).startswith("Bearer ") for h in eb.hits if h.path != "/v1/session"]
    assert forms[:3] == [False, False, True]  # raw, raw again after a renewal, then Bearer ...
    assert all(forms[3:]) and len(forms) > 5  # ... for good
    assert len(eb.calls("POST", "/v1/session")) == 2
    assert len(eb.invoices) == 2


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("wrong-token", "session: HTTP 401: Unauthorized"),
        ("expired-token", "session: HTTP 400: API_SESSION_004 Access token has expired. .*make a new API token"),
    ],
)
async def test_a_refused_api_token_is_permanent_with_the_reason(eb, token, expected):
    eb.expired_tokens.add("expired-token")
    connector = books(eb, token=token)

    with pytest.raises(Permanent, match=expected):
        await connector.send(outgoing(invoice_request()))
    assert [h.path for h in eb.hits] == ["/v1/session"]


async def test_a_refusal_is_permanent_and_names_e_boekhouden_s_code(eb):
    connector = books(eb)
    eb.fail("/v1/invoice", 400, "FACT_018")

    with pytest.raises(Permanent, match=r"create invoice: HTTP 400: FACT_018 scripted 400 \[trace \w+\]"):
        await connector.send(outgoing(invoice_request()))


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_a_server_error_is_retryable(eb, status):
    eb.fail("/v1/invoice", status, "ERR_001")
    with pytest.raises(Retryable, match=f"create invoice: HTTP {status}"):
        await books(eb).send(outgoing(invoice_request()))


async def test_a_429_is_retryable_after_its_retry_after_and_pauses_the_connector(eb):
    eb.fail("/v1/relation", 429, "ERR_001", {"Retry-After": "1"})
    connector = books(eb)

    with pytest.raises(Retryable) as refused:
        await connector.send(outgoing(invoice_request()))
    assert (refused.value.status_code, refused.value.retry_after) == (429, 1.0)


async def test_a_vat_rate_without_a_code_is_refused_before_anything_is_sent(eb):
    data = order()
    data["items"][1]["tax"]["rate"]["percentage"] = "0.0"
    request = {"order": json.dumps(data)}
    connector = books(eb)

    with pytest.raises(Permanent, match=r'no e-Boekhouden VAT code for 0% .* add "0": <the code'):
        await connector.send(outgoing(request))
    assert eb.hits == []
    settings = {"template_id": TEMPLATE, "ledger_id": REVENUE, "api_token": "t", "invoice_prefix": "PP-"}
    [problem] = EboekhoudenConnector.check_rendered(request, settings)
    assert problem.startswith("Werkboek (order bump): no e-Boekhouden VAT code for 0%")
    assert EboekhoudenConnector.check_rendered(request, {**settings, "vat_codes": {"0": "BI_EU_VERK_D"}}) == []
    assert EboekhoudenConnector.check_rendered(invoice_request(), {**settings, "invoice_prefix": "X"}) == []
    assert EboekhoudenConnector.check_rendered(
        {"order": json.dumps({**order(), "invoice_number": "2025-A"})}, settings
    ) == ["invoice number 'PP-2025-A' does not end with a digit (e-Boekhouden FACT_009)"]


async def test_customer_text_stays_data(eb):
    hostile = "Eve <a@evil.example>, b@evil.example\r\nAuthorization: x\r\n../../v1/session?x=1#"
    email = "bilal+x@example.nl"
    connector = books(eb)

    await connector.send(outgoing(invoice_request(company=hostile, firstname=hostile, email=email)))

    [relation] = eb.relations.values()
    assert relation["name"] == hostile[:100] and relation["emailAddress"] == email
    assert [h.path for h in eb.hits] == ["/v1/session", "/v1/relation", "/v1/relation", "/v1/invoice"]
    assert eb.hits[1].query["email"] == email
    session = next(iter(eb.sessions))
    assert {h.authorization for h in eb.hits[1:]} == {session}


async def test_the_daemon_books_an_invoice_created_in_plug_and_pay(tmp_path, sandbox, eb):
    connectors = f"""  books:
    type: eboekhouden
    base_url: "{eb.url}"
    api_token: "{TOKEN}"
    template_id: {TEMPLATE}
    ledger_id: {REVENUE}
    book_ledger_id: {DEBTORS}"""
    rules = """  - name: invoice-to-books
    trigger: invoice_created
    actions: [{connector: books}]"""
    daemon = start_daemon(tmp_path, sandbox.url, connectors, rules)
    try:
        assert (await daemon.post(webhook_body("order_invoice_created", 1042))).status_code == 202
        [delivery] = await finished(tmp_path)
    finally:
        assert daemon.stop() == 0
    assert delivery.status == "delivered", delivery
    [invoice] = eb.invoices.values()
    assert invoice["invoiceNumber"] == "2025-0042"
    assert invoice["mutation"] == {"ledgerId": DEBTORS, "description": "Plug&Pay order 1042"}
    assert TOKEN not in daemon.log()


# ---------------------------------------------------------------- the contract kit


class EboekhoudenStandIn(StandIn):
    """The kit's scripted destination, whose successes answer as e-Boekhouden would: a session, no relation
    yet, a created relation and invoice. The kit's replies decide the status (and delay) of the first
    requests; a scripted 2xx gets e-Boekhouden's body instead of the kit's generic one."""

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self.replies and not 200 <= self.replies[0].status < 300:
            return await super()._handle(request)
        body = await request.read()
        path, _, query = request.raw_path.partition("?")
        self.requests.append(Recorded(request.method, path, query, dict(request.headers), body))
        reply = self.replies.pop(0) if self.replies else Reply()
        if reply.delay:
            await asyncio.sleep(reply.delay)
        answers = {
            ("POST", "/v1/session"): {"token": "kit-session", "expiresIn": 3600},
            ("GET", "/v1/relation"): {"items": [], "count": 0},
            ("POST", "/v1/relation"): {"id": 11, "code": "R11"},
            ("POST", "/v1/invoice"): {"id": 21, "invoiceNumber": "2025-0042", "inExVat": "IN"},
        }
        return web.json_response(answers.get((request.method, path), {}), status=reply.status)


class TestTheEboekhoudenConnectorKeepsTheContract(ContractTests):
    connector = EboekhoudenConnector

    def settings(self, base_url: str) -> dict[str, Any]:
        return {"base_url": base_url, "api_token": TOKEN, "template_id": TEMPLATE, "ledger_id": REVENUE}

    def action(self, customer_text: str) -> dict[str, Any]:
        return invoice_request(company=customer_text)

    def delivery_key_of(self, request: Recorded) -> str | None:
        return None  # e-Boekhouden takes no idempotency key: the invoice number is the natural one

    stand_in = EboekhoudenStandIn  # opens sessions and finds relations; takes the kit's replies for the rest
