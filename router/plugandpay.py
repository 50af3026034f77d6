"""Plug&Pay REST API v2 client: fetch the object a webhook points at.

Webhooks V2 carry only ids, so the route stage fetches the order, subscription or affiliate seller with
the includes rules need. One pooled aiohttp session from ``toolkit.client.new_session`` (the same
library as our server; httpx costs about 20 times more CPU per request here, see docs/performance.md
notes); Bearer token, ``Accept: application/json`` and the ``User-Agent: CustomApiCall/2`` the API
documentation requires. Tenacity retries connection errors briefly inside one try; everything slower
(429 with Retry-After, 5xx, a long outage) is raised as ``ApiUnavailable`` so the route stage reschedules
the event in the store (``router.delivery.retry.api_schedule``). 404 raises ``NotFound``. An answer larger than
``max_response_bytes`` (``plugandpay.max_response_bytes``, default 10 MB) is not read past that limit and
raises ``ApiRejected``: the event fails with the reason instead of the daemon's memory growing with it.
``fetch_optional`` asks for includes no official source lists (``checkout``): when the API answers a 4xx
that names one of them, it fetches again without them and says which were refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp

from router.events import object_id
from toolkit import jsontext
from toolkit.client import new_session, read_capped
from toolkit.outbound import WATCH
from toolkit.protection import RateLimiter
from toolkit.status import is_transient, parse_retry_after
from toolkit.units import Rate

if TYPE_CHECKING:
    from router.config.model import PlugAndPayConfig

RESOURCES: dict[str, tuple[str, tuple[str, ...]]] = {
    "order": ("/v2/orders/{id}", ("billing", "items", "payment", "discounts", "taxes", "tags")),
    "subscription": ("/v2/subscriptions/{id}", ("billing", "pricing", "product", "trial", "tags")),
    "affiliate": (
        "/v2/affiliates/sellers/{id}",
        ("address", "contact", "profile", "statistics", "payout_options", "payout_methods"),
    ),
}
USER_AGENT = "CustomApiCall/2"
LIST_LIMIT = 100  # objects per page asked of list endpoints; a server may send fewer (the maximum is unknown)
MAX_RESPONSE_BYTES = 10 * 1024 * 1024
# Bounds of one listing: a server whose pagination goes wrong must not make the router ask for ever.
MAX_LIST_PAGES = 1000  # 100,000 objects at the page size asked for
FREE_PAGES = 20  # pages fetched at full speed; past them a listing asks at most once per LIST_PACE seconds
LIST_PACE = 0.5  # the research notes' advice for bulk reads of an API whose rate limit is not published
MAX_PAGE_RETRIES = 5  # a page answered 429/503 is asked again after the API's Retry-After, this often
MAX_HONOURED_WAIT = 300.0


class ApiError(Exception):
    pass


class NotFound(ApiError):
    """The object does not exist (or the token cannot see it): routing it can never succeed."""


class ApiRejected(ApiError):
    """A 4xx other than 404/408/429: the request is wrong (bad token, bad id); retrying will not help."""

    def __init__(self, message: str, status: int | None = None, detail: str = ""):
        super().__init__(message)
        self.status = status
        self.detail = detail  # the start of the answer's body


def names_include(exc: ApiRejected, includes: tuple[str, ...]) -> tuple[str, ...]:
    """The ``includes`` a 400/422 answer names (how a Laravel API refuses an include it does not allow)."""
    if exc.status not in (400, 422):
        return ()
    return tuple(name for name in includes if name in exc.detail)


class ListingStopped(ApiError):
    """A list endpoint's pages went wrong (a page repeated, made no progress, or there were more than the
    answer or a sane shop can justify): the listing stops, and the pass that asked for it fails with this."""


@dataclass
class ApiUnavailable(ApiError):
    """Try again later: timeout, connection error, 429 or 5xx."""

    message: str
    retry_after: float | None = None

    def __str__(self) -> str:
        return self.message


def resource_path(kind: str, ident: str, extra_includes: tuple[str, ...] = ()) -> tuple[str, dict[str, str]]:
    if kind not in RESOURCES:
        raise ApiRejected(f"unknown triggerable_type {kind!r}: cannot tell which API resource to fetch")
    template, includes = RESOURCES[kind]
    try:
        ident = object_id(ident)  # the last guard before an id becomes part of a path
    except ValueError as exc:
        raise ApiRejected(str(exc)) from None
    return template.format(id=ident), {"include": ",".join((*includes, *extra_includes))}


class PlugAndPayClient:
    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        timeout: float = 25.0,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        rate_limit: Rate | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.headers = {"Accept": "application/json", "Accept-Language": "en", "User-Agent": USER_AGENT}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self._session: aiohttp.ClientSession | None = None
        # Shared by every call of this client (route, reconcile, backfill, connect); None: unlimited.
        self.limiter = RateLimiter(rate_limit, max_wait=float("inf"))

    @classmethod
    def from_settings(cls, settings: PlugAndPayConfig) -> PlugAndPayClient:
        """The client the ``plugandpay:`` section describes (the daemon's, and the commands' that call the API)."""
        return cls(
            settings.api_url,
            settings.api_token,
            timeout=settings.timeout,
            max_response_bytes=settings.max_response_bytes,
            rate_limit=settings.rate_limit,
        )

    def _client(self) -> aiohttp.ClientSession:
        # Created on first use: an aiohttp session belongs to the running event loop.
        if self._session is None:
            self._session = new_session(self.timeout, headers=self.headers, limit=64)
        return self._session

    async def fetch(self, kind: str, ident: str, extra_includes: tuple[str, ...] = ()) -> dict[str, Any]:
        """The object's ``data``. Raises NotFound, ApiRejected or ApiUnavailable."""
        path, params = resource_path(kind, ident, extra_includes)
        decoded = await self.call("GET", path, params)
        data = decoded.get("data") if isinstance(decoded, dict) else None
        if not isinstance(data, dict):
            raise ApiRejected(f"Plug&Pay API response for {path} has no 'data' object")
        return data

    async def fetch_optional(
        self, kind: str, ident: str, extra_includes: tuple[str, ...] = ()
    ) -> tuple[dict[str, Any], tuple[str, ...]]:
        """``fetch`` with ``extra_includes`` that the API may refuse: the data, and the includes it refused
        (the object is then fetched again with the default includes only)."""
        try:
            return await self.fetch(kind, ident, extra_includes), ()
        except ApiRejected as exc:
            refused = names_include(exc, extra_includes)
            if not refused:
                raise
        return await self.fetch(kind, ident), refused

    async def call(self, method: str, path: str, params: dict[str, str] | None = None, body: Any = None) -> Any:
        """One API call under the shared rate limit; the decoded JSON answer (None for an empty one).

        Only GET is retried on a connection error (a POST that may have arrived must not be sent twice).
        Raises NotFound, ApiRejected or ApiUnavailable.
        """
        session = self._client()
        where = f"{method} {path}"
        attempts = 3 if method == "GET" else 1
        watch = WATCH.get()  # a traced fetch hears each answer (``toolkit.outbound``)
        try:
            for attempt in range(1, attempts + 1):
                # A plain loop, not tenacity: its per-call machinery was 3 % of the daemon's CPU per event.
                try:
                    await self.limiter.acquire()
                    async with session.request(
                        method, self.base_url + path, params=params, json=body, allow_redirects=False
                    ) as response:
                        if watch is not None:
                            watch.sent(method, self.base_url + path, response.status)
                        raw = await self._read(where, response)
                        try:
                            return self._decode(where, response.status, response.headers.get("Retry-After"), raw)
                        except ApiUnavailable as exc:
                            if exc.retry_after:  # the API's own rate limit: every call of this client waits
                                self.limiter.pause(exc.retry_after)
                            raise
                except aiohttp.ClientConnectionError:
                    if attempt == attempts:
                        raise
                    await asyncio.sleep(min(1.0, 0.1 * 2 ** (attempt - 1)))
        except TimeoutError:
            raise ApiUnavailable(f"Plug&Pay API timeout on {where}") from None
        except aiohttp.ClientError as exc:
            raise ApiUnavailable(f"Plug&Pay API unreachable on {where}: {type(exc).__name__}") from None
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    async def _read(self, where: str, response: aiohttp.ClientResponse) -> bytes:
        limit = self.max_response_bytes
        too_large = response.content_length is not None and response.content_length > limit
        body, truncated = (b"", True) if too_large else await read_capped(response, limit)
        if truncated:
            response.close()  # the rest is never read: drop the connection
            raise ApiRejected(f"Plug&Pay answer larger than {limit} bytes on {where} (plugandpay.max_response_bytes)")
        return body

    @staticmethod
    def _decode(where: str, status: int, retry_after: str | None, body: bytes) -> Any:
        if status == 404:
            raise NotFound(f"Plug&Pay API: {where.split(' ', 1)[1]} not found (404)")
        if is_transient(status):
            raise ApiUnavailable(f"Plug&Pay API answered {status} on {where}", parse_retry_after(retry_after))
        if status in (401, 403):
            # An operator fixes the token and reloads; the events wait for that instead of failing.
            raise ApiUnavailable(f"Plug&Pay API answered {status} on {where}: check plugandpay.api_token")
        if 300 <= status < 400:
            raise ApiRejected(
                f"Plug&Pay API answered {status} on {where} (a redirect usually means a wrong Accept header or api_url)"
            )
        if status >= 400:
            detail = body[:200].decode(errors="replace")
            raise ApiRejected(f"Plug&Pay API answered {status} on {where}: {detail}", status, detail)
        if status == 204:
            return None
        try:
            return jsontext.loads(body)
        except ValueError:
            raise ApiUnavailable(f"Plug&Pay API sent a body that is not JSON on {where}") from None

    async def list_pages(
        self,
        path: str,
        params: dict[str, str] | None = None,
        *,
        limit: int = LIST_LIMIT,
        max_pages: int = MAX_LIST_PAGES,
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Every page of a list endpoint, one list of objects at a time, with ``page``/``limit``.

        Stops at ``meta.last_page``, at ``links.next`` being null, or at an empty or short page, whichever
        the answer shows first: the paginator's shape is seen only in third-party code (research notes §1.3).
        Nothing in an answer can make it ask for ever: a page that repeats an earlier one or brings no new
        object, more pages than ``meta.total`` justifies, or more than ``max_pages`` raise ``ListingStopped``;
        past ``FREE_PAGES`` pages it slows to one page per ``LIST_PACE`` seconds, and a page answered 429 is
        asked again once the API's ``Retry-After`` has passed.
        """
        bounds = PageBounds(path, max_pages)
        page = 1
        while True:
            bounds.before(page)
            if page > FREE_PAGES and self.limiter.rate is None:
                await asyncio.sleep(LIST_PACE)
            decoded = await self._page(path, {**(params or {}), "page": str(page), "limit": str(limit)})
            data = decoded.get("data") if isinstance(decoded, dict) else None
            if not isinstance(data, list):
                raise ApiRejected(f"Plug&Pay API list {path} has no 'data' list")
            objects = [obj for obj in data if isinstance(obj, dict)]
            bounds.check(page, objects, decoded)
            if objects:
                yield objects
            if not _has_next(decoded, page, len(data), limit):
                return
            page += 1

    async def _page(self, path: str, params: dict[str, str]) -> Any:
        for attempt in range(1, MAX_PAGE_RETRIES + 1):
            try:
                return await self.call("GET", path, params)
            except ApiUnavailable as exc:
                wait = exc.retry_after
                if wait is None or wait > MAX_HONOURED_WAIT or attempt == MAX_PAGE_RETRIES:
                    raise
                await asyncio.sleep(wait)  # the limiter is paused as long; this page waits its turn too
        raise AssertionError("unreachable")  # pragma: no cover

    async def tenant(self) -> dict[str, Any]:
        """``GET /v2/auth/tenants/me``: ``{id, name, plan}`` of the shop the token belongs to."""
        decoded = await self.call("GET", "/v2/auth/tenants/me")
        data = decoded.get("data") if isinstance(decoded, dict) else None
        if not isinstance(data, dict) or data.get("id") is None:
            raise ApiRejected("Plug&Pay API: /v2/auth/tenants/me has no tenant id")
        return data

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


def _has_next(decoded: dict[str, Any], page: int, count: int, limit: int) -> bool:
    if count == 0:
        return False
    meta, links = decoded.get("meta"), decoded.get("links")
    if isinstance(meta, dict) and isinstance(meta.get("last_page"), int):
        return page < int(meta["last_page"])
    if isinstance(links, dict) and "next" in links:
        return bool(links["next"])
    per_page = meta.get("per_page") if isinstance(meta, dict) else None
    return count >= (per_page if isinstance(per_page, int) else limit)


class PageBounds:
    """What one listing has seen, to tell a server whose pagination goes wrong from a long list."""

    def __init__(self, path: str, max_pages: int):
        self.path = path
        self.max_pages = max_pages
        self.ids: set[str] = set()
        self.pages: set[int] = set()  # fingerprints of the pages seen

    def before(self, page: int) -> None:
        if page > self.max_pages:
            raise ListingStopped(f"listing {self.path} stopped before page {page}: more than {self.max_pages} pages")

    def check(self, page: int, objects: list[dict[str, Any]], decoded: Any) -> None:
        where = f"listing {self.path} stopped at page {page}"
        meta = decoded.get("meta") if isinstance(decoded, dict) else None
        total = meta.get("total") if isinstance(meta, dict) else None
        if isinstance(total, int) and page > 1 and (page - 1) * max(1, len(objects)) > total + len(objects):
            raise ListingStopped(f"{where}: more pages than meta.total ({total}) can fill")
        if not objects:
            return
        fingerprint = hash(jsontext.dumps(objects))
        if fingerprint in self.pages:
            raise ListingStopped(f"{where}: the page repeats an earlier one (does the API ignore 'page'?)")
        self.pages.add(fingerprint)
        ids = {str(obj.get("id")) for obj in objects if obj.get("id") is not None}
        if ids and ids <= self.ids:
            raise ListingStopped(f"{where}: the page brings no object not listed before")
        self.ids |= ids
