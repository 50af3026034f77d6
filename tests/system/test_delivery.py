"""Delivery semantics through the real daemon: retries with one key, dead letters, replay, API failures."""

from __future__ import annotations

import time

from connectors.base import ConnectorDefaults, Outgoing, Sent
from router.config import parse_config
from router.delivery.deliver import Deliverer
from router.delivery.live_connectors import Connectors
from router.demo.standins.sink import Reply
from router.events import Event
from router.store.base import NewDelivery, RouteResult
from router.store.sqlite import SqliteStore
from tests.conftest import run_cli
from tests.support import stored, wait_until, webhook_body
from toolkit.protection import Guards


async def test_transient_failures_retry_with_the_same_key_then_deliver(sandbox, sink, daemon_factory, tmp_path):
    sink.replies = [Reply(503, {"error": "busy"}), Reply(502, {"error": "gateway"})]
    daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url, schedule="[0.1s, 0.1s, 0.1s]").start()
    assert (await daemon.post(webhook_body())).status_code == 202
    requests = await sink.wait_for(3, path="/welcome")
    assert len({r.headers["Idempotency-Key"] for r in requests}) == 1
    assert len({r.body for r in requests}) == 1
    await daemon.wait_log("delivered", attempt=3)
    _, [delivery] = await stored(tmp_path / "router.db")
    assert (delivery.status, delivery.attempts) == ("delivered", 3)


async def test_permanent_failure_is_dead_listed_and_replayable(sandbox, sink, daemon_factory, tmp_path):
    sink.replies = [Reply(400, {"error": "unknown field"})]
    daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url).start()
    assert (await daemon.post(webhook_body())).status_code == 202
    [first] = await sink.wait_for(1)
    line = await daemon.wait_log("delivery dead")
    assert line["status"] == 400 and "unknown field" in line["error"]

    listed = run_cli("deliveries", "-c", str(daemon.config_path), "--status", "dead")
    assert listed.returncode == 0
    assert "welcome" in listed.stdout and "HTTP 400" in listed.stdout

    replay = run_cli("replay", "-c", str(daemon.config_path), "1")
    assert replay.returncode == 0, replay.stderr
    assert "requeued 1 delivery" in replay.stdout
    _, again = await sink.wait_for(2)
    assert again.headers["Idempotency-Key"] == first.headers["Idempotency-Key"]
    assert again.body == first.body

    async def delivered() -> bool:
        _, deliveries = await stored(tmp_path / "router.db")
        return deliveries[0].status == "delivered"

    await wait_until(delivered, what="the replayed delivery to be marked delivered")


async def test_retry_schedule_spent_marks_dead_with_last_error(sandbox, sink, daemon_factory, tmp_path):
    sink.default = Reply(500, {"error": "down"})
    daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url, schedule="[0.05s, 0.05s]").start()
    await daemon.post(webhook_body())
    line = await daemon.wait_log("delivery dead")
    assert "gave up after 3 attempts" in line["error"] and "HTTP 500" in line["error"]
    assert len(sink.requests) == 3


async def test_retry_after_from_destination_is_honoured(sandbox, sink, daemon_factory):
    sink.replies = [Reply(429, {"error": "slow down"}, headers={"Retry-After": "1"})]
    daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url, schedule="[0.05s]").start()
    await daemon.post(webhook_body())
    line = await daemon.wait_log("delivery failed, will retry")
    assert line["status"] == 429 and line["retry_in"] >= 0.9


async def test_plugandpay_api_429_and_503_reschedule_the_event(sandbox, sink, daemon_factory):
    sandbox.fail("/v2/orders/1042", 429, retry_after="0")
    sandbox.fail("/v2/orders/1042", 503)
    daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url).start()
    await daemon.post(webhook_body())
    await sink.wait_for(1, path="/welcome")
    fetches = [r for r in sandbox.state.requests if r["path"] == "/v2/orders/1042"]
    assert len(fetches) == 3
    retries = [e for e in daemon.log_events() if e.get("event") == "event fetch failed, will retry"]
    assert ["429" in r["reason"] for r in retries] == [True, False]


async def test_unknown_object_fails_the_event_with_the_reason(sandbox, sink, daemon_factory, tmp_path):
    daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url).start()
    await daemon.post(webhook_body(ident=999999))
    line = await daemon.wait_log("event failed")
    assert "not found (404)" in line["reason"]
    [event], deliveries = await stored(tmp_path / "router.db")
    assert event.status == "failed" and "404" in (event.last_error or "")
    assert deliveries == [] and sink.requests == []


async def test_a_connector_that_raises_an_unexpected_error_is_retried_not_dead(tmp_path):
    store = SqliteStore(tmp_path / "router.db")
    await store.open()
    now = time.time()
    accepted = await store.add_event(Event("order_paid", "order_paid", "order", "1042"), dedupe_window=60, now=now)
    await store.claim_events("me", 1, 30, now)
    delivery = NewDelivery("welcome", 0, "dest", "key", "ppr_key", {"payload": 1}, (60.0,))
    await store.complete_route(accepted.event_id, "me", RouteResult([delivery], [], "v1"), now)
    config = parse_config(
        "version: 1\nplugandpay: {allow_unsigned: true}\nconnectors:\n  dest: {type: memory}", "config.yaml", env={}
    )
    connectors = Connectors(config.connectors, ConnectorDefaults(timeout=2.0), Guards())

    async def buggy_send(out: Outgoing) -> Sent:
        raise KeyError("billing")

    connectors.by_name["dest"].send = buggy_send  # type: ignore[method-assign]
    deliverer = Deliverer(store, lambda: (config, connectors), "me")
    [record] = await store.claim_deliveries("me", 10, 30, time.time())
    await deliverer.handle(record)

    after = await store.get_delivery(record.id)
    assert after is not None and after.status == "pending" and after.attempts == 1
    assert after.next_attempt_at > time.time() + 40  # the schedule's first step (60 s ± 20 %)
    [attempt] = await store.list_attempts(record.id)
    assert (attempt.outcome, attempt.error) == ("retry", "internal error: KeyError: 'billing'")
    await store.close()
