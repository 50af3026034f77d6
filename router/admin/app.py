"""The admin listener's application: ``/metrics``, the admin API under ``/api`` and the dashboard under ``/ui``.

It runs on its own address (``admin.listen``, loopback by default), apart from the webhook listener, so
publishing the webhook port never publishes these. Every dashboard answer carries headers that keep the
browser strict: a Content-Security-Policy allowing only this origin's own CSS and script (no inline
script, no framing), no MIME sniffing, no referrer, and no caching of pages that show customer data.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from router.admin.api import AdminApi
from router.admin.ui import AdminStatus, Dashboard
from router.store.base import Store

STATIC = Path(__file__).with_name("static")
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self';"
    " form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def strict_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        response = exc
        if not request.path.startswith("/ui"):
            raise
        _harden(response, request.path)
        raise
    if request.path.startswith("/ui"):
        _harden(response, request.path)
    return response


def _harden(response: web.StreamResponse, path: str) -> None:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    if not path.startswith("/ui/static/"):
        response.headers["Cache-Control"] = "no-store"


def admin_app(
    store: Store,
    status: AdminStatus,
    metrics: Handler,
    on_requeued: Callable[[], None],
    on_rerouted: Callable[[], None],
) -> web.Application:
    app = web.Application(client_max_size=1024 * 1024, middlewares=[strict_headers])
    app.router.add_get("/metrics", metrics)
    app.router.add_routes(AdminApi(store, status.config, on_requeued, on_rerouted).routes())
    app.router.add_routes(Dashboard(store, status, on_requeued, on_rerouted).routes())
    app.router.add_get("/", _to_dashboard)
    app.router.add_static("/ui/static", STATIC, append_version=False)
    return app


async def _to_dashboard(request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther("/ui")
