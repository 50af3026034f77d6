"""One trace per event, across stages and processes: a real daemon exports OTLP/HTTP to a recording collector.

A webhook's trace holds its receive span (the root), the route span under it, the Plug&Pay fetch and one render
span per matched rule under that, and one span per delivery attempt, whose ``traceparent`` the destination
receives. The traceparents are stored with the event and its deliveries, so an attempt made by another daemon
process after a restart still joins the same trace. The collector decodes the protobuf with opentelemetry-proto.
"""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from router.demo.sandbox import SandboxServer
from router.demo.standins import serve_app
from router.demo.standins.sink import HttpSink, Reply
from tests.support import DaemonProcess, base_config, reserved_port, wait_until, webhook_body

SECOND_RULE = """  - name: thanks
    trigger: order_paid
    actions:
      - {connector: sink, path: /thanks, json: {order: "{{ order.id }}"}}
"""
# Spans leave the daemon's batch processor every 100 ms instead of every 5 s.
FAST_EXPORT = {"OTEL_BSP_SCHEDULE_DELAY": "100"}
KIND_SERVER, KIND_CLIENT, KIND_CONSUMER = 2, 3, 5  # opentelemetry.proto.trace.v1.Span.SpanKind


@dataclass(frozen=True)
class Spanned:
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    kind: int
    attributes: dict[str, Any]
    service: str

    @property
    def ids(self) -> tuple[str, str]:
        """The (trace id, parent id) a request sent under this span names in its ``traceparent``."""
        return self.trace_id, self.span_id


def _value(value: AnyValue) -> Any:
    return getattr(value, value.WhichOneof("value") or "string_value")


@dataclass
class Collector:
    """An OTLP/HTTP receiver: every span POSTed to ``/v1/traces``, decoded."""

    spans: list[Spanned] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> Collector:
        app = web.Application()
        app.router.add_post("/v1/traces", self._traces)
        self._runner, self.url = await serve_app(app, "127.0.0.1", 0)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _traces(self, request: web.Request) -> web.Response:
        body = await request.read()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        export = ExportTraceServiceRequest.FromString(body)
        for resource in export.resource_spans:
            service = {a.key: _value(a.value) for a in resource.resource.attributes}.get("service.name", "")
            for scope in resource.scope_spans:
                for span in scope.spans:
                    self.spans.append(
                        Spanned(
                            span.name,
                            span.trace_id.hex(),
                            span.span_id.hex(),
                            span.parent_span_id.hex(),
                            span.kind,
                            {a.key: _value(a.value) for a in span.attributes},
                            service,
                        )
                    )
        answer = ExportTraceServiceResponse().SerializeToString()
        return web.Response(body=answer, content_type="application/x-protobuf")

    def named(self, name: str) -> list[Spanned]:
        return [s for s in self.spans if s.name == name]


@pytest.fixture
async def collector() -> AsyncIterator[Collector]:
    server = await Collector().start()
    yield server
    await server.stop()


def traced_daemon(
    factory: Any, api: SandboxServer, sink: HttpSink, collector: Collector, tmp_path: Any, **env: str
) -> DaemonProcess:
    port = reserved_port()
    text = base_config(api_url=api.url, sink_url=sink.url, db=tmp_path / "router.db", port=port, schedule="[1s]")
    text += SECOND_RULE + f'tracing: {{otlp_endpoint: "{collector.url}", service_name: shop-router}}\n'
    made = factory(text, env={**FAST_EXPORT, **env})
    return DaemonProcess(made.config_path, port, made.env)


def traced(request: Any) -> tuple[str, str]:
    """The trace id and parent span id of a request's W3C ``traceparent`` (version 00, sampled)."""
    value = next(v for k, v in request.headers.items() if k.lower() == "traceparent")
    version, trace_id, parent_id, flags = value.split("-")
    assert version == "00" and int(flags, 16) & 1, value
    return trace_id, parent_id


