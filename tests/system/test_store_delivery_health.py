"""How an event's deliveries stand, which object a dead letter is about, and replay that leaves delivered
deliveries alone: the store queries behind the events list and the dead letters, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses

from router.store.base import DeliveryHealth, Store
from tests.system.test_store_contract import WINDOW, T, event, routed
from tests.system.test_store_insight import finish


async def test_delivery_health_counts_each_events_deliveries_by_state(store: Store) -> None:
    [ok, dead, _waiting] = await routed(store, 1042, ["a", "b", "c"])
    [second] = await routed(store, 1043, ["d"], now=T + 10)
    await finish(store, ok, "delivered", T + 1)
    await finish(store, dead, "dead", T + 2)
    # the third stays claimed but unfinished: pending; 1043's one goes dead, then its event is re-routed
    await finish(store, second, "dead", T + 12)
    events = {e.event.triggerable_id: e.id for e in await store.list_events()}
    await store.reroute_event(events["1043"], T + 20)
    untouched = await store.add_event(event(1044), dedupe_window=WINDOW, now=T)

    health = await store.delivery_health([*events.values(), untouched.event_id, 999_999])
    assert health[events["1042"]] == DeliveryHealth(delivered=1, pending=1, dead=1)
    assert health[events["1042"]].worst == "dead"
    assert health[events["1043"]] == DeliveryHealth(superseded=1)
    assert health[events["1043"]].worst == "none"
    assert untouched.event_id not in health and 999_999 not in health
    assert await store.delivery_health([]) == {}


async def test_objects_of_names_the_object_of_each_event(store: Store) -> None:
    await routed(store, 1042, ["a"])
    ended = dataclasses.replace(event(901, trigger="subscription_ended"), triggerable_type="subscription")
    subscription = await store.add_event(ended, dedupe_window=WINDOW, now=T)
    [order] = [e.id for e in await store.list_events() if e.event.triggerable_id == "1042"]
    found = await store.objects_of([order, subscription.event_id, 999_999])
    assert found == {order: ("order", "1042"), subscription.event_id: ("subscription", "901")}


async def test_replay_without_delivered_requeues_only_dead_deliveries(store: Store) -> None:
    [done, dead] = await routed(store, 1042, ["a", "b"])
    await finish(store, done, "delivered", T + 1)
    await finish(store, dead, "dead", T + 2)
    assert await store.replay_deliveries([done, dead], T + 3, delivered=False) == 1
    after = {d.id: d.status for d in await store.list_deliveries()}
    assert after == {done: "delivered", dead: "pending"}
    # Asked for (the operator confirmed), a delivered one is sent again.
    assert await store.replay_deliveries([done], T + 5) == 1
    assert (await store.get_delivery(done)).status == "pending"


async def test_connector_backlog_counts_pending_and_dead_per_connector_with_the_oldest(store: Store) -> None:
    [done, dead, _waiting] = await routed(store, 1042, ["a", "b", "c"])
    await routed(store, 1043, ["d"], now=T + 30)
    await finish(store, done, "delivered", T + 1)
    await finish(store, dead, "dead", T + 2)
    backlog = await store.connector_backlog()
    # Every delivery of these helpers goes through "sink": two pending (the oldest made at T), one dead.
    assert list(backlog) == ["sink"]
    found = backlog["sink"]
    assert (found.pending, found.oldest_pending_at, found.dead) == (2, T, 1)
