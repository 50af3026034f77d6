"""A destination on 127.0.0.1 that records every request and answers from a script (status, headers, delay).

The contract kit sends a connector's requests here; a test scripts the answers (a 429 with ``Retry-After``,
a 500, a timeout) and reads what arrived: method, path, headers and body, exactly as the connector sent them.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = field(default_factory=lambda: {"ok": True})  # JSON-encoded unless bytes or text
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (past the connector's timeout: a timeout)


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str  # as sent, percent-encoding kept
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class StandIn:
    """``async with StandIn() as stand_in``: ``stand_in.url`` answers; ``replies`` are used first, in order."""

    def __init__(self, *replies: Reply, default: Reply | None = None):
        self.replies = list(replies)
        self.default = default or Reply()
        self.requests: list[Recorded] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> StandIn:
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        raw = request.raw_path
        path, _, query = raw.partition("?")
        self.requests.append(Recorded(request.method, path, query, dict(request.headers), body))
        reply = self.replies.pop(0) if self.replies else self.default
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if isinstance(reply.body, bytes | str):
            return web.Response(status=reply.status, body=reply.body, headers=reply.headers)
        return web.json_response(reply.body, status=reply.status, headers=reply.headers)
