"""The sandbox's list endpoints as the API client pages through them: filters, Laravel's envelope, includes,
and the control endpoint that changes an object without sending a webhook."""

from __future__ import annotations

import httpx

from router.demo.sandbox import SandboxServer
from router.demo.sandbox_api import synthesize_orders
from router.plugandpay import PlugAndPayClient
from tests.support import API_TOKEN


async def test_orders_page_by_paid_at_with_filters_and_includes(sandbox: SandboxServer) -> None:
    ids = synthesize_orders(sandbox.state, 23, days=3)
    api = PlugAndPayClient(sandbox.url, API_TOKEN)
    try:
        query = {
            "payment_status": "paid",
            "since_paid_at": "2000-01-01 00:00:00",
            "sort": "paid_at",
            "include": "payment",
        }
        pages = [page async for page in api.list_pages("/v2/orders", query, limit=10)]
        assert [len(p) for p in pages] == [10, 10, 5], "23 synthesized orders and the 2 fixture orders"
        paid = [o["payment"]["paid_at"] for p in pages for o in p]
        assert paid == sorted(paid) and all("billing" not in o for p in pages for o in p)
        newest = max(ids, key=lambda i: sandbox.state.fixtures["orders"][i]["payment"]["paid_at"])
        moment = sandbox.state.fixtures["orders"][newest]["payment"]["paid_at"][:19].replace("T", " ")
        since = {"since_paid_at": moment, "payment_status": "paid"}
        assert [o["id"] for p in [p async for p in api.list_pages("/v2/orders", since)] for o in p] == [int(newest)]

        async with httpx.AsyncClient(
            headers={"Accept": "application/json", "Authorization": f"Bearer {API_TOKEN}"}
        ) as c:
            changed = await c.post(
                f"{sandbox.url}/_sandbox/objects", json={"orders": [{"id": int(newest), "payment": {"status": "open"}}]}
            )
            assert changed.json() == {"changed": {"orders": [newest]}}
            answer = (await c.get(f"{sandbox.url}/v2/orders", params={"payment_status": "open", "limit": "2"})).json()
        assert [o["id"] for o in answer["data"]] == [int(newest)]
        assert answer["meta"] | {"path": None} == {
            "current_page": 1,
            "from": 1,
            "last_page": 1,
            "path": None,
            "per_page": 2,
            "to": 1,
            "total": 1,
        }
        assert answer["links"]["next"] is None
    finally:
        await api.aclose()
