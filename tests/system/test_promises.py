"""Promises a mutation run showed unprotected, held against the real daemon (and the real PostgreSQL store).

Each test here failed with one deliberate bug of that run: the Plug&Pay API's Retry-After ignored, a chunked
body read without a size limit, redirects followed by a connector, the admin API answering a secret unmasked,
a PostgreSQL claim waiting for a row another instance holds, and a webhook acknowledged before its commit.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from router.demo.sandbox import SandboxServer
from router.demo.standins.sink import HttpSink, Reply
from router.events import Event
from router.store.base import NewDelivery, RouteResult
from router.store.postgres import PostgresStore
from tests import pg
from tests.admin_support import admin_listen
from tests.support import (
    API_TOKEN,
    WEBHOOK_KEY,
    DaemonProcess,
    signed_headers,
    stored,
    webhook_body,
)

ORDER = "/v2/orders/1042"


def when(line: dict[str, object]) -> float:
    """The time of a daemon log line, in seconds since the epoch."""
    return dt.datetime.fromisoformat(str(line["timestamp"])).timestamp()


# ------------------------------------------------------------ route: the Plug&Pay API's Retry-After


async def test_the_route_stage_waits_at_least_the_plugandpay_apis_retry_after(
    sandbox: SandboxServer, sink: HttpSink, daemon_factory: Callable[..., DaemonProcess]
) -> None:
    # The fetch schedule (0.2 s, 0.5 s, ±20 %) and the route loop's idle poll (1 s) are both shorter than the
    # API's wish: only its Retry-After explains a 2 s wait.
    sandbox.fail(ORDER, 429, retry_after="2")
    sandbox.fail(ORDER, 503, retry_after="2")
    daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url).start()
    await daemon.post(webhook_body())
    await sink.wait_for(1, path="/welcome")
    routed = await daemon.wait_log("event routed")
    retries = [e for e in daemon.log_events() if e.get("event") == "event fetch failed, will retry"]
    assert [("429" in r["reason"], r["retry_in"]) for r in retries] == [(True, 2.0), (False, 2.0)]
    times = [when(line) for line in (*retries, routed)]
    assert all(later - earlier >= 1.95 for earlier, later in itertools.pairwise(times)), times
    assert len([r for r in sandbox.state.requests if r["path"] == ORDER]) == 3


# ------------------------------------------------------------ receive: the size limit holds for chunked bodies


async def test_a_chunked_body_over_max_body_bytes_gets_413_and_nothing_is_stored(
    sandbox: SandboxServer, sink: HttpSink, daemon_factory: Callable[..., DaemonProcess], tmp_path: Path
) -> None:
    daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url).start()  # max_body_bytes: 4096

    async def post_chunked(body: bytes) -> httpx.Response:
        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(body), 1000):
                yield body[start : start + 1000]

        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(daemon.webhook_url, content=chunks(), headers=signed_headers(body))
        assert response.request.headers.get("Transfer-Encoding") == "chunked"  # no Content-Length to trust
        return response

    small = await post_chunked(webhook_body(ident=1042))
    assert small.status_code == 202  # a chunked body within the limit is read and stored
    # A correctly signed webhook, only too large: without the limit it would be stored like the small one.
    padded = json.loads(webhook_body(ident=1043))
    padded["padding"] = "x" * 6000
    big = json.dumps(padded).encode()
    response = await post_chunked(big)
    assert response.status_code == 413 and response.json() == {"error": "body larger than 4096 bytes"}
    events, _ = await stored(tmp_path / "router.db")
    assert [e.event.triggerable_id for e in events] == ["1042"]


# ------------------------------------------------------------ deliver: redirects are not followed


async def test_a_destination_answering_a_redirect_kills_the_delivery_and_the_target_gets_nothing(
    sandbox: SandboxServer, sink: HttpSink, daemon_factory: Callable[..., DaemonProcess], tmp_path: Path
) -> None:
    sink.replies = [Reply(302, {"moved": True}, headers={"Location": f"{sink.url}/moved"})]
    daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url, schedule="[1h]").start()
    await daemon.post(webhook_body())
    line = await daemon.wait_log("delivery dead")
    assert line["status"] == 302 and line["error"].endswith("(redirects are not followed)")
    _, [delivery] = await stored(tmp_path / "router.db")
    assert delivery.status == "dead" and delivery.attempts == 1
    assert [r.path for r in sink.requests] == ["/welcome"]  # nothing reached /moved


# ------------------------------------------------------------ admin API and log: secrets masked

ADMIN_TOKEN = "admin-token-5be1"
LMS_TOKEN = "lms-token-c0ffee42"
# Quotes and a backslash: JSON spells them escaped, and the escaped spelling is still the secret.
LMS_SECRET = 'lms-secret-"q"\\91'
SECRETS = (ADMIN_TOKEN, LMS_TOKEN, LMS_SECRET, API_TOKEN, WEBHOOK_KEY)


def spellings(secret: str) -> set[str]:
    """The secret as written, and as JSON writes it."""
    return {secret, json.dumps(secret)[1:-1]}


async def test_secrets_in_a_stored_request_and_a_destination_error_are_masked_in_the_admin_api_and_the_log(
    sandbox: SandboxServer, sink: HttpSink, daemon_factory: Callable[..., DaemonProcess], tmp_path: Path
) -> None:
    # The destination rejects the token and quotes it back: the error text holds a secret too.
    sink.default = Reply(401, {"error": f"token {LMS_TOKEN} was revoked"})
    rules = f"""version: 1
