"""Listings from the Plug&Pay API are bounded whatever its pagination does: a page that repeats or brings
nothing new, more pages than ``meta.total`` can fill, or more than the cap stop the listing with a clear
error; a 429 with ``Retry-After`` is waited out, and the pause holds for every call of the client.

The API is a real aiohttp server on 127.0.0.1 that misbehaves in one way per test.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

from router.demo.standins import serve_app
from router.derive import DERIVATIONS, api_time
from router.plugandpay import ListingStopped, PlugAndPayClient
from router.shop.reconcile import listed_objects

Page = Callable[[int], tuple[int, dict[str, Any]]]  # page number -> (status, JSON answer)


class FakeApi:
    def __init__(self, page: Page):
        self.page = page
        self.asked: list[int] = []
        self.times: list[float] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> FakeApi:
        app = web.Application()
        app.router.add_get("/{path:.*}", self._handle)
        self._runner, self.url = await serve_app(app, "127.0.0.1", 0)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        number = int(request.query.get("page", "1"))
        self.asked.append(number)
        self.times.append(time.monotonic())
        status, body = self.page(number)
        headers = {"Retry-After": "1"} if status == 429 else None
        return web.json_response(body, status=status, headers=headers)


@pytest.fixture
async def api_with() -> AsyncIterator[Callable[[Page], Any]]:
    servers: list[FakeApi] = []

    async def start(page: Page) -> FakeApi:
        servers.append(await FakeApi(page).start())
        return servers[-1]

    yield start
    for server in servers:
        await server.stop()


async def listed(api: FakeApi, **kwargs: Any) -> list[dict[str, Any]]:
    client = PlugAndPayClient(api.url, "token")
    try:
        return [obj async for page in client.list_pages("/v2/orders", **kwargs) for obj in page]
    finally:
        await client.aclose()


def orders(*ids: int) -> list[dict[str, Any]]:
    return [{"id": ident, "status": "paid"} for ident in ids]


async def test_an_endless_list_stops_at_the_page_cap(api_with) -> None:
    api = await api_with(lambda n: (200, {"data": orders(n), "links": {"next": f"/v2/orders?page={n + 1}"}}))
    with pytest.raises(ListingStopped, match="more than 15 pages"):
        await listed(api, max_pages=15)
    assert api.asked == list(range(1, 16))  # no page past the cap is asked for


async def test_an_api_that_ignores_the_page_stops_at_the_first_repeat(api_with) -> None:
    api = await api_with(lambda n: (200, {"data": orders(*range(1, 101)), "links": {"next": "/v2/orders?page=2"}}))
    with pytest.raises(ListingStopped, match="repeats an earlier one"):
        await listed(api)
    assert api.asked == [1, 2]


async def test_pages_that_bring_no_new_object_stop_the_listing(api_with) -> None:
    def page(n: int) -> tuple[int, dict[str, Any]]:
        ids = list(range(1, 101))
        return 200, {"data": orders(*(ids if n % 2 else reversed(ids))), "links": {"next": "more"}}

    api = await api_with(page)
    with pytest.raises(ListingStopped, match="no object not listed before"):
        await listed(api)
    assert api.asked == [1, 2]


async def test_more_pages_than_meta_total_can_fill_stop_the_listing(api_with) -> None:
    api = await api_with(lambda n: (200, {"data": orders(n), "meta": {"total": 3}, "links": {"next": "more"}}))
    with pytest.raises(ListingStopped, match=r"meta\.total \(3\)"):
        await listed(api)
    assert len(api.asked) <= 6


async def test_a_well_paginated_list_is_read_whole(api_with) -> None:
    api = await api_with(lambda n: (200, {"data": orders(*range(n * 100 - 99, n * 100 + 1)), "meta": {"last_page": 3}}))
    assert [obj["id"] for obj in await listed(api)] == list(range(1, 301))


async def test_a_429_is_waited_out_and_the_pause_holds_for_the_next_call_too(api_with) -> None:
    refused: set[int] = set()

    def page(n: int) -> tuple[int, dict[str, Any]]:
        if n == 2 and n not in refused:
            refused.add(n)
            return 429, {"message": "Too Many Attempts."}
        return 200, {"data": orders(n), "meta": {"last_page": 3}}

    api = await api_with(page)
    assert [obj["id"] for obj in await listed(api)] == [1, 2, 3]
    assert api.asked == [1, 2, 2, 3]
    assert api.times[2] - api.times[1] >= 0.95  # Retry-After: 1


async def test_reconcile_listing_leaves_out_objects_whose_id_is_not_an_id(api_with) -> None:
    paid = {"payment": {"status": "paid", "paid_at": api_time(time.time() - 60)}}
    listed_ids = ("../../auth/tenants/me", "1042?include=x&a=", 1042)
    api = await api_with(lambda n: (200, {"data": [{"id": i, **paid} for i in listed_ids], "meta": {"last_page": 1}}))
    client = PlugAndPayClient(api.url, "token")
    try:
        pages = [page async for page in listed_objects(client, DERIVATIONS["order_paid"], 0, time.time(), undated=True)]
    finally:
        await client.aclose()
    assert [[obj["id"] for obj in objects] for _, objects in pages] == [[1042]]
