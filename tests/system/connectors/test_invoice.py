"""The invoice connector: Moneybird against a local simulator (contact, invoice once, send) and the generic flavor."""

from __future__ import annotations

import json

import pytest

from connectors.base import Permanent, Retryable
from router.config import parse_config
from router.demo.standins.moneybird import TOKEN
from router.events import Event
from router.routing.route import plan
from tests.system.connectors.conftest import build, order, outgoing
from toolkit.units import Rate

TAX_21 = "496081523100000021"
LEDGER_COURSES = "496081523200000077"
LEDGER_DEFAULT = "496081523200000001"


def books(mb, *, timeout: str = "2s", extra: str = ""):
    connectors = build(
        f"""  books:
    type: invoice
    flavor: moneybird
    base_url: "{mb.base_url}"
    token: "{TOKEN}"
    timeout: {timeout}
    tax_rates: {{"21": "{TAX_21}"}}
    ledger_accounts: {{"77": "{LEDGER_COURSES}", default: "{LEDGER_DEFAULT}"}}
{extra}"""
    )
    return connectors.get("books")


def invoice_request(ident: str = "1042", **extra):
    return {"order": json.dumps(order(ident)), **extra}  # as "{{ data | tojson }}" renders it


async def test_contact_is_created_and_the_invoice_booked_once_even_when_the_first_answer_is_lost(mb):
    mb.slow_create = 0.8  # the server commits the invoice, then answers after the connector gave up
    connector = books(mb, timeout="0.3s")

    with pytest.raises(Retryable, match="create invoice: timeout"):
        await connector.send(outgoing(invoice_request()))
    retried = await connector.send(outgoing(invoice_request()))

    assert len(mb.calls("POST", "/sales_invoices.json")) == 1
    [invoice] = mb.invoices.values()
    assert "already booked" in retried.detail
    assert invoice["reference"] == "2025-0042"  # the Plug&Pay invoice number
    assert invoice["invoice_date"] == "2025-03-14"  # not this year: the lookup must not use Moneybird's default
    assert invoice["prices_are_incl_tax"] is True
    assert invoice["details_attributes"] == [
        {
            "amount": "1",
            "price": "108.90",
            "description": "Online cursus Basis",
            "tax_rate_id": TAX_21,
            "ledger_account_id": LEDGER_COURSES,
        },
        {
            "amount": "1",
            "price": "12.10",
            "description": "Werkboek (order bump)",
            "tax_rate_id": TAX_21,
            "ledger_account_id": LEDGER_DEFAULT,
        },
    ]
    [contact] = mb.contacts.values()
    assert invoice["contact_id"] == contact["id"]
    assert contact["customer_id"] == "cst_8wmqcHMN4U"
    assert contact["company_name"] == "Timmermans & Zn"
    assert contact["send_invoices_to_email"] == "finance@example.nl"
    assert len(mb.calls("POST", "/contacts.json")) == 1  # the retry found the contact by customer id


async def test_an_existing_contact_is_found_by_email(mb):
    known = mb.add_contact(company_name="Anna Jansen", send_invoices_to_email="anna@example.nl")
    mb.add_contact(company_name="Hanna", send_invoices_to_email="hanna@example.nl")  # "anna@" is in it too
    sent = await books(mb).send(outgoing(invoice_request("1043")))
    assert sent.status_code == 201
    assert mb.calls("POST", "/contacts.json") == []
    [invoice] = mb.invoices.values()
    assert invoice["contact_id"] == known


async def test_send_true_sends_the_draft_once(mb):
    connector = books(mb, extra="    send: true\n")
    await connector.send(outgoing(invoice_request()))
    await connector.send(outgoing(invoice_request()))  # a replay
    assert len(mb.calls("PATCH", "/send_invoice.json")) == 1
    [invoice] = mb.invoices.values()
    assert invoice["state"] == "open"

    await connector.send(outgoing(invoice_request("1043", send="false")))  # the action overrides the setting
    assert len(mb.calls("PATCH", "/send_invoice.json")) == 1


async def test_missing_tax_rate_mapping_and_bad_token_are_permanent(mb):
    nine = order()
    nine["items"][1]["tax"]["rate"]["percentage"] = "9.0"
    with pytest.raises(Permanent, match=r"no Moneybird tax rate for 9% in tax_rates \(known: 21\)"):
        await books(mb).send(outgoing({"order": json.dumps(nine)}))
    assert mb.invoices == {}

    mb.token = "rotated"
    with pytest.raises(Permanent, match="HTTP 401: Token is invalid"):
        await books(mb).send(outgoing(invoice_request()))


async def test_generic_flavor_posts_the_normalised_document_with_the_delivery_key(sink):
    connectors = build(f'  books: {{type: invoice, flavor: generic, url: "{sink.url}/invoices"}}')
    key = "ppr_9a8b7c6d5e4f30211203f4e5d6c7b8a9"
    await connectors.get("books").send(outgoing(invoice_request(), key=key))

    [request] = await sink.wait_for(1, path="/invoices")
    assert request.headers["Idempotency-Key"] == key
    doc = request.json()
    assert (doc["number"], doc["date"], doc["currency"]) == ("2025-0042", "2025-03-14", "EUR")
    assert doc["customer"]["email"] == "bilal@example.nl"
    assert doc["customer"]["address"]["city"] == "Purmerend"
    assert doc["lines"][0] == {
        "description": "Online cursus Basis",
        "product_id": "77",
        "quantity": "1",
        "unit_price": "90.00",
        "amount": "90.00",
        "tax_rate": "21",
        "tax": "18.90",
        "amount_with_tax": "108.90",
    }
    assert doc["totals"] == {"amount": "100.00", "tax": "21.00", "amount_with_tax": "121.00"}


def test_the_action_gets_the_order_without_being_told():
    config = parse_config(
        """version: 1
plugandpay: {allow_unsigned: true}
connectors:
  books: {type: invoice, flavor: generic, url: "https://books.example.nl/in"}
rules:
  - name: invoice-to-books
    trigger: invoice_created
    actions: [{connector: books, op: create_invoice}]
""",
        "config.yaml",
        env={},
    )
    event = Event("invoice_created", "order_invoice_created", "order", "1042")
    [delivery] = plan(event, order(), config).deliveries
    assert delivery.request is not None
    assert json.loads(delivery.request["order"])["invoice_number"] == "2025-0042"


async def test_type_moneybird_books_the_invoice_and_the_invoice_flavor_is_an_alias_of_it(mb):
    settings = f'base_url: "{mb.base_url}", token: "{TOKEN}", tax_rates: {{"21": "{TAX_21}"}}'
    connectors = build(
        f"  books: {{type: moneybird, {settings}}}\n  legacy: {{type: invoice, flavor: moneybird, {settings}}}\n"
    )
    books, legacy = connectors.get("books"), connectors.get("legacy")

    made = await books.send(outgoing(invoice_request()))
    again = await legacy.send(outgoing(invoice_request()))

    assert type(books) is type(legacy)
    assert "created" in made.detail and "already booked" in again.detail
    assert len(mb.calls("POST", "/sales_invoices.json")) == 1
    # one Moneybird administration, one 150/5m budget: both connectors count against the same limiter
    assert connectors.guards["books"].limiter is connectors.guards["legacy"].limiter
    assert connectors.guards["books"].limiter.rate == Rate(150, 300.0)
