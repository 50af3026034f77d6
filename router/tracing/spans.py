"""The tracing facade the stages call: a span around a piece of work, and the W3C traceparent of the current one.

While tracing is off, ``span`` and ``current`` hand out one shared null span: a traced stage costs a function
call, allocates nothing and imports nothing of OpenTelemetry. ``start`` (the daemon, once) loads
``router.tracing.otel`` when the config asks for traces and installs its backend; ``stop`` flushes what is
still queued on a thread of its own, for a bounded time. A span's ``parent`` is a stored ``traceparent``
(route picking up what receive stored, deliver what route stored, maybe in another process) or, left out,
this task's current span (a root where there is none). A failure of the backend never reaches a stage: it is
logged once and the work goes on with that span lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from contextlib import AbstractContextManager
from types import TracebackType
from typing import TYPE_CHECKING, Literal, Protocol

import structlog

if TYPE_CHECKING:
    from router.config.model import TracingConfig

log = structlog.get_logger("router.tracing")
Kind = Literal["internal", "server", "client", "consumer"]
Value = str | int | float | bool
STOP_TIMEOUT = 5.0  # seconds ``stop`` waits for the last spans to leave; a collector that is down gets no more


class Span(Protocol):
    """One traced piece of work (a context manager: entering makes it this task's current span)."""

    @property
    def recording(self) -> bool:
        """Whether attributes set on it go anywhere (False for the null span: skip costly ones)."""

    @property
    def traceparent(self) -> str | None:
        """Its W3C ``traceparent`` (None while tracing is off): what the store keeps for the next stage."""

    def set(self, key: str, value: Value) -> None: ...

    def fail(self, reason: str, kind: str = "") -> None:
        """Mark it failed (error status) with ``reason``; ``kind`` is its ``error.type``."""

    def outbound(self, propagate: bool = True) -> AbstractContextManager[object]:
        """While inside, HTTP requests made through ``toolkit`` report to this span (``toolkit.outbound``) and,
        with ``propagate``, carry its ``traceparent``."""

    def __enter__(self) -> Span: ...

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class Backend(Protocol):
    def span(self, name: str, parent: str | None, kind: Kind) -> Span: ...

    def current(self) -> Span | None: ...

    def set_secrets(self, secrets: frozenset[str]) -> None: ...

    def shutdown(self) -> None:
        """Export what is queued and stop (blocking)."""


class _Null:
    """The span of untraced work: every method does nothing; one instance serves every call."""

    __slots__ = ()
    recording = False
    traceparent = None

    def __enter__(self) -> _Null:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def set(self, key: str, value: Value) -> None:
        return None

    def fail(self, reason: str, kind: str = "") -> None:
        return None

    def outbound(self, propagate: bool = True) -> _Null:
        return self


NULL = _Null()
_backend: Backend | None = None
_told = False


def span(name: str, *, parent: str | None = None, kind: Kind = "internal") -> Span:
    """A span named ``name``, child of ``parent`` (a traceparent) or of this task's current span."""
    backend = _backend
    if backend is None:
        return NULL
    try:
        return backend.span(name, parent, kind)
    except Exception as exc:
        broken(exc)
        return NULL


def current() -> Span:
    """This task's innermost open span (the null span when there is none)."""
    backend = _backend
    if backend is None:
        return NULL
    return backend.current() or NULL


def current_traceparent() -> str | None:
    return current().traceparent


def broken(exc: BaseException) -> None:
    """A tracing failure: told once per process, never raised."""
    global _told
    if not _told:
        _told = True
        log.warning("tracing failed: the work goes on, its spans may be lost", error=repr(exc)[:300])


def install(backend: Backend | None) -> None:
    """Make ``backend`` the one spans go to (None: tracing off). ``start`` does this; tests pass their own."""
    global _backend
    _backend = backend


def start(config: TracingConfig, secrets: frozenset[str] = frozenset()) -> bool:
    """Turn tracing on when ``config`` asks for it; True when it is on. A missing extra is logged, not raised:
    ``check`` and ``serve`` refuse a config whose ``tracing:`` section cannot work before this."""
    if not config.enabled or _backend is not None:
        return _backend is not None
    try:
        from router.tracing import otel  # the one import of OpenTelemetry

        install(otel.Backend.from_config(config, secrets, on_error=broken))
    except Exception as exc:
        log.error("tracing could not start: running without traces", error=repr(exc)[:300])
        return False
    log.info("tracing on", endpoint=config.otlp_endpoint, exporter=config.exporter, service=config.service_name)
    return True


def set_secrets(secrets: frozenset[str]) -> None:
    """The secrets no span attribute may show (a reload's, with the old ones)."""
    if _backend is not None:
        _backend.set_secrets(secrets)


async def stop(patience: float = STOP_TIMEOUT) -> None:
    """Export the spans still queued and turn tracing off, waiting at most ``patience`` seconds for it."""
    backend = _backend
    if backend is None:
        return
    install(None)
    loop = asyncio.get_running_loop()
    done = asyncio.Event()

    def flush() -> None:
        try:
            backend.shutdown()
        except Exception as exc:
            broken(exc)
        finally:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(done.set)

    # A daemon thread: a collector that does not answer must not hold up the process's exit.
    threading.Thread(target=flush, name="tracing-flush", daemon=True).start()
    try:
        async with asyncio.timeout(patience):
            await done.wait()
    except TimeoutError:
        log.warning("traces still queued at exit were dropped: the collector did not take them in time")
