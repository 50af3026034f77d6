"""Tracing in process: off, the facade is one shared null span and the whole pipeline imports nothing of
OpenTelemetry (checked in a fresh interpreter); on (the SDK's in-memory exporter), the route stage's spans
continue the stored traceparent, each matched rule renders in its own span, and each delivery attempt is a client
span whose traceparent rides along on the HTTP request it makes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from connectors.base import ConnectorDefaults
from router.config import parse_config
from router.delivery.deliver import Deliverer
from router.delivery.live_connectors import Connectors
from router.demo.standins.sink import HttpSink, Reply
from router.routing.route import Router, plan
from router.store.base import DeliveryRecord, EventRecord, RouteResult
from router.store.status import DeliveryStatus, EventStatus
from router.tracing import otel, spans
from tests.rules_support import event, order
from toolkit.outbound import WATCH

ROOT = Path(__file__).resolve().parents[2]
RECEIVED = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"  # a stored receive span's traceparent
RULES = """version: 1
plugandpay: {{allow_unsigned: true, api_url: "http://127.0.0.1:9"}}
connectors: {{sink: {{type: http, base_url: "{sink}"}}}}
rules:
  - name: welcome
    trigger: order_paid
    actions: [{{connector: sink, path: /welcome, json: {{id: "{{{{ order.id }}}}"}}}}]
  - {{name: thanks, trigger: order_paid, actions: [{{connector: sink, path: /thanks}}]}}
  - {{name: refunds, trigger: order_refunded, actions: [{{connector: sink, path: /refunds}}]}}
"""

# The fresh interpreter's run: the daemon's modules, a config with and one without a tracing section, and the
# pipeline's pieces with tracing off (a webhook's event stored, routed against a stand-in API, delivered to a
# port where nothing listens).
PIPELINE = """
import asyncio, json, sys, tempfile, time
from pathlib import Path
import router.daemon
from connectors.base import ConnectorDefaults
from router.config import parse_config
from router.delivery.deliver import Deliverer
from router.delivery.live_connectors import Connectors
from router.routing.route import Router
from router.store.sqlite import SqliteStore
from router.tracing import spans
from tests.rules_support import event, order

text = {rules!r}
parse_config(text + "tracing: {{otlp_endpoint: 'http://127.0.0.1:4318'}}\\n", "shop.yaml", {{}})  # what check does
config = parse_config(text, "shop.yaml", {{}})

class Api:
    async def fetch_optional(self, kind, ident, extra=()):
        return order(), ()

