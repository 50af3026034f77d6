"""Hostile clients against the real daemon's HTTP side: idle, slow and partial connections are closed in time,
connections past the cap get 503, file-descriptor exhaustion is survived with a quiet log, hostile admin API
input gets a short JSON error, and invented trigger names grow neither the metrics nor the log.

Connections are raw sockets where the attack is in the bytes (a partial head, a trickled body); the
timeouts are shortened through the config so each test takes seconds.
"""

from __future__ import annotations

import asyncio
import json
import resource
import time
from collections.abc import Callable
from typing import Any

import httpx

from router.demo.sandbox import SandboxServer
from router.demo.standins.sink import HttpSink
from tests.admin_support import admin_listen
from tests.support import DaemonProcess, signed_headers, wait_until, webhook_body


def daemon_with(
    daemon_factory: Callable[..., DaemonProcess],
    sandbox: SandboxServer,
    sink: HttpSink,
    server: str = "",
    extra: str = "",
    **kwargs: Any,
) -> DaemonProcess:
    """A started daemon whose ``server:`` mapping gets the extra keys ``server`` (``"a: 1, b: 2"``)."""
    if "admin:" in extra:
        kwargs["admin_port"] = None  # the test brings its own admin section
    daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url, **kwargs)
    text = daemon.config_path.read_text()
    if server:
        text = text.replace("max_body_bytes: 4096}", f"max_body_bytes: 4096, {server}}}")
    daemon.config_path.write_text(text + extra)
    return daemon.start()


async def closed_after(reader: asyncio.StreamReader, limit: float) -> float:
    """Read (and drop) until the server closes the connection; the seconds that took, failing after ``limit``."""
    started = time.monotonic()
    async with asyncio.timeout(limit):
        while await reader.read(65536):
            pass
    return time.monotonic() - started


