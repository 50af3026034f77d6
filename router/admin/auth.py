"""Dashboard login: the admin token typed once into a form, then a signed session cookie and CSRF tokens.

The cookie never holds the token: it holds an expiry and a random nonce, signed with a key derived from
the admin token (HMAC-SHA256), so changing the token in the config logs every session out. It is
HttpOnly and SameSite=Strict, limited to ``/ui``, and Secure when the request came over TLS. Every
state-changing request carries a CSRF token (a hidden form field or the ``X-CSRF-Token`` header) that is
the session's own HMAC, and a cross-site ``Origin`` is refused outright.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from aiohttp import web

COOKIE = "plugpay_router_session"
SESSION_TTL = 12 * 3600.0
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"


class Sessions:
    """Issues and checks session values and their CSRF tokens for the current admin token."""

    def __init__(self, token: Callable[[], str | None]):
        self.token = token

    def _key(self) -> bytes | None:
        token = self.token()
        if not token:
            return None
        return hmac.new(token.encode(), b"plugpay-router dashboard session", hashlib.sha256).digest()

    def _sign(self, key: bytes, text: str) -> str:
        return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()

    def token_matches(self, given: str) -> bool:
        token = self.token()
        return bool(token) and hmac.compare_digest(given.encode("utf-8", "surrogateescape"), str(token).encode())

    def issue(self, now: float | None = None) -> str:
        key = self._key()
        assert key is not None, "no admin token: no sessions"
        body = f"{int((now or time.time()) + SESSION_TTL)}.{secrets.token_urlsafe(16)}"
        return f"{body}.{self._sign(key, body)}"

    def valid(self, value: str | None, now: float | None = None) -> bool:
        key = self._key()
        if key is None or not value or value.count(".") != 2:
            return False
        body, _, signature = value.rpartition(".")
        if not hmac.compare_digest(signature, self._sign(key, body)):
            return False
        expires = body.split(".", 1)[0]
        return expires.isdigit() and int(expires) > (now or time.time())

    def csrf(self, session: str) -> str:
        key = self._key()
        assert key is not None
        return self._sign(key, f"csrf:{session}")[:40]

    def session_of(self, request: web.Request) -> str | None:
        value = request.cookies.get(COOKIE)
        return value if self.valid(value) else None

    async def csrf_ok(self, request: web.Request, session: str) -> bool:
        """Whether a state-changing request carries this session's CSRF token and comes from this site."""
        origin = request.headers.get("Origin")
        if origin and origin != "null" and urlsplit(origin).netloc != request.host:
            return False
        given = request.headers.get(CSRF_HEADER)
        if given is None:
            form = await request.post()
            field = form.get(CSRF_FIELD)
            given = field if isinstance(field, str) else None
        return given is not None and hmac.compare_digest(given, self.csrf(session))


def set_session(response: web.StreamResponse, request: web.Request, value: str) -> None:
    response.set_cookie(
        COOKIE,
        value,
        max_age=int(SESSION_TTL),
        path="/ui",
        httponly=True,
        samesite="Strict",
        secure=request.secure,
    )


def clear_session(response: web.StreamResponse) -> None:
    response.del_cookie(COOKIE, path="/ui")


def local_target(value: str | None) -> str:
    """Where to go after the login: a dashboard path of this site only (never another host)."""
    if value and value.startswith("/ui") and not value.startswith("//") and "\\" not in value:
        return value
    return "/ui"
