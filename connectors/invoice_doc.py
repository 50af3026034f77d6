"""The normalised invoice, and the action both invoice connectors (``invoice``, ``moneybird``) take.

Plug&Pay amounts are decimal strings; an order line's ``amount`` / ``amount_with_tax`` are the line's total
after its discounts, excluding / including tax, and ``tax.rate.percentage`` is its VAT rate
(research/plugandpay.md §3.2). ``InvoiceDocument.from_order`` turns an order (as the route stage fetched
it) into number, date, currency, customer, lines with tax and totals, computed with ``Decimal``; a missing
piece that makes an invoice impossible (no invoice number, no lines) is a ``Permanent`` error. ``as_json``
is the document the ``invoice`` connector posts. ``InvoiceAction`` is the part both connector types share:
the action keys (``op``, ``order``, ``reference``, ``send``) with their checks and defaults, and turning a
rendered action into the document.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from connectors.base import Connector, Outgoing, Permanent
from connectors.invoice_order import reduce_order

CENT = Decimal("0.01")
OPS = ("create_invoice",)


def amount(value: Any, what: str) -> Decimal:
    try:
        return Decimal(str(value if value is not None else "0"))
    except InvalidOperation:
        raise Permanent(f"order: {what} is not an amount: {value!r}") from None


def percentage_key(value: Any) -> str:
    """``"21.0"`` / ``21`` / ``"21%"`` → ``"21"``: how tax rates are looked up in the ``tax_rates`` mapping."""
    text = str(value).strip().rstrip("%").strip()
    try:
        number = Decimal(text)
    except InvalidOperation:
        return text
    return format(number.normalize(), "f")


def money(value: Decimal) -> str:
    return str(value.quantize(CENT))


def plain(value: Decimal) -> str:
    """``Decimal("10.0")`` → ``"10"`` (``normalize`` alone gives ``"1E+1"``)."""
    return format(value.normalize(), "f")


def parse_order(value: Any) -> Mapping[str, Any]:
    """The ``order`` action key: the order as a mapping, or as the JSON text ``{{ data | tojson }}`` renders."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise Permanent('order: did not render to JSON (use "{{ data | tojson }}")') from None
    if not isinstance(value, Mapping):
        raise Permanent(f"order: expected the order object, got {type(value).__name__}")
    return value


@dataclass(frozen=True)
class Customer:
    id: str | None
    email: str | None
    invoice_email: str | None
    firstname: str
    lastname: str
    company: str
    vat_id: str | None
    address: Mapping[str, Any]

    @property
    def name(self) -> str:
        return " ".join(p for p in (self.firstname, self.lastname) if p)


@dataclass(frozen=True)
class Line:
    description: str
    product_id: str | None
    quantity: Decimal
    amount: Decimal  # line total excluding tax
    amount_with_tax: Decimal
    tax_rate: Decimal  # percentage

    @property
    def tax(self) -> Decimal:
        return self.amount_with_tax - self.amount

    def unit_price(self, *, with_tax: bool = False) -> str:
        """The price of one unit: in cents when that is exact, else to 4 decimals."""
        total = self.amount_with_tax if with_tax else self.amount
        if not self.quantity:
            return money(total)
        unit = total / self.quantity
        return money(unit) if unit == unit.quantize(CENT) else str(unit.quantize(Decimal("0.0001")))


@dataclass(frozen=True)
class InvoiceDocument:
    number: str
    date: str
    currency: str
    prices_include_tax: bool
    order_id: str
    order_reference: str | None
    customer: Customer
    lines: tuple[Line, ...]
    amount: Decimal
    amount_with_tax: Decimal

    @classmethod
    def from_order(cls, order: Mapping[str, Any], *, currency: str, number: str | None = None) -> InvoiceDocument:
        number = number or order.get("invoice_number")
        if not number:
            raise Permanent("order: no invoice number yet (is the invoice still a concept?)")
        date = str(order.get("invoice_date") or order.get("created_at") or "")[:10]
        if not date:
            raise Permanent("order: no invoice_date")
        items = order.get("items")
        if not isinstance(items, list) or not items:
            raise Permanent("order: no order lines ('items' was not included or is empty)")
        lines = tuple(_line(item, index) for index, item in enumerate(items))
        total = amount(order["amount"], "amount") if "amount" in order else sum((x.amount for x in lines), Decimal())
        total_with_tax = (
            amount(order["amount_with_tax"], "amount_with_tax")
            if "amount_with_tax" in order
            else sum((x.amount_with_tax for x in lines), Decimal())
        )
        return cls(
            number=str(number),
            date=date,
            currency=currency,
            prices_include_tax=bool(order.get("is_tax_included", False)),
            order_id=str(order.get("id", "")),
            order_reference=order.get("reference"),
            customer=_customer(order),
            lines=lines,
            amount=total,
            amount_with_tax=total_with_tax,
        )

    def as_json(self) -> dict[str, Any]:
        c = self.customer
        return {
            "number": self.number,
            "date": self.date,
            "currency": self.currency,
            "prices_include_tax": self.prices_include_tax,
            "order": {"id": self.order_id, "reference": self.order_reference},
            "customer": {
                "id": c.id,
                "email": c.email,
                "invoice_email": c.invoice_email,
                "name": c.name,
                "company": c.company or None,
                "vat_id": c.vat_id,
                "address": dict(c.address),
            },
            "lines": [
                {
                    "description": line.description,
                    "product_id": line.product_id,
                    "quantity": plain(line.quantity),
                    "unit_price": line.unit_price(),
                    "amount": money(line.amount),
                    "tax_rate": percentage_key(line.tax_rate),
                    "tax": money(line.tax),
                    "amount_with_tax": money(line.amount_with_tax),
                }
                for line in self.lines
            ],
            "totals": {
                "amount": money(self.amount),
                "tax": money(self.amount_with_tax - self.amount),
                "amount_with_tax": money(self.amount_with_tax),
            },
        }


