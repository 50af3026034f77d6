"""The e-Boekhouden.nl connector (``type: eboekhouden``): each Plug&Pay invoice becomes an invoice in e-Boekhouden.

The action is the invoice action both other invoice connectors take (``connectors.invoice_doc``): the order,
reduced to what an invoice needs, becomes one ``InvoiceDocument``. The connector opens a session
(``POST /v1/session`` with the API token, answered by a short-lived session token sent as ``Authorization``
on every later call), finds the relation by e-mail (``GET /v1/relation?email=``) or creates it, then creates
the invoice with the shop's own invoice number (``invoice_prefix`` + the Plug&Pay number), the configured
``template_id``, ``term_of_payment``, ledger and VAT code per line. e-Boekhouden has no idempotency key, and
an invoice cannot be changed or deleted through the API; the own invoice number is the natural key: a retry
after a lost answer gets ``FACT_101`` ("invoice number is in use"), which counts as already done unless the
invoice with that number belongs to another relation. A session that expired or was refused (401,
``API_SESSION_004``, ``SECURITY_010``) is renewed once and the call repeated. What the published spec leaves
open is handled tolerantly: the raw session token is sent (the spec's Quick Start), and ``Bearer <token>``
is tried once when a fresh token is refused that way; no rate limit is published, so the default of 2
requests/s is a cautious guess. Sources: the e-Boekhouden OpenAPI (as generated into the ``eboekhouden``
crate) and research/connectors.md §3.2.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar, NoReturn

from connectors.base import ConnectorDefaults, DeliveryError, Field, Limiter, Outgoing, Permanent, Sent
from connectors.invoice_doc import (
    CENT,
    Customer,
    InvoiceAction,
    InvoiceDocument,
    Line,
    invoice_reference,
    percentage_key,
    plain,
)
from toolkit.client import Response, make_client, send
from toolkit.jsontext import loads as json_loads
from toolkit.status import classify_status
from toolkit.units import Rate

DEFAULT_URL = "https://api.e-boekhouden.nl"
EBOEKHOUDEN_RATE = Rate(2, 1.0)  # e-Boekhouden publishes no limit: a cautious default
DEFAULT_VAT_CODES = {"21": "HOOG_VERK_21", "9": "LAAG_VERK_9"}
SESSION_LOST = frozenset({"API_SESSION_004", "SECURITY_010"})  # expired or unknown session token
IN_USE = "FACT_101"
SOURCE = re.compile(r"[A-Za-z0-9]{1,10}")
NUMBER_MAX = 50
SESSION_MARGIN = 30.0  # renew this long before e-Boekhouden says the session expires
RENEW_TOKEN = "make a new API token in e-Boekhouden (Beheer > Inrichting > Koppelingen > API) for api_token"
SESSION_HINTS = {"API_SESSION_002": "source must be 1 to 10 letters or digits", "API_SESSION_004": RENEW_TOKEN}
SETTINGS: Mapping[str, Field] = {
    "api_token": Field("str", required=True, secret=True),
    "template_id": Field("int", required=True),
    "ledger_id": Field("int", required=True),
    "ledger_ids": Field("map", default={}),
    "vat_codes": Field("map", default={}),
    "term_of_payment": Field("int", default=14),
    "invoice_prefix": Field("str", default=""),
    "book_ledger_id": Field("int"),
    "source": Field("str", default="PlugPay"),
    "base_url": Field("str", default=DEFAULT_URL),
    "timeout": Field("duration"),
}


def vat_codes(settings: Mapping[str, Any]) -> dict[str, str]:
    """VAT percentage (as ``percentage_key`` spells it) → e-Boekhouden VAT code: the defaults, then the setting."""
    given = {percentage_key(k): str(v).strip() for k, v in (settings.get("vat_codes") or {}).items()}
    return {**DEFAULT_VAT_CODES, **given}


def vat_code(codes: Mapping[str, str], percentage: Any) -> str:
    key = percentage_key(percentage)
    if key not in codes:
        raise Permanent(
            f"no e-Boekhouden VAT code for {key}% in vat_codes (known: {', '.join(sorted(codes))}); add"
            f' "{key}": <the code, such as GEEN, BI_EU_VERK_D or BU_EU_VERK> to the connector\'s vat_codes'
        )
    return codes[key]


def invoice_number(prefix: str, number: str) -> str:
    """The number e-Boekhouden files the invoice under; Permanent when e-Boekhouden would refuse it."""
    full = f"{prefix}{number}"
    if not full[-1:].isdigit():
        raise Permanent(f"invoice number {full!r} does not end with a digit (e-Boekhouden FACT_009)")
    if len(full) > NUMBER_MAX:
        raise Permanent(f"invoice number {full!r} is longer than {NUMBER_MAX} characters (e-Boekhouden FACT_007)")
    return full


def body_of(response: Response) -> Mapping[str, Any]:
    """The answer's JSON object, or {} when it is none (no body, not JSON, not an object)."""
    try:
        body = json_loads(response.content) if response.content else {}
    except ValueError:
        return {}
    return body if isinstance(body, Mapping) else {}


