"""Dashboard sessions in process (``router.admin.auth``): a session cookie is signed with a key derived from the
admin token and lives until it expires, is logged out, or the token changes; a CSRF token works only with its
own session; the cookie is Secure whenever the browser reaches the dashboard over https; and wrong tokens are
throttled per address on a fake clock, while right ones never count."""

from __future__ import annotations

from unittest import mock

from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from router.admin.auth import (
    COOKIE,
    CSRF_HEADER,
    SESSION_TTL,
    LoginThrottle,
    Sessions,
    over_tls,
    set_session,
)

T = 1_750_000_000.0  # an issue time: every check in these tests passes ``now`` explicitly
TOKEN = "dashboard-token-5b7e1c-first"
OTHER_TOKEN = "dashboard-token-9d2a4f-second"


class Token:
    """The admin token of the config in force, which a reload may change."""

    def __init__(self, value: str | None = TOKEN) -> None:
        self.value = value

    def __call__(self) -> str | None:
        return self.value


def request(*, headers: dict[str, str] | None = None, peer: str = "127.0.0.1", tls: bool = False) -> web.Request:
    """A request to the login form from ``peer``, over TLS or not."""
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: {"peername": (peer, 50000)}.get(name, default)
    return make_mocked_request(
        "POST", "/ui/login", headers=headers, transport=transport, sslcontext=object() if tls else None
    )


def test_a_session_is_valid_until_it_expires_and_not_a_second_longer() -> None:
    sessions = Sessions(Token())
    cookie = sessions.issue(now=T)
    assert sessions.valid(cookie, now=T + 1)
    assert sessions.valid(cookie, now=T + SESSION_TTL - 1)
    assert not sessions.valid(cookie, now=T + SESSION_TTL)
    assert not sessions.valid(cookie, now=T + SESSION_TTL + 3600)


def test_a_session_signed_under_another_token_is_refused() -> None:
    """The key comes from the token: a cookie made under one token is worthless under another (and the other
    way round), and one whose signature was touched is refused."""
    token = Token()
    sessions = Sessions(token)
    cookie = sessions.issue(now=T)
    body, _, signature = cookie.rpartition(".")
    assert not sessions.valid(f"{body}.{'0' * len(signature)}", now=T + 1)
    expires, _, nonce = body.partition(".")
    assert not sessions.valid(f"{int(expires) + 3600}.{nonce}.{signature}", now=T + 1), "the expiry is signed"
    assert not Sessions(Token(OTHER_TOKEN)).valid(cookie, now=T + 1)
    assert not Sessions(token).valid(cookie, now=T + 1), "a session lives only in the process that issued it"


def test_changing_the_admin_token_logs_every_session_out() -> None:
    token = Token()
    sessions = Sessions(token)
    cookie = sessions.issue(now=T)
    assert sessions.valid(cookie, now=T + 1)
    token.value = OTHER_TOKEN
    assert not sessions.valid(cookie, now=T + 2)
    fresh = sessions.issue(now=T + 3)  # the operator logs in with the new token
    assert sessions.valid(fresh, now=T + 4)
    token.value = TOKEN  # and the old token comes back (a reverted config)
    assert not sessions.valid(cookie, now=T + 5), "a session from before the change stays logged out"
    assert not sessions.valid(fresh, now=T + 5)


def test_logout_ends_that_session_at_once_and_no_other() -> None:
    sessions = Sessions(Token())
    mine, colleague = sessions.issue(now=T), sessions.issue(now=T)
    sessions.end(mine)
    assert not sessions.valid(mine, now=T + 1), "a copy of the cookie is worthless after logout"
    assert sessions.valid(colleague, now=T + 1)
    sessions.end("not-a-session")  # a malformed cookie ends nothing and raises nothing
    assert sessions.valid(colleague, now=T + 1)


async def test_a_csrf_token_works_only_with_its_own_session() -> None:
    sessions = Sessions(Token())
    mine, theirs = sessions.issue(now=T), sessions.issue(now=T)
    assert sessions.csrf(mine) != sessions.csrf(theirs)
    with_mine = request(headers={CSRF_HEADER: sessions.csrf(mine)})
    assert await sessions.csrf_ok(with_mine, mine)
    assert not await sessions.csrf_ok(with_mine, theirs), "a token seen in one session must not open another"
    assert not await sessions.csrf_ok(request(headers={CSRF_HEADER: "0" * 40}), mine)


def cookie_set(secure: bool) -> str:
    response = web.Response()
    set_session(response, "1750043200.nonce.signature", secure=secure)
    return response.cookies[COOKIE].OutputString()


def test_the_session_cookie_is_secure_whenever_the_browser_uses_https() -> None:
    assert "Secure" in cookie_set(over_tls(request(), "https://router.shop.nl", ()))
    assert "Secure" in cookie_set(over_tls(request(tls=True), None, ()))
    behind_proxy = request(headers={"X-Forwarded-Proto": "https"}, peer="10.0.0.5")
    assert "Secure" in cookie_set(over_tls(behind_proxy, None, ("10.0.0.5",)))
    assert "Secure" not in cookie_set(over_tls(behind_proxy, None, ())), "only a trusted proxy's word counts"
    plain = cookie_set(over_tls(request(), "http://127.0.0.1:8081", ()))
    assert "Secure" not in plain
    assert "HttpOnly" in plain and "SameSite=Strict" in plain and "Path=/ui" in plain


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_login_throttle_allows_a_burst_then_says_when_to_try_again_and_refills_with_time() -> None:
    clock = Clock()
    throttle = LoginThrottle(burst=3, refill=6.0, clock=clock)
    for _ in range(3):
        assert throttle.retry_after("203.0.113.7") == 0
        throttle.failed("203.0.113.7")
    assert throttle.retry_after("203.0.113.7") == 6  # whole seconds, for Retry-After
    assert throttle.retry_after("198.51.100.2") == 0, "another address has its own budget"
    clock.now += 2.5
    assert throttle.retry_after("203.0.113.7") == 4  # 3.5 s to go, rounded up
    clock.now += 3.5
    assert throttle.retry_after("203.0.113.7") == 0  # one try has come back
    throttle.failed("203.0.113.7")
    assert throttle.retry_after("203.0.113.7") == 6, "a try that came back is used up by one more failure"
    clock.now += 3600
    for _ in range(3):  # the bucket refills up to the burst, never past it
        assert throttle.retry_after("203.0.113.7") == 0
        throttle.failed("203.0.113.7")
    assert throttle.retry_after("203.0.113.7") == 6
