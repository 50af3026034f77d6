"""A small Mailchimp Marketing API 3.0 simulator (aiohttp, real socket) for the demo and the connector tests.

It answers what the mailchimp connector relies on, as research notes §4.2 describe Mailchimp (secondary sources:
mailchimp.com/developer/marketing/docs/fundamentals and errors, quoted by api-evangelist; nock recordings of real
answers in grouparoo's Mailchimp plugin): HTTP Basic auth with the API key as password (401 ``API Key Invalid``);
``PUT /3.0/lists/{list_id}/members/{subscriber_hash}`` as an upsert where the hash must be the MD5 of the
lower-cased ``email_address`` and ``status_if_new`` only applies to a new member; ``POST …/tags`` (``active`` /
``inactive``, a tag created when missing) answering 204 with no body, 404 for an unknown member; errors as RFC 7807
problem documents (``type``, ``title``, ``status``, ``detail``, ``instance``) with ``Content-Type:
application/problem+json``: 400 ``Invalid Resource`` (a fake address), ``Forgotten Email Not Subscribed`` (an
address deleted on request), 404 ``Resource Not Found``; and the limit of 10 simultaneous connections, answered
with 429 (no Retry-After: Mailchimp sends no rate-limit headers). ``throttle_with_bare_403`` makes the next
answer the bare 403 Mailchimp is reported to send at very high volume; ``slow_put`` commits the next upsert and
stalls before answering (the lost answer a retry must survive). Every request is recorded.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from router.demo.standins import serve_app

API_KEY = "mc-test-key-3b7f0c2e9d-us6"
LIST_ID = "a1b2c3d4e5"
ERRORS = "https://mailchimp.com/developer/marketing/docs/errors/"
STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending", "transactional")


@dataclass
class Hit:
    method: str
    path: str
    body: Any
    at: float  # time.monotonic() on arrival
    status: int = 0


def problem(status: int, title: str, detail: str, errors: list[dict[str, str]] | None = None) -> web.Response:
    body: dict[str, Any] = {"type": ERRORS, "title": title, "status": status, "detail": detail}
    body["instance"] = str(uuid.uuid4())
    if errors:
        body["errors"] = errors
    return web.json_response(body, status=status, content_type="application/problem+json")


@dataclass
class MailchimpServer:
    api_key: str = API_KEY
    lists: set[str] = field(default_factory=lambda: {LIST_ID})
    connections: int = 10  # simultaneous requests per user, as Mailchimp allows
    members: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (list, hash) -> member
    forgotten: set[str] = field(default_factory=set)  # lower-cased addresses deleted on request
    hits: list[Hit] = field(default_factory=list)
    faults: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)  # path suffix -> replies
    answer_delay: float = 0.0  # seconds every answer takes (to build up concurrent connections)
    slow_put: float = 0.0
    throttle_with_bare_403: int = 0
    busiest: int = 0  # the most requests that were open at once
    url: str = ""
    _open: int = 0
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"{self.url}/3.0"

    def member(self, email: str, list_id: str = LIST_ID) -> dict[str, Any] | None:
        return self.members.get((list_id, hashlib.md5(email.lower().encode()).hexdigest()))

    def add_member(self, email: str, status: str = "subscribed", list_id: str = LIST_ID, **merge: str) -> None:
        ident = hashlib.md5(email.lower().encode()).hexdigest()
        self.members[(list_id, ident)] = {
            "id": ident,
            "email_address": email,
            "status": status,
            "merge_fields": dict(merge),
            "tags": {},
            "list_id": list_id,
        }

    def fail(self, suffix: str, status: int, headers: dict[str, str] | None = None, times: int = 1) -> None:
        """The next ``times`` requests whose path ends with ``suffix`` (``/tags``, a member hash) get ``status``."""
        self.faults.setdefault(suffix, []).extend([(status, headers or {})] * times)

    def calls(self, method: str | None = None, suffix: str = "") -> list[Hit]:
        return [h for h in self.hits if (method is None or h.method == method) and h.path.endswith(suffix)]

    async def wait_hits(self, count: int, timeout: float = 10.0) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(self.hits) >= count), timeout)

    def arrivals(self) -> dict[str, str]:
        """``mailchimp:<address>`` → what the audience holds for it (the connector's ``receipt_key``)."""
        found = {}
        for member in self.members.values():
            tags = sorted(name for name, active in member["tags"].items() if active)
            shown = f"; tags {', '.join(tags)}" if tags else ""
            email = member["email_address"]
            where = f"({member['status']}) of audience {member['list_id']}"
            found[f"mailchimp:{email.lower()}"] = f"Mailchimp member {email} {where}{shown}"
        return found

    # ------------------------------------------------------------ server

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> MailchimpServer:
        app = web.Application(middlewares=[self._gate])
        app.router.add_put("/3.0/lists/{list_id}/members/{hash}", self._upsert)
        app.router.add_get("/3.0/lists/{list_id}/members/{hash}", self._get)
        app.router.add_post("/3.0/lists/{list_id}/members/{hash}/tags", self._tags)
        self._runner, self.url = await serve_app(app, host, port)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @web.middleware
    async def _gate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self._open += 1
        self.busiest = max(self.busiest, self._open)
        crowded = self._open > self.connections
        try:
            hit = Hit(request.method, request.path, None, time.monotonic())
            hit.body = await request.json() if request.can_read_body else None
            if self.answer_delay:
                await asyncio.sleep(self.answer_delay)
            if crowded:
                detail = f"You have more than {self.connections} simultaneous connections."
                response: web.StreamResponse = problem(429, "Too Many Requests", detail)
            else:
                response = await self._answer(request, handler)
        finally:
            self._open -= 1
        hit.status = response.status
        async with self._changed:
            self.hits.append(hit)
            self._changed.notify_all()
        return response

    async def _answer(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self.throttle_with_bare_403:
            self.throttle_with_bare_403 -= 1
            return web.Response(status=403, body=b"", content_type="text/html")
        _, _, key = base64.b64decode(request.headers.get("Authorization", "Basic Og==")[6:]).decode().partition(":")
        if key != self.api_key:
            detail = "Your API key may be invalid, or you've attempted to access the wrong datacenter."
            return problem(401, "API Key Invalid", detail)
        for suffix, replies in self.faults.items():
            if request.path.endswith(suffix) and replies:
                status, headers = replies.pop(0)
                title = "Too Many Requests" if status == 429 else f"Scripted {status}"
                response = problem(status, title, "A fault scripted by the test.")
                response.headers.update(headers)
                return response
        if request.match_info.get("list_id") not in self.lists:
            return problem(404, "Resource Not Found", "The requested resource could not be found.")
        answer: web.StreamResponse = await handler(request)
        return answer

    # ------------------------------------------------------------ endpoints

    async def _upsert(self, request: web.Request) -> web.Response:
        list_id, ident = request.match_info["list_id"], request.match_info["hash"]
        body = await request.json()
        email = str(body.get("email_address") or "")
        if "@" not in email or email.endswith(".invalid"):
            detail = f"{email} looks fake or invalid, please enter a real email address."
            return problem(400, "Invalid Resource", detail)
        if hashlib.md5(email.lower().encode()).hexdigest() != ident:
            return problem(400, "Invalid Resource", "The email address does not match the subscriber hash.")
        if email.lower() in self.forgotten:
            detail = f"{email} was permanently deleted and cannot be re-imported. The contact must re-subscribe."
            return problem(400, "Forgotten Email Not Subscribed", detail)
        member = self.members.get((list_id, ident))
        if member is None:
            status = body.get("status") or body.get("status_if_new")
            if status not in STATUSES:
                errors = [{"field": "status", "message": "Schema describes enum, but no status was given."}]
                return problem(400, "Invalid Resource", "The resource submitted could not be validated.", errors)
            self.add_member(email, str(status), list_id)
            member = self.members[(list_id, ident)]
        elif body.get("status") in STATUSES:
            member["status"] = body["status"]  # only `status` changes an existing member, never status_if_new
        member["merge_fields"].update(body.get("merge_fields") or {})
        if self.slow_put:
            delay, self.slow_put = self.slow_put, 0.0
            await asyncio.sleep(delay)  # committed, but the client gives up before it hears so
        return web.json_response(self._shown(member))

    async def _get(self, request: web.Request) -> web.Response:
        member = self.members.get((request.match_info["list_id"], request.match_info["hash"]))
        if member is None:
            return problem(404, "Resource Not Found", "The requested resource could not be found.")
        return web.json_response(self._shown(member))

    async def _tags(self, request: web.Request) -> web.Response:
        member = self.members.get((request.match_info["list_id"], request.match_info["hash"]))
        if member is None:
            return problem(404, "Resource Not Found", "The requested resource could not be found.")
        for tag in (await request.json()).get("tags") or []:
            member["tags"][str(tag["name"])] = tag.get("status") == "active"
        return web.Response(status=204)

    @staticmethod
    def _shown(member: dict[str, Any]) -> dict[str, Any]:
        tags = [{"name": name} for name, active in member["tags"].items() if active]
        return {**{k: v for k, v in member.items() if k != "tags"}, "tags": tags, "tags_count": len(tags)}
