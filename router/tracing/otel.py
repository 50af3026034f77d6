"""The OpenTelemetry backend of ``router.tracing.spans``: the only module that imports OpenTelemetry.

``Backend.from_config`` builds the SDK's tracer provider (``service.name``, a parent-based ratio sampler) with
one batch processor and the OTLP/HTTP exporter (or the console one). The batch processor exports on a thread
of its own and drops spans when its queue is full, so a collector that is down never slows a stage; its
failures are told once per outage (``Told``), not once per batch. Spans are parented by a W3C traceparent
(what the store keeps) or by this task's current span, a ``ContextVar`` of this module. A span's
``outbound`` lends it to ``toolkit.outbound`` as the watch of the requests made inside: each carries the
span's ``traceparent`` and leaves its method, URL and status on it. The URL is shown as origin and path only
(no query, no user info), with every secret of the config masked: a chat webhook's URL is its credential.
A failure's reason is masked like a log line (secrets, and e-mail addresses as ``b***@example.nl``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar, Token
from types import TracebackType
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import structlog
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from router.logs import mask_addresses
from router.secrets import Masker, masker
from router.tracing import names
from toolkit.outbound import WATCH, Watch

if TYPE_CHECKING:
    from router.config.model import TracingConfig

log = structlog.get_logger("router.tracing")
KINDS = {
    "internal": SpanKind.INTERNAL,
    "server": SpanKind.SERVER,
    "client": SpanKind.CLIENT,
    "consumer": SpanKind.CONSUMER,
}
TRACES_PATH = "/v1/traces"
_CURRENT: ContextVar[Live | None] = ContextVar("router_tracing_current", default=None)


def parent_context(traceparent: str | None) -> Context | None:
    """The context a W3C ``traceparent`` names (version 00), or None for a missing or malformed one."""
    parts = (traceparent or "").split("-")
    if len(parts) != 4 or parts[0] != "00" or len(parts[1]) != 32 or len(parts[2]) != 16 or len(parts[3]) != 2:
        return None
    try:
        trace_id, span_id, flags = int(parts[1], 16), int(parts[2], 16), int(parts[3], 16)
    except ValueError:
        return None
    if not trace_id or not span_id:
        return None
    remote = SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(flags))
    return trace.set_span_in_context(NonRecordingSpan(remote), Context())


def traceparent_of(span: trace.Span) -> str:
    context = span.get_span_context()
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL of a collector's base URL (``http://collector:4318`` + ``/v1/traces``)."""
    base = endpoint.rstrip("/")
    return base if base.endswith(TRACES_PATH) else base + TRACES_PATH


def shown_url(url: str, mask: Masker) -> tuple[str, str | None, int | None]:
    """``url`` as a span shows it (origin and path, secrets masked), its host and its port."""
    parts = urlsplit(url)
    host = parts.hostname
    port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    origin = f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")
    return mask(origin + parts.path), host, port


def url_masker(secrets: frozenset[str]) -> Masker:
    """The config's secrets, and the path of each secret that is a URL (a webhook URL sent to a ``base_url``)."""
    paths = {urlsplit(s).path for s in secrets if s.startswith(("http://", "https://"))}
    return masker(secrets | {p for p in paths if len(p) >= 4})


class Told(SpanExporter):
    """An exporter that tells when exports start failing and when they work again, once each."""

    def __init__(self, inner: SpanExporter, where: str):
        self.inner = inner
        self.where = where
        self.failing = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            result = self.inner.export(spans)
        except Exception:
            result = SpanExportResult.FAILURE
        if result is SpanExportResult.FAILURE and not self.failing:
            self.failing = True
            log.warning("trace export failed: spans are dropped until the collector answers", endpoint=self.where)
        elif result is SpanExportResult.SUCCESS and self.failing:
            self.failing = False
            log.info("trace export works again", endpoint=self.where)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def exporter(config: TracingConfig) -> SpanExporter:
    if config.exporter == "console":
        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    # The exporter's own line per failed batch (and per retry) would flood the log: Told says it once.
    logging.getLogger("opentelemetry.exporter").setLevel(logging.CRITICAL)
    endpoint = traces_url(config.otlp_endpoint) if config.otlp_endpoint else None
    return OTLPSpanExporter(endpoint=endpoint)  # None: OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT


