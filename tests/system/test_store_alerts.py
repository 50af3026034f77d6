"""The alert outbox on SQLite and PostgreSQL: a delivery that goes dead and an event that fails put their
alert in the transaction that marks them, an alert's own dead delivery puts none (no loops), and the
daemon's other causes are added and read back in order."""

from __future__ import annotations

from router.store.base import Store
from tests.system.test_store_contract import LEASE, WINDOW, T, event, routed
from tests.system.test_store_insight import finish


async def test_a_dead_delivery_and_a_failed_event_each_leave_their_alert(store: Store) -> None:
    [done, dead] = await routed(store, 1042, ["a", "b"])
    await finish(store, done, "delivered", T + 1)
    await finish(store, dead, "dead", T + 2)
    failing = await store.add_event(event(1043), dedupe_window=WINDOW, now=T)
    [claimed] = await store.claim_events("router", 10, LEASE, T + 3)
    assert claimed.id == failing.event_id
    await store.fail_event(claimed.id, "router", "Plug&Pay API: /v2/orders/1043 not found (404)", T + 4)
    rows = await store.alerts_after(0)
    assert [r.kind for r in rows] == ["dead_delivery", "event_failed"]
    assert T + 2 <= rows[0].created_at < T + 3 and rows[1].created_at == T + 4  # when the cause happened
    assert rows[0].item["delivery_id"] == dead and rows[0].item["rule"] == "welcome"
    assert rows[0].item["connector"] == "sink" and rows[0].item["object"] == "order 1042"
    assert rows[0].item["triggerable_id"] == "1042"
    assert rows[1].item == {
        "event_id": failing.event_id,
        "triggerable_id": "1043",
        "object": "order 1043",
        "trigger": "order_paid",
        "error": "Plug&Pay API: /v2/orders/1043 not found (404)",
    }
    assert await store.alerts_after(rows[0].id) == rows[1:]


async def test_the_daemons_own_causes_are_added_and_read_in_order(store: Store) -> None:
    await store.add_alerts([("reload_failed", {"error": "shop.yaml:3: bad"}), ("backlog", {"age": 1200})], T)
    rows = await store.alerts_after(0)
    assert [(r.kind, r.item) for r in rows] == [
        ("reload_failed", {"error": "shop.yaml:3: bad"}),
        ("backlog", {"age": 1200}),
    ]
    assert await store.alerts_after(rows[-1].id) == []


async def test_purging_removes_alerts_older_than_retention_and_keeps_the_ids_rising(store: Store) -> None:
    await store.add_alerts([("backlog", {"age": 1200})], T)
    await store.add_alerts([("reload_failed", {"error": "shop.yaml:3: bad"})], T + 100)
    await store.purge(before=T + 50, now=T + 100, batch=100)
    [kept] = await store.alerts_after(0)
    assert kept.kind == "reload_failed"
    await store.add_alerts([("backlog", {"age": 1300})], T + 200)
    assert [r.kind for r in await store.alerts_after(kept.id)] == ["backlog"]  # a mark never sees an old id again
