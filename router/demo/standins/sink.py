"""An HTTP sink: answers every request like a friendly webhook receiver and records it.

Paths under a prefix in ``text_replies`` get that text (Slack's incoming webhooks answer ``200 ok``), others
``200 {"ok": true}``. A prefix in ``verify`` holds a Standard Webhooks secret (``whsec_...``): requests there
must carry a valid ``webhook-signature`` over the exact body, or get ``401``, as a careful receiver would; a
prefix in ``bearer`` requires ``Authorization: Bearer <token>`` likewise; a prefix in ``streams`` answers
with its ``(status, size)``: a body of that many bytes, generated chunk by chunk (a destination that answers
far too much). A test scripts a failing receiver with ``replies`` (answered in turn, one per request) and
``default`` (every request after them). Each request is kept with its ``Idempotency-Key`` so a caller can tell
which delivery it was, and a caller awaits the n-th request (to a path) with ``wait_for`` instead of polling.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from connectors.signer import decode_whsec, standard_webhooks_signature
from router.demo.standins import serve_app


@dataclass(frozen=True)
class SinkRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    signed: bool | None = None  # True: a valid signature was checked; None: this path is not verified
    connection: int = 0  # the sender's port: requests over one kept-alive connection share it

    @property
    def key(self) -> str:
        return self.headers.get("Idempotency-Key", "")

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    """A scripted answer: status, JSON body, headers, and a delay before answering (the request is recorded
    when it is answered)."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


def valid_signature(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """True when the Standard Webhooks headers sign ``body`` under ``secret`` (any of the listed signatures)."""
    msg_id, timestamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
    if not msg_id or not timestamp.isdigit():
        return False
    expected = standard_webhooks_signature(decode_whsec(secret), msg_id, int(timestamp), body)
    given = headers.get("webhook-signature", "").split()
    return any(hmac.compare_digest(sig, expected) for sig in given)


async def stream(request: web.Request, status: int, size: int, chunk: int = 64 * 1024) -> web.StreamResponse:
    """An answer of ``size`` bytes of text, written chunk by chunk: never more than one chunk in memory."""
    response = web.StreamResponse(status=status, headers={"Content-Type": "text/plain"})
    await response.prepare(request)
    try:
        for start in range(0, size, chunk):
            await response.write(b"y" * min(chunk, size - start))
        await response.write_eof()
    except (ConnectionError, RuntimeError):
        pass  # the client hung up after reading what it wanted
    return response


@dataclass
class HttpSink:
    host: str = "127.0.0.1"
    text_replies: dict[str, str] = field(default_factory=dict)  # path prefix -> plain-text answer
    verify: dict[str, str] = field(default_factory=dict)  # path prefix -> whsec_ secret
    bearer: dict[str, str] = field(default_factory=dict)  # path prefix -> required Bearer token
    replies: list[Reply] = field(default_factory=list)  # answered first, one per request
    default: Reply | None = None  # then this for every request; None: the friendly answers above
    streams: dict[str, tuple[int, int]] = field(default_factory=dict)  # path prefix -> (status, size in bytes)
    requests: list[SinkRequest] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def start(self, port: int = 0) -> HttpSink:
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._handle)
        self._runner, self.url = await serve_app(app, self.host, port)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = dict(request.headers)
        signed: bool | None = None
        for prefix, secret in self.verify.items():
            if request.path.startswith(prefix):
                signed = valid_signature(secret, headers, body)
        scripted = self.replies.pop(0) if self.replies else self.default
        if scripted is not None and scripted.delay:
            await asyncio.sleep(scripted.delay)
        async with self._changed:
            peer = request.transport.get_extra_info("peername") if request.transport is not None else None
            port = peer[1] if isinstance(peer, tuple) else 0
            self.requests.append(SinkRequest(request.method, request.path_qs, headers, body, signed, port))
            self._changed.notify_all()
        if scripted is not None:
            body_out = scripted.body if scripted.body is not None else {}
            return web.json_response(body_out, status=scripted.status, headers=scripted.headers)
        if signed is False:
            return web.json_response({"error": "invalid webhook-signature"}, status=401)
        for prefix, token in self.bearer.items():
            if request.path.startswith(prefix) and headers.get("Authorization") != f"Bearer {token}":
                return web.json_response({"error": "invalid or missing bearer token"}, status=401)
        for prefix, (status, size) in self.streams.items():
            if request.path.startswith(prefix):
                return await stream(request, status, size)
        for prefix, text in self.text_replies.items():
            if request.path.startswith(prefix):
                return web.Response(text=text)
        return web.json_response({"ok": True})

    def to(self, path: str | None) -> list[SinkRequest]:
        """The requests to ``path`` (query string ignored), or all of them for None."""
        return [r for r in self.requests if path is None or r.path.split("?")[0] == path]

    async def wait_for(self, count: int, timeout: float = 10.0, path: str | None = None) -> list[SinkRequest]:
        """Wait until at least ``count`` requests (to ``path``, if given) have arrived; returns those requests."""
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: len(self.to(path)) >= count), timeout)
            except TimeoutError:
                where = f" to {path}" if path else ""
                raise TimeoutError(f"sink got {len(self.to(path))} requests{where}, expected {count}") from None
        return self.to(path)
