"""Dashboard sessions through the real daemon: logout ends a session for every copy of its cookie, a new admin
token (applied by a reload) logs every session out for good, the session cookie is Secure behind an https
``public_url``, and wrong tokens are throttled per address while right ones never count.

Cookies are sent by hand, as a copied cookie would be (a Secure cookie would not be sent over plain HTTP)."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.admin_support import admin_listen
from tests.dashboard_support import ADMIN_TOKEN, dashboard_config
from tests.support import DaemonProcess, reserved_port, wait_until
from tests.system.test_dashboard import csrf_of

COOKIE = "plugpay_router_session"
NEW_TOKEN = "dashboard-token-rotated-8c41d9"
PUBLIC_URL = "https://router.shop.example"


def dashboard_daemon(
    daemon_factory: Callable[..., DaemonProcess], tmp_path: Path, *, public_url: str | None = None
) -> tuple[DaemonProcess, str]:
    """A started daemon with the dashboard on (and nothing to route: its API and sink are never asked)."""
    port = reserved_port()
    listen, admin_url = admin_listen()
    text = dashboard_config(
        api_url="http://127.0.0.1:9", sink_url="http://127.0.0.1:9", db=tmp_path / "router.db", port=port, listen=listen
    )
    if public_url:
        text = text.replace(f'listen: "{listen}"}}', f'listen: "{listen}", public_url: "{public_url}"}}')
        assert public_url in text
    made = daemon_factory(text)
    return DaemonProcess(made.config_path, port, made.env).start(), admin_url


async def log_in(client: httpx.AsyncClient, admin_url: str, token: str = ADMIN_TOKEN) -> str:
    """The session cookie a login with ``token`` sets (its whole Set-Cookie header is checked by callers)."""
    answer = await client.post(f"{admin_url}/ui/login", data={"token": token, "next": "/ui"})
    assert answer.status_code == 303, answer.text
    return answer.cookies[COOKIE]


async def logged_in(client: httpx.AsyncClient, admin_url: str, session: str) -> bool:
    """Whether ``/ui`` with this cookie shows the overview (else it sends the browser to the login form)."""
    answer = await client.get(f"{admin_url}/ui", headers={"Cookie": f"{COOKIE}={session}"})
    assert answer.status_code in (200, 303), answer.text
    return answer.status_code == 200


async def reload_with(daemon: DaemonProcess, old: str, new: str) -> None:
    """Replace ``old`` by ``new`` in the config file, SIGHUP, and wait for this reload's log line."""
    text = daemon.config_path.read_text()
    assert old in text
    daemon.config_path.write_text(text.replace(old, new))
    before = sum(1 for line in daemon.log_events() if line.get("event") == "config reloaded")
    daemon.signal(signal.SIGHUP)

    async def reloaded() -> bool:
        return sum(1 for line in daemon.log_events() if line.get("event") == "config reloaded") > before

    await wait_until(reloaded, what="the config reload")


async def test_logout_ends_the_session_for_every_copy_of_its_cookie_and_the_cookie_is_secure_behind_https(
    daemon_factory, tmp_path
):
    daemon, admin_url = dashboard_daemon(daemon_factory, tmp_path, public_url=PUBLIC_URL)
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            answer = await client.post(f"{admin_url}/ui/login", data={"token": ADMIN_TOKEN, "next": "/ui"})
            assert answer.status_code == 303
            assert "Secure" in answer.headers["Set-Cookie"], "admin.public_url is https: the cookie must be Secure"
            session, colleague = answer.cookies[COOKIE], await log_in(client, admin_url)
            assert await logged_in(client, admin_url, session)
            page = await client.get(f"{admin_url}/ui", headers={"Cookie": f"{COOKIE}={session}"})
            out = await client.post(
                f"{admin_url}/ui/logout",
                data={"csrf": csrf_of(page.text)},
                headers={"Cookie": f"{COOKIE}={session}"},
            )
            assert out.status_code == 303 and out.headers["Location"] == "/ui/login"
            assert not await logged_in(client, admin_url, session), "a copy of the cookie must not outlive logout"
            assert await logged_in(client, admin_url, colleague), "logout ends only its own session"
    finally:
        assert daemon.stop() == 0


async def test_a_new_admin_token_logs_every_session_out_even_once_the_old_token_is_back(daemon_factory, tmp_path):
    daemon, admin_url = dashboard_daemon(daemon_factory, tmp_path)
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            old_session = await log_in(client, admin_url)
            assert await logged_in(client, admin_url, old_session)
            await reload_with(daemon, f'token: "{ADMIN_TOKEN}"', f'token: "{NEW_TOKEN}"')
            assert not await logged_in(client, admin_url, old_session)
            new_session = await log_in(client, admin_url, NEW_TOKEN)
            assert await logged_in(client, admin_url, new_session)
            await reload_with(daemon, f'token: "{NEW_TOKEN}"', f'token: "{ADMIN_TOKEN}"')  # a reverted config
            assert not await logged_in(client, admin_url, old_session)
            assert not await logged_in(client, admin_url, new_session)
            assert await logged_in(client, admin_url, await log_in(client, admin_url))
    finally:
        assert daemon.stop() == 0


async def test_a_token_changed_and_changed_back_without_a_request_between_still_ends_the_old_sessions(
    daemon_factory, tmp_path
):
    daemon, admin_url = dashboard_daemon(daemon_factory, tmp_path)
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            old_session = await log_in(client, admin_url)
            # Nothing reaches the dashboard while the other token is in force: only the reloads know.
            await reload_with(daemon, f'token: "{ADMIN_TOKEN}"', f'token: "{NEW_TOKEN}"')
            await reload_with(daemon, f'token: "{NEW_TOKEN}"', f'token: "{ADMIN_TOKEN}"')
            assert not await logged_in(client, admin_url, old_session)
            assert await logged_in(client, admin_url, await log_in(client, admin_url))
    finally:
        assert daemon.stop() == 0


async def test_wrong_tokens_are_throttled_after_a_burst_and_right_ones_never_count(daemon_factory, tmp_path):
    daemon, admin_url = dashboard_daemon(daemon_factory, tmp_path)
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            for _ in range(15):  # an operator logging in again and again is never slowed down
                await log_in(client, admin_url)
            statuses = []
            for n in range(10):
                wrong = await client.post(f"{admin_url}/ui/login", data={"token": f"guess-{n}", "next": "/ui"})
                statuses.append(wrong.status_code)
            assert statuses == [401] * 10, "the whole burst is left after any number of right tokens"
            throttled = await client.post(f"{admin_url}/ui/login", data={"token": ADMIN_TOKEN, "next": "/ui"})
            assert throttled.status_code == 429
            assert 1 <= int(throttled.headers["Retry-After"]) <= 6  # whole seconds until one more try
            api = await client.get(f"{admin_url}/api/events", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
            assert api.status_code == 429 and "Retry-After" in api.headers, "the API shares the address's budget"
    finally:
        assert daemon.stop() == 0
