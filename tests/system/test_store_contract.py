"""The store contract: every method of the Store protocol, run against SQLite and PostgreSQL alike.

Each test gets a fresh database (a new SQLite file, or a new PostgreSQL schema; the fixtures are in
tests/system/conftest.py) and passes its own ``now`` values, so leases, windows and due times are exact.
"""

from __future__ import annotations

import asyncio

from router.events import Event
from router.store.base import Attempt, DeliveryFilter, Due, EventFilter, NewDelivery, RouteResult, Store
from tests.system.conftest import Opener

T = 1_000_000.0
WINDOW = 600.0
LEASE = 30.0


def event(ident: int | str = 1042, *, rule_id: str | None = "318", trigger: str = "order_paid") -> Event:
    return Event(
        trigger=trigger,
        raw_trigger=trigger,
        triggerable_type="order",
        triggerable_id=str(ident),
        tenant_id="42",
        rule_id=rule_id,
        sent_at="2025-03-14T09:13:41.000000Z",
        payload={"event": {"trigger_type": trigger, "triggerable_id": ident}, "z": 1, "a": [1, 2]},
    )


def delivery(key: str, *, index: int = 0, status: str = "pending", request: dict | None = None) -> NewDelivery:
    body = {"method": "POST", "path": f"/hook/{key}", "json": {"k": key}} if request is None else request
    return NewDelivery(
        rule="welcome",
        action_index=index,
        connector="sink",
        action_key=f"action-{key}",
        delivery_key=f"ppr_{key}",
        request=None if status == "dead" else body,
        schedule=(5.0, 300.0),
        item_key=None if index == 0 else f"index:{index}",
        status=status,
        error="render failed" if status == "dead" else None,
    )


async def routed(store: Store, ident: int, keys: list[str], now: float = T) -> list[int]:
    """Store an event, claim it, route it to deliveries with these keys; the new delivery ids."""
    accepted = await store.add_event(event(ident), dedupe_window=WINDOW, now=now)
    [claimed] = await store.claim_events("router", 10, LEASE, now)
    assert claimed.id == accepted.event_id
    await store.complete_route(claimed.id, "router", RouteResult([delivery(k) for k in keys], [], "v1"), now)
    return sorted(d.id for d in await store.list_deliveries(DeliveryFilter(event_id=claimed.id)))


def attempt(outcome: str, started: float = T, status: int | None = 200, error: str | None = None) -> Attempt:
    return Attempt(started_at=started, duration_ms=12.5, outcome=outcome, status_code=status, error=error)


# ---------------------------------------------------------------- receive


async def test_add_event_stores_the_event_as_pending_and_due(store: Store) -> None:
    accepted = await store.add_event(event(), dedupe_window=WINDOW, now=T)
    assert not accepted.duplicate
    record = await store.get_event(accepted.event_id)
    assert record is not None
    assert record.event == event()
    assert (record.status, record.received_at, record.next_attempt_at, record.attempts) == ("pending", T, T, 0)
    assert record.outcomes is None and record.routed_at is None and record.last_error is None
    assert await store.get_event(accepted.event_id + 1000) is None


async def test_same_webhook_inside_the_window_is_a_duplicate_of_the_original(store: Store) -> None:
    first = await store.add_event(event(), dedupe_window=WINDOW, now=T)
    again = await store.add_event(event(), dedupe_window=WINDOW, now=T + WINDOW - 1)
    assert again.event_id == first.event_id and again.duplicate
    assert len(await store.list_events()) == 1


async def test_an_expired_dedupe_key_is_reused_for_a_new_event(store: Store) -> None:
    first = await store.add_event(event(), dedupe_window=WINDOW, now=T)
    later = await store.add_event(event(), dedupe_window=WINDOW, now=T + WINDOW)
    assert not later.duplicate and later.event_id != first.event_id
    # The key now belongs to the new event, with a new window.
    again = await store.add_event(event(), dedupe_window=WINDOW, now=T + WINDOW + 1)
    assert again.duplicate and again.event_id == later.event_id
    assert len(await store.list_events()) == 2


