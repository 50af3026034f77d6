"""The alert loop against both stores: the first alert of a kind is stored at once and the rest wait for one
digest, a kind that is off is dropped, two instances on one PostgreSQL store send each alert once, and
yesterday's summary goes once, after its time of day."""

from __future__ import annotations

import asyncio
import datetime as dt

from router.alerts.loop import Alerter
from router.alerts.summary import bounds
from router.config import Config, parse_config
from router.store.base import DeliveryFilter, EventFilter, RouteResult, Store
from tests.system.conftest import make
from tests.system.test_store_contract import LEASE, WINDOW, T, delivery, event
from tests.system.test_store_insight import finish

CONFIG = """version: 1
plugandpay: {allow_unsigned: true}
connectors:
  ops: {type: http, base_url: https://hooks.example.nl}
alerts:
  channels: [{connector: ops, path: /ops}]
  digest_every: 10m
  when: {event_failed: false}
"""


def alerter(store: Store, config: Config) -> Alerter:
    return Alerter(store, lambda: config, lambda: {}, lambda: None)


async def alerts_stored(store: Store) -> list[dict]:
    found = await store.list_events(EventFilter(source="alert"), limit=100)
    return [r.event.payload for r in sorted(found, key=lambda r: r.id)]


async def dead_delivery(store: Store, ident: int, at: float) -> None:
    accepted = await store.add_event(event(ident), dedupe_window=WINDOW, now=at)
    claimed = await store.claim_events("router", 10, LEASE, at)  # alert events too: left to the route stage
    assert accepted.event_id in [c.id for c in claimed]
    await store.complete_route(accepted.event_id, "router", RouteResult([delivery(f"welcome-{ident}")], [], "v1"), at)
    [made] = await store.list_deliveries(DeliveryFilter(event_id=accepted.event_id))
    await finish(store, made.id, "dead", at)


async def test_the_first_alert_goes_at_once_and_the_rest_wait_for_one_digest(store: Store) -> None:
    config = parse_config(CONFIG, "shop.yaml", {})
    waiting: list[int] = []
    loop = Alerter(store, lambda: config, lambda: {}, lambda: None, on_waiting=waiting.append)
    await dead_delivery(store, 1042, T)
    await loop.tick(T + 1)
    await dead_delivery(store, 1043, T + 2)
    await dead_delivery(store, 1044, T + 3)
    await loop.tick(T + 4)
    assert [a["count"] for a in await alerts_stored(store)] == [1]  # the digest is not due yet
    assert waiting[-1] == 2  # the outbox depth /metrics shows
    await loop.tick(T + 1 + 600)
    told = await alerts_stored(store)
    assert [(a["kind"], a["count"]) for a in told] == [("dead_delivery", 1), ("dead_delivery", 2)]
    assert [i["object"] for i in told[1]["items"]] == ["order 1043", "order 1044"]
    assert waiting[-1] == 0
    await loop.tick(T + 2000)
    assert [a["kind"] for a in await alerts_stored(store)].count("dead_delivery") == 2  # nothing is told twice


async def test_a_kind_that_is_off_is_dropped_not_kept_for_later(store: Store) -> None:
    loop = alerter(store, parse_config(CONFIG, "shop.yaml", {}))
    await store.add_alerts([("event_failed", {"event_id": 7, "error": "404"})], T)
    await loop.tick(T + 1)
    assert await alerts_stored(store) == []
    on = parse_config(CONFIG.replace("event_failed: false", "event_failed: true"), "shop.yaml", {})
    await alerter(store, on).tick(T + 2)
    assert await alerts_stored(store) == []  # turning it on later does not send the old ones


async def test_two_instances_on_one_postgres_store_send_each_alert_once(pg_url: str) -> None:
    first, second = make(pg_url), make(pg_url)
    await first.open()
    await second.open()
    try:
        config = parse_config(CONFIG, "shop.yaml", {})
        await dead_delivery(first, 1042, T)
        loops = [alerter(first, config), alerter(second, config)]
        for at in (T + 1, T + 2, T + 700, T + 2000):  # at T + 2000 the unsent alert event is a backlog
            await asyncio.gather(*(loop.tick(at) for loop in loops))
        told = [(a["kind"], a["count"]) for a in await alerts_stored(first)]
        assert told == [("dead_delivery", 1), ("backlog", 1)]  # the backlog seen by one instance, not both
    finally:
        await first.close()
        await second.close()


async def test_alerts_keep_coming_when_the_outbox_holds_more_rows_than_one_read(store: Store) -> None:
    config = parse_config(CONFIG, "shop.yaml", {})
    loop = alerter(store, config)
    loop.read_limit = 3  # stands for the 5,000 rows a tick reads; kinds that never fired must not pin the read
    await store.add_alerts([("dead_delivery", {"delivery_id": n}) for n in range(1, 6)], T)
    await loop.tick(T + 1)  # the first alert: rows 1-3
    await loop.tick(T + 2)  # rows 4-5 wait for the digest
    await loop.tick(T + 1 + 600)
    await store.add_alerts([("dead_delivery", {"delivery_id": 6})], T + 700)
    await loop.tick(T + 1 + 1200)
    told = [a for a in await alerts_stored(store) if a["kind"] == "dead_delivery"]
    assert [[i["delivery_id"] for i in a["items"]] for a in told] == [[1, 2, 3], [4, 5], [6]]


async def test_yesterdays_summary_goes_once_after_its_time_with_that_days_figures(store: Store) -> None:
    zone = "Europe/Amsterdam"
    config = parse_config(CONFIG + f'  daily_summary: "08:00"\n  timezone: {zone}\n', "shop.yaml", {})
    since, until = bounds(dt.date(1970, 1, 12), zone)  # T falls on this day
    await dead_delivery(store, 1042, since + 3600)
    await store.add_event(event(1043), dedupe_window=WINDOW, now=since + 7200)
    await store.add_event(event(1044, trigger="invoice_created"), dedupe_window=WINDOW, now=since + 7300)
    await store.add_event(event(1045), dedupe_window=WINDOW, now=since - 10)  # the day before
    await store.add_event(event(1046), dedupe_window=WINDOW, now=until + 10)  # today
    loop = alerter(store, config)
    await loop.tick(until + 7 * 3600 + 59 * 60)  # 07:59 the next morning

    async def summaries() -> list[dict]:
        return [a for a in await alerts_stored(store) if a["kind"] == "daily_summary"]

    assert await summaries() == []
    await loop.tick(until + 8 * 3600)
    [told] = await summaries()
    assert told["extra"] == {
        "day": "1970-01-12",
        "timezone": zone,
        "events": 3,
        "received": {"order_paid": 2, "invoice_created": 1},
        "delivered": 0,
        "dead": 1,
        "failed": 0,
    }  # the router's own alert events are not the shop's
    assert [(i["connector"], i["count"]) for i in told["items"]] == [("sink", 1)]
    await loop.tick(until + 9 * 3600)
    await alerter(store, config).tick(until + 10 * 3600)  # a restarted or second instance
    assert len(await summaries()) == 1
