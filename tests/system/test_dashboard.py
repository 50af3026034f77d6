"""The dashboard over plain HTTP: login, the session cookie, CSRF on every change, and what the pages say."""

from __future__ import annotations

import re

import httpx

from tests.dashboard_support import ADMIN_TOKEN, HOSTILE_NAME, shop_with_history


async def login(client: httpx.AsyncClient, admin_url: str) -> httpx.Response:
    return await client.post(f"{admin_url}/ui/login", data={"token": ADMIN_TOKEN, "next": "/ui"})


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert found is not None, "the page has no CSRF field"
    return found.group(1)


async def test_pages_need_a_login_and_the_cookie_is_a_session_not_the_token(daemon_factory, sandbox, sink, tmp_path):
    shop = await shop_with_history(daemon_factory, sandbox, sink, tmp_path)
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.get(f"{shop.admin_url}/ui/events/{shop.dead_event}")
        assert answer.status_code == 303
        assert answer.headers["Location"].startswith("/ui/login?next=")
        assert (await client.get(f"{shop.admin_url}/ui/live.json")).status_code == 401
        wrong = await client.post(f"{shop.admin_url}/ui/login", data={"token": "guess", "next": "/ui"})
        assert wrong.status_code == 401 and "not the admin token" in wrong.text
        answer = await login(client, shop.admin_url)
        assert answer.status_code == 303 and answer.headers["Location"] == "/ui"
        cookie = answer.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/ui" in cookie
        assert ADMIN_TOKEN not in cookie
        page = await client.get(f"{shop.admin_url}/ui")
        assert page.status_code == 200 and "Pending deliveries" in page.text
        assert "script-src 'self'" in page.headers["Content-Security-Policy"]
        assert ADMIN_TOKEN not in page.text
        # A redirect after login never leaves the site.
        away = await client.post(f"{shop.admin_url}/ui/login", data={"token": ADMIN_TOKEN, "next": "//evil.example/"})
        assert away.headers["Location"] == "/ui"


async def test_a_change_without_the_csrf_token_is_refused(daemon_factory, sandbox, sink, tmp_path):
    shop = await shop_with_history(daemon_factory, sandbox, sink, tmp_path)
    async with httpx.AsyncClient(timeout=10) as client:
        await login(client, shop.admin_url)
        page = (await client.get(f"{shop.admin_url}/ui/events/{shop.dead_event}")).text
        dead = re.search(r'action="/ui/deliveries/(\d+)/replay"', page)
        assert dead is not None
        replay = f"{shop.admin_url}/ui/deliveries/{dead.group(1)}/replay"
        refused = await client.post(replay, data={"back": "/ui"})
        assert refused.status_code == 403 and "CSRF" in refused.text
        forged = await client.post(replay, data={"csrf": "0" * 40})
        assert forged.status_code == 403
        cross_site = await client.post(replay, data={"csrf": csrf_of(page)}, headers={"Origin": "https://evil.example"})
        assert cross_site.status_code == 403
        assert len(sink.requests) == 2  # nothing was sent again
        accepted = await client.post(replay, data={"csrf": csrf_of(page), "back": f"/ui/events/{shop.dead_event}"})
        assert accepted.status_code == 303
        await sink.wait_for(3)


async def test_event_page_shows_rules_deliveries_attempts_and_customer_text_as_text(
    daemon_factory, sandbox, sink, tmp_path
):
    shop = await shop_with_history(daemon_factory, sandbox, sink, tmp_path)
    async with httpx.AsyncClient(timeout=10) as client:
        await login(client, shop.admin_url)
        page = (await client.get(f"{shop.admin_url}/ui/events/{shop.dead_event}")).text
        assert "welcome" in page and "matched" in page
        assert "unknown course" in page  # the attempt's error: the destination's answer
        assert HOSTILE_NAME not in page
        assert "&lt;img src=x onerror=alert(1)&gt;" in page
        found = (await client.get(f"{shop.admin_url}/ui/events", params={"q": "1042"})).text
        assert f'href="/ui/events/{shop.delivered_event}"' in found
        assert f'href="/ui/events/{shop.dead_event}"' not in found
        live = (await client.get(f"{shop.admin_url}/ui/live.json")).json()
        assert live["dead"] == 1 and live["latest_event"] == shop.dead_event