async def test_another_plugandpay_rule_or_object_is_another_webhook(store: Store) -> None:
    ids = {
        (await store.add_event(e, dedupe_window=WINDOW, now=T)).event_id
        for e in (event(1), event(1, rule_id="319"), event(2), event(1, trigger="invoice_created"))
    }
    assert len(ids) == 4


async def test_the_same_webhook_arriving_at_two_instances_at_once_is_stored_once(open_store: Opener) -> None:
    first, second = await open_store(), await open_store()
    results = await asyncio.gather(
        *(s.add_event(event(7), dedupe_window=WINDOW, now=T) for s in (first, second) for _ in range(5))
    )
    assert len({r.event_id for r in results}) == 1
    assert sum(not r.duplicate for r in results) == 1
    assert len(await first.list_events()) == 1


# ---------------------------------------------------------------- route


async def test_claim_takes_due_events_in_due_order_up_to_the_limit(store: Store) -> None:
    ids = [(await store.add_event(event(i), dedupe_window=WINDOW, now=T + i)).event_id for i in range(4)]
    assert await store.claim_events("a", 10, LEASE, T - 1) == []
    claimed = await store.claim_events("a", 2, LEASE, T + 10)
    assert sorted(e.id for e in claimed) == ids[:2]
    assert sorted(e.id for e in await store.claim_events("a", 10, LEASE, T + 2)) == [ids[2]]


async def test_a_claimed_event_is_not_claimable_until_its_lease_expires(store: Store) -> None:
    accepted = await store.add_event(event(), dedupe_window=WINDOW, now=T)
    [claimed] = await store.claim_events("a", 10, LEASE, T)
    assert claimed.id == accepted.event_id
    assert await store.claim_events("b", 10, LEASE, T + LEASE - 0.5) == []
    # The holder died: after the lease another owner takes it over, and the old holder's commit is refused.
    [taken] = await store.claim_events("b", 10, LEASE, T + LEASE)
    assert taken.id == accepted.event_id
    assert await store.complete_route(taken.id, "a", RouteResult([delivery("x")], [], "v1"), T + LEASE) is None
    assert await store.list_deliveries() == []
    assert await store.complete_route(taken.id, "b", RouteResult([delivery("x")], [], "v1"), T + LEASE) == 1


async def test_concurrent_claims_never_hand_out_one_item_twice(open_store: Opener) -> None:
    first, second = await open_store(), await open_store()
    for i in range(40):
        await first.add_event(event(i), dedupe_window=WINDOW, now=T)
    batches = await asyncio.gather(
        *(s.claim_events(f"owner-{n}", 3, LEASE, T) for n in range(8) for s in (first, second))
    )
    claimed = [e.id for batch in batches for e in batch]
    assert len(claimed) == len(set(claimed)) == 40


async def test_complete_route_marks_routed_and_stores_the_deliveries(store: Store) -> None:
    accepted = await store.add_event(event(), dedupe_window=WINDOW, now=T)
    await store.claim_events("a", 10, LEASE, T)
    outcomes = [{"rule": "welcome", "matched": True}]
    news = [delivery("one"), delivery("two", index=1), delivery("broken", index=2, status="dead")]
    assert await store.complete_route(accepted.event_id, "a", RouteResult(news, outcomes, "cfg-1"), T + 1) == 3
    record = await store.get_event(accepted.event_id)
    assert record is not None
    assert (record.status, record.outcomes, record.config_version, record.routed_at) == (
        "routed",
        outcomes,
        "cfg-1",
        T + 1,
    )
    stored = sorted(await store.list_deliveries(DeliveryFilter(event_id=accepted.event_id)), key=lambda d: d.id)
    assert [d.action_key for d in stored] == ["action-one", "action-two", "action-broken"]
    one, two, broken = stored
    assert (one.status, one.attempts, one.next_attempt_at, one.created_at) == ("pending", 0, T + 1, T + 1)
    assert one.request == news[0].request and one.delivery_key == "ppr_one" and one.schedule == (5.0, 300.0)
    assert (two.item_key, two.action_index, two.config_version) == ("index:1", 1, "cfg-1")
    assert (broken.status, broken.request, broken.last_error) == ("dead", None, "render failed")
    assert await store.claim_events("b", 10, LEASE, T + 1000) == []  # routed events are done


