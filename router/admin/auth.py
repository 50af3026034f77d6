"""Dashboard login: the admin token (or a user's of ``admin.users``) typed once into a form, then a signed
session cookie and CSRF tokens.

The cookie never holds the token: it holds an expiry and a random nonce, signed with a key derived from
the token it logged in with (HMAC-SHA256), so changing that token in the config logs its sessions out (the
admin token's change every admin session, a user's that user's). A session is
also live only while this process keeps its nonce: logout ends it at once (the cookie is worthless from
then on, wherever a copy of it went), and so does a restart. The cookie is HttpOnly and SameSite=Strict,
limited to ``/ui``, and Secure when the request came over TLS, ``admin.public_url`` is https, or a proxy
of ``admin.trusted_proxies`` says ``X-Forwarded-Proto: https``. Every state-changing request carries a
CSRF token (a hidden form field or the ``X-CSRF-Token`` header) that is the session's own HMAC, and a
cross-site ``Origin`` is refused outright. Wrong tokens, at the login form and the API alike, are limited
per client address (``LoginThrottle``): a short burst, then one try every few seconds, 429 with
``Retry-After`` in between, so the token cannot be guessed online.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from aiohttp import web

COOKIE = "plugpay_router_session"
SESSION_TTL = 12 * 3600.0
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
MAX_SESSIONS = 1000  # live sessions kept; past it the oldest ends (an operator logs in again)


class Sessions:
    """Issues and checks session values and their CSRF tokens for the current admin token, and for each user of
    ``admin.users`` under that user's own token (``users``: name -> token of the config in force).

    A session belongs to one login: ``admin.token`` (``None``) or a user's name. Its cookie is signed with a
    key derived from that login's token, so a new token (or a user taken out of the config) ends the login's
    sessions and no other's; ``token_changed_at`` and ``user_changed_at`` say when a reload last changed a
    token, so a session issued before stays over even once the old token is back (A→B→A)."""

    def __init__(
        self,
        token: Callable[[], str | None],
        token_changed_at: Callable[[], float] = lambda: 0.0,
        users: Callable[[], Mapping[str, str]] = dict,
        user_changed_at: Callable[[str], float] = lambda name: 0.0,
    ):
        self.token = token
        self.token_changed_at = token_changed_at  # sessions issued before the token last changed are over
        self.users = users
        self.user_changed_at = user_changed_at
        # nonce -> (expiry, issued at, login) of the sessions not ended
        self._live: OrderedDict[str, tuple[int, float, str | None]] = OrderedDict()
        self._issued_under: dict[str | None, bytes | None] = {}  # the key each login's live sessions were issued with

    def _token_of(self, user: str | None) -> str | None:
        return self.token() if user is None else self.users().get(user)

    def _key(self, user: str | None = None) -> bytes | None:
        token = self._token_of(user)
        if not token:
            return None
        label = b"plugpay-router dashboard session" + (b"" if user is None else b" of " + user.encode())
        return hmac.new(token.encode(), label, hashlib.sha256).digest()

    def _sign(self, key: bytes, text: str) -> str:
        return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()

    def token_matches(self, given: str) -> bool:
        token = self.token()
        return bool(token) and hmac.compare_digest(given.encode("utf-8", "surrogateescape"), str(token).encode())

    def issue(self, now: float | None = None, user: str | None = None) -> str:
        """A new session of ``admin.token`` (``user`` None) or of the user named."""
        key = self._key(user)
        assert key is not None, "no token for this login: no sessions"
        self._follow(user, key)
        issued = now or time.time()
        expires, nonce = int(issued + SESSION_TTL), secrets.token_urlsafe(16)
        self._live[nonce] = (expires, issued, user)
        while len(self._live) > MAX_SESSIONS:
            self._live.popitem(last=False)
        body = f"{expires}.{nonce}"
        return f"{body}.{self._sign(key, body)}"

    def valid(self, value: str | None, now: float | None = None) -> bool:
        return self.login_of(value, now) is not None

    def login_of(self, value: str | None, now: float | None = None) -> tuple[str | None] | None:
        """``(user,)`` of a live session (``(None,)`` for ``admin.token``'s), or None when ``value`` is none."""
        if not value or value.count(".") != 2:
            return None
        body, _, signature = value.rpartition(".")
        expires, _, nonce = body.partition(".")
        live = self._live.get(nonce)
        if live is None:
            return None
        user = live[2]
        key = self._key(user)
        if key is None or not hmac.compare_digest(signature, self._sign(key, body)):
            return None
        self._follow(user, key)
        if not expires.isdigit() or int(expires) <= (now or time.time()):
            return None
        live = self._live.get(nonce)
        changed = self.token_changed_at() if user is None else self.user_changed_at(user)
        # Issued before the token last changed: over, even when the token has been changed back (A→B→A).
        if live is None or live[0] != int(expires) or live[1] < changed:
            return None
        return (user,)

    def end(self, value: str) -> None:
        """Log this session out: its cookie is refused from now on."""
        self._live.pop(value.split(".")[1] if value.count(".") == 2 else "", None)

    def _follow(self, user: str | None, key: bytes) -> None:
        """A login's new token ends every session issued under its old one, even if the token comes back."""
        if self._issued_under.get(user, key) != key:
            for nonce in [n for n, live in self._live.items() if live[2] == user]:
                del self._live[nonce]
        self._issued_under[user] = key

    def csrf(self, session: str) -> str:
        live = self._live.get(session.split(".")[1] if session.count(".") == 2 else "")
        key = self._key(live[2] if live is not None else None)
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


def over_tls(request: web.Request, public_url: str | None, trusted_proxies: tuple[str, ...]) -> bool:
    """Whether the browser reaches the dashboard over https: directly, by its public URL, or via a trusted proxy."""
    if request.secure or (public_url or "").lower().startswith("https://"):
        return True
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return forwarded == "https" and request.remote in trusted_proxies


def set_session(response: web.StreamResponse, value: str, *, secure: bool) -> None:
    response.set_cookie(
        COOKIE,
        value,
        max_age=int(SESSION_TTL),
        path="/ui",
        httponly=True,
        samesite="Strict",
        secure=secure,
    )


def clear_session(response: web.StreamResponse) -> None:
    response.del_cookie(COOKIE, path="/ui")


def local_target(value: str | None) -> str:
    """Where to go after the login: a dashboard path of this site only (never another host)."""
    if value and value.startswith("/ui") and not value.startswith("//") and "\\" not in value:
        return value
    return "/ui"


class LoginThrottle:
    """Wrong tokens per client address: ``burst`` at once, then one more every ``refill`` seconds.

    A bucket per address that only failures drain, so an operator who types the token right is never slowed
    down; the table keeps the ``max_clients`` most recent addresses.
    """

    def __init__(
        self,
        burst: int = 10,
        refill: float = 6.0,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.burst, self.refill, self.max_clients, self.clock = burst, refill, max_clients, clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # address -> (tries left, at)

    def _left(self, client: str) -> float:
        tries, at = self._buckets.get(client, (float(self.burst), self.clock()))
        return min(float(self.burst), tries + (self.clock() - at) / self.refill)

    def retry_after(self, client: str | None) -> int:
        """Whole seconds until ``client`` may try a token again; 0 when it may now."""
        left = self._left(client or "")
        return 0 if left >= 1 else max(1, math.ceil((1 - left) * self.refill))

    def failed(self, client: str | None) -> None:
        key = client or ""
        self._buckets[key] = (max(0.0, self._left(key) - 1), self.clock())
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
