"""Action dedupe through the real daemon (DESIGN §2): once per business event, or once per webhook for
``source_rules`` rules; and unknown triggers match literally and are logged once."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from router.store import make_store
from tests.support import webhook_body

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