async def test_an_action_key_already_stored_is_skipped(store: Store) -> None:
    await routed(store, 1, ["shared", "own-1"])
    accepted = await store.add_event(event(1, rule_id="999"), dedupe_window=WINDOW, now=T)
    await store.claim_events("a", 10, LEASE, T)
    inserted = await store.complete_route(
        accepted.event_id, "a", RouteResult([delivery("shared"), delivery("own-2"), delivery("own-2")], [], "v1"), T
    )
    assert inserted == 1
    assert [d.action_key for d in await store.list_deliveries(DeliveryFilter(event_id=accepted.event_id))] == [
        "action-own-2"
    ]
    assert len(await store.list_deliveries()) == 3


async def test_retry_event_reschedules_and_counts_the_attempt(store: Store) -> None:
    accepted = await store.add_event(event(), dedupe_window=WINDOW, now=T)
    await store.claim_events("a", 10, LEASE, T)
    await store.retry_event(accepted.event_id, "someone-else", T + 1, "not mine")  # not the holder: ignored
    await store.retry_event(accepted.event_id, "a", T + 60, "API answered 503")
    record = await store.get_event(accepted.event_id)
    assert record is not None
    assert (record.status, record.attempts, record.next_attempt_at, record.last_error) == (
        "pending",
        1,
        T + 60,
        "API answered 503",
    )
    assert await store.claim_events("b", 10, LEASE, T + 59) == []
    assert [e.id for e in await store.claim_events("b", 10, LEASE, T + 60)] == [accepted.event_id]


async def test_fail_event_ends_it_with_the_reason(store: Store) -> None:
    accepted = await store.add_event(event(), dedupe_window=WINDOW, now=T)
    await store.claim_events("a", 10, LEASE, T)
    await store.fail_event(accepted.event_id, "a", "order 1042 not found (404)", T + 2)
    record = await store.get_event(accepted.event_id)
    assert record is not None
    assert (record.status, record.attempts, record.last_error, record.routed_at) == (
        "failed",
        1,
        "order 1042 not found (404)",
        T + 2,
    )
    assert await store.claim_events("b", 10, LEASE, T + 1000) == []


# ---------------------------------------------------------------- deliver


async def test_claimed_deliveries_are_leased_and_taken_over_after_expiry(store: Store) -> None:
    [one, two] = await routed(store, 1, ["one", "two"])
    claimed = await store.claim_deliveries("a", 1, LEASE, T)
    assert len(claimed) == 1 and claimed[0].request is not None
    [other] = await store.claim_deliveries("b", 10, LEASE, T)
    assert {claimed[0].id, other.id} == {one, two}
    assert await store.claim_deliveries("c", 10, LEASE, T + LEASE - 1) == []
    assert {d.id for d in await store.claim_deliveries("c", 10, LEASE, T + LEASE)} == {one, two}


async def test_finish_attempt_delivered_retry_and_dead(store: Store) -> None:
    [ok, flaky, gone] = await routed(store, 1, ["ok", "flaky", "gone"])
    await store.claim_deliveries("a", 10, LEASE, T)
    await store.finish_attempt(ok, "a", attempt("delivered", T + 1), None)
    await store.finish_attempt(flaky, "a", attempt("retry", T + 1, 503, "HTTP 503"), T + 5)
    await store.finish_attempt(gone, "a", attempt("dead", T + 1, 410, "HTTP 410 Gone"), None)

    delivered, pending, dead = [await store.get_delivery(i) for i in (ok, flaky, gone)]
    assert delivered is not None and pending is not None and dead is not None
    assert (delivered.status, delivered.attempts, delivered.updated_at) == ("delivered", 1, T + 1 + 0.0125)
    assert (pending.status, pending.attempts, pending.next_attempt_at, pending.last_error) == (
        "pending",
        1,
        T + 5,
        "HTTP 503",
    )
    assert (dead.status, dead.attempts, dead.last_error) == ("dead", 1, "HTTP 410 Gone")

    assert await store.claim_deliveries("b", 10, LEASE, T + 4) == []
    [again] = await store.claim_deliveries("b", 10, LEASE, T + 5)
    assert (again.id, again.attempts) == (flaky, 1)
    await store.finish_attempt(flaky, "b", attempt("delivered", T + 6, 201), None)
    attempts = await store.list_attempts(flaky)
    assert [(a.number, a.outcome, a.status_code, a.error) for a in attempts] == [
        (1, "retry", 503, "HTTP 503"),
        (2, "delivered", 201, None),
    ]
    assert attempts[0].started_at == T + 1 and attempts[0].duration_ms == 12.5
    assert attempts[0].delivery_id == flaky
    assert await store.list_attempts(ok + gone + flaky + 1000) == []