async def test_idle_kept_alive_connections_are_closed(daemon_factory, sandbox, sink) -> None:
    daemon = daemon_with(daemon_factory, sandbox, sink, "keepalive_timeout: 1s, header_timeout: 30s")
    reader, writer = await asyncio.open_connection("127.0.0.1", daemon.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: router\r\n\r\n")
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    # Kept alive after the answer, then closed for idleness: the keep-alive timeout, not the 30 s header one.
    assert await closed_after(reader, 10) < 8
    writer.close()


async def test_a_connection_with_partial_or_no_headers_is_closed_in_time(daemon_factory, sandbox, sink) -> None:
    daemon = daemon_with(daemon_factory, sandbox, sink, "header_timeout: 1s, keepalive_timeout: 60s")
    reader, writer = await asyncio.open_connection("127.0.0.1", daemon.port)
    writer.write(b"POST /webhooks/plugandpay HTTP/1.1\r\nHost: router\r\n")

    async def trickle() -> None:  # slowloris: a header line now and then never resets the deadline
        for n in range(100):
            await asyncio.sleep(0.2)
            writer.write(b"X-Slow-%d: 1\r\n" % n)

    sender = asyncio.create_task(trickle())
    try:
        assert await closed_after(reader, 10) < 8
    finally:
        sender.cancel()
        writer.close()
    # A connection that never sends a byte gets the same deadline.
    reader, writer = await asyncio.open_connection("127.0.0.1", daemon.port)
    assert await closed_after(reader, 10) < 8
    writer.close()


async def test_a_trickled_body_is_answered_408_and_closed_in_time(daemon_factory, sandbox, sink) -> None:
    daemon = daemon_with(daemon_factory, sandbox, sink, "body_timeout: 1s, keepalive_timeout: 60s")
    reader, writer = await asyncio.open_connection("127.0.0.1", daemon.port)
    writer.write(
        b"POST /webhooks/plugandpay HTTP/1.1\r\nHost: router\r\n"
        b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
    )

    async def trickle() -> None:
        for _ in range(100):
            await asyncio.sleep(0.2)
            writer.write(b" ")

    sender = asyncio.create_task(trickle())
    started = time.monotonic()
    try:
        answer = b""
        async with asyncio.timeout(10):
            while chunk := await reader.read(65536):
                answer += chunk
    finally:
        sender.cancel()
        writer.close()
    assert time.monotonic() - started < 8
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b'"error"' in answer
    # The daemon still takes webhooks.
    assert (await daemon.post(webhook_body())).status_code == 202


async def test_connections_beyond_the_cap_get_503(daemon_factory, sandbox, sink) -> None:
    daemon = daemon_with(daemon_factory, sandbox, sink, "max_connections: 3, header_timeout: 2s")
    idle = [await asyncio.open_connection("127.0.0.1", daemon.port) for _ in range(3)]
    async with httpx.AsyncClient(timeout=5) as client:
        answer = await client.get(f"{daemon.url}/healthz")
    assert answer.status_code == 503
    assert "too many open connections" in answer.json()["error"]
    # The idle ones are closed by the header timeout, which frees their slots for a signed webhook.
    for reader, writer in idle:
        assert await closed_after(reader, 10) < 8
        writer.close()
    assert (await daemon.post(webhook_body())).status_code == 202


async def test_one_address_cannot_take_the_connection_slots_others_need(daemon_factory, sandbox, sink) -> None:
    server = "max_connections: 50, max_connections_per_address: 10, header_timeout: 30s"
    daemon = daemon_with(daemon_factory, sandbox, sink, server)
    idle = [await asyncio.open_connection("127.0.0.1", daemon.port) for _ in range(10)]
    # The address that holds its share gets 503 for one more ...
    async with httpx.AsyncClient(timeout=5) as client:
        answer = await client.get(f"{daemon.url}/healthz")
    assert answer.status_code == 503
    assert "from your address" in answer.json()["error"]
    assert answer.headers["Retry-After"] == "5"
    # ... while another address still has slots: Plug&Pay's webhook is accepted.
    body = webhook_body()
    async with httpx.AsyncClient(timeout=5, transport=httpx.AsyncHTTPTransport(local_address="127.0.0.2")) as other:
        accepted = await other.post(daemon.webhook_url, content=body, headers=signed_headers(body))
    assert accepted.status_code == 202
    # A slot given back is a slot the first address may use again.
    _, writer = idle.pop()
    writer.close()
    await writer.wait_closed()
    async with httpx.AsyncClient(timeout=5) as client:

        async def served() -> bool:
            return (await client.get(f"{daemon.url}/healthz")).status_code == 200

        await wait_until(served, 10, "a freed slot")
    for _, writer in idle:
        writer.close()


async def test_malformed_requests_are_counted_and_logged_once_a_minute_per_kind(daemon_factory, sandbox, sink) -> None:
    listen, admin_url = admin_listen()
    daemon = daemon_with(daemon_factory, sandbox, sink, extra=f'admin: {{listen: "{listen}"}}\n')
    garbage = [
        b"GARBAGE\r\n\r\n",  # not a request line at all
        b"GET /healthz HTTP/1.1\r\nHost: router\r\nNot a header line\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: router\r\nContent-Length: x\r\n\r\n",
    ]
    for _ in range(20):
        for request in garbage:
            reader, writer = await asyncio.open_connection("127.0.0.1", daemon.port)
            writer.write(request)
            head = await reader.read(12)
            assert head.startswith((b"HTTP/1.0 400", b"HTTP/1.1 400")), head
            writer.close()
    async with httpx.AsyncClient(timeout=10) as client:
        metrics = (await client.get(f"{admin_url}/metrics")).text
    counted = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("plugpay_router_protocol_errors_total{")
    )
    assert counted == 60
    log = daemon.log()
    assert "Traceback" not in log
    lines = [line for line in log.splitlines() if line.strip()]
    assert all(line.startswith("{") for line in lines), [line for line in lines if not line.startswith("{")][:3]
    told = [e for e in daemon.log_events() if e["event"] == "malformed request refused"]
    assert 1 <= len(told) <= len(garbage)  # once per kind within the minute, not once per request
    assert len({e["kind"] for e in told}) == len(told)