server: {{listen: "127.0.0.1:{{port}}", path: /webhooks/plugandpay}}
admin: {{token: "${{ROUTER_ADMIN_TOKEN}}", listen: "{{admin}}"}}
plugandpay: {{api_url: "{sandbox.url}", api_token: "${{PLUGANDPAY_API_TOKEN}}", webhook_key: "{WEBHOOK_KEY}"}}
store: {{url: "sqlite:///{tmp_path / "router.db"}"}}
delivery: {{schedule: [1h], timeout: 3s}}
connectors:
  lms: {{type: http, base_url: "{sink.url}", headers: {{Authorization: "Bearer ${{LMS_TOKEN}}"}}}}
rules:
  - name: enrol
    trigger: order_paid
    actions:
      - connector: lms
        path: /enrol
        headers: {{X-Lms-Key: "${{LMS_SECRET}}"}}
        json: {{email: "{{{{ order.billing.contact.email }}}}", key: "${{LMS_SECRET}}"}}
"""
    env = {"ROUTER_ADMIN_TOKEN": ADMIN_TOKEN, "LMS_TOKEN": LMS_TOKEN, "LMS_SECRET": LMS_SECRET}
    made = daemon_factory("", env=env)  # reserves the port; the config naming it is written next
    listen, admin_url = admin_listen()
    made.config_path.write_text(rules.replace("{port}", str(made.port)).replace("{admin}", listen))
    daemon = made.start()
    await daemon.post(webhook_body())
    [request] = await sink.wait_for(1, path="/enrol")
    assert request.headers["X-Lms-Key"] == LMS_SECRET  # the destination got the secret
    assert request.json()["key"] == LMS_SECRET
    dead = await daemon.wait_log("delivery dead")
    assert dead["error"] == 'HTTP 401: {"error": "token *** was revoked"}'

    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx.AsyncClient(base_url=admin_url, headers=headers, timeout=10) as client:
        detail = await client.get("/api/deliveries/1")
        event = await client.get("/api/events/1")
    assert detail.status_code == 200 and event.status_code == 200
    shown = detail.json()
    assert shown["request"]["headers"] == {"X-Lms-Key": "***"}
    assert shown["request"]["json"]["key"] == "***"
    assert shown["attempts"][0]["error"] == 'HTTP 401: {"error": "token *** was revoked"}'
    assert event.json()["deliveries"][0]["request"]["json"]["key"] == "***"
    assert daemon.stop() == 0
    for text in (detail.text, event.text, daemon.log()):
        for secret in SECRETS:
            for spelling in spellings(secret):
                assert spelling not in text


# ------------------------------------------------------------ PostgreSQL: claims skip locked rows


def pending_event(ident: int) -> Event:
    return Event("order_paid", "order_paid", "order", str(ident), tenant_id="42", rule_id="1", payload={"id": ident})


@pytest.mark.postgres
async def test_a_postgres_claim_returns_the_other_rows_at_once_while_one_is_locked(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    await store.open()
    locker = await pg.connect()
    now = time.time()
    try:
        ids = [(await store.add_event(pending_event(n), dedupe_window=60, now=now - 10 + n)).event_id for n in range(3)]
        route = RouteResult(
            [NewDelivery("welcome", n, "sink", f"key-{n}", f"ppr_key-{n}", {"n": n}, (60.0,)) for n in range(3)],
            [],
            "v1",
        )
        [first] = await store.claim_events("router", 1, 30, now)
        assert await store.complete_route(first.id, "router", route, now) == 3
        await locker.execute(f"SET search_path TO {pg.query_of(pg_url)['search_path']}")
        # Another instance is busy with the oldest event and the oldest delivery (row locks, as a claim takes).
        transaction = locker.transaction()
        await transaction.start()
        locked_event = await locker.fetchval(
            "SELECT id FROM events WHERE status = 'pending' ORDER BY next_attempt_at LIMIT 1 FOR UPDATE"
        )
        locked_delivery = await locker.fetchval("SELECT id FROM deliveries ORDER BY next_attempt_at LIMIT 1 FOR UPDATE")
        try:
            async with asyncio.timeout(1):
                events = await store.claim_events("other", 10, 30, time.time())
                deliveries = await store.claim_deliveries("other", 10, 30, time.time())
        finally:
            await transaction.rollback()
        assert sorted(e.id for e in events) == [i for i in ids if i not in (first.id, locked_event)]
        assert len(deliveries) == 2 and locked_delivery not in {d.id for d in deliveries}
    finally:
        await locker.close()
        await store.close()


# ------------------------------------------------------------ receive: 2xx only after the commit


class WriteLock:
    """SQLite's write lock on the daemon's store, held by this test like another writer would hold it."""

    def __init__(self, db: Path):
        self.conn = sqlite3.connect(db, isolation_level=None, timeout=10)

    def __enter__(self) -> WriteLock:
        self.conn.execute("BEGIN IMMEDIATE")
        return self

    def __exit__(self, *exc: object) -> None:
        self.conn.execute("ROLLBACK")
        self.conn.close()


# The daemon's writer waits this long for the lock before failing the write (answered 503).
WRITER_PATIENCE = 5.0
# How long the test lets a blocked webhook go unanswered; the daemon reads it well within, far before the 503.
UNANSWERED = 2.0


async def ids_stored(db: Path) -> list[str]:
    events, _ = await stored(db)
    return [e.event.triggerable_id for e in events]


async def test_a_webhook_killed_while_its_commit_waits_got_no_2xx_and_is_not_stored(
    sandbox: SandboxServer, sink: HttpSink, daemon_factory: Callable[..., DaemonProcess], tmp_path: Path
) -> None:
    db = tmp_path / "router.db"
    daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url).start()
    with WriteLock(db):
        started = time.monotonic()
        answer = asyncio.create_task(daemon.post(webhook_body(ident=1042)))
        done, _ = await asyncio.wait({answer}, timeout=UNANSWERED)
        assert not done, f"answered {answer.result().status_code} before the event was committed"
        daemon.kill()
        assert time.monotonic() - started < WRITER_PATIENCE  # killed while the commit waited, not after its 503
        with pytest.raises(httpx.TransportError):
            await answer  # the connection died without an answer: Plug&Pay sends the webhook again
    daemon.start()
    assert await ids_stored(db) == []
    again = await daemon.post(webhook_body(ident=1042))
    assert again.status_code == 202  # the retry is a new event, not a duplicate of something half-stored
    await sink.wait_for(1, path="/welcome")


async def test_a_webhook_answered_202_is_in_the_store_after_sigkill_and_restart(
    sandbox: SandboxServer, sink: HttpSink, daemon_factory: Callable[..., DaemonProcess], tmp_path: Path
) -> None:
    db = tmp_path / "router.db"
    daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url).start()
    with WriteLock(db):
        answer = asyncio.create_task(daemon.post(webhook_body(ident=1042)))
        done, _ = await asyncio.wait({answer}, timeout=UNANSWERED)
        assert not done, f"answered {answer.result().status_code} while the store could not commit"
    response = await answer  # the lock is gone: the commit goes through, then the answer
    assert response.status_code == 202
    daemon.kill()  # at once: nothing after the answer may be needed to keep the event
    assert await ids_stored(db) == ["1042"]
    daemon.start()
    duplicate = await daemon.post(webhook_body(ident=1042))
    assert duplicate.status_code == 200 and duplicate.json() == {
        "event_id": response.json()["event_id"],
        "duplicate": True,
    }
    await sink.wait_for(1, path="/welcome")  # and it goes on to be routed and delivered
