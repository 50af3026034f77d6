"""The reconcile watermark in process (``router.shop.reconcile``), on a SQLite store file and a stand-in API
that lists whatever orders a test gives it: a pass at ``now`` checks up to ``now - grace`` and leaves the
watermark there, so what was still in its grace period is checked by the next pass; the watermark moves
only once the window's events are stored; and a dry run (the ``reconcile --dry-run`` command) stores nothing,
moves no watermark and names exactly the objects the pass then stores."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from router.config import Config, parse_config
from router.derive import api_time
from router.events import Event
from router.shop.reconcile import WATERMARK, Reconciler
from router.store.base import ListedEvent, StoreUnavailable
from router.store.sqlite import SqliteStore

T = dt.datetime(2025, 3, 14, 12, 0, tzinfo=dt.UTC).timestamp()
GRACE = 600.0
MARK = WATERMARK.format(trigger="order_paid")

CONFIG = parse_config(
    """version: 1
plugandpay: {api_url: "http://127.0.0.1:9", api_token: "pp-token-1234", webhook_key: "rules-test-key-1234"}
store: {url: "sqlite:///unused.db"}
reconcile: {every: 5m, lookback: 1h, grace: 10m}
connectors: {sink: {type: http, base_url: "http://127.0.0.1:9"}}
rules:
  - {name: welcome, trigger: order_paid, actions: [{connector: sink, path: /welcome}]}
""",
    "reconcile.yaml",
    {},
)


def paid_order(ident: int, paid_at: float) -> dict[str, Any]:
    return {"id": ident, "payment": {"status": "paid", "paid_at": api_time(paid_at)}}


class Shop:
    """The Plug&Pay API as reconcile uses it: the tenant, and every listed page (filters are left to
    ``Derivation.in_window``, as a server that ignores them would)."""

    def __init__(self, orders: list[dict[str, Any]]) -> None:
        self.orders = orders
        self.asked: list[dict[str, str]] = []

    async def tenant(self) -> dict[str, Any]:
        return {"id": 42}

    async def list_pages(self, path: str, params: Mapping[str, str] | None = None) -> AsyncIterator[list[Any]]:
        self.asked.append(dict(params or {}))
        yield list(self.orders)


class FullDisk(SqliteStore):
    """A store whose writes of found events fail (a full disk); everything else works."""

    async def add_listed_events(self, items: list[ListedEvent], **kwargs: Any) -> Any:
        raise StoreUnavailable("sqlite: database or disk is full")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "store.db")
    await opened.open()
    yield opened
    await opened.close()


def reconciler(store: SqliteStore, shop: Shop, config: Config = CONFIG) -> Reconciler:
    return Reconciler(store, lambda: (config, shop))  # type: ignore[arg-type,return-value]


async def test_a_pass_checks_up_to_the_grace_and_leaves_the_watermark_there(store) -> None:
    assert CONFIG.reconcile.grace == GRACE
    in_grace = paid_order(1042, T - 60)  # paid a minute before the pass: its webhook is probably on its way
    shop = Shop([paid_order(1041, T - 1800), in_grace])
    first = await reconciler(store, shop).run_pass(now=T)
    assert [ident for ident, _ in first.triggers[0].found] == ["1041"]
    assert await store.get_watermark(MARK) == T - GRACE
    assert shop.asked[-1]["until_paid_at"] == api_time(T - GRACE)

    # The webhook of 1042 never came: the next pass starts where the first one stopped, so it finds it.
    second = await reconciler(store, shop).run_pass(now=T + GRACE)
    assert (second.triggers[0].since, second.triggers[0].until) == (T - GRACE, T)
    assert [ident for ident, _ in second.triggers[0].found] == ["1042"]
    assert await store.get_watermark(MARK) == T


async def test_the_watermark_stays_when_the_found_events_cannot_be_stored(tmp_path: Path) -> None:
    full = FullDisk(tmp_path / "full.db")
    await full.open()
    try:
        await full.set_watermark(MARK, T - 900, T - 300)
        shop = Shop([paid_order(1042, T - 800)])
        with pytest.raises(StoreUnavailable):
            await reconciler(full, shop).run_pass(now=T)
        assert await full.get_watermark(MARK) == T - 900, "the window was not checked: the next pass redoes it"
    finally:
        await full.close()


async def test_a_dry_run_stores_nothing_keeps_the_watermark_and_names_what_the_pass_then_stores(store) -> None:
    def webhook(ident: int) -> Event:
        return Event("order_paid", "order_paid", "order", str(ident), tenant_id="42", rule_id="318")

    await store.add_event(webhook(1040), dedupe_window=86400, now=T - 1500)  # its webhook came
    failed = await store.add_event(webhook(1041), dedupe_window=86400, now=T - 1500)
    assert failed.event_id in {r.id for r in await store.claim_events("test", 10, 60, T - 1400)}
    await store.fail_event(failed.event_id, "test", "state mismatch", T - 1400)  # a failed event covers nothing
    shop = Shop([paid_order(ident, T - 1800) for ident in (1040, 1041, 1042)] + [paid_order(1043, T - 60)])

    dry = await reconciler(store, shop).run_pass(now=T, dry=True)
    assert dry.dry and dry.checked == 4 and dry.found == 0
    assert dry.triggers[0].missing == ["1041", "1042"]  # 1043 is in its grace period
    assert await store.get_watermark(MARK) is None
    assert {e.event.triggerable_id for e in await store.list_events()} == {"1040", "1041"}

    real = await reconciler(store, shop).run_pass(now=T)
    assert [ident for ident, _ in real.triggers[0].found] == dry.triggers[0].missing
    assert await store.get_watermark(MARK) == T - GRACE