def ident(value: Any) -> int | None:
    """An id as e-Boekhouden returns it (a number; a string of digits is taken too)."""
    if isinstance(value, int | str) and not isinstance(value, bool) and str(value).strip().isdigit():
        return int(value)
    return None


def error_of(response: Response) -> tuple[str | None, str]:
    """(the error ``code``, a one-line reason) from an e-Boekhouden error body (``code``, ``title``,
    ``message``, ``errors``, ``propertyName``, ``traceId``), or the text when the body is not that."""
    body = body_of(response)
    code = str(body["code"]) if body.get("code") else None
    parts = [str(body[k]) for k in ("title", "message") if body.get(k)]
    errors = body.get("errors")
    if isinstance(errors, list):
        parts += [str(e) for e in errors[:5]]
    if body.get("propertyName"):
        parts.append(f"({body['propertyName']})")
    reason = " ".join([*([code] if code else []), *parts]) or " ".join(response.text.split())
    if body.get("traceId"):
        reason += f" [trace {body['traceId']}]"
    return code, reason[:300]


def fail(response: Response, what: str, hint: str = "") -> NoReturn:
    """Raise Retryable / Permanent for a non-2xx answer, naming the step and e-Boekhouden's reason."""
    _, reason = error_of(response)
    try:
        classify_status(response.status_code, reason, response.headers.get("Retry-After"))
    except DeliveryError as exc:
        exc.message = f"{what}: {exc.message}" + (f" ({hint})" if hint else "")
        exc.args = (exc.message,)
        raise
    raise Permanent(f"{what}: unexpected answer HTTP {response.status_code}")


