"""Local stand-ins for the destinations a shop connects: an SMTP catcher, an HTTP sink, ActiveCampaign, Moneybird.

They are real servers on 127.0.0.1 that speak enough of each protocol for the connectors to do their whole
job against them (the same code paths as in production, no client is patched). ``plugpay-router demo`` points
the example config at them, and the test suite uses them as destinations. Each one binds a free port itself
(port 0), so there is no window in which another process can take the port, and records what it received.
"""

from __future__ import annotations

from aiohttp import web


async def serve_app(app: web.Application, host: str = "127.0.0.1", port: int = 0) -> tuple[web.AppRunner, str]:
    """Start ``app`` on ``host:port`` (0: a free port); returns the runner and the base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    return runner, f"http://{host}:{bound}"
