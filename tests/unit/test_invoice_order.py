"""The invoice action's stored request: the stored order holds only the invoice's fields, and the invoice
document made from it is the one the whole order gives."""

from __future__ import annotations

import json
from typing import Any

import pytest

from connectors.invoice_doc import InvoiceAction, InvoiceDocument, parse_order
from router.demo.sandbox import load_fixtures
from router.render.templates import compile_tree, render_tree

ORDERS = load_fixtures()["orders"]  # the fixtures as served (without their "_assumptions" note)


def rendered(order: dict[str, Any]) -> dict[str, Any]:
    fields = compile_tree(dict(InvoiceAction.action_defaults()), lambda rest: "test.yaml:1")
    return dict(parse_order(InvoiceAction.stored_request(render_tree(fields, {"data": order}))["order"]))


@pytest.mark.parametrize("ident", sorted(ORDERS))
def test_the_reduced_order_gives_the_same_invoice_without_private_fields(ident):
    order = ORDERS[ident]
    reduced = rendered(order)
    assert InvoiceDocument.from_order(reduced, currency="EUR") == InvoiceDocument.from_order(order, currency="EUR")
    text = json.dumps(reduced)
    for private in ("telephone", "payment", "mandate", "tags", "discounts", "checkout"):
        assert private not in text


@pytest.mark.parametrize(
    "order",
    [
        {"invoice_number": "1", "invoice_date": "2025-01-01", "items": [{"amount": "1"}]},
        {"invoice_number": "1", "created_at": "2025-01-01", "items": [{"amount": "1"}], "billing": None},
        {"invoice_number": "1", "created_at": "2025-01-01", "items": [], "billing": {"contact": None}},
    ],
)
def test_fields_missing_from_the_order_stay_missing_and_fail_the_same_way(order):
    reduced = rendered(order)
    assert "amount" not in reduced and "id" not in reduced
    try:
        expected: Any = InvoiceDocument.from_order(order, currency="EUR")
    except Exception as exc:  # the same Permanent reason either way
        expected = str(exc)
    try:
        got: Any = InvoiceDocument.from_order(reduced, currency="EUR")
    except Exception as exc:
        got = str(exc)
    assert got == expected
