"""An HTTP sink: answers every request like a friendly webhook receiver and records it.

Paths under a prefix in ``text_replies`` get that text (Slack's incoming webhooks answer ``200 ok``), others
``200 {"ok": true}``. A prefix in ``verify`` holds a Standard Webhooks secret (``whsec_...``): requests there
must carry a valid ``webhook-signature`` over the exact body, or get ``401``, as a careful receiver would; a
prefix in ``bearer`` requires ``Authorization: Bearer <token>`` likewise; a prefix in ``streams`` answers
with its ``(status, size)``: a body of that many bytes, generated chunk by chunk (a destination that answers
far too much).
Each request is kept with its ``Idempotency-Key`` so a caller can tell which delivery it was.
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

    @property
    def key(self) -> str:
        return self.headers.get("Idempotency-Key", "")

    def json(self) -> Any:
        return json.loads(self.body)


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
        async with self._changed:
            self.requests.append(SinkRequest(request.method, request.path_qs, headers, body, signed))
            self._changed.notify_all()
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

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[SinkRequest]:
        """Wait until at least ``count`` requests have arrived."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(self.requests) >= count), timeout)
        return list(self.requests)
