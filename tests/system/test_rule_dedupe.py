"""Action dedupe through the real daemon (DESIGN §2): once per business event, or once per webhook for
``source_rules`` rules; unknown triggers match literally and are logged once; and a captured webhook replayed
after the retention purge is kept as stale, while its action, which outlives the purge, is not sent again."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from router.store import make_store
from tests.support import stored, wait_until, webhook_body

EXTRA_RULES = """\
  - name: only-318
    trigger: order_paid
    source_rules: [318]
    actions: [{connector: sink, path: /only-318, json: {rule: "{{ event.rule_id }}"}}]
  - name: each-webhook
    trigger: order_paid
    source_rules: [318, 319]
    actions: [{connector: sink, path: /each-webhook, json: {rule: "{{ event.rule_id }}"}}]
  - name: created
    trigger: order_created
    actions: [{connector: sink, path: /created, json: {order: "{{ order.id }}"}}]
"""


async def stored_deliveries(db: Path) -> list:
    store = make_store(f"sqlite:///{db}")
    await store.open()
    try:
        return await store.list_deliveries(limit=1000)
    finally:
        await store.close()


async def test_one_order_announced_by_two_plugandpay_rules(sandbox, sink, daemon_factory, tmp_path):
    db = tmp_path / "router.db"
    daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url, extra_rules=EXTRA_RULES).start()
    bodies = [
        webhook_body("order_payment_completed", 1042, rule_id=318),
        webhook_body("order_paid", 1042, rule_id=319, nested=False),  # another spelling, another rule
        webhook_body("order_payment_completed", 1042, rule_id=318),  # Plug&Pay retrying the first one
        webhook_body("order_created", 1042, rule_id=320),  # not a Plug&Pay name: matches literally
        webhook_body("order_created", 1043, rule_id=320),
    ]
    answers = [await daemon.post(body) for body in bodies]
    assert [a.status_code for a in answers] == [202, 202, 200, 202, 202]
    event_ids = {a.json()["event_id"] for a in answers}
    assert len(event_ids) == 4
    for event_id in event_ids:
        await daemon.wait_log("event routed", event_id=event_id)

    # welcome (universal) once; only-318 once; each-webhook once per webhook; created once per order
    expected = {"/welcome": 1, "/only-318": 1, "/each-webhook": 2, "/created": 2}
    await sink.wait_for(sum(expected.values()))
    deliveries = await stored_deliveries(db)
    assert Counter(d.rule for d in deliveries) == {"welcome": 1, "only-318": 1, "each-webhook": 2, "created": 2}
    assert Counter(r.path for r in sink.requests) == expected
    assert sorted(r.json()["rule"] for r in sink.requests if r.path == "/each-webhook") == ["318", "319"]
    assert len({r.headers["Idempotency-Key"] for r in sink.requests}) == 6

    unknown = [line for line in daemon.log_events() if line.get("event") == "unknown trigger, matching rules literally"]
    assert len(unknown) == 1
    assert unknown[0]["trigger"] == "order_created"
    assert daemon.stop() == 0


SHORT_RETENTION = "retention: {events: 1s, dedupe_window: 1s, interval: 0.2s}\n"


async def test_a_captured_webhook_replayed_after_the_purge_sends_nothing_again(
    sandbox, sink, daemon_factory, tmp_path: Path
) -> None:
    daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url)
    daemon.config_path.write_text(daemon.config_path.read_text() + SHORT_RETENTION)
    daemon.start()
    captured = webhook_body(ident=1042)
    first = await daemon.post(captured)
    assert first.status_code == 202
    first_id = first.json()["event_id"]
    await sink.wait_for(1, path="/welcome")

    async def purged() -> bool:
        events, _ = await stored(tmp_path / "router.db")
        return events == []

    await wait_until(purged, 15, "the retention purge of the delivered event")

    # The same signed body, replayed: sent before the dedupe window, so kept as stale and not routed.
    replay = await daemon.post(captured)
    assert replay.status_code == 200
    assert replay.json()["ignored"] == "stale"
    assert replay.json()["event_id"] > first_id  # a purged id is never handed out again

    # A fresh webhook for the same order (from another Plug&Pay rule) is a new event, but its action ran
    # already, and its delivery is long purged: nothing is sent.
    fresh = await daemon.post(webhook_body(ident=1042, rule_id=319))
    assert fresh.status_code == 202
    fresh_id = fresh.json()["event_id"]
    assert fresh_id > replay.json()["event_id"]
    routed = await daemon.wait_log("event routed", event_id=fresh_id)
    assert (routed["deliveries"], routed["deduplicated"]) == (0, 1)
    assert len(sink.requests) == 1

    events, _ = await stored(tmp_path / "router.db")
    statuses = {e.id: e.status for e in events}
    assert statuses[replay.json()["event_id"]] == "stale"
    assert daemon.stop() == 0
