"""The dashboard over plain HTTP: login, the session cookie, CSRF on every change, and what the pages say."""

from __future__ import annotations

import re

import httpx

from tests.dashboard_support import (
    ADMIN_TOKEN,
    HOSTILE_NAME,
    add_failed_event,
    csrf_of,
    login,
    shop_with_history,
)
from tests.support import webhook_body

LONG_ERROR = (
    "unknown course: course 90 is not open for enrolment yet, so this student cannot be enrolled; publish the"
    " course on the platform first and replay this delivery afterwards"
)


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


async def test_a_failed_event_page_says_it_failed_with_its_error_and_nothing_else(
    daemon_factory, sandbox, sink, tmp_path
):
    shop = await shop_with_history(daemon_factory, sandbox, sink, tmp_path)
    failed = await add_failed_event(shop)
    async with httpx.AsyncClient(timeout=10) as client:
        await login(client, shop.admin_url)
        page = (await client.get(f"{shop.admin_url}/ui/events/{failed}")).text
    facts = page[page.index('<dl class="facts">') : page.index("</dl>")]
    assert "<dt>failed</dt>" in facts and "<dt>error</dt>" in facts
    assert "404" in facts or "not found" in facts.lower()  # the API's answer: the reason it failed
    assert "<dt>routed</dt>" not in facts
    assert "config None" not in page and "(config" not in facts
    assert "Not routed yet" not in page
    assert "Not routed: the event failed" in page


async def test_dead_letters_show_the_order_and_the_whole_error(daemon_factory, sandbox, sink, tmp_path):
    shop = await shop_with_history(daemon_factory, sandbox, sink, tmp_path, dead_error=LONG_ERROR)
    async with httpx.AsyncClient(timeout=10) as client:
        await login(client, shop.admin_url)
        page = (await client.get(f"{shop.admin_url}/ui/dead")).text
    row = page[page.index("<tbody>") : page.index("</tbody>")]
    assert 'href="/ui/objects/order/1043"' in row and "order 1043" in row
    # The whole error is on the page, behind a <details>, not only in a title="" tooltip.
    details = row[row.index('<details class="whole-error">') : row.index("</details>")]
    assert "replay this delivery afterwards" in details
    assert "<summary>" in details and "…" in details  # the row shows its first line


async def test_replay_selected_with_nothing_selected_says_so(daemon_factory, sandbox, sink, tmp_path):
    shop = await shop_with_history(daemon_factory, sandbox, sink, tmp_path)
    async with httpx.AsyncClient(timeout=10, follow_redirects=True) as client:
        await login(client, shop.admin_url)
        page = (await client.get(f"{shop.admin_url}/ui/dead")).text
        answer = await client.post(f"{shop.admin_url}/ui/replay", data={"csrf": csrf_of(page), "back": "/ui/dead"})
    assert answer.status_code == 200 and answer.url.path == "/ui/dead"
    notice = re.search(r'<p class="notice[^"]*"[^>]*>([^<]*)</p>', answer.text)
    assert notice is not None and "Nothing selected" in notice.group(1)
    assert 'class="notice problem"' in answer.text
    assert "0 deliveries requeued" not in answer.text
    assert len(sink.requests) == 2  # nothing was sent


async def test_the_overview_lists_webhooks_refused_by_verification_as_needing_a_person(
    daemon_factory, sandbox, sink, tmp_path
):
    shop = await shop_with_history(daemon_factory, sandbox, sink, tmp_path)
    async with httpx.AsyncClient(timeout=10) as client:
        await login(client, shop.admin_url)
        assert "Nothing needs you" in (await client.get(f"{shop.admin_url}/ui")).text
        forged = await shop.daemon.post(
            webhook_body(ident=1044), headers={"Content-Type": "application/json", "X-Signature": "0" * 64}
        )
        assert forged.status_code == 401
        page = (await client.get(f"{shop.admin_url}/ui")).text
    assert "Nothing needs you" not in page
    assert "1 webhooks refused by verification" in page and "check the webhook key" in page