class EboekhoudenApi:
    """The calls the connector makes, each under the session, each taking a slot of the rate limit."""

    def __init__(self, settings: Mapping[str, Any], *, timeout: float, user_agent: str, limiter: Limiter | None):
        self.base = str(settings.get("base_url") or DEFAULT_URL).rstrip("/")
        self.token = str(settings["api_token"])
        self.source = str(settings.get("source") or "PlugPay")
        self.limiter = limiter
        self._client = make_client(timeout, limiter, headers={"Accept": "application/json", "User-Agent": user_agent})
        self._session: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()
        self._bearer = False  # the spec says the raw token; "Bearer <token>" is tried once if that is refused
        self._form_known = False

    async def session(self, stale: str | None = None) -> str:
        """The current session token; a new one when there is none, it is about to expire, or it is ``stale``."""
        async with self._lock:
            if self._session and self._session != stale and time.monotonic() < self._expires:
                return self._session
            body = {"accessToken": self.token, "source": self.source}
            request = self._client.build_request("POST", f"{self.base}/v1/session", json=body)
            response = await send(self._client, request, self.limiter, what="session")
            if not response.is_success:
                code, _ = error_of(response)
                fail(response, "session", SESSION_HINTS.get(code or "", ""))
            answer = body_of(response)
            token = answer.get("token")
            if not isinstance(token, str) or not token:
                raise Permanent("session: the answer has no session token")
            expires_in = answer.get("expiresIn")
            lifetime = float(expires_in) if isinstance(expires_in, int | float) and expires_in > 0 else 600.0
            self._session, self._expires = token, time.monotonic() + max(lifetime - SESSION_MARGIN, 1.0)
            return token

    async def call(self, method: str, path: str, what: str, *, json: Any = None, params: Any = None) -> Response:
        """One call under the session: a lost session is renewed once and the call repeated (and the other
        form of the Authorization header tried once, while it is not known which one e-Boekhouden takes)."""
        token = await self.session()
        response = await self._send(method, path, what, token, json, params)
        if self._session_lost(response):
            token = await self.session(stale=token)
            response = await self._send(method, path, what, token, json, params)
            if self._session_lost(response) and not self._form_known:
                self._bearer = not self._bearer
                response = await self._send(method, path, what, token, json, params)
                if self._session_lost(response):
                    self._bearer = not self._bearer
        if response.status_code < 500 and not self._session_lost(response):
            self._form_known = True  # this form of the header was taken
        return response

    async def _send(self, method: str, path: str, what: str, token: str, json: Any, params: Any) -> Response:
        auth = f"Bearer {token}" if self._bearer else token
        request = self._client.build_request(
            method, f"{self.base}{path}", json=json, params=params, headers={"Authorization": auth}
        )
        return await send(self._client, request, self.limiter, what=what)

    @staticmethod
    def _session_lost(response: Response) -> bool:
        if response.status_code == 401:
            return True
        return response.status_code < 500 and not response.is_success and error_of(response)[0] in SESSION_LOST

    # ---------------------------------------------------------------- relations

    async def relation_id(self, customer: Customer) -> int:
        """The relation of this customer: found by e-mail (e-Boekhouden's exact ``email`` filter), or created."""
        email = customer.email or customer.invoice_email
        if not email:
            raise Permanent("order: the billing contact has no e-mail address to find or create the relation by")
        found = await self.call("GET", "/v1/relation", "find relation", params={"email": email, "limit": 1})
        if not found.is_success:
            fail(found, "find relation")
        items = body_of(found).get("items")
        for item in items if isinstance(items, list) else []:
            relation = ident(item.get("id")) if isinstance(item, Mapping) else None
            if relation is not None:
                return relation
        return await self.create_relation(customer, email)

    async def create_relation(self, c: Customer, email: str) -> int:
        address = c.address
        street = " ".join(str(address.get(k) or "") for k in ("street", "housenumber")).strip()
        fields = {
            "type": "B" if c.company else "P",
            "name": (c.company or c.name or email)[:100],
            "contact": c.name[:150] if c.company else "",
            "address": street,
            "postalCode": str(address.get("zipcode") or ""),
            "city": str(address.get("city") or ""),
            "country": str(address.get("country") or ""),
            "emailAddress": email,
            "emailAddressInvoice": c.invoice_email or "",
            "vatNumber": c.vat_id or "",
        }
        made = await self.call("POST", "/v1/relation", "create relation", json={k: v for k, v in fields.items() if v})
        if not made.is_success:
            fail(made, "create relation")
        relation = ident(body_of(made).get("id"))
        if relation is None:
            raise Permanent("create relation: the answer has no relation id")
        return relation

    # ---------------------------------------------------------------- invoices

    async def create_invoice(self, invoice: dict[str, Any]) -> Sent:
        number, relation = invoice["invoiceNumber"], invoice["relationId"]
        made = await self.call("POST", "/v1/invoice", "create invoice", json=invoice)
        result = {"number": number, "relation_id": relation}
        if made.is_success:
            made_id = ident(body_of(made).get("id"))
            return Sent(made.status_code, f"invoice {number} created (id {made_id})", {**result, "invoice_id": made_id})
        if error_of(made)[0] != IN_USE:
            fail(made, "create invoice")
        existing = await self.find_invoice(number)
        theirs, known = ident(existing.get("relationId")), ident(existing.get("id"))
        if theirs is not None and theirs != relation:
            raise Permanent(
                f"create invoice: invoice number {number} is in use by invoice {known} of relation {theirs}, not"
                f" by this customer's relation {relation}; set invoice_prefix so the shop's numbers cannot collide"
                " with numbers made in e-Boekhouden",
                status_code=made.status_code,
            )
        also = f", invoice id {known}" if known is not None else ""
        detail = f"invoice {number} already booked ({IN_USE}: the number is in use{also})"
        return Sent(200, detail, {**result, "invoice_id": known, "already": True})

    async def find_invoice(self, number: str) -> Mapping[str, Any]:
        """The invoice filed under ``number``, or {} when the lookup finds none or cannot be read."""
        found = await self.call("GET", "/v1/invoice", "find invoice", params={"invoiceNumber": number, "limit": 10})
        items = body_of(found).get("items") if found.is_success else None
        for item in items if isinstance(items, list) else []:
            if isinstance(item, Mapping) and str(item.get("invoiceNumber")) == number:
                return item
        return {}

    async def aclose(self) -> None:
        await self._client.aclose()


