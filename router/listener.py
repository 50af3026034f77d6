"""The HTTP listener: aiohttp's server with connection limits, a header-read timeout and quiet accept errors.

aiohttp closes idle keep-alive connections itself (``keepalive_timeout``) but has no deadline for a
request's line and headers, no cap on open connections, and when ``accept()`` fails for lack of file
descriptors asyncio logs a traceback per attempt. ``GuardedSite`` replaces ``TCPSite``: each accepted
connection gets a ``GuardedHandler`` (aiohttp's handler plus a header timer), or, once
``max_connections`` are open, a canned 503 and a close; so does a connection from an address that already
holds ``max_per_address`` of them, so that one address (a slowloris, a flood of idle sockets) cannot take
the slots everybody else needs. ``RateLimitedLog`` turns floods of the same
event (accept errors, timeouts, rejections) into one log line per interval with a count; a malformed
request line or header is counted by kind (``on_protocol_error``, a metric) and logged once a minute per
kind, never as aiohttp's multi-line traceback. The body-read
deadline lives with the code that reads bodies (``router.inbound.receive``).
"""

from __future__ import annotations

import asyncio
import resource
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

log = structlog.get_logger("router.listener")

# File descriptors kept for everything that is not an inbound connection: the store, outbound clients, logs.
FD_RESERVE_MIN = 32
OVERFLOW_LINGER = 1.0  # how long a rejected connection may take to read its 503 before it is closed
OVERFLOW_RESPONSE = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"Content-Type: application/json\r\n"
    b"Retry-After: 5\r\n"
    b"Connection: close\r\n"
    b"Content-Length: 46\r\n"
    b"\r\n"
    b'{"error": "too many open connections; retry"}\n'
)
PER_ADDRESS_RESPONSE = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"Content-Type: application/json\r\n"
    b"Retry-After: 5\r\n"
    b"Connection: close\r\n"
    b"Content-Length: 64\r\n"
    b"\r\n"
    b'{"error": "too many open connections from your address; retry"}\n'
)
ACCEPT_FAILED = "socket.accept() out of system resource"  # asyncio's message for EMFILE / ENFILE / ENOBUFS


@dataclass(frozen=True)
class Limits:
    header_timeout: float = 10.0
    keepalive_timeout: float = 75.0
    max_connections: int = 1000
    max_per_address: int = 250  # 0: no cap per client address


@dataclass
class RateLimitedLog:
    """At most one warning per ``interval`` for each event (and ``key``); the rest are counted into the next line."""

    interval: float = 10.0
    _last: dict[str, float] = field(default_factory=dict)
    _suppressed: dict[str, int] = field(default_factory=dict)

    def warning(self, event: str, key: str = "", **fields: Any) -> None:
        slot = f"{event}\0{key}"
        now = time.monotonic()
        if now - self._last.get(slot, -self.interval) < self.interval:
            self._suppressed[slot] = self._suppressed.get(slot, 0) + 1
            return
        self._last[slot] = now
        log.warning(event, suppressed=self._suppressed.pop(slot, 0), **fields)


# The parse errors aiohttp reports by class; anything else is "other", so the metric's labels stay few.
PROTOCOL_ERRORS = frozenset(
    {
        "BadHttpMessage",
        "BadHttpMethod",
        "BadStatusLine",
        "ContentEncodingError",
        "ContentLengthError",
        "InvalidHeader",
        "InvalidURLError",
        "LineTooLong",
        "TransferEncodingError",
    }
)
PROTOCOL_LOG_EVERY = 60.0


def protocol_error_kind(exc: BaseException) -> str:
    name = type(exc).__name__
    return name if name in PROTOCOL_ERRORS else "other"


