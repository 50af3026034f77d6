"""The admin listener's socket: the admin application on ``admin.listen``, guarded like the webhook listener.

It gets the same protections as the webhook port (``router.listener.GuardedSite``: header deadline,
connection cap, quiet accept errors), and on the webhook port ``not_here`` answers the admin paths with
a pointer instead of serving them.
"""

from __future__ import annotations

import structlog
from aiohttp import web

from router.config.model import AdminConfig
from router.listener import GuardedSite, Limits

log = structlog.get_logger("router.admin")
ADMIN_PATHS = ("/api", "/ui", "/metrics")


class AdminListener:
    def __init__(self, app: web.Application, shutdown_timeout: float):
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=shutdown_timeout)
        self.site: GuardedSite | None = None

    async def start(self, admin: AdminConfig, limits: Limits) -> None:
        await self.runner.setup()
        self.site = GuardedSite(self.runner, admin.host, admin.port, limits, reuse_address=True)
        await self.site.start()
        log.info("admin listener started", listen=f"{admin.host}:{admin.port}")

    async def stop(self) -> None:
        await self.runner.cleanup()


async def not_here(request: web.Request) -> web.Response:
    """A GET on the webhook port: the admin paths live on the admin listener; nothing else is here."""
    if request.path.startswith(ADMIN_PATHS):
        message = "the admin API, dashboard and metrics are served on the admin listener (admin.listen)"
    else:
        message = f"nothing at {request.path}"
    return web.json_response({"error": message}, status=404)
