"""Several shops in one store, on both stores: each shop claims only its own events and deliveries (and is told
only its own due times), a delivery belongs to its event's shop, the same webhook sent for two shops is two
events, a dead delivery's alert names its shop, and a router of one shop claims everything as it always did."""

from __future__ import annotations

import dataclasses

from router.store.base import DeliveryFilter, Due, EventFilter, RouteResult, Store
from tests.system.test_store_contract import LEASE, WINDOW, T, delivery, event
from tests.system.test_store_insight import finish


def of(shop: str, ident: int = 1042):
    return dataclasses.replace(event(ident), shop=shop)


async def test_each_shop_claims_only_its_own_events_and_deliveries(store: Store) -> None:
    cursus = await store.add_event(of("cursusshop", 1042), dedupe_window=WINDOW, now=T)
    yoga = await store.add_event(of("yogastudio", 2042), dedupe_window=WINDOW, now=T + 1)
    assert await store.due_times(["yogastudio", "lms", "cursusshop"]) == [
        Due(T + 1, None),
        Due(None, None),
        Due(T, None),
    ]
    [claimed] = await store.claim_events("router", 10, LEASE, T + 5, "yogastudio")
    assert (claimed.id, claimed.event.shop) == (yoga.event_id, "yogastudio")
    assert await store.claim_events("router", 10, LEASE, T + 5, "yogastudio") == []
    await store.complete_route(yoga.event_id, "router", RouteResult([delivery("welcome-y")], [], "v1"), T + 5)
    assert await store.claim_deliveries("router", 10, LEASE, T + 6, "cursusshop") == []  # not the yoga studio's
    [made] = await store.claim_deliveries("router", 10, LEASE, T + 6, "yogastudio")
    assert made.event_id == yoga.event_id
    assert [e.id for e in await store.list_deliveries(DeliveryFilter(shop="yogastudio"))] == [made.id]
    [left] = await store.claim_events("router", 10, LEASE, T + 6, "cursusshop")
    assert left.id == cursus.event_id and left.event.shop == "cursusshop"
    assert [e.id for e in await store.list_events(EventFilter(shop="cursusshop"))] == [cursus.event_id]


async def test_the_same_webhook_for_two_shops_is_two_events(store: Store) -> None:
    first = await store.add_event(of("cursusshop"), dedupe_window=WINDOW, now=T)
    second = await store.add_event(of("yogastudio"), dedupe_window=WINDOW, now=T)
    again = await store.add_event(of("yogastudio"), dedupe_window=WINDOW, now=T + 1)
    assert not first.duplicate and not second.duplicate and first.event_id != second.event_id
    assert again.duplicate and again.event_id == second.event_id


async def test_a_router_of_one_shop_claims_all_work_as_before(store: Store) -> None:
    one = await store.add_event(event(1042), dedupe_window=WINDOW, now=T)
    [claimed] = await store.claim_events("router", 10, LEASE, T + 1)
    assert claimed.id == one.event_id and claimed.event.shop == ""
    assert event(1042).dedupe_key == of("", 1042).dedupe_key  # keys unchanged without shops


async def test_a_shops_dead_delivery_alert_names_the_shop(store: Store) -> None:
    accepted = await store.add_event(of("yogastudio"), dedupe_window=WINDOW, now=T)
    await store.claim_events("router", 10, LEASE, T, "yogastudio")
    await store.complete_route(accepted.event_id, "router", RouteResult([delivery("w")], [], "v1"), T)
    [made] = await store.list_deliveries(DeliveryFilter(event_id=accepted.event_id))
    assert made.shop == "yogastudio"
    await finish(store, made.id, "dead", T + 1)
    [row] = await store.alerts_after(0)
    assert row.kind == "dead_delivery" and row.item["shop"] == "yogastudio"


async def test_the_connector_backlog_keeps_two_shops_connectors_of_one_name_apart(store: Store) -> None:
    for shop, ident in (("cursusshop", 1042), ("yogastudio", 2042), ("yogastudio", 2043)):
        accepted = await store.add_event(of(shop, ident), dedupe_window=WINDOW, now=T)
        await store.claim_events("router", 10, LEASE, T, shop)
        await store.complete_route(accepted.event_id, "router", RouteResult([delivery(f"w{ident}")], [], "v1"), T)
    backlog = await store.connector_backlog()
    assert {name: b.pending for name, b in backlog.items()} == {"cursusshop/sink": 1, "yogastudio/sink": 2}


async def test_a_filter_of_several_shops_lists_and_counts_only_theirs_and_of_none_nothing(store: Store) -> None:
    ids = {}
    for n, name in enumerate(("cursusshop", "yogastudio", "lms")):
        accepted = await store.add_event(of(name, 1042 + n), dedupe_window=WINDOW, now=T + n)
        await store.claim_events("router", 10, LEASE, T + n, name)
        await store.complete_route(accepted.event_id, "router", RouteResult([delivery(f"d-{name}")], [], "v1"), T + n)
        ids[name] = accepted.event_id
    two = ("cursusshop", "lms")
    assert [r.id for r in await store.list_events(EventFilter(shops=two))] == [ids["lms"], ids["cursusshop"]]
    assert await store.count_events(EventFilter(shops=two)) == 2
    assert {d.shop for d in await store.list_deliveries(DeliveryFilter(shops=two))} == set(two)
    assert await store.count_deliveries(DeliveryFilter(shops=two)) == 2
    assert len(await store.delivery_ids(DeliveryFilter(shops=two))) == 2
    assert await store.list_events(EventFilter(shops=())) == []
    assert await store.count_deliveries(DeliveryFilter(shops=())) == 0
