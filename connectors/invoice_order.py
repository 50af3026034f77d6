"""What of an order an invoice needs: the invoice action stores the fetched order reduced to it.

The rendered action is stored with the delivery (a replay resends exactly it), so the stored ``order``
keeps only the order fields ``InvoiceDocument.from_order`` reads, not the whole fetched order: no payment
details (mandate, transaction, payment link), no phone number, tags, discounts or custom fields. It does keep
what an invoice must show: the customer's name, company, e-mail addresses, billing address and VAT number
(EU VAT rules require name and address, and the customer's VAT number for a reverse-charged B2B sale; the
Moneybird contact is made from the same fields). A field the order lacks stays absent, so the document is
the one the whole order would give.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ORDER_FIELDS = (
    "id",
    "reference",
    "customer_id",
    "invoice_number",
    "invoice_date",
    "created_at",
    "amount",
    "amount_with_tax",
    "is_tax_included",
)
ITEM_FIELDS = ("product_id", "label", "quantity", "amount", "amount_with_tax", "tax")
CONTACT_FIELDS = ("email", "invoice_email", "firstname", "lastname", "company", "vat_id_number")
ADDRESS_FIELDS = ("street", "housenumber", "zipcode", "city", "country")


def _pick(mapping: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    """The keys of ``mapping`` that are in ``fields`` (absent ones stay absent); {} when it is no mapping."""
    return {key: mapping[key] for key in fields if key in mapping} if isinstance(mapping, Mapping) else {}


def reduce_order(order: Mapping[str, Any]) -> dict[str, Any]:
    """The fetched order reduced to the fields ``InvoiceDocument.from_order`` reads."""
    reduced = _pick(order, ORDER_FIELDS)
    billing = order.get("billing")
    if billing is not None and "billing" in order:
        billing = billing if isinstance(billing, Mapping) else {}
        reduced["billing"] = {
            "contact": _pick(billing.get("contact"), CONTACT_FIELDS),
            "address": _pick(billing.get("address"), ADDRESS_FIELDS),
        }
    if "items" in order:
        reduced["items"] = [
            _pick(item, ITEM_FIELDS) if isinstance(item, Mapping) else item for item in order["items"] or []
        ]
    return reduced