async def test_finish_attempt_after_the_lease_was_lost_keeps_the_attempt_not_the_state(store: Store) -> None:
    [ident] = await routed(store, 1, ["slow"])
    await store.claim_deliveries("a", 10, LEASE, T)
    await store.claim_deliveries("b", 10, LEASE, T + LEASE)  # a took too long: b holds it now
    await store.finish_attempt(ident, "a", attempt("delivered", T + 1), None)
    record = await store.get_delivery(ident)
    assert record is not None and (record.status, record.attempts) == ("pending", 0)
    assert [(a.number, a.outcome) for a in await store.list_attempts(ident)] == [(1, "delivered")]
    await store.finish_attempt(ident, "b", attempt("delivered", T + LEASE + 1), None)
    record = await store.get_delivery(ident)
    assert record is not None and (record.status, record.attempts) == ("delivered", 1)


async def test_defer_gives_a_delivery_back_without_spending_an_attempt(store: Store) -> None:
    [ident] = await routed(store, 1, ["breaker"])
    await store.claim_deliveries("a", 10, LEASE, T)
    await store.defer_delivery(ident, "not-the-holder", T + 1)  # ignored
    await store.defer_delivery(ident, "a", T + 20)
    record = await store.get_delivery(ident)
    assert record is not None and (record.status, record.attempts, record.next_attempt_at) == ("pending", 0, T + 20)
    assert await store.list_attempts(ident) == []
    assert await store.claim_deliveries("b", 10, LEASE, T + 19) == []
    assert [d.id for d in await store.claim_deliveries("b", 10, LEASE, T + 20)] == [ident]


async def test_release_makes_an_owners_work_claimable_at_once(store: Store) -> None:
    [ident] = await routed(store, 1, ["one"])
    other = await store.add_event(event(2), dedupe_window=WINDOW, now=T)
    await store.claim_events("a", 10, LEASE, T)
    await store.claim_deliveries("a", 10, LEASE, T)
    held = await store.add_event(event(3), dedupe_window=WINDOW, now=T)
    await store.claim_events("keeps", 10, LEASE, T)
    await store.release("a")
    assert [e.id for e in await store.claim_events("b", 10, LEASE, T + 1)] == [other.event_id]
    assert [d.id for d in await store.claim_deliveries("b", 10, LEASE, T + 1)] == [ident]
    record = await store.get_event(held.event_id)
    assert record is not None and record.next_attempt_at == T + LEASE  # another owner's lease is untouched


async def test_due_times_are_the_earliest_pending_event_and_delivery_each(store: Store) -> None:
    assert await store.due_times() == [Due(None, None)]
    [ident] = await routed(store, 1, ["d"], now=T)  # its event is routed: only the new delivery is pending
    assert await store.due_times() == [Due(None, T)]
    await store.claim_deliveries("a", 10, LEASE, T)
    assert await store.due_times() == [Due(None, T + LEASE)]  # a lease is due when it expires
    await store.finish_attempt(ident, "a", attempt("retry", T, 500, "HTTP 500"), T + 7)
    await store.add_event(event(2), dedupe_window=WINDOW, now=T + 9)
    assert await store.due_times() == [Due(T + 9, T + 7)]
    await store.claim_deliveries("a", 10, LEASE, T + 7)
    await store.finish_attempt(ident, "a", attempt("delivered", T + 7), None)
    assert await store.due_times() == [Due(T + 9, None)]
    [pending] = await store.claim_events("a", 10, LEASE, T + 9)
    await store.fail_event(pending.id, "a", "404", T + 9)
    assert await store.due_times() == [Due(None, None)]


