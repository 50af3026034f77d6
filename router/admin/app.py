"""The admin listener's application: ``/metrics``, the admin API under ``/api`` and the dashboard under ``/ui``.

It runs on its own address (``admin.listen``, loopback by default), apart from the webhook listener, so
publishing the webhook port never publishes these, and it answers only requests whose Host is one of
``admin.hosts`` (421 otherwise), so a web page that rebinds its DNS name to this address cannot reach it
from an operator's browser. ``/metrics`` is the whole router's: with ``admin.users`` in the config it takes
``admin.token`` (a user's token gets 403, none or a wrong one 401), without them it is open as ever. No answer
but static files may be cached. Every dashboard answer carries
headers that keep the browser strict: a Content-Security-Policy allowing only this origin's own CSS and
script (no inline script, no framing), no MIME sniffing and no referrer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Middleware

from router.admin.api import AdminApi, bearer
from router.admin.auth import LoginThrottle
from router.admin.ui import AdminStatus, Dashboard
from router.store.base import Store

STATIC = Path(__file__).with_name("static")
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self';"
    " form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def served_hosts(hosts: Callable[[], tuple[str, ...]]) -> Middleware:
    """Answer only requests whose Host is one of ``admin.hosts``; 421 otherwise (DNS rebinding)."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        given = request.headers.get("Host")
        if given is not None and host_name(given) not in hosts():
            message = "this admin listener does not serve that Host name: add it to admin.hosts in the config"
            return web.json_response({"error": message}, status=421, headers={"Cache-Control": "no-store"})
        return await handler(request)

    return guard


def host_name(host: str) -> str:
    """The name of a Host header without its port: ``[::1]:8081`` is ``::1``, ``Router.Shop.nl.:443`` is
    ``router.shop.nl``."""
    text = host.strip().lower()
    if text.startswith("["):
        return text[1 : text.find("]")] if "]" in text else text
    return text.rsplit(":", 1)[0].rstrip(".") if text.count(":") == 1 else text.rstrip(".")


@web.middleware
async def strict_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _harden(exc, request.path)
        raise
    _harden(response, request.path)
    return response


def _harden(response: web.StreamResponse, path: str) -> None:
    if not path.startswith("/ui/static/"):
        response.headers["Cache-Control"] = "no-store"  # customer data, tokens' answers and metrics alike
    if path.startswith("/ui"):
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"


def admin_app(
    store: Store,
    status: AdminStatus,
    metrics: Handler,
    on_requeued: Callable[[], None],
    on_rerouted: Callable[[], None],
) -> web.Application:
    hosts = served_hosts(lambda: status.config().admin.hosts)
    app = web.Application(client_max_size=1024 * 1024, middlewares=[hosts, strict_headers])
    throttle = LoginThrottle()  # one budget of wrong tokens per address, for the API and the login form
    app.router.add_get("/metrics", router_wide(metrics, status, throttle))
    app.router.add_routes(AdminApi(store, status.config, on_requeued, on_rerouted, throttle).routes())
    app.router.add_routes(Dashboard(store, status, on_requeued, on_rerouted, throttle).routes())
    app.router.add_get("/", _to_dashboard)
    app.router.add_static("/ui/static", STATIC, append_version=False)
    return app


def router_wide(handler: Handler, status: AdminStatus, throttle: LoginThrottle) -> Handler:
    """An endpoint about every shop: open as before without ``admin.users``; with them, ``admin.token`` only."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        config = status.config()
        if not config.admin.users:
            return await handler(request)
        if wait := throttle.retry_after(request.remote):
            message = f"too many wrong tokens from this address: try again in {wait} s"
            return web.json_response({"error": message}, status=429, headers={"Retry-After": str(wait)})
        access = bearer(request, config)
        if access is None:
            throttle.failed(request.remote)
            message = "with admin.users set, this takes the admin token (Authorization: Bearer <admin.token>)"
            return web.json_response({"error": message}, status=401)
        if access.scoped:
            return web.json_response({"error": "this is about every shop: admin.token only"}, status=403)
        return await handler(request)

    return guarded


async def _to_dashboard(request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther("/ui")