def raise_fd_limit(target: int = 65536) -> int:
    """Raise the soft open-file limit towards the hard one (systemd's soft default is 1024); the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = target if hard == resource.RLIM_INFINITY else min(target, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):
            pass
    return soft


def connection_cap(max_connections: int) -> int:
    """``max_connections``, lowered so open connections leave file descriptors for the store and clients."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return max_connections
    return max(1, min(max_connections, soft - max(FD_RESERVE_MIN, soft // 8)))


class GuardedHandler(web.RequestHandler):
    """aiohttp's request handler plus a deadline for a complete request line and headers.

    The timer runs from the moment a connection is accepted until its first request head is parsed, and
    on a kept-alive connection from the first byte of the next request. A connection still waiting for a
    head when it fires is closed (slowloris). Waiting between requests is aiohttp's keep-alive timeout;
    reading a body is the handler's business. The parser's head count (``_request_count``) and the idle
    waiter (``_waiter``, the same test aiohttp's keep-alive uses) are aiohttp internals, pinned by
    tests/system/test_hostile_clients.py.
    """

    def __init__(
        self,
        manager: web.Server,
        *,
        header_timeout: float,
        events: RateLimitedLog,
        live: weakref.WeakSet[GuardedHandler],
        addresses: AddressCounts,
        protocol: ProtocolErrors,
        **kwargs: Any,
    ):
        super().__init__(manager, **kwargs)
        self._protocol = protocol
        self._logged = False
        self._header_timeout = header_timeout
        self._header_timer: asyncio.TimerHandle | None = None
        self._heads = 0
        self._events = events
        self._live = live
        self._addresses = addresses
        self._address: str | None = None  # counted against its address; None: refused, or not yet made
        self._refused: Overflow | None = None
        live.add(self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        if not self._addresses.admit(address):
            self._live.discard(self)
            self._events.warning("connection refused: too many open connections from one address", address=address)
            self._refused = Overflow(self._loop, PER_ADDRESS_RESPONSE)
            self._refused.connection_made(transport)
            return
        self._address = address
        super().connection_made(transport)
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        if self._refused is not None:
            return
        if self._header_timer is None and self._waiting_for_request():
            self._arm_header_timer()
        super().data_received(data)
        if self._request_count != self._heads:  # the parser completed a head (or answered a bad one)
            self._heads = self._request_count
            self._cancel_header_timer()

    def eof_received(self) -> None:
        if self._refused is not None:
            self._refused.eof_received()
            return
        super().eof_received()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._live.discard(self)
        if self._refused is not None:
            return  # aiohttp never saw this connection
        if self._address is not None:
            self._addresses.release(self._address)
            self._address = None
        self._cancel_header_timer()
        super().connection_lost(exc)

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """A request aiohttp could not parse (or a handler that raised): one counted, rate-limited line.

        aiohttp would log a multi-line traceback for each malformed request from anybody on the internet;
        a parse error is the client's, so it is counted by kind and logged at most once a minute per kind,
        and only a handler's own failure is an error line (with its traceback inside the one JSON line).
        """
        if isinstance(exc, HttpProcessingError):
            kind = protocol_error_kind(exc)
            self._protocol.observe(kind)
            self._protocol.log.warning(
                "malformed request refused",
                key=kind,
                kind=kind,
                status=status,
                detail=" ".join(str(exc.message).split())[:200],
            )
        elif exc is not None:
            log.error("request failed", path=request.path, error=f"{type(exc).__name__}: {exc}"[:300], exc_info=exc)
        self._logged = True
        return super().handle_error(request, status, exc, message)

    def log_exception(self, *args: Any, **kw: Any) -> None:
        if self._logged:  # handle_error said it already, in one line
            self._logged = False
            return
        exc = kw.get("exc_info")
        event = str(args[0] % args[1:]) if args else "request handling failed"
        log.error(event, exc_info=exc if isinstance(exc, BaseException) else None)

    def _waiting_for_request(self) -> bool:
        return self._waiter is not None and not self._waiter.done()

    def _arm_header_timer(self) -> None:
        self._header_timer = self._loop.call_later(self._header_timeout, self._header_timed_out)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timed_out(self) -> None:
        self._header_timer = None
        if self._waiting_for_request():
            self._events.warning("connection closed: no complete request head in time", timeout=self._header_timeout)
            self.force_close()


@dataclass
class ProtocolErrors:
    """Where malformed requests are told: a counter by kind, and a log that says each kind once a minute."""

    observe: Callable[[str], None] = lambda kind: None
    log: RateLimitedLog = field(default_factory=lambda: RateLimitedLog(PROTOCOL_LOG_EVERY))


@dataclass
class AddressCounts:
    """Open connections per client address, and whether one more may open (``limit`` 0: always)."""

    limit: int
    _open: dict[str, int] = field(default_factory=dict)

    def admit(self, address: str) -> bool:
        held = self._open.get(address, 0)
        if self.limit and held >= self.limit:
            return False
        self._open[address] = held + 1
        return True

    def release(self, address: str) -> None:
        held = self._open.get(address, 0) - 1
        if held > 0:
            self._open[address] = held
        else:
            self._open.pop(address, None)


class Overflow(asyncio.Protocol):
    """A connection beyond a cap: answer 503, let the client read it briefly, close."""

    def __init__(self, loop: asyncio.AbstractEventLoop, response: bytes = OVERFLOW_RESPONSE):
        self._loop = loop
        self._response = response
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        transport.write(self._response)
        # Closing with the request unread would send a reset that can destroy the 503 in the client's buffer:
        # discard what it sends until it closes, for a moment at most.
        self._loop.call_later(OVERFLOW_LINGER, transport.close)

    def data_received(self, data: bytes) -> None:
        pass

    def eof_received(self) -> bool:
        if self._transport is not None:
            self._transport.close()
        return False


class GuardedSite(web.TCPSite):
    """``TCPSite`` whose connections are ``GuardedHandler``s, or ``Overflow`` beyond the connection cap."""

    def __init__(
        self,
        runner: web.AppRunner,
        host: str,
        port: int,
        limits: Limits,
        *,
        on_protocol_error: Callable[[str], None] | None = None,
        **kwargs: Any,
    ):
        super().__init__(runner, host, port, **kwargs)
        self.limits = limits
        self.protocol_errors = ProtocolErrors(on_protocol_error or (lambda kind: None))
        self.events = RateLimitedLog()
        # Counted from the moment a connection is accepted (aiohttp registers it a step later, so a burst of
        # accepts would all see the old count); weak, so a connection that never got going does not stay.
        self._live: weakref.WeakSet[GuardedHandler] = weakref.WeakSet()
        self.addresses = AddressCounts(limits.max_per_address)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None

        def protocol() -> asyncio.Protocol:
            if len(self._live) >= connection_cap(self.limits.max_connections):
                self.events.warning("connection refused: too many open connections", open=len(self._live))
                return Overflow(loop)
            return GuardedHandler(
                server,
                loop=loop,
                header_timeout=self.limits.header_timeout,
                events=self.events,
                live=self._live,
                addresses=self.addresses,
                protocol=self.protocol_errors,
                **{**server._kwargs, "keepalive_timeout": self.limits.keepalive_timeout},
            )

        self._runner._reg_site(self)
        self._server = await loop.create_server(
            protocol, self._host, self._port, backlog=self._backlog, reuse_address=self._reuse_address
        )

    def loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """Event-loop exception handler: a failed ``accept()`` is one rate-limited line, not a traceback."""
        if context.get("message") == ACCEPT_FAILED:
            exc = context.get("exception")
            self.events.warning("accept failed, out of file descriptors or memory", error=str(exc))
            return
        loop.default_exception_handler(context)