# ---------------------------------------------------------------- reading and operating


async def test_listing_is_newest_first_with_filters_and_limit(store: Store) -> None:
    first = await routed(store, 1, ["a1", "a2"])
    second = await routed(store, 2, ["b1"])
    failed = await store.add_event(event(3), dedupe_window=WINDOW, now=T)
    pending = await store.add_event(event(4), dedupe_window=WINDOW, now=T + 1)
    [claimed] = await store.claim_events("a", 1, LEASE, T)
    await store.fail_event(claimed.id, "a", "gone", T)
    assert claimed.id == failed.event_id

    events = await store.list_events()
    assert [e.id for e in events] == sorted((e.id for e in events), reverse=True) and len(events) == 4
    assert [e.id for e in await store.list_events(EventFilter(status="pending"))] == [pending.event_id]
    assert [e.id for e in await store.list_events(EventFilter(status="failed"))] == [failed.event_id]
    assert len(await store.list_events(EventFilter(status="routed"))) == 2
    assert len(await store.list_events(limit=3)) == 3

    assert [d.id for d in await store.list_deliveries()] == sorted(first + second, reverse=True)
    assert [d.id for d in await store.list_deliveries(DeliveryFilter(event_id=events[-1].id))] == sorted(
        first, reverse=True
    )
    await store.claim_deliveries("a", 10, LEASE, T)
    await store.finish_attempt(first[0], "a", attempt("delivered"), None)
    assert [d.id for d in await store.list_deliveries(DeliveryFilter(status="delivered"))] == [first[0]]
    assert [d.id for d in await store.list_deliveries(DeliveryFilter(status="pending", event_id=events[-1].id))] == [
        first[1]
    ]
    assert len(await store.list_deliveries(limit=1)) == 1
    assert await store.get_delivery(max(first + second) + 1) is None


async def test_replay_requeues_delivered_and_dead_with_the_same_request_and_key(store: Store) -> None:
    accepted = await store.add_event(event(), dedupe_window=WINDOW, now=T)
    await store.claim_events("a", 10, LEASE, T)
    news = [delivery("done"), delivery("dead"), delivery("waiting"), delivery("unrendered", status="dead")]
    await store.complete_route(accepted.event_id, "a", RouteResult(news, [], "v1"), T)
    done, dead, waiting, unrendered = sorted(d.id for d in await store.list_deliveries())
    await store.claim_deliveries("a", 10, LEASE, T)
    await store.finish_attempt(done, "a", attempt("delivered"), None)
    await store.finish_attempt(dead, "a", attempt("dead", status=400, error="HTTP 400"), None)
    await store.finish_attempt(waiting, "a", attempt("retry", status=503, error="HTTP 503"), T + 100)
    before = await store.get_delivery(dead)

    # Pending ones and ones never rendered are left alone.
    assert await store.replay_deliveries([done, dead, waiting, unrendered, 999_999], T + 50) == 2
    after = await store.get_delivery(dead)
    assert before is not None and after is not None
    assert (after.status, after.attempts, after.next_attempt_at) == ("pending", 0, T + 50)
    assert (after.request, after.delivery_key) == (before.request, before.delivery_key)
    assert {d.id for d in await store.claim_deliveries("b", 10, LEASE, T + 50)} == {done, dead}
    assert await store.replay_deliveries([], T) == 0


async def test_counts_by_status_and_the_oldest_pending(store: Store) -> None:
    empty = await store.counts(T)
    assert (empty.events, empty.deliveries, empty.oldest_pending_at) == ({}, {}, None)
    [ident, _] = await routed(store, 1, ["x", "y"], now=T + 5)
    await store.add_event(event(2), dedupe_window=WINDOW, now=T + 8)
    await store.claim_deliveries("a", 10, LEASE, T + 9)
    await store.finish_attempt(ident, "a", attempt("dead", T + 9, 400, "no"), None)
    counts = await store.counts(T + 10)
    assert counts.events == {"routed": 1, "pending": 1}
    assert counts.deliveries == {"pending": 1, "dead": 1}
    assert counts.oldest_pending_at == T + 5  # the pending delivery, created at T + 5


