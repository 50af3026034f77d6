"""The admin listener's guards against an attacker who can reach it, or an operator's browser: only its own
Host names are served, wrong tokens are slowed down per address, a logged-out session is dead, the cookie
is Secure behind https, nothing it answers is cached, and a weak token never gets that far.

A real daemon with the dashboard on; requests over HTTP as a browser or a script would send them.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx

from router.demo.sandbox import SandboxServer
from router.demo.standins.sink import HttpSink
from tests.admin_support import admin_listen
from tests.dashboard_support import ADMIN_TOKEN, dashboard_config
from tests.support import API_TOKEN, DaemonProcess, reserved_port
from tests.system.test_dashboard import csrf_of, login


def dashboard_daemon(
    daemon_factory: Callable[..., DaemonProcess],
    sandbox: SandboxServer,
    sink: HttpSink,
    tmp_path: Path,
    admin_extra: str = "",
) -> DaemonProcess:
    port = reserved_port()
    listen, admin_url = admin_listen()
    text = dashboard_config(api_url=sandbox.url, sink_url=sink.url, db=tmp_path / "router.db", port=port, listen=listen)
    if admin_extra:
        text = text.replace(f'listen: "{listen}"}}', f'listen: "{listen}", {admin_extra}}}')
    made = daemon_factory(text)
    daemon = DaemonProcess(made.config_path, port, made.env).start()
    daemon.admin_url = admin_url
    return daemon


async def test_a_host_name_the_listener_is_not_configured_for_gets_421(daemon_factory, sandbox, sink, tmp_path):
    daemon = dashboard_daemon(daemon_factory, sandbox, sink, tmp_path)
    assert daemon.admin_url is not None
    bearer = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx.AsyncClient(timeout=10) as client:
        # A DNS-rebinding page: the browser sends the attacker's name as Host, to this address.
        for path in ("/api/events", "/metrics", "/ui/login"):
            rebound = await client.get(daemon.admin_url + path, headers={**bearer, "Host": "evil.example:8081"})
            assert rebound.status_code == 421, path
            assert "admin.hosts" in rebound.json()["error"]
        for host in ("127.0.0.1", "localhost:8081", "LOCALHOST"):
            served = await client.get(daemon.admin_url + "/api/events", headers={**bearer, "Host": host})
            assert served.status_code == 200, host


async def test_configured_host_names_are_served(daemon_factory, sandbox, sink, tmp_path):
    daemon = dashboard_daemon(daemon_factory, sandbox, sink, tmp_path, 'hosts: ["router.shop.nl"]')
    assert daemon.admin_url is not None
    async with httpx.AsyncClient(timeout=10) as client:
        assert (await client.get(daemon.admin_url + "/metrics", headers={"Host": "router.shop.nl"})).status_code == 200
        assert (await client.get(daemon.admin_url + "/metrics", headers={"Host": "localhost"})).status_code == 421


async def test_wrong_tokens_are_limited_per_address_with_retry_after(daemon_factory, sandbox, sink, tmp_path):
    daemon = dashboard_daemon(daemon_factory, sandbox, sink, tmp_path)
    assert daemon.admin_url is not None
    async with httpx.AsyncClient(timeout=10) as client:
        statuses = []
        for n in range(12):
            wrong = await client.get(daemon.admin_url + "/api/events", headers={"Authorization": f"Bearer guess-{n}"})
            statuses.append(wrong.status_code)
        assert statuses[:10] == [401] * 10
        assert statuses[10:] == [429, 429]
        assert int(wrong.headers["Retry-After"]) >= 1
        # The login form shares the budget: the same address cannot go on guessing there.
        form = await client.post(daemon.admin_url + "/ui/login", data={"token": "guess", "next": "/ui"})
        assert form.status_code == 429 and int(form.headers["Retry-After"]) >= 1
        # Another address has its own budget.
        transport = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
        async with httpx.AsyncClient(timeout=10, transport=transport) as other:
            url = daemon.admin_url + "/api/events"
            answer = await other.get(url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
            assert answer.status_code == 200


async def test_logout_ends_the_session_on_the_server(daemon_factory, sandbox, sink, tmp_path):
    daemon = dashboard_daemon(daemon_factory, sandbox, sink, tmp_path)
    assert daemon.admin_url is not None
    async with httpx.AsyncClient(timeout=10) as client:
        assert (await login(client, daemon.admin_url)).status_code == 303
        cookies = dict(client.cookies)
        page = await client.get(daemon.admin_url + "/ui")
        assert page.status_code == 200
        csrf = csrf_of(page.text)
        assert (await client.post(daemon.admin_url + "/ui/logout", data={"csrf": csrf})).status_code == 303
    # A copy of the old cookie (kept by an attacker, or a second tab) is worth nothing now.
    async with httpx.AsyncClient(timeout=10, cookies=cookies) as stolen:
        assert (await stolen.get(daemon.admin_url + "/ui")).status_code == 303
        reroute = await stolen.post(daemon.admin_url + "/ui/events/1/reroute", data={"csrf": csrf})
        assert reroute.status_code == 403


async def test_the_session_cookie_is_secure_when_the_dashboard_is_served_over_https(
    daemon_factory, sandbox, sink, tmp_path
):
    plain = dashboard_daemon(daemon_factory, sandbox, sink, tmp_path)
    (tmp_path / "tls").mkdir()
    behind_tls = dashboard_daemon(
        daemon_factory, sandbox, sink, tmp_path / "tls", 'public_url: "https://router.shop.nl/ui"'
    )
    async with httpx.AsyncClient(timeout=10) as client:
        assert plain.admin_url is not None and behind_tls.admin_url is not None
        cookie = (await login(client, plain.admin_url)).headers["Set-Cookie"]
        assert "httponly" in cookie.lower() and "secure" not in cookie.lower()
        cookie = (await login(client, behind_tls.admin_url)).headers["Set-Cookie"]
        assert "; secure" in cookie.lower()


async def test_admin_answers_are_never_cached_and_deep_json_is_a_400(daemon_factory, sandbox, sink, tmp_path):
    daemon = dashboard_daemon(daemon_factory, sandbox, sink, tmp_path)
    assert daemon.admin_url is not None
    bearer = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx.AsyncClient(timeout=10) as client:
        for path in ("/api/events", "/api/deliveries", "/metrics", "/api/events/999"):
            answer = await client.get(daemon.admin_url + path, headers=bearer)
            assert answer.headers["Cache-Control"] == "no-store", path
        deep = "[" * 5000 + "]" * 5000
        answer = await client.post(
            daemon.admin_url + "/api/replay", content=deep, headers={**bearer, "Content-Type": "application/json"}
        )
        assert answer.status_code == 400
        assert "must be JSON" in answer.json()["error"]


def test_check_refuses_a_guessable_admin_token_and_says_how_to_make_one(tmp_path):
    for token in ("a", "admin", "changeme", '\\"quoted-token-from-env-file\\"'):
        config = tmp_path / "shop.yaml"
        config.write_text(
            dashboard_config(
                api_url="http://127.0.0.1:9",
                sink_url="http://127.0.0.1:9",
                db=tmp_path / "r.db",
                port=9,
                listen="127.0.0.1:9",
            ).replace(ADMIN_TOKEN, token)
        )
        result = subprocess.run(
            [sys.executable, "-m", "router", "check", "-c", str(config)],
            capture_output=True,
            text=True,
            env={"PLUGANDPAY_API_TOKEN": API_TOKEN, "PATH": "/usr/bin:/bin"},
            timeout=60,
        )
        assert result.returncode == 1, token
        assert f"{config}:3: admin.token:" in result.stderr, result.stderr
        assert "secrets.token_urlsafe(32)" in result.stderr