async def test_one_webhook_gives_one_trace_from_receive_to_each_delivery_attempt(
    daemon_factory, any_order_api, sink, collector, tmp_path
) -> None:
    daemon = traced_daemon(daemon_factory, any_order_api, sink, collector, tmp_path).start()
    answer = await daemon.post(webhook_body(ident=1042))
    assert answer.status_code == 202
    event_id = answer.json()["event_id"]
    requests = await sink.wait_for(2)

    async def exported() -> bool:
        return len(collector.named("deliver")) == 2 and len(collector.named("receive")) == 1

    await wait_until(exported, 10, "the trace of the webhook")
    [receive] = collector.named("receive")
    [route] = collector.named("route")
    [fetch] = collector.named("fetch")
    renders = {s.attributes["plugpay_router.rule"]: s for s in collector.named("render")}
    attempts = {s.attributes["plugpay_router.rule"]: s for s in collector.named("deliver")}
    assert {s.trace_id for s in collector.spans} == {receive.trace_id}  # one trace, nothing else
    assert {s.service for s in collector.spans} == {"shop-router"}

    assert receive.parent_id == "" and receive.kind == KIND_SERVER
    assert route.parent_id == receive.span_id and route.kind == KIND_CONSUMER
    assert fetch.parent_id == route.span_id and fetch.kind == KIND_CLIENT
    assert set(renders) == {"welcome", "thanks"} and all(r.parent_id == route.span_id for r in renders.values())
    assert set(attempts) == {"welcome", "thanks"}
    assert all(a.parent_id == route.span_id and a.kind == KIND_CLIENT for a in attempts.values())

    assert receive.attributes["messaging.system"] == "plugandpay"
    assert receive.attributes["messaging.destination.name"] == "order_paid"
    assert receive.attributes["messaging.message.id"] == str(event_id)
    assert receive.attributes["http.request.method"] == "POST"
    assert receive.attributes["http.response.status_code"] == 202
    assert route.attributes["messaging.operation.type"] == "process"
    assert route.attributes["plugpay_router.outcome"] == "routed"
    assert fetch.attributes["http.request.method"] == "GET"
    assert fetch.attributes["url.full"] == f"{any_order_api.url}/v2/orders/1042"  # no query: the includes stay out
    assert fetch.attributes["server.address"] == "127.0.0.1"
    assert fetch.attributes["http.response.status_code"] == 200
    welcome = attempts["welcome"].attributes
    assert welcome["http.request.method"] == "POST" and welcome["url.full"] == f"{sink.url}/welcome"
    assert welcome["http.response.status_code"] == 200 and welcome["server.port"] == int(sink.url.rsplit(":", 1)[1])
    assert welcome["plugpay_router.connector"] == "sink" and welcome["plugpay_router.attempt"] == 1
    assert welcome["plugpay_router.outcome"] == "delivered"

    # Each destination can join the trace: the traceparent it got is its own attempt's span.
    sent = {request.path: traced(request) for request in requests}
    assert sent == {"/welcome": attempts["welcome"].ids, "/thanks": attempts["thanks"].ids}
    assert daemon.stop() == 0


async def test_an_attempt_made_by_another_process_after_a_restart_joins_the_same_trace(
    daemon_factory, any_order_api, sink, collector, tmp_path
) -> None:
    sink.replies = [Reply(503), Reply(503)]  # both first attempts fail: their retries fall to the next process
    # No export on a timer: every span reaches the collector through the flush of a clean stop.
    daemon = traced_daemon(daemon_factory, any_order_api, sink, collector, tmp_path, OTEL_BSP_SCHEDULE_DELAY="60000")
    daemon.start()
    assert (await daemon.post(webhook_body(ident=2042))).status_code == 202
    await sink.wait_for(2)
    await daemon.wait_log("delivery failed, will retry", rule="welcome")
    await daemon.wait_log("delivery failed, will retry", rule="thanks")
    assert collector.spans == []
    assert await asyncio.to_thread(daemon.stop) == 0  # off this loop: the collector answers the flush
    first = len(collector.spans)
    assert sorted(s.name for s in collector.spans) == [
        "deliver",
        "deliver",
        "fetch",
        "receive",
        "render",
        "render",
        "route",
    ]

    daemon.start()  # a new process, the same store: it makes the second attempts
    retried = await sink.wait_for(4)
    await daemon.wait_log("delivered", rule="welcome")
    await daemon.wait_log("delivered", rule="thanks")
    assert await asyncio.to_thread(daemon.stop) == 0
    [route] = collector.named("route")
    later = collector.spans[first:]
    assert [s.name for s in later] == ["deliver", "deliver"]  # the restart routed nothing again
    assert {s.trace_id for s in collector.spans} == {route.trace_id}
    assert all(s.parent_id == route.span_id for s in later)
    assert sorted(s.attributes["plugpay_router.attempt"] for s in later) == [2, 2]
    failed = [s for s in collector.named("deliver") if s.attributes["plugpay_router.attempt"] == 1]
    assert {s.attributes["plugpay_router.outcome"] for s in failed} == {"retry"}
    assert {s.attributes["http.response.status_code"] for s in failed} == {503}
    assert {traced(r) for r in retried[2:]} == {s.ids for s in later}


async def test_a_collector_that_is_down_slows_no_delivery_and_is_told_once(
    daemon_factory, any_order_api, sink, tmp_path
) -> None:
    nobody = Collector(url=f"http://127.0.0.1:{reserved_port()}")  # reserved, never listening
    # Each export gives up after a second (the exporter's default is 10 s of retries).
    daemon = traced_daemon(daemon_factory, any_order_api, sink, nobody, tmp_path, OTEL_EXPORTER_OTLP_TRACES_TIMEOUT="1")
    daemon.start()
    for ident in (3001, 3002, 3003):
        assert (await daemon.post(webhook_body(ident=ident))).status_code == 202
    await sink.wait_for(6)  # every delivery made, spans or not
    await daemon.wait_log("trace export failed: spans are dropped until the collector answers")
    started = time.monotonic()
    assert daemon.stop() == 0
    assert time.monotonic() - started < 10  # the flush at exit is bounded
    told = [e for e in daemon.log_events() if e.get("event", "").startswith("trace export failed")]
    assert len(told) == 1, told