async def test_a_reopened_store_keeps_everything_and_ping_answers(store: Store, open_store: Opener) -> None:
    [ident] = await routed(store, 1, ["kept"])
    await store.ping()
    await store.close()
    again = await open_store()
    await again.ping()
    record = await again.get_delivery(ident)
    assert record is not None and record.action_key == "action-kept"
    assert (await again.add_event(event(1), dedupe_window=WINDOW, now=T + 1)).duplicate


async def test_filters_by_trigger_object_connector_rule_and_time(store: Store) -> None:
    await store.add_event(event(1), dedupe_window=WINDOW, now=T)
    await store.add_event(event(2, trigger="invoice_created"), dedupe_window=WINDOW, now=T + 10)
    await store.add_event(event(3), dedupe_window=WINDOW, now=T + 20)
    by = store.list_events
    assert [e.event.triggerable_id for e in await by(EventFilter(trigger="order_paid"))] == ["3", "1"]
    assert [e.event.triggerable_id for e in await by(EventFilter(triggerable_id="2"))] == ["2"]
    assert [e.event.triggerable_id for e in await by(EventFilter(since=T + 10))] == ["3", "2"]
    assert [e.event.triggerable_id for e in await by(EventFilter(since=T + 5, until=T + 20))] == ["2"]
    assert await by(EventFilter(trigger="order_paid", triggerable_id="2")) == []

    accepted = await store.add_event(event(9), dedupe_window=WINDOW, now=T + 30)
    [claimed] = await store.claim_events("a", 1, LEASE, T + 30)
    assert claimed.id == 1  # the oldest due first; route the others too
    await store.complete_route(claimed.id, "a", RouteResult([delivery("c1")], [], "v1"), T + 30)
    other = NewDelivery(
        rule="audit",
        action_index=0,
        connector="crm",
        action_key="action-c2",
        delivery_key="ppr_c2",
        request={"op": "add_tag"},
        schedule=(5.0,),
    )
    for _ in range(3):
        [nxt] = await store.claim_events("a", 1, LEASE, T + 40)
        news = [other] if nxt.id == accepted.event_id else []
        await store.complete_route(nxt.id, "a", RouteResult(news, [], "v1"), T + 40)
    assert [d.connector for d in await store.list_deliveries(DeliveryFilter(connector="crm"))] == ["crm"]
    assert [d.rule for d in await store.list_deliveries(DeliveryFilter(rule="welcome"))] == ["welcome"]
    assert [d.connector for d in await store.list_deliveries(DeliveryFilter(since=T + 35))] == ["crm"]
    assert len(await store.delivery_ids(DeliveryFilter(status="pending"))) == 2
    assert await store.delivery_ids(DeliveryFilter(status="dead")) == []


async def test_fetched_summary_is_kept_with_the_routed_event(store: Store) -> None:
    accepted = await store.add_event(event(), dedupe_window=WINDOW, now=T)
    await store.claim_events("a", 1, LEASE, T)
    summary = {"type": "order", "id": 1042, "sha256": "ab" * 32}
    await store.complete_route(
        accepted.event_id, "a", RouteResult([], [{"rule": "r", "matched": False}], "v1", summary), T
    )
    record = await store.get_event(accepted.event_id)
    assert record is not None and record.fetched == summary


async def test_reroute_supersedes_dead_deliveries_and_routes_again(store: Store) -> None:
    accepted = await store.add_event(event(), dedupe_window=WINDOW, now=T)
    await store.claim_events("a", 10, LEASE, T)
    await store.complete_route(
        accepted.event_id, "a", RouteResult([delivery("ok"), delivery("bad", status="dead")], [], "v1"), T
    )
    ok, bad = sorted(d.id for d in await store.list_deliveries())
    await store.claim_deliveries("a", 10, LEASE, T)
    await store.finish_attempt(ok, "a", attempt("delivered"), None)

    assert await store.reroute_event(accepted.event_id, T + 100)
    assert not await store.reroute_event(999_999, T + 100)
    old = await store.get_delivery(bad)
    assert old is not None and old.status == "superseded"
    [again] = await store.claim_events("b", 10, LEASE, T + 100)
    assert again.id == accepted.event_id and again.attempts == 0
    fresh = [delivery("ok"), delivery("bad")]  # rendered again with fresh data
    assert await store.complete_route(again.id, "b", RouteResult(fresh, [], "v2"), T + 100) == 1
    statuses = {d.action_key: d.status for d in await store.list_deliveries()}
    assert statuses["action-ok"] == "delivered" and statuses["action-bad"] == "pending"
    assert [d.id for d in await store.list_deliveries(DeliveryFilter(status="superseded"))] == [bad]