async def main():
    assert not spans.start(config.tracing)
    with spans.span("anything", parent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01") as span:
        assert span is spans.NULL and spans.current_traceparent() is None
    store = SqliteStore(Path(tempfile.mkdtemp()) / "r.db")
    await store.open()
    await store.add_event(event("order_paid", 1042), dedupe_window=60, now=time.time())
    router = Router(store, lambda: (config, Api()), "me", on_routed=lambda: None)
    for record in await store.claim_events("me", 10, 30, time.time()):
        await router.handle(record)
    deliverer = Deliverer(store, lambda: (config, Connectors(config.connectors, ConnectorDefaults(timeout=2))), "me")
    claimed = await store.claim_deliveries("me", 10, 30, time.time())
    for record in claimed:
        await deliverer.handle(record)
    events = await store.list_events()
    await store.close()
    loaded = sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry")
    print(json.dumps({{"otel": loaded, "deliveries": len(claimed), "traces": [e.trace for e in events]}}))

asyncio.run(main())
"""


def test_with_tracing_off_the_pipeline_imports_no_opentelemetry() -> None:
    script = PIPELINE.format(rules=RULES.format(sink="http://127.0.0.1:9"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    ran = json.loads(result.stdout.splitlines()[-1])
    assert ran["deliveries"] == 2 and ran["traces"] == [None]  # the pipeline ran; nothing was traced
    assert ran["otel"] == []


def test_the_null_span_is_one_shared_object_that_does_nothing() -> None:
    with spans.span("receive", kind="server") as span:
        assert span is spans.NULL and spans.span("route", parent=RECEIVED) is spans.NULL
        assert not span.recording and span.traceparent is None and spans.current() is spans.NULL
        span.set("plugpay_router.rule", "welcome")
        span.fail("nothing happened")
        with span.outbound():
            assert WATCH.get() is None  # no request is changed


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    spans.install(otel.Backend(provider, on_error=spans.broken, secrets=frozenset({"s3cr3t-path-token"})))
    yield exporter
    spans.install(None)
    provider.shutdown()


@pytest.fixture
async def sink() -> AsyncIterator[HttpSink]:
    server = await HttpSink().start()
    yield server
    await server.stop()


class Api:
    async def fetch_optional(self, kind: str, ident: str, extra: tuple[str, ...] = ()) -> tuple[dict, tuple]:
        return order(), ()


class Store:
    """What the stages store: the route's result and each attempt."""

    def __init__(self) -> None:
        self.routes: list[RouteResult] = []
        self.attempts: list[Any] = []

    async def complete_route(self, event_id: int, owner: str, result: RouteResult, now: float) -> int:
        self.routes.append(result)
        return len(result.deliveries)

    async def finish_attempt(self, delivery_id: int, owner: str, attempt: Any, next_at: float | None) -> None:
        self.attempts.append(attempt)


def hexed(value: int, width: int) -> str:
    return f"{value:0{width}x}"


async def test_route_spans_continue_the_stored_traceparent_with_a_render_span_per_rule(exported, sink) -> None:
    config = parse_config(RULES.format(sink=sink.url), "shop.yaml", {})
    store = Store()
    router = Router(store, lambda: (config, Api()), "me", on_routed=lambda: None)  # type: ignore[arg-type]
    record = EventRecord(7, event("order_paid", 1042), EventStatus.PENDING, time.time(), trace=RECEIVED)
    await router.handle(record)  # type: ignore[arg-type]
    by_name = {s.name: s for s in exported.get_finished_spans()}
    route, fetch = by_name["route"], by_name["fetch"]
    renders = [s for s in exported.get_finished_spans() if s.name == "render"]
    assert hexed(route.context.trace_id, 32) == RECEIVED.split("-")[1]
    assert route.parent is not None and hexed(route.parent.span_id, 16) == RECEIVED.split("-")[2]
    assert route.kind == SpanKind.CONSUMER and route.attributes["plugpay_router.outcome"] == "routed"
    assert route.attributes["messaging.message.id"] == "7" and route.attributes["plugpay_router.deliveries"] == 2
    assert fetch.parent is not None and fetch.parent.span_id == route.context.span_id
    # Each matched rule has its render span (a plan that outgrows its turn on the event loop is rendered again on
    # the render thread, and then shows a rule's render twice: a slow machine does that here now and then).
    assert sorted({s.attributes["plugpay_router.rule"] for s in renders}) == ["thanks", "welcome"]
    assert all(s.parent is not None and s.parent.span_id == route.context.span_id for s in renders)
    [routed] = store.routes
    assert routed.trace == f"00-{hexed(route.context.trace_id, 32)}-{hexed(route.context.span_id, 16)}-01"


async def test_a_delivery_attempt_is_a_client_span_whose_traceparent_the_request_carries(exported, sink) -> None:
    config = parse_config(RULES.format(sink=f"{sink.url}/s3cr3t-path-token"), "shop.yaml", {})
    made = plan(event("order_paid", 1042), order(), config).deliveries[0]
    route_trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    now = time.time()
    record = DeliveryRecord(
        3, 7, made.rule, 0, made.connector, made.action_key, made.delivery_key, made.request, (5.0,),
        DeliveryStatus.PENDING, 0, now, now, now, trace=route_trace,
    )  # fmt: skip
    sink.replies = [Reply(503)]
    store = Store()
    connectors = Connectors(config.connectors, ConnectorDefaults(timeout=2))
    deliverer = Deliverer(store, lambda: (config, connectors), "me")  # type: ignore[arg-type]
    await deliverer.handle(record)  # type: ignore[arg-type]
    await connectors.aclose()
    [attempt] = [s for s in exported.get_finished_spans() if s.name == "deliver"]
    assert attempt.name == "deliver" and attempt.kind == SpanKind.CLIENT
    assert attempt.parent is not None and hexed(attempt.parent.span_id, 16) == route_trace.split("-")[2]
    assert attempt.attributes["plugpay_router.rule"] == "welcome"
    assert attempt.attributes["plugpay_router.connector"] == "sink"
    assert attempt.attributes["plugpay_router.attempt"] == 1
    assert attempt.attributes["plugpay_router.outcome"] == "retry"
    assert attempt.attributes["http.request.method"] == "POST"
    assert attempt.attributes["http.response.status_code"] == 503
    assert attempt.attributes["url.full"] == f"{sink.url}/***/welcome"  # a secret in the URL is masked
    assert attempt.status.status_code == StatusCode.ERROR
    [request] = sink.requests
    sent = request.headers["traceparent"].split("-")
    assert sent[1:3] == [hexed(attempt.context.trace_id, 32), hexed(attempt.context.span_id, 16)]


def test_a_collector_base_url_gets_the_traces_path_once() -> None:
    assert otel.traces_url("http://collector:4318") == "http://collector:4318/v1/traces"
    assert otel.traces_url("http://collector:4318/v1/traces") == "http://collector:4318/v1/traces"
    assert otel.parent_context("00-" + "0" * 32 + "-b7ad6b7169203331-01") is None  # an invalid trace id
    assert otel.parent_context("not a traceparent") is None
