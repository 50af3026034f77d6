"""The Moneybird connector (``type: moneybird``; ``type: invoice`` with ``flavor: moneybird`` is an alias).

Settings: ``base_url`` (``https://moneybird.com/api/v2/<administration id>``) and ``token``; ``tax_rates``
maps a VAT percentage to a Moneybird tax rate id, ``ledger_accounts`` a product id or ``default`` to a
ledger account id; ``send: true`` sends each new invoice. The action is the invoice action
(``connectors.invoice_doc``): the order becomes a sales invoice with ``reference`` = the Plug&Pay invoice
number. Moneybird allows 150 requests per 5 minutes: this type's default ``rate_limit``.

Moneybird has no idempotency key, so every step checks before it creates: the contact is found by the
order's customer id (``GET contacts/customer_id/{id}``) or by e-mail (``GET contacts?query=``) and created
only when both miss; the sales invoice is looked up by ``reference`` (the Plug&Pay invoice number) and
created only when missing; it is sent (``send: true``) only while still a draft. A retry after a timeout
that hid a success therefore finds what the first try made. Moneybird's invoice list defaults to
``period:this_year``, so the lookup names a period from the invoice date to tomorrow (an invoice made on
31 December must still be found on 2 January, and sending may move its date to the day it was sent).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

from connectors.base import ConnectorDefaults, Field, Limiter, Outgoing, Permanent, Sent
from connectors.invoice_doc import CENT, InvoiceAction, InvoiceDocument, Line, flag, money, percentage_key, plain
from toolkit.client import expect_success, make_client, send
from toolkit.units import Rate

MONEYBIRD_RATE = Rate(150, 300.0)
SETTINGS: Mapping[str, Field] = {
    "base_url": Field("str"),
    "token": Field("str", secret=True),
    "tax_rates": Field("map", default={}),
    "ledger_accounts": Field("map", default={}),
    "workflow_id": Field("str"),
    "document_style_id": Field("str"),
    "send": Field("bool", default=False),
    "currency": Field("str", default="EUR"),
    "timeout": Field("duration"),
}


def tax_rate_id(tax_rates: Mapping[str, str], percentage: Any) -> str:
    """The Moneybird tax rate id of a VAT percentage (``tax_rates`` keyed by ``percentage_key``); Permanent
    saying what to add when the mapping has none."""
    key = percentage_key(percentage)
    if key not in tax_rates:
        known = ", ".join(sorted(tax_rates))
        raise Permanent(
            f"no Moneybird tax rate for {key}% in tax_rates (known: {known}); add"
            f" \"{key}\": <the id of Moneybird's {key}% tax rate> to the connector's tax_rates"
        )
    return tax_rates[key]


class MoneybirdConnector(InvoiceAction):
    type: ClassVar[str] = "moneybird"
    settings_fields: ClassVar[Mapping[str, Field]] = {
        **SETTINGS,
        "base_url": Field("str", required=True),
        "token": Field("str", required=True, secret=True),
    }

    def __init__(
        self, name: str, settings: Mapping[str, Any], defaults: ConnectorDefaults, *, limiter: Limiter | None = None
    ):
        super().__init__(name, settings, defaults, limiter=limiter)
        self.currency = str(settings.get("currency") or "EUR")
        self.send_default = bool(settings.get("send"))
        self.books = MoneybirdBooks(
            str(settings["base_url"]),
            str(settings["token"]),
            timeout=float(settings.get("timeout") or defaults.timeout),
            user_agent=defaults.user_agent,
            limiter=limiter,
            tax_rates=settings.get("tax_rates") or {},
            ledger_accounts=settings.get("ledger_accounts") or {},
            extra={k: str(settings[k]) for k in ("workflow_id", "document_style_id") if settings.get(k)},
        )

    @staticmethod
    def check_settings(settings: Mapping[str, Any]) -> list[tuple[str, str]]:
        if settings.get("base_url") and not str(settings["base_url"]).startswith(("http://", "https://")):
            return [("base_url", "must be an http:// or https:// URL")]
        return []

    @classmethod
    def check_rendered(cls, request: Mapping[str, Any], settings: Mapping[str, Any]) -> list[str]:
        problems = super().check_rendered(request, settings)
        rates = {percentage_key(k): str(v) for k, v in (settings.get("tax_rates") or {}).items()}
        if problems or not rates:
            return problems
        doc = cls.rendered_document(request, settings)
        for line in doc.lines if doc is not None else ():
            try:
                tax_rate_id(rates, line.tax_rate)
            except Permanent as exc:
                problems.append(f"{line.description}: {exc.message}")
        return list(dict.fromkeys(problems))

    @classmethod
    def default_rate(cls, settings: Mapping[str, Any]) -> Rate:
        return MONEYBIRD_RATE

    @classmethod
    def rate_destination(cls, name: str, settings: Mapping[str, Any]) -> str:
        return f"moneybird:{str(settings['base_url']).rstrip('/')}"

    async def send(self, out: Outgoing) -> Sent:
        doc = self.document(out)
        send_invoice = flag(out.request["send"]) if "send" in out.request else self.send_default
        return await self.books.book(doc, send_invoice=send_invoice)

    async def aclose(self) -> None:
        await self.books.aclose()


class MoneybirdBooks:
    """Moneybird's API, one idempotent step at a time."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float,
        user_agent: str,
        limiter: Limiter | None,
        tax_rates: Mapping[str, str],
        ledger_accounts: Mapping[str, str],
        extra: Mapping[str, str],
    ):
        self.base = base_url.rstrip("/")
        self.limiter = limiter
        self.tax_rates = {percentage_key(k): str(v) for k, v in tax_rates.items()}
        self.ledger_accounts = dict(ledger_accounts)
        self.extra = dict(extra)  # workflow_id, document_style_id
        self._client = make_client(
            timeout,
            limiter,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json", "User-Agent": user_agent},
        )

    async def call(self, method: str, path: str, what: str, *, json: Any = None, params: Any = None) -> Any:
        request = self._client.build_request(method, f"{self.base}{path}", json=json, params=params)
        response = await send(self._client, request, self.limiter, what=what)
        if response.status_code == 404 and method == "GET":
            return None
        expect_success(response, what)
        return response.json() if response.content else {}

    async def book(self, doc: InvoiceDocument, *, send_invoice: bool) -> Sent:
        found = await self.find_invoice(doc)
        made = found is None
        invoice = found or await self.create_invoice(doc, await self.contact_id(doc))
        sent = False
        if send_invoice and invoice.get("state") == "draft":
            await self.call(
                "PATCH",
                f"/sales_invoices/{quote(str(invoice['id']), safe='')}/send_invoice.json",
                "send invoice",
                json={"sales_invoice_sending": {"delivery_method": "Email"}},
            )
            sent = True
        detail = f"sales invoice {invoice['id']} ({doc.number}) {'created' if made else 'already booked'}"
        result = {"invoice_id": str(invoice["id"]), "number": doc.number, "created": made, "sent": sent}
        return Sent(201 if made else 200, detail + (", sent" if sent else ""), result)

    # ---------------------------------------------------------------- invoices

    async def find_invoice(self, doc: InvoiceDocument) -> dict[str, Any] | None:
        start = dt.date.fromisoformat(doc.date) - dt.timedelta(days=1)
        end = dt.date.today() + dt.timedelta(days=1)
        params = {"filter": f"reference:{doc.number},period:{start:%Y%m%d}..{end:%Y%m%d}", "per_page": 100}
        found = await self.call("GET", "/sales_invoices.json", "find invoice by reference", params=params) or []
        exact = [inv for inv in found if inv.get("reference") == doc.number]
        return exact[0] if exact else None

    async def create_invoice(self, doc: InvoiceDocument, contact_id: str) -> dict[str, Any]:
        invoice: dict[str, Any] = {
            "reference": doc.number,
            "contact_id": contact_id,
            "invoice_date": doc.date,
            "currency": doc.currency,
            "prices_are_incl_tax": doc.prices_include_tax,
            "details_attributes": [self.detail(line, doc.prices_include_tax) for line in doc.lines],
            **self.extra,
        }
        body = await self.call("POST", "/sales_invoices.json", "create invoice", json={"sales_invoice": invoice})
        if not isinstance(body, dict) or "id" not in body:
            raise Permanent("create invoice: the answer has no invoice id")
        return body

    def detail(self, line: Line, incl_tax: bool) -> dict[str, Any]:
        total = line.amount_with_tax if incl_tax else line.amount
        description = line.description
        quantity = line.quantity
        # Moneybird multiplies amount x price: keep it exact, or book the line total once.
        if (
            quantity == quantity.to_integral()
            and quantity > 0
            and (total / quantity).quantize(CENT) * quantity == total
        ):
            detail: dict[str, Any] = {"amount": str(int(quantity)), "price": money(total / quantity)}
        else:
            detail = {"amount": "1", "price": money(total)}
            description = f"{plain(quantity)} x {description}"
        detail["description"] = description
        if self.tax_rates:
            detail["tax_rate_id"] = tax_rate_id(self.tax_rates, line.tax_rate)
        ledger = self.ledger_accounts.get(line.product_id or "") or self.ledger_accounts.get("default")
        if ledger:
            detail["ledger_account_id"] = ledger
        return detail

    # ---------------------------------------------------------------- contacts

    async def contact_id(self, doc: InvoiceDocument) -> str:
        customer = doc.customer
        if customer.id:
            found = await self.call(
                "GET", f"/contacts/customer_id/{quote(customer.id, safe='')}.json", "find contact by customer id"
            )
            if found:
                return str(found["id"])
        emails = {e.lower() for e in (customer.email, customer.invoice_email) if e}
        for email in emails:
            found = await self.call("GET", "/contacts.json", "find contact by email", params={"query": email}) or []
            for contact in found:
                theirs = {str(contact.get(k) or "").lower() for k in ("email", "send_invoices_to_email")}
                if theirs & emails:
                    return str(contact["id"])
        return await self.create_contact(doc)

    async def create_contact(self, doc: InvoiceDocument) -> str:
        c = doc.customer
        if not c.company and not (c.firstname and c.lastname):
            raise Permanent("the order's billing contact has neither a company nor a first and last name")
        address = c.address
        street = " ".join(str(address.get(k) or "") for k in ("street", "housenumber")).strip()
        contact = {
            "company_name": c.company,
            "firstname": c.firstname,
            "lastname": c.lastname,
            "address1": street,
            "zipcode": address.get("zipcode") or "",
            "city": address.get("city") or "",
            "country": address.get("country") or "",
            "tax_number": c.vat_id or "",
            "send_invoices_to_email": c.invoice_email or c.email or "",
            "customer_id": c.id or "",
        }
        body = {"contact": {k: v for k, v in contact.items() if v}}
        made = await self.call("POST", "/contacts.json", "create contact", json=body)
        return str(made["id"])

    async def aclose(self) -> None:
        await self._client.aclose()