async def test_purge_removes_old_finished_events_in_batches_but_never_pending_work(store: Store) -> None:
    old_done = await routed(store, 1, ["o1"], now=T)  # routed, delivery pending
    await store.claim_deliveries("a", 10, LEASE, T)
    await store.finish_attempt(old_done[0], "a", attempt("delivered"), None)
    await routed(store, 2, ["o2"], now=T)  # routed, delivery still pending: kept
    await store.add_event(event(3), dedupe_window=WINDOW, now=T)  # not routed yet: kept
    for ident in (4, 5, 6):
        await store.add_event(event(ident), dedupe_window=WINDOW, now=T + 1)
    for claimed in await store.claim_events("a", 10, LEASE, T + 1):
        if claimed.event.triggerable_id in ("4", "5", "6"):
            await store.fail_event(claimed.id, "a", "gone", T + 1)
        else:
            await store.retry_event(claimed.id, "a", T + 1, "later")
    await store.add_event(event(7), dedupe_window=WINDOW, now=T + 500)  # recent: kept

    assert await store.purge(T + 100, T + 100, batch=2) == 2
    assert await store.purge(T + 100, T + 100, batch=2) == 2
    assert await store.purge(T + 100, T + 100, batch=2) == 0
    left = sorted(e.event.triggerable_id for e in await store.list_events())
    assert left == ["2", "3", "7"]
    assert await store.get_delivery(old_done[0]) is None
    assert await store.list_attempts(old_done[0]) == []
    # Dedupe keys outlive nothing: once expired they are purged, and the webhook is new again.
    await store.purge(T, T + WINDOW + 600, batch=100)
    assert not (await store.add_event(event(7), dedupe_window=WINDOW, now=T + WINDOW + 600)).duplicate


# ---------------------------------------------------------------- purged action keys and ids, stale events, leases


async def test_action_keys_outlive_the_purge_of_their_deliveries(store: Store) -> None:
    [first] = await routed(store, 1, ["welcome"], now=T)
    await store.claim_deliveries("a", 10, LEASE, T)
    await store.finish_attempt(first, "a", attempt("delivered"), None)
    later = T + WINDOW + 600
    assert await store.purge(later, later, batch=100) == 1  # the event, its delivery and its dedupe key are gone
    assert await store.get_delivery(first) is None

    # The same webhook again (its dedupe key expired): a new event, but its action already ran.
    replayed = await store.add_event(event(1), dedupe_window=WINDOW, now=later)
    assert not replayed.duplicate
    [claimed] = await store.claim_events("a", 10, LEASE, later)
    inserted = await store.complete_route(claimed.id, "a", RouteResult([delivery("welcome")], [], "v1"), later)
    assert inserted == 0
    assert await store.list_deliveries() == []

    # Once the action key is past its own retention, the action may run again.
    assert await store.purge_action_keys(later, batch=100) == 1
    assert await store.purge_action_keys(later, batch=100) == 0
    again = await store.add_event(event(1, rule_id="319"), dedupe_window=WINDOW, now=later + 1)
    [claimed] = await store.claim_events("a", 10, LEASE, later + 1)
    assert claimed.id == again.event_id
    assert await store.complete_route(claimed.id, "a", RouteResult([delivery("welcome")], [], "v1"), later + 1) == 1