class EboekhoudenConnector(InvoiceAction):
    type: ClassVar[str] = "eboekhouden"
    settings_fields: ClassVar[Mapping[str, Field]] = SETTINGS
    action_keys: ClassVar[frozenset[str]] = frozenset({"op", "order", "reference"})

    def __init__(
        self, name: str, settings: Mapping[str, Any], defaults: ConnectorDefaults, *, limiter: Limiter | None = None
    ):
        super().__init__(name, settings, defaults, limiter=limiter)
        self.settings = dict(settings)
        self.codes = vat_codes(settings)
        self.api = EboekhoudenApi(
            settings,
            timeout=float(settings.get("timeout") or defaults.timeout),
            user_agent=defaults.user_agent,
            limiter=limiter,
        )

    @staticmethod
    def check_settings(settings: Mapping[str, Any]) -> list[tuple[str, str]]:
        problems = []
        if not str(settings.get("base_url") or DEFAULT_URL).startswith(("http://", "https://")):
            problems.append(("base_url", "must be an http:// or https:// URL"))
        if not SOURCE.fullmatch(str(settings.get("source") or "PlugPay")):
            problems.append(("source", "must be 1 to 10 letters or digits (it names this integration to e-Boekhouden)"))
        for key in ("template_id", "ledger_id", "book_ledger_id"):
            if settings.get(key) is not None and int(settings[key]) <= 0:
                problems.append((key, "must be the id (a positive number) from e-Boekhouden"))
        for product, ledger in (settings.get("ledger_ids") or {}).items():
            if not str(ledger).strip().isdigit():
                problems.append((f"ledger_ids.{product}", f"expected a ledger id (a number), got {ledger!r}"))
        if int(settings.get("term_of_payment") or 0) < 0:
            problems.append(("term_of_payment", "must be 0 or more days"))
        if len(str(settings.get("invoice_prefix") or "")) > NUMBER_MAX - 10:
            problems.append(("invoice_prefix", "is too long: invoice numbers have at most 50 characters"))
        return problems

    @classmethod
    def check_rendered(cls, request: Mapping[str, Any], settings: Mapping[str, Any]) -> list[str]:
        """What e-Boekhouden would refuse: an invoice number that does not end with a digit or is too long, a
        VAT rate without a code (besides what the invoice action itself checks)."""
        problems = super().check_rendered(request, settings)
        doc = cls.rendered_document(request, settings)
        if problems or doc is None:
            return problems
        codes = vat_codes(settings)
        try:
            invoice_number(str(settings.get("invoice_prefix") or ""), doc.number)
        except Permanent as exc:
            problems.append(exc.message)
        for line in doc.lines:
            try:
                vat_code(codes, line.tax_rate)
            except Permanent as exc:
                problems.append(f"{line.description}: {exc.message}")
        return list(dict.fromkeys(problems))

    @classmethod
    def default_rate(cls, settings: Mapping[str, Any]) -> Rate:
        return EBOEKHOUDEN_RATE

    @classmethod
    def rate_destination(cls, name: str, settings: Mapping[str, Any]) -> str:
        return f"eboekhouden:{str(settings.get('base_url') or DEFAULT_URL).rstrip('/')}"

    @classmethod
    def describe(cls, request: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
        number = invoice_reference(request)
        shown = f"{settings.get('invoice_prefix') or ''}{number}" if number else "?"
        return f"e-Boekhouden invoice {shown}"

    @classmethod
    def receipt_key(cls, request: Mapping[str, Any]) -> str | None:
        reference = invoice_reference(request)  # its own key: a Moneybird connector may book the same invoice
        return None if reference is None else f"e-boekhouden:{reference}"

    def invoice(self, doc: InvoiceDocument, relation: int) -> dict[str, Any]:
        """The ``POST /v1/invoice`` body: the shop's number, one item per order line, prices as the order has them."""
        invoice: dict[str, Any] = {
            "relationId": relation,
            "templateId": int(self.settings["template_id"]),
            "termOfPayment": int(self.settings.get("term_of_payment") or 0),
            "date": doc.date,
            "invoiceNumber": invoice_number(str(self.settings.get("invoice_prefix") or ""), doc.number),
            "inExVat": "IN" if doc.prices_include_tax else "EX",
            "reference": f"order {doc.order_id}"[:NUMBER_MAX],
            "items": [self.item(line, doc.prices_include_tax) for line in doc.lines],
        }
        if self.settings.get("book_ledger_id"):  # also book it, on this (debtors) ledger
            ledger = int(self.settings["book_ledger_id"])
            invoice["mutation"] = {"ledgerId": ledger, "description": f"Plug&Pay order {doc.order_id}"}
        return invoice

    def item(self, line: Line, incl_tax: bool) -> dict[str, Any]:
        total = line.amount_with_tax if incl_tax else line.amount
        quantity, description = (line.quantity if line.quantity > 0 else Decimal(1)), line.description
        unit = total / quantity
        if unit != unit.quantize(CENT):  # not exact in cents: book the line total once, as Moneybird's does
            quantity, unit, description = Decimal(1), total, f"{plain(quantity)} x {description}"
        ledgers = self.settings.get("ledger_ids") or {}
        ledger = ledgers.get(line.product_id or "") or self.settings["ledger_id"]
        return {
            "description": description,
            "quantity": float(quantity),
            "pricePerUnit": float(unit.quantize(CENT)),
            "vatCode": vat_code(self.codes, line.tax_rate),
            "ledgerId": int(ledger),
        }

    async def send(self, out: Outgoing) -> Sent:
        doc = self.document(out)
        self.invoice(doc, 0)  # everything e-Boekhouden would refuse is refused here, before any request
        relation = await self.api.relation_id(doc.customer)
        return await self.api.create_invoice(self.invoice(doc, relation))

    async def aclose(self) -> None:
        await self.api.aclose()
