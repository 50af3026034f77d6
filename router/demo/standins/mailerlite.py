"""A small MailerLite API simulator (``connect.mailerlite.com/api``; aiohttp, real socket) for the demo and the tests.

It answers what the mailerlite connector relies on, as developers.mailerlite.com documents it (getting started:
``Authorization: Bearer``, 401 ``{"message": "Unauthenticated."}``, validation errors as 422 ``{"message",
"errors": {field: [...]}}``, 120 requests per minute per account answered with 429 ``{"message": "Too Many
Attempts."}``, ``Retry-After``, ``X-RateLimit-Limit`` and ``X-RateLimit-Remaining``; subscribers: ``POST
/subscribers`` upserts by e-mail, 201 for a new subscriber and 200 for an existing one, ``{"data": {...}}``, ids
as strings, omitted fields and status left as they were; ``GET /subscribers/{id or email}``; groups: ``POST`` /
``DELETE /subscribers/{id}/groups/{group_id}``, 200 with the group / 204, 404 for an unknown subscriber or group).
The wording of the 404 body is not documented (``{"message": "Resource not found."}`` here). ``slow_create``
commits the next upsert and stalls before answering (the lost answer a retry must survive); ``fail`` scripts
answers per path. Every request is recorded with its arrival time.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from router.demo.standins import serve_app

TOKEN = "ml-test-token-6d1e"
GROUPS = {"111": "Klanten", "222": "Cursus Basis"}
NOT_FOUND = {"message": "Resource not found."}
NOW = "2025-03-14 09:13:42"


@dataclass
class Hit:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    at: float  # time.monotonic() on arrival
    status: int = 0


@dataclass
class MailerLiteServer:
    token: str = TOKEN
    rate: int = 120  # requests per window per account, as MailerLite allows
    window: float = 60.0
    groups: dict[str, str] = field(default_factory=lambda: dict(GROUPS))  # id -> name
    subscribers: dict[str, dict[str, Any]] = field(default_factory=dict)  # lower-cased email -> subscriber
    memberships: set[tuple[str, str]] = field(default_factory=set)  # (subscriber id, group id)
    hits: list[Hit] = field(default_factory=list)
    faults: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)  # path -> replies
    slow_create: float = 0.0
    url: str = ""
    _ids: Any = field(default_factory=lambda: itertools.count(31897397363737859))
    _window: deque[float] = field(default_factory=deque)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"{self.url}/api"

    def add_subscriber(self, email: str, status: str = "active", **fields: str) -> str:
        ident = str(next(self._ids))
        self.subscribers[email.lower()] = {"id": ident, "email": email, "status": status, "fields": dict(fields)}
        return ident

    def groups_of(self, email: str) -> set[str]:
        subscriber = self.subscribers.get(email.lower())
        return {g for s, g in self.memberships if subscriber and s == subscriber["id"]}

    def fail(self, path: str, status: int, headers: dict[str, str] | None = None, times: int = 1) -> None:
        self.faults.setdefault(path, []).extend([(status, headers or {})] * times)

    def calls(self, method: str | None = None, prefix: str = "") -> list[Hit]:
        return [h for h in self.hits if (method is None or h.method == method) and h.path.startswith(prefix)]

    async def wait_hits(self, count: int, timeout: float = 10.0) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(self.hits) >= count), timeout)

    def arrivals(self) -> dict[str, str]:
        """``mailerlite:<address>`` → what the account holds for it (the connector's ``receipt_key``)."""
        found = {}
        for key, subscriber in self.subscribers.items():
            groups = sorted(self.groups.get(g, g) for g in self.groups_of(key))
            shown = f" in {', '.join(groups)}" if groups else ""
            found[f"mailerlite:{key}"] = f"MailerLite subscriber {subscriber['email']} ({subscriber['status']}){shown}"
        return found

    # ------------------------------------------------------------ server

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> MailerLiteServer:
        app = web.Application(middlewares=[self._gate])
        app.router.add_post("/api/subscribers", self._upsert)
        app.router.add_get("/api/subscribers/{ref}", self._find)
        app.router.add_post("/api/subscribers/{id}/groups/{group}", self._assign)
        app.router.add_delete("/api/subscribers/{id}/groups/{group}", self._unassign)
        self._runner, self.url = await serve_app(app, host, port)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @web.middleware
    async def _gate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        now = time.monotonic()
        body = await request.json() if request.can_read_body else None
        hit = Hit(request.method, request.path, dict(request.headers), body, now)
        response = await self._answer(request, handler, now)
        hit.status = response.status
        async with self._changed:
            self.hits.append(hit)
            self._changed.notify_all()
        return response

    async def _answer(self, request: web.Request, handler: Any, now: float) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"message": "Unauthenticated."}, status=401)
        while self._window and self._window[0] <= now - self.window:
            self._window.popleft()
        if len(self._window) >= self.rate:
            wait = max(1, round(self._window[0] + self.window - now))
            headers = {"Retry-After": str(wait), "X-RateLimit-Limit": str(self.rate), "X-RateLimit-Remaining": "0"}
            return web.json_response({"message": "Too Many Attempts."}, status=429, headers=headers)
        self._window.append(now)
        limits = {"X-RateLimit-Limit": str(self.rate), "X-RateLimit-Remaining": str(self.rate - len(self._window))}
        scripted = self.faults.get(request.path)
        if scripted:
            status, headers = scripted.pop(0)
            return web.json_response({"message": f"Scripted {status}."}, status=status, headers={**limits, **headers})
        response: web.StreamResponse = await handler(request)
        response.headers.update(limits)
        return response

    # ------------------------------------------------------------ endpoints

    async def _upsert(self, request: web.Request) -> web.Response:
        body = await request.json()
        email = str(body.get("email") or "")
        domain = email.rpartition("@")[2]
        if "@" not in email or "." not in domain or domain.endswith(".invalid"):  # no such domain
            message = "The email must be a valid email address."
            return web.json_response({"message": message, "errors": {"email": [message]}}, status=422)
        fields = body.get("fields") or {}
        if not isinstance(fields, dict):
            message = "The fields must be an array."
            return web.json_response({"message": message, "errors": {"fields": [message]}}, status=422)
        subscriber = self.subscribers.get(email.lower())
        created = subscriber is None
        if subscriber is None:
            self.add_subscriber(email, str(body.get("status") or "active"))
            subscriber = self.subscribers[email.lower()]
        elif body.get("status"):
            subscriber["status"] = str(body["status"])  # omitted: the status stays as it was
        subscriber["fields"].update({str(k): v for k, v in fields.items()})  # omitted fields are kept
        for group in body.get("groups") or []:
            self.memberships.add((subscriber["id"], str(group)))  # additive, as the docs describe it
        if self.slow_create:
            delay, self.slow_create = self.slow_create, 0.0
            await asyncio.sleep(delay)  # committed, but the client gives up before it hears so
        return web.json_response({"data": self._shown(subscriber)}, status=201 if created else 200)

    async def _find(self, request: web.Request) -> web.Response:
        subscriber = self._subscriber(request.match_info["ref"])
        if subscriber is None:
            return web.json_response(NOT_FOUND, status=404)
        return web.json_response({"data": self._shown(subscriber)})

    async def _assign(self, request: web.Request) -> web.Response:
        subscriber, group = self._subscriber(request.match_info["id"]), request.match_info["group"]
        if subscriber is None or group not in self.groups:
            return web.json_response(NOT_FOUND, status=404)
        self.memberships.add((subscriber["id"], group))
        return web.json_response({"data": {"id": group, "name": self.groups[group], "created_at": NOW}})

    async def _unassign(self, request: web.Request) -> web.Response:
        subscriber, group = self._subscriber(request.match_info["id"]), request.match_info["group"]
        if subscriber is None or (subscriber["id"], group) not in self.memberships:
            return web.json_response(NOT_FOUND, status=404)
        self.memberships.discard((subscriber["id"], group))
        return web.Response(status=204)

    def _subscriber(self, ref: str) -> dict[str, Any] | None:
        if ref.lower() in self.subscribers:
            return self.subscribers[ref.lower()]
        return next((s for s in self.subscribers.values() if s["id"] == ref), None)

    def _shown(self, subscriber: dict[str, Any]) -> dict[str, Any]:
        groups = [
            {"id": g, "name": self.groups.get(g, g)} for s, g in sorted(self.memberships) if s == subscriber["id"]
        ]
        return {**subscriber, "source": "api", "subscribed_at": NOW, "updated_at": NOW, "groups": groups}
