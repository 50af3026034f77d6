"""The webhook endpoint: check size and type, verify the signature, normalise, store, answer.

The answer is sent only after the event is committed: 202 ``{"event_id"}`` for a new event, 200 with
``"duplicate": true`` for a webhook already stored inside the dedupe window, 503 when the store cannot
commit (Plug&Pay retries), 200 ``{"ignored": "stale"}`` for a webhook sent before the dedupe window (kept,
not routed: see ``router.inbound.stale``). Bad requests get a JSON ``{"error": ...}`` with 400 / 401 / 413 / 415 and
nothing is stored. No network call to anything else happens here. A request that fails verification is
logged with the *names* of its headers (never values), so the real signature scheme can be confirmed
against a live shop. A body that does not arrive within ``server.body_timeout`` gets 408 and the
connection is closed, so a slow sender cannot hold a connection (and a file descriptor) open.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import structlog
from aiohttp import web

from router.config import Config
from router.events import FORM_TYPE, Event, PayloadError, canonical_type, note_unknown_trigger, parse_body
from router.inbound import verify
from router.inbound.selftest import is_selftest
from router.inbound.stale import is_stale
from router.store.base import Store, StoreUnavailable
from router.tracing import describe, names
from router.tracing import spans as tracing

if TYPE_CHECKING:
    from router.inbound.quarantine import Quarantine

log = structlog.get_logger("router.receive")

CLOSE_GRACE = 0.5  # seconds between the FIN after an early answer and the close
JSON_TYPES = ("application/json", "text/json")
V1_ON_V2_PATH = (
    "form posts (legacy V1 webhooks) are not accepted on the signed webhook path: they carry no signature;"
    " set server.v1_path to a secret path and use that URL for V1 webhooks"
)
QUARANTINE_HINT = (
    "kept in the quarantine: fix plugandpay.webhook_key / signature, reload, then run"
    " `plugpay-router quarantine list -c CONFIG` and `plugpay-router quarantine release -c CONFIG`"
)


def error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


async def traced(handle: Callable[[web.Request], Awaitable[web.Response]], request: web.Request) -> web.Response:
    """``handle(request)`` inside the webhook's ``receive`` span (the root of its trace), with its HTTP answer."""
    with tracing.span("receive", kind="server") as span:
        response = await handle(request)
        if span.recording:
            describe.received(span, request, response)
    return response