def _line(item: Any, index: int) -> Line:
    if not isinstance(item, Mapping):
        raise Permanent(f"order: items[{index}] is not an order line")
    rate = ((item.get("tax") or {}).get("rate") or {}).get("percentage", 0)
    quantity = amount(item.get("quantity") or 1, f"items[{index}].quantity")
    net = amount(item.get("amount"), f"items[{index}].amount")
    gross = amount(item.get("amount_with_tax", item.get("amount")), f"items[{index}].amount_with_tax")
    product = item.get("product_id")
    return Line(
        description=str(item.get("label") or f"Product {product}"),
        product_id=None if product is None else str(product),
        quantity=quantity,
        amount=net,
        amount_with_tax=gross,
        tax_rate=amount(rate, f"items[{index}].tax.rate.percentage"),
    )


def _customer(order: Mapping[str, Any]) -> Customer:
    billing = order.get("billing") or {}
    contact = billing.get("contact") or {}
    return Customer(
        id=order.get("customer_id") or None,
        email=contact.get("email") or None,
        invoice_email=contact.get("invoice_email") or None,
        firstname=str(contact.get("firstname") or ""),
        lastname=str(contact.get("lastname") or ""),
        company=str(contact.get("company") or ""),
        vat_id=contact.get("vat_id_number") or None,
        address=billing.get("address") or {},
    )


def flag(value: Any) -> bool:
    """``send`` as rendered: a YAML bool, or the text a template made of one."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "1", "on"):
        return True
    if text in ("false", "no", "0", "off", "", "none"):
        return False
    raise Permanent(f"send: expected true or false, got {value!r}")


def invoice_reference(request: Mapping[str, Any]) -> str | None:
    """The invoice number a rendered action books: its ``reference``, else the order's ``invoice_number``."""
    if request.get("reference"):
        return str(request["reference"])
    try:
        order = json.loads(str(request.get("order") or "{}"))
    except ValueError:
        return None
    number = order.get("invoice_number") if isinstance(order, dict) else None
    return None if number is None else str(number)


class InvoiceAction(Connector):
    """The action of both invoice connectors. Its ``order`` key defaults to the fetched order as JSON, so
    ``{connector: books}`` is a complete action; what is stored (and resent) is that order reduced to the
    fields an invoice needs (``connectors.invoice_order``). ``reference`` and ``send`` may override the
    invoice number and the ``send`` setting per rule."""

    action_keys: ClassVar[frozenset[str]] = frozenset({"op", "order", "reference", "send"})
    currency: str = "EUR"

    @classmethod
    def action_defaults(cls) -> Mapping[str, Any]:
        return {"order": "{{ data | tojson }}"}

    @classmethod
    def stored_request(cls, request: Mapping[str, Any]) -> Mapping[str, Any]:
        if "order" not in request:
            return request
        try:
            order = parse_order(request["order"])
        except Permanent:
            return request  # sending reports the reason; nothing to reduce
        return {**request, "order": json.dumps(reduce_order(order), separators=(",", ":"))}

    @staticmethod
    def check_action(action: Mapping[str, Any]) -> list[tuple[str, str]]:
        problems = []
        op = action.get("op")
        if isinstance(op, str) and "{" not in op and op not in OPS:
            problems.append(("op", f"unknown op {op!r} (known: {', '.join(OPS)})"))
        order = action.get("order")
        if isinstance(order, str) and "{" not in order:
            problems.append(("order", 'expected the order as a template, such as "{{ data | tojson }}"'))
        elif isinstance(order, str) and "tojson" not in order:
            problems.append(("order", 'must render to JSON: end the template with "| tojson"'))
        elif order is not None and not isinstance(order, str | Mapping):
            problems.append(("order", 'expected a template such as "{{ data | tojson }}"'))
        return problems

    @classmethod
    def rendered_document(cls, request: Mapping[str, Any], settings: Mapping[str, Any]) -> InvoiceDocument | None:
        """The invoice a rendered action would book, or None when it cannot be built."""
        try:
            return cls._document_of(request, str(settings.get("currency") or cls.currency))
        except Permanent:
            return None

    @classmethod
    def check_rendered(cls, request: Mapping[str, Any], settings: Mapping[str, Any]) -> list[str]:
        try:
            cls._document_of(request, str(settings.get("currency") or cls.currency))
        except Permanent as exc:
            return [exc.message]
        return []

    @staticmethod
    def _document_of(request: Mapping[str, Any], currency: str) -> InvoiceDocument:
        order = parse_order(request.get("order"))
        reference = request.get("reference")
        return InvoiceDocument.from_order(order, currency=currency, number=str(reference) if reference else None)

    @classmethod
    def describe(cls, request: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
        return f"invoice {invoice_reference(request) or '?'}"

    @classmethod
    def receipt_key(cls, request: Mapping[str, Any]) -> str | None:
        reference = invoice_reference(request)
        return None if reference is None else f"invoice:{reference}"

    def document(self, out: Outgoing) -> InvoiceDocument:
        return self._document_of(out.request, self.currency)
