"""A small e-Boekhouden.nl REST API simulator (aiohttp, real socket) for the demo and the eboekhouden connector tests.

It answers as e-Boekhouden's OpenAPI documents (api.e-boekhouden.nl/swagger, as generated into the Rust
crate ``eboekhouden`` 1.0.x, and research/connectors.md §3.2): ``POST /v1/session`` with ``accessToken`` and
``source`` → ``{"token", "expiresIn"}`` (400 ``API_SESSION_001``/``002``/``003`` for a missing source, a
source that does not match its pattern, a missing token; ``API_SESSION_004`` for an expired API token);
every other call needs the session token in ``Authorization`` (the spec's Quick Start sends it raw; a
client library sends ``Bearer <token>``, so both are taken unless ``auth_form`` says otherwise) and answers
401 ``SECURITY_010`` without a valid one (``API_SESSION_004`` for one that expired). Relations:
``GET /v1/relation`` with the exact ``email`` filter → ``{"items": [{"id", "type", "code"}], "count"}``,
``POST /v1/relation`` (``REL_002`` without a name) → 201 ``{"id", "code"}``. Invoices: ``POST /v1/invoice``
checks relation (``FACT_002``), template (``FACT_018``), term of payment (``FACT_015``), items
(``FACT_019``, ``FACT_ITEM_001``/``007``/``012``), the invoice number (``FACT_009``, ``FACT_007``, and
``FACT_101`` when it is in use) → 201 ``{"id", "invoiceNumber", "inExVat"}``; ``GET /v1/invoice`` with
``invoiceNumber``. Errors have e-Boekhouden's shape: ``{"type", "code", "title", "status", "traceId"}``.
Unverified and chosen here: the HTTP status of validation errors (400), of a refused API token (401), and
429 answers (e-Boekhouden documents no rate limit; ``rate`` and ``fail`` script them, with ``Retry-After``).
``slow_create`` makes the next invoice creation commit, then stall past the client's timeout.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from router.demo.standins import serve_app

TOKEN = "eb-api-token-6d21"
TEMPLATE = 6789
LEDGERS = (8000, 8010, 1300)  # revenue, revenue courses, debtors
VAT_CODES = frozenset({"HOOG_VERK_21", "LAAG_VERK_9", "VERL_VERK", "BI_EU_VERK_D", "BU_EU_VERK", "GEEN"})


def error(status: int, code: str, title: str, kind: str = "validation") -> web.Response:
    body = {"type": kind, "code": code, "title": title, "status": status, "traceId": secrets.token_hex(8)}
    return web.json_response(body, status=status)


@dataclass
class Hit:
    method: str
    path: str
    query: dict[str, str]
    authorization: str | None
    body: Any
    status: int = 0


@dataclass
class EboekhoudenServer:
    tokens: set[str] = field(default_factory=lambda: {TOKEN})
    expired_tokens: set[str] = field(default_factory=set)
    session_ttl: int = 3600
    auth_form: str = "any"  # "raw", "bearer" or "any": which Authorization form is taken ("none": neither)
    rate: int = 0  # requests per second before 429 (0: unlimited; e-Boekhouden documents none)
    slow_create: float = 0.0
    relations: dict[int, dict[str, Any]] = field(default_factory=dict)
    invoices: dict[int, dict[str, Any]] = field(default_factory=dict)
    sessions: dict[str, float] = field(default_factory=dict)  # session token -> expiry (monotonic)
    hits: list[Hit] = field(default_factory=list)
    faults: dict[str, list[tuple[int, str, dict[str, str]]]] = field(default_factory=dict)
    url: str = ""
    _ids: int = 1000
    _window: deque[float] = field(default_factory=deque)
    _runner: web.AppRunner | None = None

    def next_id(self) -> int:
        self._ids += 1
        return self._ids

    def add_relation(self, name: str, email: str, kind: str = "P") -> int:
        ident = self.next_id()
        self.relations[ident] = {"id": ident, "type": kind, "code": f"R{ident}", "name": name, "emailAddress": email}
        return ident

    def add_invoice(self, number: str, relation: int) -> int:
        ident = self.next_id()
        self.invoices[ident] = {"id": ident, "invoiceNumber": number, "relationId": relation, "items": []}
        return ident

    def expire_sessions(self) -> None:
        """Every session token issued so far has expired."""
        self.sessions = dict.fromkeys(self.sessions, 0.0)

    def fail(self, path: str, status: int, code: str = "ERR_001", headers: dict[str, str] | None = None) -> None:
        """Answer the next request to ``path`` (after the auth check) with this status and error code."""
        self.faults.setdefault(path, []).append((status, code, headers or {}))

    def calls(self, method: str, path: str) -> list[Hit]:
        return [h for h in self.hits if h.method == method and h.path == path]

    def arrivals(self, prefix: str = "") -> dict[str, str]:
        """What arrived, keyed as the connector's receipts are (``e-boekhouden:<Plug&Pay number>``), for the demo;
        ``prefix`` is the connector's ``invoice_prefix``."""
        found = {}
        for invoice in self.invoices.values():
            relation = self.relations.get(invoice["relationId"], {})
            number = str(invoice["invoiceNumber"]).removeprefix(prefix)
            lines = len(invoice.get("items") or [])
            found[f"e-boekhouden:{number}"] = (
                f"e-Boekhouden invoice {invoice['invoiceNumber']} for {relation.get('name')}, {lines} lines"
            )
        return found

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> EboekhoudenServer:
        app = web.Application(middlewares=[self._gate])
        r = app.router
        r.add_post("/v1/session", self._session)
        r.add_get("/v1/relation", self._find_relations)
        r.add_post("/v1/relation", self._create_relation)
        r.add_get("/v1/invoice", self._find_invoices)
        r.add_post("/v1/invoice", self._create_invoice)
        self._runner, self.url = await serve_app(app, host, port)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # ------------------------------------------------------------ the gate: auth, rate, scripted faults

    @web.middleware
    async def _gate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.json() if request.can_read_body else None
        hit = Hit(request.method, request.path, dict(request.query), request.headers.get("Authorization"), body)
        self.hits.append(hit)
        response = await self._answer(request, handler)
        hit.status = response.status
        return response

    async def _answer(self, request: web.Request, handler: Any) -> web.StreamResponse:
        now = time.monotonic()
        while self._window and self._window[0] <= now - 1.0:
            self._window.popleft()
        if self.rate and len(self._window) >= self.rate:
            return web.json_response(
                {"type": "error", "title": "Too Many Requests", "status": 429}, status=429, headers={"Retry-After": "1"}
            )
        self._window.append(now)
        if request.path != "/v1/session":
            refused = self._refused(request.headers.get("Authorization"), now)
            if refused is not None:
                return refused
        scripted = self.faults.get(request.path)
        if scripted:
            status, code, headers = scripted.pop(0)
            response = error(status, code, f"scripted {status}", "error")
            response.headers.update(headers)
            return response
        answer: web.StreamResponse = await handler(request)
        return answer

    def _refused(self, header: str | None, now: float) -> web.Response | None:
        header = header or ""
        bearer = header.startswith("Bearer ")
        token = header.removeprefix("Bearer ")
        taken = {"any": True, "raw": not bearer, "bearer": bearer}.get(self.auth_form, False)
        if token not in self.sessions or not taken:
            return error(401, "SECURITY_010", "Not authenticated. Check your Authorization header.", "security")
        if self.sessions[token] <= now:
            return error(401, "API_SESSION_004", "Access token has expired.", "security")
        return None

    # ------------------------------------------------------------ endpoints

    async def _session(self, request: web.Request) -> web.Response:
        data = await request.json()
        source, token = str(data.get("source") or ""), str(data.get("accessToken") or "")
        if not source:
            return error(400, "API_SESSION_001", "Source is missing.")
        if not (source.isalnum() and source.isascii() and len(source) <= 10):
            return error(400, "API_SESSION_002", "Source does not match pattern.")
        if not token:
            return error(400, "API_SESSION_003", "Access token is missing or empty.")
        if token in self.expired_tokens:
            return error(400, "API_SESSION_004", "Access token has expired.")
        if token not in self.tokens:
            return web.json_response({"type": "security", "title": "Unauthorized", "status": 401}, status=401)
        session = secrets.token_urlsafe(24)
        self.sessions[session] = time.monotonic() + self.session_ttl
        return web.json_response({"token": session, "expiresIn": self.session_ttl})

    async def _find_relations(self, request: web.Request) -> web.Response:
        email = request.query.get("email", "").lower()
        found = [r for r in self.relations.values() if not email or str(r.get("emailAddress", "")).lower() == email]
        limit, offset = int(request.query.get("limit", 100)), int(request.query.get("offset", 0))
        items = [{"id": r["id"], "type": r["type"], "code": r["code"]} for r in found[offset : offset + limit]]
        return web.json_response({"items": items, "count": len(items)})

    async def _create_relation(self, request: web.Request) -> web.Response:
        data = await request.json()
        if not str(data.get("name") or "").strip():
            return error(400, "REL_002", "Name is mandatory.")
        if data.get("type", "B") not in ("B", "P"):
            return error(400, "REL_001", "Relation type is invalid (B,P).")
        ident = self.next_id()
        self.relations[ident] = {"type": "B", **data, "id": ident, "code": data.get("code") or f"R{ident}"}
        return web.json_response({"id": ident, "code": self.relations[ident]["code"]}, status=201)

    async def _find_invoices(self, request: web.Request) -> web.Response:
        number = request.query.get("invoiceNumber")
        found = [i for i in self.invoices.values() if number is None or i["invoiceNumber"] == number]
        items = [{k: i.get(k) for k in ("id", "invoiceNumber", "relationId", "date", "reference")} for i in found]
        return web.json_response({"items": items, "count": len(items)})

    async def _create_invoice(self, request: web.Request) -> web.Response:
        data = await request.json()
        refused = self._check_invoice(data)
        if refused is not None:
            return refused
        ident = self.next_id()
        number = str(data.get("invoiceNumber") or f"F{ident}")
        self.invoices[ident] = {**data, "id": ident, "invoiceNumber": number}
        if self.slow_create:
            delay, self.slow_create = self.slow_create, 0.0
            await asyncio.sleep(delay)  # committed, but the client gives up before it hears so
        return web.json_response(
            {"id": ident, "invoiceNumber": number, "inExVat": data.get("inExVat") or "EX"}, status=201
        )

    def _check_invoice(self, data: dict[str, Any]) -> web.Response | None:
        if data.get("relationId") is None:
            return error(400, "FACT_001", "Relation ID is missing.")
        if data["relationId"] not in self.relations:
            return error(400, "FACT_002", "Relation not found.")
        if data.get("templateId") != TEMPLATE:
            return error(400, "FACT_018", "Invoice template not found.")
        if data.get("termOfPayment") is None:
            return error(400, "FACT_015", "Term of payment is missing.")
        if data.get("inExVat", "EX") not in ("IN", "EX"):
            return error(400, "FACT_010", "Invoice VAT must be IN or EX.")
        number = data.get("invoiceNumber")
        if number is not None:
            if len(str(number)) > 50:
                return error(400, "FACT_007", "Invoice number is too long.")
            if not str(number)[-1:].isdigit():
                return error(400, "FACT_009", "Invoice number does not end with a digit.")
            if any(i["invoiceNumber"] == number for i in self.invoices.values()):
                return error(400, "FACT_101", "Invoice number is in use.")
        items = data.get("items")
        if not isinstance(items, list) or not items:
            return error(400, "FACT_019", "Invoice items are missing.")
        for item in items:
            if not str(item.get("description") or "").strip():
                return error(400, "FACT_ITEM_001", "Description invoice item is missing.")
            if item.get("ledgerId") is None:
                return error(400, "FACT_ITEM_007", "Ledger ID is missing")
            if item["ledgerId"] not in LEDGERS:
                return error(400, "FACT_ITEM_012", "Ledger account not found.")
            if item.get("vatCode") not in VAT_CODES:
                return error(400, "ERR_002", "Your request contains an invalid value.")
        return None
