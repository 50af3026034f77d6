"""The invoice connector (``type: invoice``): turn a Plug&Pay order into an invoice in the books.

Two flavors share the settings block and the action:

- ``flavor: moneybird`` (``base_url`` = ``https://moneybird.com/api/v2/<administration id>``, ``token``):
  find or create the contact, create the sales invoice from the order lines (``tax_rates`` maps a VAT
  percentage to a Moneybird tax rate id, ``ledger_accounts`` a product id or ``default`` to a ledger
  account id), with ``reference`` = the Plug&Pay invoice number, never twice; ``send: true`` sends it.
  Moneybird allows 150 requests per 5 minutes: the flavor's default ``rate_limit``.
- ``flavor: generic`` (``url``, ``headers``, optional ``sign``): POST the normalised invoice document
  (``connectors.invoice_doc``) with ``Idempotency-Key: <delivery key>``.

The action needs the order itself. Its ``order`` key defaults to ``"{{ data | tojson }}"`` (the fetched
object as JSON text, rendered when the event is routed), so ``{connector: books}`` is a complete action;
``reference`` and ``send`` may override the invoice number and the setting per rule.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from connectors.base import ConnectorDefaults, Field, Limiter, Outgoing, Permanent, Sent
from connectors.client import make_client, send
from connectors.invoice_doc import InvoiceDocument, parse_order
from connectors.moneybird import MoneybirdBooks
from connectors.signer import check_sign, make_signer
from connectors.status import classify_status
from connectors.units import Rate

FLAVORS = ("moneybird", "generic")
OPS = ("create_invoice",)
MONEYBIRD_RATE = Rate(150, 300.0)


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


class InvoiceConnector:
    type: ClassVar[str] = "invoice"
    settings_fields: ClassVar[Mapping[str, Field]] = {
        "flavor": Field("str", required=True, choices=FLAVORS),
        "base_url": Field("str", help="moneybird: https://moneybird.com/api/v2/<administration id>"),
        "token": Field("str", secret=True, help="moneybird: API token (Bearer)"),
        "tax_rates": Field("map", default={}, help="moneybird: VAT percentage → tax rate id"),
        "ledger_accounts": Field("map", default={}, help="moneybird: product id or 'default' → ledger account id"),
        "workflow_id": Field("str", help="moneybird: workflow for new invoices"),
        "document_style_id": Field("str", help="moneybird: document style for new invoices"),
        "send": Field("bool", default=False, help="moneybird: send the invoice after creating it"),
        "url": Field("str", help="generic: where to POST the invoice document"),
        "headers": Field("map", default={}, help="generic: headers sent with every request"),
        "sign": Field("map", secret=True, help="generic: sign the document, as the http connector does"),
        "currency": Field("str", default="EUR"),
        "timeout": Field("duration", help="per-request timeout (default: delivery.timeout)"),
    }
    action_keys: ClassVar[frozenset[str]] = frozenset({"op", "order", "reference", "send"})
    required_action_keys: ClassVar[frozenset[str]] = frozenset()
    action_defaults: ClassVar[Mapping[str, Any]] = {"order": "{{ data | tojson }}"}

    def __init__(
        self, name: str, settings: Mapping[str, Any], defaults: ConnectorDefaults, *, limiter: Limiter | None = None
    ):
        self.name = name
        self.flavor = str(settings["flavor"])
        self.currency = str(settings.get("currency") or "EUR")
        self.send_default = bool(settings.get("send"))
        self.limiter = limiter
        timeout = float(settings.get("timeout") or defaults.timeout)
        self.books: MoneybirdBooks | None = None
        if self.flavor == "moneybird":
            self.books = MoneybirdBooks(
                str(settings["base_url"]),
                str(settings["token"]),
                timeout=timeout,
                user_agent=defaults.user_agent,
                limiter=limiter,
                tax_rates=settings.get("tax_rates") or {},
                ledger_accounts=settings.get("ledger_accounts") or {},
                extra={k: str(settings[k]) for k in ("workflow_id", "document_style_id") if settings.get(k)},
            )
        self.url = str(settings.get("url") or "")
        self.headers = {"User-Agent": defaults.user_agent, **(settings.get("headers") or {})}
        self.signer = make_signer(settings.get("sign"))
        self._client = make_client(timeout, limiter) if self.flavor == "generic" else None

    @staticmethod
    def default_rate(settings: Mapping[str, Any]) -> Rate | None:
        return MONEYBIRD_RATE if settings.get("flavor") == "moneybird" else None

    @staticmethod
    def check_settings(settings: Mapping[str, Any]) -> list[tuple[str, str]]:
        flavor = settings.get("flavor")
        needs = {"moneybird": ("base_url", "token"), "generic": ("url",)}.get(str(flavor), ())
        problems = [(key, f"is required by flavor {flavor}") for key in needs if not settings.get(key)]
        for key in ("base_url", "url"):
            if settings.get(key) and not str(settings[key]).startswith(("http://", "https://")):
                problems.append((key, "must be an http:// or https:// URL"))
        if flavor == "moneybird":
            for key in ("url", "headers", "sign"):
                if settings.get(key):
                    problems.append((key, "is only used by flavor generic"))
        if settings.get("sign") is not None:
            problems += [(f"sign.{key}", message) for key, message in check_sign(settings["sign"])]
        return problems

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

    def document(self, out: Outgoing) -> InvoiceDocument:
        request = out.request
        order = parse_order(request.get("order"))
        reference = request.get("reference")
        return InvoiceDocument.from_order(order, currency=self.currency, number=str(reference) if reference else None)

    async def send(self, out: Outgoing) -> Sent:
        doc = self.document(out)
        send_invoice = flag(out.request["send"]) if "send" in out.request else self.send_default
        if self.books is not None:
            return await self.books.book(doc, send_invoice=send_invoice)
        return await self._post(out, doc)

    async def _post(self, out: Outgoing, doc: InvoiceDocument) -> Sent:
        assert self._client is not None
        body = json.dumps(doc.as_json(), separators=(",", ":"), ensure_ascii=False).encode()
        headers = {**self.headers, "Content-Type": "application/json", "Idempotency-Key": out.delivery_key}
        if self.signer is not None:
            headers.update(self.signer.headers(out.delivery_key, body))
        request = self._client.build_request("POST", self.url, content=body, headers=headers)
        response = await send(self._client, request, self.limiter)
        return classify_status(response.status_code, response.text[:2000], response.headers.get("Retry-After"))

    async def aclose(self) -> None:
        if self.books is not None:
            await self.books.aclose()
        if self._client is not None:
            await self._client.aclose()
