"""A small Moneybird API v2 simulator (aiohttp, real socket) for the demo and the invoice connector tests.

It mimics what the connector relies on (Moneybird's API v2 reference): Bearer auth (401), ids as 18-digit
strings, contacts (create needs a company or first and last name → 422; lookup by ``customer_id``;
``query`` search), sales invoices created as drafts, ``filter=reference:…`` with Moneybird's default of
``period:this_year`` when the filter names no period, and ``send_invoice``. ``slow_create`` makes the next
invoice creation commit and then stall before answering: the lost-response case a retry must survive.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from router.demo.standins import serve_app

TOKEN = "mb-test-token-55a0"
ADMINISTRATION = "123456789012345678"


@dataclass
class MoneybirdServer:
    token: str = TOKEN
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str], Any]] = field(default_factory=list)
    slow_create: float = 0.0
    url: str = ""
    _ids: Any = field(default_factory=lambda: itertools.count(496081523381896487))
    _runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"{self.url}/api/v2/{ADMINISTRATION}"

    def calls(self, method: str, suffix: str) -> list[tuple[str, str, dict[str, str], Any]]:
        return [r for r in self.requests if r[0] == method and r[1].endswith(suffix)]

    def add_contact(self, **values: Any) -> str:
        ident = str(next(self._ids))
        self.contacts[ident] = {"id": ident, **values}
        return ident

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> MoneybirdServer:
        app = web.Application(middlewares=[self._gate])
        prefix = f"/api/v2/{ADMINISTRATION}"
        r = app.router
        r.add_get(prefix + "/contacts/customer_id/{customer_id}.json", self._contact_by_customer_id)
        r.add_get(prefix + "/contacts.json", self._search_contacts)
        r.add_post(prefix + "/contacts.json", self._create_contact)
        r.add_get(prefix + "/sales_invoices.json", self._list_invoices)
        r.add_post(prefix + "/sales_invoices.json", self._create_invoice)
        r.add_patch(prefix + "/sales_invoices/{id}/send_invoice.json", self._send_invoice)
        self._runner, self.url = await serve_app(app, host, port)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @web.middleware
    async def _gate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.json() if request.can_read_body else None
        self.requests.append((request.method, request.path, dict(request.query), body))
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"error": "Token is invalid", "symbolic": {"token": "invalid"}}, status=401)
        response: web.StreamResponse = await handler(request)
        return response

    async def _contact_by_customer_id(self, request: web.Request) -> web.Response:
        wanted = request.match_info["customer_id"]
        for contact in self.contacts.values():
            if contact.get("customer_id") == wanted:
                return web.json_response(contact)
        return web.json_response({"error": "record not found", "symbolic": {"contact": "not_found"}}, status=404)

    async def _search_contacts(self, request: web.Request) -> web.Response:
        query = request.query.get("query", "").lower()
        found = [c for c in self.contacts.values() if any(query in str(v).lower() for v in c.values())]
        return web.json_response(found)

    async def _create_contact(self, request: web.Request) -> web.Response:
        data = (await request.json()).get("contact") or {}
        if not data.get("company_name") and not (data.get("firstname") and data.get("lastname")):
            error = {k: ["is required"] for k in ("firstname", "lastname", "company_name")}
            return web.json_response({"error": error, "details": {}}, status=422)
        return web.json_response(self.contacts[self.add_contact(**data)], status=201)

    async def _list_invoices(self, request: web.Request) -> web.Response:
        filters = dict(part.split(":", 1) for part in request.query.get("filter", "").split(",") if ":" in part)
        period = filters.get("period", "this_year")

        def in_period(invoice: dict[str, Any]) -> bool:
            day = dt.date.fromisoformat(invoice["invoice_date"])
            if period == "this_year":
                return day.year == dt.date.today().year
            start, _, end = period.partition("..")
            return start <= day.strftime("%Y%m%d") <= end

        found = [
            inv
            for inv in self.invoices.values()
            if in_period(inv) and ("reference" not in filters or filters["reference"] in inv["reference"])
        ]
        return web.json_response(found)

    async def _create_invoice(self, request: web.Request) -> web.Response:
        data = (await request.json()).get("sales_invoice") or {}
        if data.get("contact_id") not in self.contacts:
            return web.json_response({"error": {"contact_id": ["is invalid"]}, "details": {}}, status=422)
        ident = str(next(self._ids))
        invoice = {
            "id": ident,
            "state": "draft",
            "invoice_id": None,
            "invoice_date": data.get("invoice_date") or dt.date.today().isoformat(),
            **{k: v for k, v in data.items() if k != "invoice_date"},
        }
        self.invoices[ident] = invoice
        if self.slow_create:
            delay, self.slow_create = self.slow_create, 0.0
            await asyncio.sleep(delay)  # committed, but the client gives up before it hears so
        return web.json_response(invoice, status=201)

    async def _send_invoice(self, request: web.Request) -> web.Response:
        invoice = self.invoices.get(request.match_info["id"])
        if invoice is None:
            return web.json_response({"error": "record not found"}, status=404)
        invoice["state"] = "open"
        invoice["invoice_id"] = f"2026-{len(self.invoices):04d}"
        return web.json_response(invoice)