async def test_file_descriptor_exhaustion_is_logged_quietly_and_survived(daemon_factory, sandbox, sink) -> None:
    daemon = daemon_with(daemon_factory, sandbox, sink, "header_timeout: 1s")
    assert daemon.proc is not None
    resource.prlimit(daemon.proc.pid, resource.RLIMIT_NOFILE, (64, 64))
    attack: list[asyncio.StreamWriter] = []
    for _ in range(150):  # more sockets than the daemon has descriptors
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", daemon.port), 1)
        except (OSError, TimeoutError):
            break
        attack.append(writer)
    await daemon.wait_log("connection refused: too many open connections")
    for writer in attack:
        writer.close()
    # Recovered: once the daemon has seen the attackers go, a signed webhook is accepted ...
    async with httpx.AsyncClient(timeout=10) as client:

        async def serving() -> bool:
            return (await client.get(f"{daemon.url}/healthz")).status_code == 200

        await wait_until(serving, 15, "the daemon to serve again")
        body = webhook_body()
        assert (await client.post(daemon.webhook_url, content=body, headers=signed_headers(body))).status_code == 202
    # ... and the log holds a few rate-limited lines, not a traceback per failed accept().
    log = daemon.log()
    assert "Traceback" not in log
    assert len(log) < 20_000, len(log)
    accept_lines = [e for e in daemon.log_events() if e["event"].startswith("accept failed")]
    assert len(accept_lines) <= 3


async def test_the_admin_api_answers_hostile_input_with_a_short_json_error(daemon_factory, sandbox, sink) -> None:
    listen, admin_url = admin_listen()
    extra = f'admin: {{token: "admin-token-9d1e", listen: "{listen}"}}\n'
    daemon_with(daemon_factory, sandbox, sink, extra=extra)
    # A header that is not UTF-8 (Latin-1 é) is a wrong token, not a server error.
    reader, writer = await asyncio.open_connection("127.0.0.1", int(listen.rsplit(":", 1)[1]))
    writer.write(
        b"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: Bearer caf\xe9\r\n\r\n"
    )
    answer = await reader.read()
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 401"), head
    assert "admin token" in json.loads(body)["error"]
    huge = "9" * 30
    async with httpx.AsyncClient(headers={"Authorization": "Bearer admin-token-9d1e"}, timeout=10) as client:
        for path in (f"/api/events/{huge}", f"/api/deliveries?event_id={huge}", f"/api/events/{'9' * 5000}"):
            response = await client.get(admin_url + path)
            assert response.status_code == 400, (path, response.text)
            assert "whole number" in response.json()["error"] or "out of range" in response.json()["error"]
            assert len(response.text) < 300  # the value is not echoed back whole


async def test_invented_triggers_grow_neither_the_metrics_nor_the_log(daemon_factory, sandbox, sink) -> None:
    listen, admin_url = admin_listen()  # metrics without an admin token: the listener runs for admin.listen
    daemon = daemon_with(daemon_factory, sandbox, sink, key=None, extra=f'admin: {{listen: "{listen}"}}\n')
    async with httpx.AsyncClient(timeout=10) as client:
        before = len((await client.get(f"{admin_url}/metrics")).content)
        for n in range(1100):  # past both bounds: 50 labels, 1000 warned names
            body = webhook_body(trigger=f"made_up_trigger_{n}", ident=n + 1)
            answer = await client.post(daemon.webhook_url, content=body, headers={"Content-Type": "application/json"})
            assert answer.status_code == 202
        metrics = (await client.get(f"{admin_url}/metrics")).text
    assert 'trigger="other"' in metrics
    assert len(metrics) < before + 20_000, (before, len(metrics))
    # The once-per-spelling warning is bounded as well.
    warned = [e for e in daemon.log_events() if e["event"] == "unknown trigger, matching rules literally"]
    assert len(warned) <= 1000
