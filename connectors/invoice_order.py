"""What of an order an invoice needs: the default ``order`` template of the invoice action.

The rendered action is stored with the delivery (a replay resends exactly it), so the default template
keeps only the order fields ``InvoiceDocument.from_order`` reads, not the whole fetched order: no payment
details (mandate, transaction, payment link), no phone number, tags, discounts or custom fields. It does keep
what an invoice must show: the customer's name, company, e-mail addresses, billing address and VAT number
(EU VAT rules require name and address, and the customer's VAT number for a reverse-charged B2B sale; the
Moneybird contact is made from the same fields). A field the order lacks stays absent, so the document is
the one the whole order would give.
"""

from __future__ import annotations

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


def _pick(mapping: str, fields: tuple[str, ...]) -> str:
    """A Jinja expression: the keys of ``mapping`` that are in ``fields`` (absent ones stay absent)."""
    return f"dict({mapping} | dictsort | selectattr('0', 'in', {list(fields)!r}))"


def _part(mapping: str, key: str) -> str:
    """A Jinja expression: ``mapping[key]`` when that is a mapping, else an empty one."""
    return f"({mapping}['{key}'] if '{key}' in {mapping} and {mapping}['{key}'] is mapping else {{}})"


def order_template() -> str:
    """The Jinja template that renders the fetched order (``data``) reduced to the invoice's fields, as JSON.

    Keys are read with ``[...]`` and ``in``, never with methods: on API data a dot means a key.
    """
    contact, address = _pick(_part("b", "contact"), CONTACT_FIELDS), _pick(_part("b", "address"), ADDRESS_FIELDS)
    line = _pick("i", ITEM_FIELDS)
    return (
        f"{{%- set o = {_pick('data', ORDER_FIELDS)} -%}}"
        "{%- if 'billing' in data and data['billing'] is not none -%}"
        f"{{%- set b = {_part('data', 'billing')} -%}}"
        f"{{%- set _ = o.update({{'billing': {{'contact': {contact}, 'address': {address}}}}}) -%}}"
        "{%- endif -%}"
        "{%- if 'items' in data -%}{%- set lines = [] -%}"
        "{%- for i in data['items'] or [] -%}"
        f"{{%- set _ = lines.append({line} if i is mapping else i) -%}}"
        "{%- endfor -%}{%- set _ = o.update({'items': lines}) -%}{%- endif -%}"
        "{{ o | tojson }}"
    )
