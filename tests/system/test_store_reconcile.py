"""Store contract for reconcile and backfill, on SQLite and PostgreSQL alike: listed events, the business-key
dedupe that makes a late webhook a duplicate, watermarks that outlive the store, and the reconcile lock."""

from __future__ import annotations

import dataclasses

from router.events import Event
from router.store.base import EventFilter, ListedEvent, RouteResult
from tests.system.conftest import Opener

T = 1_000_000.0
WINDOW = 600.0


def webhook(ident: int, rule_id: str | None = "318") -> Event:
    return Event("order_paid", "order_payment_completed", "order", str(ident), "42", rule_id, None, "v2", {"x": 1})


def found(ident: int, source: str = "reconcile") -> Event:
    return Event("order_paid", "order_paid", "order", str(ident), "42", None, None, source, {source: {}})


def listed(ident: int, *, business: bool = True, source: str = "reconcile") -> ListedEvent:
    event = found(ident, source)
    return ListedEvent(event, f"{source}:{event.business_key}", business=business)


async def test_a_found_event_makes_the_late_webhook_a_duplicate(open_store: Opener) -> None:
    store = await open_store()
    [first] = await store.add_listed_events([listed(7)], dedupe_window=WINDOW, now=T)
    assert not first.duplicate
    late = await store.add_event(webhook(7), dedupe_window=WINDOW, now=T + 10)
    assert late.duplicate and late.event_id == first.event_id
    other_rule = await store.add_event(webhook(7, rule_id="319"), dedupe_window=WINDOW, now=T + 11)
    assert other_rule.duplicate, "every Plug&Pay rule's webhook of the business event is covered"
    after_window = await store.add_event(webhook(7), dedupe_window=WINDOW, now=T + WINDOW + 1)
    assert not after_window.duplicate
    assert [e.event.source for e in await store.list_events(EventFilter(source="reconcile"))] == ["reconcile"]


async def test_an_object_with_a_webhook_event_is_not_found_again(open_store: Opener) -> None:
    store = await open_store()
    received = await store.add_event(webhook(8), dedupe_window=WINDOW, now=T)
    again = await store.add_listed_events([listed(8), listed(9)], dedupe_window=WINDOW, now=T + 5)
    assert again[0].duplicate and again[0].event_id == received.event_id
    assert not again[1].duplicate
    twice = await store.add_listed_events([listed(9)], dedupe_window=WINDOW, now=T + 6)
    assert twice[0].duplicate and twice[0].event_id == again[1].event_id


async def test_a_failed_event_does_not_cover_its_business_event(open_store: Opener) -> None:
    store = await open_store()
    received = await store.add_event(webhook(10), dedupe_window=WINDOW, now=T)
    [claimed] = await store.claim_events("me", 1, 30, T)
    await store.fail_event(claimed.id, "me", "404", T + 1)
    [retry] = await store.add_listed_events([listed(10)], dedupe_window=WINDOW, now=T + 2)
    assert not retry.duplicate and retry.event_id != received.event_id


async def test_a_backfill_of_some_rules_leaves_the_webhook_its_own_event(open_store: Opener) -> None:
    store = await open_store()
    received = await store.add_event(webhook(11), dedupe_window=WINDOW, now=T)
    [backfilled] = await store.add_listed_events(
        [listed(11, business=False, source="backfill")], dedupe_window=WINDOW, now=T + 1
    )
    assert not backfilled.duplicate, "a backfill runs its rules even for objects a webhook announced"
    [again] = await store.add_listed_events(
        [listed(11, business=False, source="backfill")], dedupe_window=WINDOW, now=T + 2
    )
    assert again.duplicate and again.event_id == backfilled.event_id
    late = await store.add_event(webhook(11, rule_id="400"), dedupe_window=WINDOW, now=T + 3)
    assert not late.duplicate and late.event_id not in (received.event_id, backfilled.event_id)
    claimed = await store.claim_events("me", 10, 30, T + 4)
    assert {c.event.source for c in claimed} == {"v2", "backfill"}
    for record in claimed:
        await store.complete_route(record.id, "me", RouteResult([], [], "v"), T + 5)


async def test_watermarks_survive_reopening(open_store: Opener) -> None:
    store = await open_store()
    assert await store.get_watermark("reconcile:order_paid") is None
    await store.set_watermark("reconcile:order_paid", T, T)
    await store.set_watermark("reconcile:order_paid", T + 60, T + 60)
    await store.close()
    reopened = await open_store()
    assert await reopened.get_watermark("reconcile:order_paid") == T + 60
    assert await reopened.get_watermark("reconcile:invoice_created") is None


async def test_one_instance_at_a_time_holds_the_reconcile_lock(open_store: Opener, store_url: str) -> None:
    first, second = await open_store(), await open_store()
    async with first.exclusive("reconcile") as mine:
        assert mine
        async with second.exclusive("reconcile") as theirs:
            # SQLite: one daemon per file, so the lock is always the caller's.
            assert theirs is store_url.startswith("sqlite")
    async with second.exclusive("reconcile") as theirs:
        assert theirs, "the lock is free again once the holder is done"


async def test_listed_events_are_routed_like_webhooks(open_store: Opener) -> None:
    store = await open_store()
    accepted = await store.add_listed_events([listed(20), listed(21)], dedupe_window=WINDOW, now=T)
    claimed = await store.claim_events("me", 10, 30, T)
    assert sorted(c.id for c in claimed) == sorted(a.event_id for a in accepted)
    assert all(
        dataclasses.replace(c.event, payload={}) == dataclasses.replace(found(int(c.event.triggerable_id)), payload={})
        for c in claimed
    )