async def test_purge_action_keys_goes_by_age_in_batches(store: Store) -> None:
    await routed(store, 1, ["a1", "a2"], now=T)
    await routed(store, 2, ["b1"], now=T + 100)
    assert await store.purge_action_keys(T + 50, batch=1) == 1
    assert await store.purge_action_keys(T + 50, batch=1) == 1
    assert await store.purge_action_keys(T + 50, batch=1) == 0
    # The deliveries stay (their own unique key still dedupes them); only a1 and a2's keys went.
    assert len(await store.list_deliveries()) == 3


async def test_reroute_frees_the_action_keys_of_dead_deliveries(store: Store) -> None:
    accepted = await store.add_event(event(), dedupe_window=WINDOW, now=T)
    await store.claim_events("a", 10, LEASE, T)
    await store.complete_route(accepted.event_id, "a", RouteResult([delivery("bad", status="dead")], [], "v1"), T)
    assert await store.purge_action_keys(T - 1, batch=100) == 0
    assert await store.reroute_event(accepted.event_id, T + 10)
    [again] = await store.claim_events("a", 10, LEASE, T + 10)
    assert await store.complete_route(again.id, "a", RouteResult([delivery("bad")], [], "v2"), T + 10) == 1


async def test_event_and_delivery_ids_are_never_reused_after_a_purge(store: Store) -> None:
    delivery_ids: list[int] = []
    for ident in (1, 2, 3):
        delivery_ids += await routed(store, ident, [f"k{ident}"], now=T)
    event_ids = [e.id for e in await store.list_events()]
    for claimed in await store.claim_deliveries("a", 10, LEASE, T):
        await store.finish_attempt(claimed.id, "a", attempt("delivered"), None)
    later = T + WINDOW + 600
    assert await store.purge(later, later, batch=100) == 3
    assert await store.list_events() == []

    new_ids = await routed(store, 4, ["k4"], now=later)
    [new_event] = await store.list_events()
    assert new_event.id > max(event_ids)
    assert min(new_ids) > max(delivery_ids)


async def test_a_stale_event_is_kept_but_only_an_operator_routes_it(store: Store) -> None:
    accepted = await store.add_event(event(), dedupe_window=WINDOW, now=T, stale=True)
    assert not accepted.duplicate
    record = await store.get_event(accepted.event_id)
    assert record is not None and record.status == "stale"
    assert await store.claim_events("a", 10, LEASE, T + 10_000) == []
    assert await store.due_times() == [Due(None, None)]
    assert (await store.counts(T)).events == {"stale": 1}
    # A repeat inside the window is a duplicate of the stale event, whatever its age.
    again = await store.add_event(event(), dedupe_window=WINDOW, now=T + 1, stale=True)
    assert again.duplicate and again.event_id == accepted.event_id

    assert await store.reroute_event(accepted.event_id, T + 20)
    [claimed] = await store.claim_events("a", 10, LEASE, T + 20)
    assert claimed.id == accepted.event_id


async def test_extend_leases_keeps_work_in_flight_with_its_holder(store: Store) -> None:
    [one, two] = await routed(store, 1, ["one", "two"], now=T)
    assert len(await store.claim_deliveries("a", 10, LEASE, T)) == 2
    assert await store.extend_leases("a", [one], T + 500) == 1
    assert await store.extend_leases("intruder", [two], T + 500) == 0  # not its lease: untouched
    assert await store.extend_leases("a", [one], T + 1) == 1  # never shortens a lease
    # Past the first lease only the delivery that was not renewed can be taken over.
    [taken] = await store.claim_deliveries("b", 10, 1000, T + LEASE + 1)
    assert taken.id == two
    assert await store.extend_leases("a", [two], T + 900) == 0  # taken over: no longer ours to renew
    assert await store.claim_deliveries("c", 10, LEASE, T + 499) == []  # "one" renewed, "two" leased by b
    assert [d.id for d in await store.claim_deliveries("c", 10, LEASE, T + 501)] == [one]
    assert await store.extend_leases("a", [], T + 900) == 0

    accepted = await store.add_event(event(2), dedupe_window=WINDOW, now=T)
    await store.claim_events("a", 10, LEASE, T)
    assert await store.extend_leases("a", [accepted.event_id], T + 500, "events") == 1
    assert await store.claim_events("b", 10, LEASE, T + LEASE + 1) == []
