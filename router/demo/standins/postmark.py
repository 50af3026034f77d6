"""A small Postmark Email API simulator (aiohttp, real socket) for the demo and the postmark connector tests.

It answers as Postmark documents (postmarkapp.com/developer/api/overview, …/user-guide/send-email-with-api,
…/api/messages-api, support articles "What does Error Code 300 mean" and "Custom metadata FAQ"):
``POST /email`` checks ``X-Postmark-Server-Token`` (401 ``{"ErrorCode": 10, ...}``; the test token
``POSTMARK_API_TEST`` validates without delivering), answers ``200 {"To", "SubmittedAt", "MessageID",
"ErrorCode": 0, "Message": "OK"}``, and refuses with HTTP 422 and an ``ErrorCode``: 300 for an invalid
request (no or an invalid From/To, more than 50 recipients in To, Cc and Bcc, neither TextBody nor HtmlBody),
406 for a recipient marked inactive (hard bounce, spam complaint). ``GET /messages/outbound`` searches
what was sent, with ``count``/``offset`` and the ``recipient``, ``tag`` and ``metadata_<key>`` filters
(``search_shows_metadata`` / ``search_filters`` turn the metadata in results and the filters off, for the
cases the docs leave open), and ``GET /messages/outbound/{id}/details`` shows one message.
The recipients of a message are read from its To/Cc/Bcc with a real address-list parser, as a mail system
would, so a test sees exactly whom a message would reach. Postmark publishes no rate limit and documents
no ``Retry-After``; ``rate`` makes the simulator answer 429 ``{"ErrorCode": 429, ...}`` past N requests per
second (with ``retry_after`` as the header when set), and ``fail`` scripts answers per path.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from email.utils import getaddresses
from typing import Any

from aiohttp import web

from router.demo.standins import serve_app

TOKEN = "pm-server-token-3b8e"
TEST_TOKEN = "POSTMARK_API_TEST"  # Postmark's token that validates a send without delivering it
BAD_TOKEN = (
    "The Server Token you provided in the X-Postmark-Server-Token request header was invalid."
    " Please verify that you are using a valid token."
)


@dataclass
class Hit:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    status: int = 0


@dataclass
class PostmarkServer:
    token: str = TOKEN
    inactive: set[str] = field(default_factory=set)  # addresses that bounced or complained
    rate: int = 0  # requests per second before 429 (0: unlimited, as far as anyone knows)
    retry_after: str | None = None  # sent with a 429 when set (Postmark documents none)
    slow_accept: float = 0.0  # the next accepted message stalls this long after it is stored
    search_shows_metadata: bool = True  # False: search results leave Metadata out (the details still show it)
    search_filters: bool = True  # False: the search ignores its filters (a worst case for the connector)
    messages: list[dict[str, Any]] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    faults: dict[str, list[tuple[int, dict[str, Any], dict[str, str]]]] = field(default_factory=dict)
    url: str = ""
    _window: deque[float] = field(default_factory=deque)
    _runner: web.AppRunner | None = None

    def fail(self, path: str, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        """Answer the next request to ``path`` with this status and body."""
        self.faults.setdefault(path, []).append((status, body, headers or {}))

    def calls(self, method: str, path: str) -> list[Hit]:
        return [h for h in self.hits if h.method == method and h.path == path]

    def arrivals(self) -> dict[str, str]:
        """What arrived, by delivery key (the ``delivery_key`` metadata the connector sends), for the demo."""
        found = {}
        for message in self.messages:
            key = str((message.get("Metadata") or {}).get("delivery_key") or message["MessageID"])
            found[key] = f'Postmark mail to {", ".join(message["Recipients"])}: "{message.get("Subject")}"'
        return found

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> PostmarkServer:
        app = web.Application(middlewares=[self._gate])
        app.router.add_post("/email", self._email)
        app.router.add_get("/messages/outbound", self._search)
        app.router.add_get("/messages/outbound/{id}/details", self._details)
        self._runner, self.url = await serve_app(app, host, port)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @web.middleware
    async def _gate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        raw = await request.read()
        hit = Hit(request.method, request.path, dict(request.query), dict(request.headers), raw)
        self.hits.append(hit)
        response = await self._answer(request, handler)
        hit.status = response.status
        return response

    async def _answer(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.headers.get("X-Postmark-Server-Token") not in (self.token, TEST_TOKEN):
            return web.json_response({"ErrorCode": 10, "Message": BAD_TOKEN}, status=401)
        now = time.monotonic()
        while self._window and self._window[0] <= now - 1.0:
            self._window.popleft()
        if self.rate and len(self._window) >= self.rate:
            headers = {"Retry-After": self.retry_after} if self.retry_after else {}
            body = {"ErrorCode": 429, "Message": "Rate limit exceeded: reduce the rate of your requests."}
            return web.json_response(body, status=429, headers=headers)
        self._window.append(now)
        scripted = self.faults.get(request.path)
        if scripted:
            status, body, headers = scripted.pop(0)
            return web.json_response(body, status=status, headers=headers)
        response: web.StreamResponse = await handler(request)
        return response

    async def _email(self, request: web.Request) -> web.Response:
        try:
            data = await request.json()
        except ValueError:
            return invalid(402, "Invalid JSON")
        if not isinstance(data, dict):
            return invalid(403, "Incompatible JSON")
        sender = addresses(str(data.get("From") or ""))
        if len(sender) != 1:
            return invalid(300, f"Invalid 'From' address: '{data.get('From') or ''}'.")
        recipients = [a for key in ("To", "Cc", "Bcc") for a in addresses(str(data.get(key) or ""))]
        if not addresses(str(data.get("To") or "")):
            return invalid(300, "Zero recipients specified")
        wrong = [a for a in recipients if "@" not in a]
        if wrong:
            return invalid(300, f"Error parsing 'To': Illegal email address '{wrong[0]}'.")
        if len(recipients) > 50:
            return invalid(300, "Maximum of 50 recipients allowed per email message")
        if not data.get("TextBody") and not data.get("HtmlBody"):
            return invalid(300, "Provide either email TextBody or HtmlBody or both.")
        inactive = [a for a in recipients if a.lower() in self.inactive]
        if inactive:
            return invalid(
                406,
                "You tried to send to recipient(s) that have been marked as inactive. Found inactive addresses:"
                f" {', '.join(inactive)}. Inactive recipients are ones that have generated a hard bounce, a spam"
                " complaint, or a manual suppression.",
            )
        test = request.headers.get("X-Postmark-Server-Token") == TEST_TOKEN
        message_id = "00000000-0000-0000-0000-000000000000" if test else str(uuid.uuid4())
        submitted = dt.datetime.now(dt.UTC).isoformat()
        if not test:
            self.messages.append({**data, "MessageID": message_id, "Recipients": recipients, "ReceivedAt": submitted})
        if self.slow_accept:
            delay, self.slow_accept = self.slow_accept, 0.0
            await asyncio.sleep(delay)  # stored, but the client gives up before it hears so
        answer = {"To": data.get("To"), "SubmittedAt": submitted, "MessageID": message_id}
        return web.json_response({**answer, "ErrorCode": 0, "Message": "OK"})

    async def _search(self, request: web.Request) -> web.Response:
        query = request.query
        if not query.get("count", "").isdigit() or not query.get("offset", "").isdigit():
            return invalid(300, "The 'count' and 'offset' parameters are required.")
        found = [m for m in reversed(self.messages) if not self.search_filters or matches(m, query)]  # newest first
        count, offset = min(int(query["count"]), 500), int(query["offset"])
        page = [
            {
                "MessageID": m["MessageID"],
                "To": [{"Email": a, "Name": None} for a in m["Recipients"]],
                "Recipients": m["Recipients"],
                "Subject": m.get("Subject"),
                "Tag": m.get("Tag"),
                **({"Metadata": m.get("Metadata") or {}} if self.search_shows_metadata else {}),
                "MessageStream": m.get("MessageStream") or "outbound",
                "ReceivedAt": m["ReceivedAt"],
                "Status": "Sent",
            }
            for m in found[offset : offset + count]
        ]
        return web.json_response({"TotalCount": len(found), "Messages": page})

    async def _details(self, request: web.Request) -> web.Response:
        for m in self.messages:
            if m["MessageID"] == request.match_info["id"]:
                shown = {k: m.get(k) for k in ("MessageID", "Subject", "TextBody", "HtmlBody", "Tag", "MessageStream")}
                return web.json_response({**shown, "Recipients": m["Recipients"], "Metadata": m.get("Metadata") or {}})
        return web.json_response({"ErrorCode": 701, "Message": "This message was not found."}, status=422)


def invalid(code: int, message: str) -> web.Response:
    return web.json_response({"ErrorCode": code, "Message": message}, status=422)


def addresses(field_value: str) -> list[str]:
    """The addresses a To/Cc/Bcc value reaches, read by a standard address-list parser."""
    return [address for _, address in getaddresses([field_value]) if address]


def matches(message: dict[str, Any], query: Any) -> bool:
    if "recipient" in query and query["recipient"].lower() not in (a.lower() for a in message["Recipients"]):
        return False
    if "tag" in query and query["tag"] != message.get("Tag"):
        return False
    metadata = message.get("Metadata") or {}
    for key, value in query.items():
        if key.startswith("metadata_") and str(metadata.get(key.removeprefix("metadata_"))) != value:
            return False
    return True
