"""The store's answers for trace, list counts and the dashboard, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from router.store.base import Attempt, DeliveryFilter, EventFilter, Store
from tests.system.test_store_contract import LEASE, WINDOW, T, event, routed


async def finish(store: Store, delivery_id: int, outcome: str, at: float, result: dict | None = None) -> None:
    await store.claim_deliveries("router", 10, LEASE, at)  # every due one: "router" holds them all
    attempt = Attempt(started_at=at, duration_ms=5.0, outcome=outcome, status_code=200, result=result)
    await store.finish_attempt(delivery_id, "router", attempt, None)


async def test_an_attempt_keeps_what_the_destination_made_of_it(store: Store) -> None:
    [one, two] = await routed(store, 1042, ["a", "b"])
    await finish(store, one, "delivered", T + 1, {"contact_id": "17", "tags": ["cursus-77"]})
    await finish(store, two, "dead", T + 2)
    [kept] = await store.list_attempts(one)
    assert kept.result == {"contact_id": "17", "tags": ["cursus-77"]}
    found = await store.attempts_of([one, two, 999])
    assert [a.result for a in found[one]] == [{"contact_id": "17", "tags": ["cursus-77"]}]
    assert [a.outcome for a in found[two]] == ["dead"] and found[two][0].result is None
    assert 999 not in found


async def test_counts_match_the_filters_the_lists_take(store: Store) -> None:
    await routed(store, 1042, ["a", "b"])
    await routed(store, 1043, ["c"], now=T + 10)
    assert await store.count_events() == 2
    assert await store.count_events(EventFilter(triggerable_id="1042")) == 1
    assert await store.count_events(EventFilter(triggerable_type="subscription")) == 0
    assert await store.count_deliveries(DeliveryFilter(triggerable_id="1042")) == 2
    assert await store.count_deliveries(DeliveryFilter(trigger="order_paid", status="pending")) == 3
    listed = await store.list_deliveries(DeliveryFilter(triggerable_id="1043"))
    assert [d.action_key for d in listed] == ["action-c"]
    events = await store.list_events()
    made = await store.delivery_counts([e.id for e in events])
    assert sorted(made.values()) == [1, 2]
    assert await store.count_events(cap=1) == 1  # a page stops counting at its cap
    backlog = await store.backlog()
    assert (backlog.events["pending"], backlog.deliveries["pending"], backlog.deliveries["dead"]) == (0, 3, 0)
    assert backlog.oldest_pending_at == T


async def test_a_repeated_webhook_is_counted_on_its_original(store: Store) -> None:
    first = await store.add_event(event(7), dedupe_window=WINDOW, now=T)
    for n in range(2):
        assert (await store.add_event(event(7), dedupe_window=WINDOW, now=T + n + 1)).duplicate
    other = await store.add_event(event(8), dedupe_window=WINDOW, now=T)
    assert await store.duplicates([first.event_id, other.event_id]) == {first.event_id: 2, other.event_id: 0}


async def test_hourly_figures_cover_every_hour_of_the_window(store: Store) -> None:
    hour = 3600.0
    start = (T // hour) * hour
    [one] = await routed(store, 1042, ["a"], now=start + 10)
    [two] = await routed(store, 1043, ["b"], now=start + hour + 10)
    await finish(store, one, "delivered", start + hour + 20)
    await finish(store, two, "dead", start + 2 * hour + 20)
    hours = await store.hourly(start, start + 2 * hour + 30)
    assert [h.hour for h in hours] == [start, start + hour, start + 2 * hour]
    assert [(h.received, h.routed, h.delivered, h.dead) for h in hours] == [(1, 1, 0, 0), (1, 1, 1, 0), (0, 0, 0, 1)]
