"""The HTTP plumbing every HTTP connector shares: one pooled aiohttp session, rate limited per request.

aiohttp's client is the same library as our server, and on this machine it spends about 70 µs of CPU per
request where httpx spent about 1.5 ms at 32 concurrent requests (``bench/e2e.py``,
docs/performance.md), so every outgoing request of the daemon goes through here. ``HttpClient`` takes a slot
from the connector's limiter before each request (a multi-step operation counts every call it makes),
never follows redirects, refuses a header name or value that cannot be sent (a line break rendered into a
header is a ``Permanent`` error naming it, ``toolkit.headers``), and keeps at most the first
``MAX_ANSWER_BYTES`` (64 KB) of an answer in a small ``Response``: a destination that answers with 150 MB
costs 64 KB of memory, the rest is never read (the connection is closed instead of being reused).
``send`` turns transport failures into ``Retryable`` and a 429's Retry-After into a pause of the whole
connector, so that the other deliveries stop knocking too. ``expect_success`` classifies an answer, naming
the step that failed, and ``error_text`` digs a readable reason out of the error bodies APIs return. During a
traced delivery attempt each request carries its ``traceparent`` and reports its answer (``toolkit.outbound``).
Inside ``shared_pool`` (the daemon runs in one) every session shares one pool of connections, so the shops
of one router and the configs a reload retires reuse each other's kept-alive connections to a destination;
outside it (the commands) each session has its own.
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy

from toolkit import jsontext
from toolkit.headers import checked_headers
from toolkit.outbound import WATCH
from toolkit.outcomes import DeliveryError, Limiter, Retryable
from toolkit.status import classify_status, parse_retry_after

MAX_ANSWER_BYTES = 64 * 1024
_SHARED: ContextVar[aiohttp.TCPConnector | None] = ContextVar("toolkit_shared_pool", default=None)


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    params: Mapping[str, Any] | None = None
    content: bytes | None = None


@dataclass(frozen=True)
class Response:
    status_code: int
    headers: CIMultiDictProxy[str] | CIMultiDict[str]
    content: bytes
    truncated: bool = False  # the answer was longer than ``content``: the rest was not read

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    def json(self) -> Any:
        return jsonlib.loads(self.content)


@asynccontextmanager
async def shared_pool() -> AsyncIterator[aiohttp.TCPConnector]:
    """Within it, the sessions ``new_session`` makes (in this context and the tasks it starts) share one pool
    of connections, closed on the way out. It has no limit of its own: what bounds the connections to a
    destination is each shop's ``delivery.concurrency`` and ``plugandpay.concurrency``, so a shop whose
    destination hangs holds only its own share (a shared limit would let it take the one another shop needs).
    An HTTP/1.1 connection carries no state of its sender (every request sends its own headers; sessions keep
    no cookies), so sharing it between shops reveals nothing."""
    connector = aiohttp.TCPConnector(limit=0)
    token = _SHARED.set(connector)
    try:
        yield connector
    finally:
        _SHARED.reset(token)
        await connector.close()


def new_session(timeout: float, *, headers: Mapping[str, str] | None = None, limit: int = 100) -> aiohttp.ClientSession:
    """A pooled aiohttp session with a total timeout per request, for every outgoing HTTP call of the daemon.

    Create it on first use: a session belongs to the running event loop. Redirects are never followed,
    which aiohttp sets per request: pass ``allow_redirects=False`` with each one. Cookies are never kept.
    Inside ``shared_pool`` it uses that pool (and closing the session leaves the pool open); outside, a pool
    of its own of at most ``limit`` connections.
    """
    shared = _SHARED.get()
    return aiohttp.ClientSession(
        headers=dict(headers) if headers else None,
        timeout=aiohttp.ClientTimeout(total=timeout),
        connector=shared or aiohttp.TCPConnector(limit=limit),
        connector_owner=shared is None,
        # No cookies: a destination's Set-Cookie must not ride along on later requests (a session meant for
        # one delivery would reach the next), and keeping none spares the jar's work on every request.
        cookie_jar=aiohttp.DummyCookieJar(),
    )


class HttpClient:
    """A lazily created aiohttp session (it belongs to the running loop) with default headers and a limiter."""

    def __init__(self, timeout: float, limiter: Limiter | None, headers: Mapping[str, str] | None = None):
        self.timeout = timeout
        self.limiter = limiter
        self.headers = dict(headers or {})
        self._session: aiohttp.ClientSession | None = None

    def build_request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Request:
        merged = checked_headers({**self.headers, **(headers or {})})
        if json is not None:
            content = jsontext.dumps_bytes(json)
            if not any(k.lower() == "content-type" for k in merged):
                merged["Content-Type"] = "application/json"
        return Request(method.upper(), url, merged, params, content)

    async def fetch(self, request: Request) -> Response:
        if self.limiter is not None:
            await self.limiter.acquire()
        if self._session is None:
            self._session = new_session(self.timeout)
        params = None if request.params is None else {k: str(v) for k, v in request.params.items()}
        watch = WATCH.get()  # a traced attempt: its headers ride along, and it hears the answer
        headers = request.headers if watch is None else {**request.headers, **watch.headers}
        status: int | None = None
        try:
            async with self._session.request(
                request.method,
                request.url,
                headers=headers,
                params=params,
                data=request.content,
                allow_redirects=False,
            ) as response:
                status = response.status
                content, truncated = await read_capped(response, MAX_ANSWER_BYTES)
                if truncated:
                    response.close()  # drop the connection: the unread rest must not be drained into memory
                return Response(response.status, response.headers, content, truncated)
        finally:
            if watch is not None:
                watch.sent(request.method, request.url, status)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


async def read_capped(response: aiohttp.ClientResponse, limit: int) -> tuple[bytes, bool]:
    """At most ``limit`` bytes of the body, and whether there was more (then the rest is left unread)."""
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = await response.content.read(limit + 1 - size)
        if not chunk:
            return b"".join(chunks), False
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)[:limit], True


def make_client(timeout: float, limiter: Limiter | None, *, headers: dict[str, str] | None = None) -> HttpClient:
    return HttpClient(timeout, limiter, headers)


async def send(client: HttpClient, request: Request, limiter: Limiter | None, *, what: str = "") -> Response:
    """Send one request; transport errors raise Retryable, a 429 pauses ``limiter`` for its Retry-After."""
    prefix = f"{what}: " if what else ""
    try:
        response = await client.fetch(request)
    except TimeoutError:
        raise Retryable(f"{prefix}timeout after {client.timeout:g}s") from None
    except aiohttp.ClientError as exc:
        raise Retryable(f"{prefix}connection error: {type(exc).__name__}: {exc}") from None
    if response.status_code == 429 and limiter is not None:
        wait = parse_retry_after(response.headers.get("Retry-After"))
        if wait:
            limiter.pause(wait)
    return response


def expect_success(response: Response, what: str) -> None:
    """Return on 2xx; otherwise raise Retryable / Permanent as ``classify_status`` decides, naming the step."""
    if response.is_success:
        return
    try:
        classify_status(response.status_code, error_text(response), response.headers.get("Retry-After"))
    except DeliveryError as exc:
        exc.message = f"{what}: {exc.message}"
        exc.args = (exc.message,)
        raise


def error_text(response: Response) -> str:
    """A short reason from an error body: JSON ``errors[].title/detail``, ``error``, ``message``, or the text."""
    text = response.text
    try:
        body = jsonlib.loads(text)
    except ValueError:
        return " ".join(text.split())[:300]
    parts: list[str] = []
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list):
            for item in errors[:5]:
                if isinstance(item, dict):
                    parts.append(" ".join(str(item[k]) for k in ("title", "detail") if item.get(k)))
        for key in ("error", "message"):
            value = body.get(key)
            if isinstance(value, str):
                parts.append(value)
            elif isinstance(value, dict):
                parts.append(
                    "; ".join(f"{k} {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in value.items())
                )
    reason = "; ".join(p for p in parts if p) or " ".join(text.split())
    return reason[:300]