class Receiver:
    def __init__(
        self,
        store: Store,
        config: Callable[[], Config],
        on_accepted: Callable[[], None],
        observe: Callable[[str, str], None] | None = None,
        quarantine: Quarantine | None = None,
        foreign: Callable[[Event], str | None] | None = None,
    ):
        self.quarantine = quarantine
        self.foreign = foreign  # why a verified webhook is not this shop's (another tenant), when known now
        self.store = store
        self.config = config
        self.on_accepted = on_accepted
        self.observe = observe or (lambda trigger, outcome: None)

    async def _read(self, request: web.Request, limit: int) -> bytes | None:
        if request.content_length is not None:
            if request.content_length > limit:
                return None
            return await request.read()
        chunks = []
        size = 0
        async for chunk in request.content.iter_chunked(16384):
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    async def __call__(self, request: web.Request) -> web.Response:
        return await traced(self._receive, request)

    async def _receive(self, request: web.Request) -> web.Response:
        config = self.config()
        content_type = request.content_type.lower()
        if content_type == FORM_TYPE:
            # Legacy V1 posts are unsigned: never on the signed path (see router.inbound.v1).
            self.observe("", "rejected_content_type")
            return error(415, V1_ON_V2_PATH)
        if content_type not in JSON_TYPES:
            self.observe("", "rejected_content_type")
            return error(415, f"unsupported content type {content_type or 'none'!r}: send application/json")
        body = await self.read_body(request, config)
        if isinstance(body, web.Response):
            return body
        key, header = config.plugandpay.webhook_key, config.plugandpay.signature.header
        if not verify.admits(key, config.plugandpay.allow_unsigned, body, request.headers.get(header)):
            return await self._refuse(request, body, header)
        if is_selftest(body):
            return web.json_response({"selftest": "ok", "verified": bool(key)}, status=200)
        try:
            event = self._parse(body, content_type, config.plugandpay.trigger_aliases)
        except PayloadError as exc:
            self.observe("", "rejected_payload")
            return error(400, str(exc))
        if self.foreign is not None and (why := self.foreign(event)) is not None:
            kept = None if self.quarantine is None else await self.quarantine.keep(request, body)
            log.warning("webhook for another tenant quarantined", reason=why, quarantined=kept, remote=request.remote)
            self.observe(event.trigger, "rejected_tenant")
            return error(403, f"not this shop's webhook: {why}")
        return await self.admit(event, config)

    async def _refuse(self, request: web.Request, body: bytes, header: str) -> web.Response:
        """401 for a request that failed verification; its body is kept in the quarantine."""
        missing = header not in request.headers
        reason = "missing" if missing else "invalid"
        kept = None if self.quarantine is None else await self.quarantine.keep(request, body)
        log.warning(
            "webhook signature missing" if missing else "webhook signature invalid",
            header=header,
            headers_seen=sorted(request.headers.keys()),
            remote=request.remote,
            quarantined=kept,
            hint=QUARANTINE_HINT if kept is not None else None,
        )
        self.observe("", "rejected_signature")
        return error(401, f"{reason} signature: expected header {header} with the HMAC-SHA256 of the body")

    async def read_body(self, request: web.Request, config: Config) -> bytes | web.Response:
        """The body within ``server.max_body_bytes`` and ``server.body_timeout``, or the error response."""
        limit = config.server.max_body_bytes
        try:
            async with asyncio.timeout(config.server.body_timeout):
                body = await self._read(request, limit)
        except TimeoutError:
            self.observe("", "rejected_body_timeout")
            return await _close_with(
                request, error(408, f"the body did not arrive within {config.server.body_timeout}s")
            )
        except ConnectionError:  # the sender left mid-body; nobody reads an answer
            self.observe("", "rejected_body_incomplete")
            return error(400, "the connection closed before the body was complete")
        if body is None:
            self.observe("", "rejected_too_large")
            return error(413, f"body larger than {limit} bytes")
        return body

    async def admit(self, event: Event, config: Config) -> web.Response:
        """Store a verified, parsed event and answer (202, 200 duplicate or stale, 503)."""
        if config.shop:  # the shop whose URL it came to (``shops:``): its key verified it, its rules take it
            event = dataclasses.replace(event, shop=config.shop)
        now, window = time.time(), config.retention.dedupe_window
        stale = is_stale(event.sent_at, now - window)
        span = tracing.current()  # the receive span: its traceparent is the route span's parent
        try:
            accepted = await self.store.add_event(
                event, dedupe_window=window, now=now, stale=stale, trace=span.traceparent
            )
        except StoreUnavailable as exc:
            log.error("store unavailable, answering 503", error=str(exc), trigger=event.trigger)
            self.observe(event.trigger, "store_unavailable")
            return error(503, "the event could not be stored; retry later")
        bound = log.bind(
            event_id=accepted.event_id,
            trigger=event.trigger,
            triggerable=f"{event.triggerable_type}:{event.triggerable_id}",
            rule_id=event.rule_id,
        )
        if span.recording:
            describe.message(span, event, accepted.event_id, "receive")
            span.set(names.OUTCOME, "duplicate" if accepted.duplicate else "stale" if stale else "accepted")
        if accepted.duplicate:
            bound.info("duplicate webhook")
            self.observe(event.trigger, "duplicate")
            return web.json_response({"event_id": accepted.event_id, "duplicate": True}, status=200)
        if stale:
            bound.warning("stale webhook kept, not routed", sent_at=event.sent_at)
            self.observe(event.trigger, "stale")
            return web.json_response({"ignored": "stale", "event_id": accepted.event_id}, status=200)
        self._note_unknown(event, bound)
        bound.info("webhook accepted", source=event.source)
        self.observe(event.trigger, "accepted")
        self.on_accepted()
        return web.Response(body=b'{"event_id": %d}' % accepted.event_id, status=202, content_type="application/json")

    @staticmethod
    def _parse(body: bytes, content_type: str, aliases: Mapping[str, str] | None = None) -> Event:
        return parse_body(body, content_type, aliases)

    @staticmethod
    def _note_unknown(event: Event, bound: Any) -> None:
        """Log what was seen where Plug&Pay's wire format is unverified, so it can be confirmed."""
        note_unknown_trigger(event, bound)
        raw_type = _raw_type(event.payload)
        if raw_type is not None and canonical_type(str(raw_type)) is None:
            bound.warning("unknown triggerable_type", raw_type=str(raw_type), resolved=event.triggerable_type)


async def _close_with(request: web.Request, response: web.Response) -> web.Response:
    """Send ``response`` now, then close the connection without waiting for the rest of the body.

    aiohttp would otherwise keep reading the unread body for its lingering time after answering. The answer
    is followed by a FIN and a short grace before the close: closing at once while the sender still writes
    makes the kernel reset the connection, and a reset can destroy the answer before the sender reads it.
    """
    response.force_close()
    await response.prepare(request)
    await response.write_eof()
    transport = request.transport
    if transport is not None and transport.can_write_eof():
        transport.write_eof()
        await asyncio.sleep(CLOSE_GRACE)  # bounded: the sender reads the answer and the end of it
    request.protocol.force_close()
    return response


def _raw_type(payload: Any) -> Any:
    if not isinstance(payload, dict):
        return None
    inner = payload.get("event")
    if isinstance(inner, dict) and inner.get("triggerable_type") is not None:
        return inner["triggerable_type"]
    return payload.get("triggerable_type")