class Backend:
    """Spans through one SDK tracer provider."""

    def __init__(
        self,
        provider: TracerProvider,
        on_error: Callable[[BaseException], None],
        secrets: frozenset[str] = frozenset(),
    ):
        self.provider = provider
        self.tracer = provider.get_tracer("plugpay-router")
        self.on_error = on_error
        self.mask = url_masker(secrets)

    @classmethod
    def from_config(
        cls, config: TracingConfig, secrets: frozenset[str], on_error: Callable[[BaseException], None]
    ) -> Backend:
        sampler = None if config.sample_ratio is None else ParentBased(TraceIdRatioBased(config.sample_ratio))
        provider = TracerProvider(
            resource=Resource.create({"service.name": config.service_name}),
            sampler=sampler,  # None: OTEL_TRACES_SAMPLER, by default every trace
            shutdown_on_exit=False,  # the daemon flushes on stop, bounded (``spans.stop``)
        )
        where = config.otlp_endpoint or config.exporter
        provider.add_span_processor(BatchSpanProcessor(Told(exporter(config), where)))
        return cls(provider, on_error, secrets)

    def span(self, name: str, parent: str | None, kind: str) -> Live:
        if parent is not None:
            context = parent_context(parent)
        else:
            current = _CURRENT.get()
            context = None if current is None else trace.set_span_in_context(current.span, Context())
        started = self.tracer.start_span(name, context=context or Context(), kind=KINDS[kind])
        return Live(self, started)

    def current(self) -> Live | None:
        return _CURRENT.get()

    def set_secrets(self, secrets: frozenset[str]) -> None:
        self.mask = url_masker(secrets)

    def shutdown(self) -> None:
        self.provider.shutdown()


class Live:
    """One span of the SDK, as ``router.tracing.spans.Span``. Attributes are gathered and handed to the SDK in
    one call when the span ends (a call per attribute, each under the span's lock, cost twice as much); a span
    the sampler dropped gathers none."""

    def __init__(self, backend: Backend, span: trace.Span):
        self.backend = backend
        self.span = span
        self.recording = span.is_recording()
        self.traceparent: str | None = traceparent_of(span)
        self.attributes: dict[str, str | int | float | bool] = {}
        self._token: Token[Live | None] | None = None

    def __enter__(self) -> Live:
        self._token = _CURRENT.set(self)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        try:
            if self._token is not None:
                _CURRENT.reset(self._token)
            if isinstance(exc, Exception):  # not a cancellation, nor the render's LeaveTheLoop
                self.span.record_exception(exc)
                self.fail(str(exc), type(exc).__name__)
            if self.attributes:
                self.span.set_attributes(self.attributes)
            self.span.end()
        except Exception as failure:
            self.backend.on_error(failure)

    def set(self, key: str, value: str | int | float | bool) -> None:
        if self.recording:
            self.attributes[key] = value

    def fail(self, reason: str, kind: str = "") -> None:
        if not self.recording:
            return
        try:
            shown = mask_addresses(self.backend.mask(reason))  # as the logs show an error
            self.span.set_status(Status(StatusCode.ERROR, shown[:300]))
            if kind:
                self.set(names.ERROR_TYPE, kind)
        except Exception as failure:
            self.backend.on_error(failure)

    def outbound(self, propagate: bool = True) -> Outbound:
        return Outbound(self, propagate)

    def http(self, method: str, url: str, status: int | None) -> None:
        """What one request made inside ``outbound`` was: the last one's stays on the span."""
        if not self.recording:
            return
        shown, host, port = shown_url(url, self.backend.mask)
        self.set(names.HTTP_METHOD, method)
        self.set(names.URL_FULL, shown)
        if host:
            self.set(names.SERVER_ADDRESS, host)
        if port:
            self.set(names.SERVER_PORT, port)
        if status is not None:
            self.set(names.HTTP_STATUS, status)


class Outbound(Watch):
    """The ``toolkit.outbound`` watch of one span while its work makes HTTP requests."""

    def __init__(self, live: Live, propagate: bool):
        self.live = live
        self._headers = {"traceparent": live.traceparent or ""} if propagate else {}
        self._token: Token[Watch | None] | None = None

    @property
    def headers(self) -> Mapping[str, str]:
        return self._headers

    def sent(self, method: str, url: str, status: int | None) -> None:
        self.live.http(method, url, status)

    def __enter__(self) -> Outbound:
        self._token = WATCH.set(self)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            WATCH.reset(self._token)
