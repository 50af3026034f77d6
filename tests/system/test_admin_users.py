"""Admin users per shop, through a real two-shop daemon over HTTP: a token of ``admin.users`` sees and acts on
only its shops in the admin API and the dashboard (another shop's event or delivery is a 404, as if it did not
exist; ``/metrics``, about every shop, is a 403), while ``admin.token`` still sees both; a user's dashboard
sessions end when its token changes or it is taken out of the config, and its wrong tokens are throttled like
the admin token's.

Each test starts one daemon and checks everything it can on it."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from router.demo.standins.sink import Reply
from tests.shops_support import CURSUS_KEY, YOGA_KEY, post, two_shops_admin
from tests.support import DaemonProcess, webhook_body
from tests.system.test_dashboard import csrf_of
from tests.system.test_dashboard_sessions import log_in, logged_in, reload_with

ADMIN_TOKEN = "router-admin-token-4c9e1a7b"
JAN_TOKEN = "agency-jan-token-8d2f6b3e"
JAN_NEW_TOKEN = "agency-jan-token-rotated-1a5c"


def two_shops_with_users(tmp_path: Path, cursus_api: str, yoga_api: str, sink: str, jan_token: str) -> DaemonProcess:
    """cursusshop and yogastudio with the admin token and agency-jan, a user limited to cursusshop (its token
    written in the file as given)."""
    jan = f'{{name: agency-jan, token: "{jan_token}", shops: [cursusshop]}}'
    users = f'  token: "{ADMIN_TOKEN}"\n  users:\n    - {jan}\n'
    return two_shops_admin(tmp_path, cursus_api, yoga_api, sink, admin=users)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def event_of(daemon: DaemonProcess, shop: str, order: int, key: str, *, tenant: int) -> int:
    answer = await post(daemon, shop, webhook_body(ident=order, tenant_id=tenant), key)
    assert answer.status_code == 202, answer.text
    return int(answer.json()["event_id"])


async def test_a_shop_scoped_token_sees_and_acts_on_only_its_shops_in_the_api_the_dashboard_and_metrics(
    tmp_path, apis, sink
) -> None:
    cursus_api, yoga_api = apis
    daemon = two_shops_with_users(tmp_path, cursus_api.url, yoga_api.url, sink.url, JAN_TOKEN).start()
    url = daemon.admin_url
    try:
        # Order 1042 delivered in each shop (the same order number: each shop's own), order 1043 dead in each.
        cursus_ok = await event_of(daemon, "cursusshop", 1042, CURSUS_KEY, tenant=42)
        yoga_ok = await event_of(daemon, "yogastudio", 1042, YOGA_KEY, tenant=77)
        await sink.wait_for(2)
        sink.replies = [Reply(400, {"error": "no"}), Reply(400, {"error": "no"})]
        cursus_dead = await event_of(daemon, "cursusshop", 1043, CURSUS_KEY, tenant=42)
        yoga_dead = await event_of(daemon, "yogastudio", 1043, YOGA_KEY, tenant=77)
        await daemon.wait_log("delivery dead", event_id=cursus_dead)
        await daemon.wait_log("delivery dead", event_id=yoga_dead)
        jan, admin = bearer(JAN_TOKEN), bearer(ADMIN_TOKEN)
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            # Lists: the user's shop only; the admin token every shop.
            events = (await client.get("/api/events", headers=jan)).json()["events"]
            assert {e["id"] for e in events} == {cursus_ok, cursus_dead}
            assert {e["shop"] for e in events} == {"cursusshop"}
            everything = (await client.get("/api/events", headers=admin)).json()["events"]
            assert {e["id"] for e in everything} == {cursus_ok, cursus_dead, yoga_ok, yoga_dead}
            assert (await client.get("/api/events?shop=yogastudio", headers=jan)).json()["events"] == []
            assert len((await client.get("/api/events?shop=yogastudio", headers=admin)).json()["events"]) == 2
            deliveries = (await client.get("/api/deliveries", headers=jan)).json()["deliveries"]
            assert {d["shop"] for d in deliveries} == {"cursusshop"} and len(deliveries) == 2
            assert {d["shop"] for d in (await client.get("/api/deliveries", headers=admin)).json()["deliveries"]} == {
                "cursusshop",
                "yogastudio",
            }
            [yoga_dead_delivery] = (await client.get(f"/api/deliveries?event_id={yoga_dead}", headers=admin)).json()[
                "deliveries"
            ]
            dead_id = yoga_dead_delivery["id"]

            # Another shop's event or delivery: 404, word for word what an id that does not exist gets.
            for path, method, missing in (
                (f"/api/events/{yoga_ok}", "GET", "no event"),
                (f"/api/events/{yoga_dead}/reroute", "POST", "no event"),
                (f"/api/deliveries/{dead_id}", "GET", "no delivery"),
                (f"/api/deliveries/{dead_id}/replay", "POST", "no delivery"),
            ):
                answer = await client.request(method, path, headers=jan, json={"confirm": True})
                assert answer.status_code == 404, path
                ident = path.split("/")[3]
                assert answer.json() == {"error": f"{missing} {ident}"}, path
            nothing = await client.get("/api/events/999999", headers=jan)
            assert nothing.status_code == 404 and nothing.json() == {"error": "no event 999999"}
            assert (await client.get(f"/api/events/{yoga_ok}", headers=admin)).status_code == 200

            # /metrics names every shop: the admin token only (and nobody without a token, once users exist).
            assert (await client.get("/metrics", headers=jan)).status_code == 403
            assert (await client.get("/metrics")).status_code == 401
            metrics = await client.get("/metrics", headers=admin)
            assert metrics.status_code == 200 and "plugpay_router_pending" in metrics.text
            assert 'plugpay_router_shop_events_routed_total{outcome="routed",shop="yogastudio"} 2.0' in metrics.text

            # The dashboard of the user's login: its shop everywhere, no trace of the other.
            await log_in(client, url, JAN_TOKEN)
            pages = {}
            for path in ("/ui", "/ui/events", "/ui/dead", "/ui/objects/order/1042", f"/ui/events/{cursus_dead}"):
                page = await client.get(path)
                assert page.status_code == 200, path
                assert "yogastudio" not in page.text, path
                pages[path] = page.text
            assert "agency-jan" in pages["/ui"] and "cursusshop" in pages["/ui"]
            shown = set(map(int, re.findall(r'href="/ui/events/(\d+)"', pages["/ui/events"])))
            assert shown == {cursus_ok, cursus_dead}
            assert set(map(int, re.findall(r'href="/ui/events/(\d+)"', pages["/ui/objects/order/1042"]))) == {cursus_ok}
            live = (await client.get("/ui/live.json")).json()
            assert live["dead"] == 1 and live["latest_event"] == cursus_dead
            assert live["breakers"] and all(name.startswith("cursusshop/") for name in live["breakers"])
            csrf = csrf_of(pages["/ui/dead"])
            assert (await client.get(f"/ui/events/{yoga_dead}")).status_code == 404
            assert (await client.get(f"/ui/deliveries/{dead_id}/again")).status_code == 404
            for action in (f"/ui/deliveries/{dead_id}/replay", f"/ui/events/{yoga_dead}/reroute"):
                assert (await client.post(action, data={"csrf": csrf, "back": "/ui/dead"})).status_code == 404
            ticked = await client.post("/ui/replay", data={"csrf": csrf, "ids": str(dead_id), "back": "/ui/dead"})
            assert ticked.status_code == 303 and "0 deliveries requeued" in ticked.headers["Location"].replace("+", " ")

            # Bulk replay by the user: its own dead delivery only.
            replayed = await client.post("/api/replay", headers=jan, json={"status": "dead"})
            assert replayed.status_code == 202 and replayed.json() == {"replayed": 1}
            await sink.wait_for(3, path="/cursus")  # delivered, the dead one's try, and now its replay
            assert len(sink.to("/yoga")) == 2  # delivered, and the dead one's try: nothing again
            still = (await client.get(f"/api/deliveries/{dead_id}", headers=admin)).json()
            assert still["status"] == "dead"
            assert (await client.post(f"/api/events/{cursus_ok}/reroute", headers=jan)).status_code == 202

        # The admin token's dashboard shows both shops.
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            await log_in(client, url, ADMIN_TOKEN)
            page = (await client.get("/ui/events")).text
            assert set(map(int, re.findall(r'href="/ui/events/(\d+)"', page))) == {
                cursus_ok,
                cursus_dead,
                yoga_ok,
                yoga_dead,
            }
            assert (await client.get(f"/ui/events/{yoga_dead}")).status_code == 200
        assert JAN_TOKEN not in daemon.log() and ADMIN_TOKEN not in daemon.log()
    finally:
        assert daemon.stop() == 0


async def test_a_users_sessions_end_when_its_token_changes_or_it_is_removed_and_its_wrong_tokens_are_throttled(
    tmp_path,
) -> None:
    nowhere = "http://127.0.0.1:9"  # nothing is routed here: the shops' APIs and sink are never needed
    daemon = two_shops_with_users(tmp_path, nowhere, nowhere, nowhere, JAN_TOKEN).start()
    url = daemon.admin_url
    assert url is not None
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            jan, admin = await log_in(client, url, JAN_TOKEN), await log_in(client, url, ADMIN_TOKEN)
            assert await logged_in(client, url, jan) and await logged_in(client, url, admin)

            await reload_with(daemon, JAN_TOKEN, JAN_NEW_TOKEN)
            assert not await logged_in(client, url, jan), "a user's new token ends the sessions of its old one"
            assert await logged_in(client, url, admin), "and no other login's"
            jan = await log_in(client, url, JAN_NEW_TOKEN)
            assert await logged_in(client, url, jan)
            refused = await client.post(f"{url}/ui/login", data={"token": JAN_TOKEN, "next": "/ui"})
            assert refused.status_code == 401  # the old token is a wrong one now: the first of the budget's 10

            # Wrong tokens are limited per address for the users' logins as for the admin token's.
            for n in range(9):
                assert (await client.get(f"{url}/api/events", headers=bearer(JAN_NEW_TOKEN))).status_code == 200
                wrong = await client.get(f"{url}/api/events", headers=bearer(f"guess-{n}"))
                assert wrong.status_code == 401
            throttled = await client.get(f"{url}/api/events", headers=bearer(JAN_NEW_TOKEN))
            assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) >= 1
            form = await client.post(f"{url}/ui/login", data={"token": JAN_NEW_TOKEN, "next": "/ui"})
            assert form.status_code == 429

        await reload_with(daemon, f'    - {{name: agency-jan, token: "{JAN_NEW_TOKEN}", shops: [cursusshop]}}\n', "")
        async with httpx.AsyncClient(timeout=10) as client:
            assert not await logged_in(client, url, jan), "a user taken out of the config is logged out"
            assert await logged_in(client, url, admin)
        transport = httpx.AsyncHTTPTransport(local_address="127.0.0.2")  # an address with its own budget
        async with httpx.AsyncClient(timeout=10, transport=transport) as other:
            assert (await other.get(f"{url}/api/events", headers=bearer(JAN_NEW_TOKEN))).status_code == 401
            assert (await other.get(f"{url}/metrics")).status_code == 200, "without users /metrics is open again"
        assert JAN_TOKEN not in daemon.log() and JAN_NEW_TOKEN not in daemon.log()
    finally:
        assert daemon.stop() == 0
