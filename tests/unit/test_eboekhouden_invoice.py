"""How an order becomes an e-Boekhouden invoice body (numbers, prices, ledgers, VAT codes), and what ``check``
says about an eboekhouden connector's settings, without a network."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from connectors.base import ConnectorDefaults, Outgoing, Permanent
from connectors.eboekhouden import EboekhoudenConnector
from connectors.invoice_doc import Line
from router.config import ConfigError, parse_config

SETTINGS = {
    "api_token": "t",
    "template_id": 6789,
    "ledger_id": 8000,
    "ledger_ids": {"77": "8010"},
    "term_of_payment": 30,
}


def connector(**changes: Any) -> EboekhoudenConnector:
    return EboekhoudenConnector("books", {**SETTINGS, **changes}, ConnectorDefaults())


def line(quantity: str, amount: str, with_tax: str, product: str | None = "77", rate: str = "21") -> Line:
    return Line("Cursus", product, Decimal(quantity), Decimal(amount), Decimal(with_tax), Decimal(rate))


def test_a_unit_price_exact_in_cents_is_sent_per_unit_with_the_product_s_ledger() -> None:
    assert connector().item(line("2", "100.00", "121.00"), incl_tax=True) == {
        "description": "Cursus",
        "quantity": 2.0,
        "pricePerUnit": 60.5,
        "vatCode": "HOOG_VERK_21",
        "ledgerId": 8010,
    }


def test_a_unit_price_not_exact_in_cents_is_booked_once_as_the_line_total() -> None:
    item = connector().item(line("3", "100.00", "109.00", product="81", rate="9"), incl_tax=False)
    assert item == {
        "description": "3 x Cursus",
        "quantity": 1.0,
        "pricePerUnit": 100.0,
        "vatCode": "LAAG_VERK_9",
        "ledgerId": 8000,
    }


def test_a_vat_code_of_the_settings_wins_and_an_unknown_rate_says_what_to_add() -> None:
    assert connector(vat_codes={"21": "VERL_VERK"}).item(line("1", "10", "10"), incl_tax=True)["vatCode"] == "VERL_VERK"
    with pytest.raises(Permanent, match=r'no e-Boekhouden VAT code for 0% in vat_codes \(known: 21, 9\); add "0"'):
        connector().item(line("1", "10", "10", rate="0.0"), incl_tax=True)


def test_the_invoice_number_is_the_prefix_and_the_plug_and_pay_number() -> None:
    order = {
        "invoice_number": "2025-0042",
        "invoice_date": "2025-03-14",
        "id": 1042,
        "is_tax_included": False,
        "billing": {"contact": {"email": "a@example.nl"}},
        "items": [
            {
                "product_id": 77,
                "label": "Cursus",
                "quantity": 1,
                "amount": "100.00",
                "amount_with_tax": "121.00",
                "tax": {"rate": {"percentage": "21.0"}},
            }
        ],
    }
    books = connector(invoice_prefix="PP-", book_ledger_id=1300)
    doc = books.document(Outgoing(1, "k", 1, {"order": json.dumps(order)}))
    invoice = books.invoice(doc, 7)
    assert (invoice["invoiceNumber"], invoice["inExVat"], invoice["termOfPayment"]) == ("PP-2025-0042", "EX", 30)
    assert invoice["mutation"] == {"ledgerId": 1300, "description": "Plug&Pay order 1042"}
    assert invoice["items"][0]["pricePerUnit"] == 100.0


def problems_of(settings: str) -> list[str]:
    text = "version: 1\nplugandpay: {allow_unsigned: true}\nconnectors:\n  books:\n    type: eboekhouden\n" + settings
    with pytest.raises(ConfigError) as info:
        parse_config(text, "c.yaml", {})
    return [str(p) for p in info.value.problems]


def test_check_names_the_settings_e_boekhouden_needs_and_those_it_would_refuse() -> None:
    assert problems_of("    api_token: t\n") == [
        "c.yaml:5: connectors.books.template_id: is required",
        "c.yaml:5: connectors.books.ledger_id: is required",
    ]
    wrong = "    source: plug-and-pay\n    ledger_ids: {'77': omzet}\n"
    found = problems_of("    api_token: t\n    template_id: 1\n    ledger_id: 8000\n" + wrong)
    assert found == [
        "c.yaml:9: connectors.books.source: must be 1 to 10 letters or digits (it names this integration to"
        " e-Boekhouden)",
        "c.yaml:10: connectors.books.ledger_ids.77: expected a ledger id (a number), got 'omzet'",
    ]
