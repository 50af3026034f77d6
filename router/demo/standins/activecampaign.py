"""A small ActiveCampaign API v3 simulator (aiohttp, real socket) for the demo and the connector tests.

It mimics the documented behaviour the connector relies on (ActiveCampaign's API v3 reference): the ``Api-Token``
check (403 ``{"message":"Forbidden"}``), ids as strings, ``contact/sync`` as an upsert by lower-cased
email, ``tags?search=`` as a *contains* search, tag creation (422 duplicate), ``contactTags`` (a second
add answers with the existing link), ``contactLists`` with status 1/2, custom fields with personalization
tags, and the account limit of 5 requests/s answered with 429 + ``Retry-After``. Every request is recorded
with its arrival time, and faults can be scripted per path.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from router.demo.standins import serve_app

TOKEN = "ac-test-token-91d3"


@dataclass
class Hit:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    at: float  # time.monotonic() on arrival
    status: int = 0


@dataclass
class ActiveCampaignServer:
    token: str = TOKEN
    rate: int = 5  # requests per second per account, as AC enforces
    hits: list[Hit] = field(default_factory=list)
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)  # email -> contact
    tags: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> tag
    contact_tags: dict[str, dict[str, Any]] = field(default_factory=dict)
    contact_lists: dict[tuple[str, str], int] = field(default_factory=dict)  # (contact, list) -> status
    fields: list[dict[str, str]] = field(default_factory=list)
    faults: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)  # path -> replies
    url: str = ""
    _ids: int = 0
    _window: deque[float] = field(default_factory=deque)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _runner: web.AppRunner | None = None

    def next_id(self) -> str:
        self._ids += 1
        return str(self._ids)

    def add_tag(self, name: str, tag_type: str = "contact") -> str:
        ident = self.next_id()
        self.tags[ident] = {"id": ident, "tag": name, "tagType": tag_type, "description": ""}
        return ident

    def fail(self, path: str, status: int, headers: dict[str, str] | None = None, times: int = 1) -> None:
        self.faults.setdefault(path, []).extend([(status, headers or {})] * times)

    def calls(self, method: str | None = None, path: str | None = None) -> list[Hit]:
        return [h for h in self.hits if (method is None or h.method == method) and (path is None or h.path == path)]

    async def wait_hits(self, count: int, timeout: float = 10.0) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(self.hits) >= count), timeout)

    # ------------------------------------------------------------ server

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> ActiveCampaignServer:
        app = web.Application(middlewares=[self._gate])
        r = app.router
        r.add_post("/api/3/contact/sync", self._sync)
        r.add_get("/api/3/contacts", self._contacts)
        r.add_get("/api/3/contacts/{id}/contactTags", self._tags_of)
        r.add_get("/api/3/tags", self._search_tags)
        r.add_post("/api/3/tags", self._create_tag)
        r.add_post("/api/3/contactTags", self._tag_contact)
        r.add_delete("/api/3/contactTags/{id}", self._untag)
        r.add_post("/api/3/contactLists", self._list)
        r.add_get("/api/3/fields", self._fields)
        self._runner, self.url = await serve_app(app, host, port)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @web.middleware
    async def _gate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        now = time.monotonic()
        body = await request.json() if request.can_read_body else None
        hit = Hit(request.method, request.path, dict(request.query), body, now)
        response = await self._answer(request, handler, hit, now)
        hit.status = response.status
        async with self._changed:
            self.hits.append(hit)
            self._changed.notify_all()
        return response

    async def _answer(self, request: web.Request, handler: Any, hit: Hit, now: float) -> web.StreamResponse:
        if request.headers.get("Api-Token") != self.token:
            return web.json_response({"message": "Forbidden"}, status=403)
        while self._window and self._window[0] <= now - 1.0:
            self._window.popleft()
        if len(self._window) >= self.rate:
            return web.json_response({"message": "Too Many Requests"}, status=429, headers={"Retry-After": "1"})
        self._window.append(now)
        scripted = self.faults.get(request.path)
        if scripted:
            status, headers = scripted.pop(0)
            return web.json_response({"errors": [{"title": f"scripted {status}"}]}, status=status, headers=headers)
        response: web.StreamResponse = await handler(request)
        return response

    # ------------------------------------------------------------ endpoints

    async def _sync(self, request: web.Request) -> web.Response:
        body = await request.json()
        data = body.get("contact") or {}
        email = str(data.get("email") or "").lower()
        if not email:
            return web.json_response(
                {
                    "errors": [
                        {"status": 422, "title": "Missing attribute", "source": {"pointer": "/data/attributes/email"}}
                    ]
                },
                status=422,
            )
        contact = self.contacts.setdefault(email, {"id": self.next_id(), "email": email, "fieldValues": {}})
        for key in ("firstName", "lastName", "phone"):
            if key in data:
                contact[key] = data[key]
        for fv in data.get("fieldValues") or []:
            contact["fieldValues"][str(fv["field"])] = fv["value"]
        return web.json_response({"contact": {k: v for k, v in contact.items() if k != "fieldValues"}}, status=201)

    async def _contacts(self, request: web.Request) -> web.Response:
        email = request.query.get("email", "").lower()
        found = [c for e, c in self.contacts.items() if not email or e == email]
        return web.json_response({"contacts": found, "meta": {"total": str(len(found))}})

    async def _tags_of(self, request: web.Request) -> web.Response:
        contact = request.match_info["id"]
        links = [ct for ct in self.contact_tags.values() if ct["contact"] == contact]
        return web.json_response({"contactTags": links})

    async def _search_tags(self, request: web.Request) -> web.Response:
        search = request.query.get("search", "").lower()
        limit, offset = int(request.query.get("limit", 20)), int(request.query.get("offset", 0))
        found = [t for t in self.tags.values() if search in t["tag"].lower()]
        return web.json_response({"tags": found[offset : offset + limit], "meta": {"total": str(len(found))}})

    async def _create_tag(self, request: web.Request) -> web.Response:
        data = (await request.json()).get("tag") or {}
        if any(t["tag"].lower() == str(data.get("tag", "")).lower() for t in self.tags.values()):
            return web.json_response({"errors": [{"title": "Tag already exists", "code": "duplicate"}]}, status=422)
        ident = self.add_tag(str(data["tag"]), str(data.get("tagType") or "contact"))
        return web.json_response({"tag": self.tags[ident]}, status=201)

    async def _tag_contact(self, request: web.Request) -> web.Response:
        data = (await request.json()).get("contactTag") or {}
        contact, tag = str(data.get("contact")), str(data.get("tag"))
        if tag not in self.tags or all(c["id"] != contact for c in self.contacts.values()):
            return web.json_response({"errors": [{"status": 404, "title": "Not Found"}]}, status=404)
        for link in self.contact_tags.values():
            if link["contact"] == contact and link["tag"] == tag:
                return web.json_response({"contactTag": link}, status=201)
        ident = self.next_id()
        self.contact_tags[ident] = {"id": ident, "contact": contact, "tag": tag}
        return web.json_response({"contactTag": self.contact_tags[ident]}, status=201)

    async def _untag(self, request: web.Request) -> web.Response:
        if self.contact_tags.pop(request.match_info["id"], None) is None:
            return web.json_response({"message": "No Result found for ContactTag"}, status=404)
        return web.json_response({})

    async def _list(self, request: web.Request) -> web.Response:
        data = (await request.json()).get("contactList") or {}
        key = (str(data["contact"]), str(data["list"]))
        self.contact_lists[key] = int(data["status"])
        return web.json_response({"contactList": {"contact": key[0], "list": key[1], "status": data["status"]}})

    async def _fields(self, request: web.Request) -> web.Response:
        return web.json_response({"fields": self.fields, "meta": {"total": str(len(self.fields))}})
