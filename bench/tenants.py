"""Many Plug&Pay tenants in one process: a sandbox API per shop, each under its own path prefix of one port.

Tenant ``i`` answers under ``/t<i>`` (``api_url: http://127.0.0.1:PORT/t<i>``) with its own token
(``token(i)``) and tenant id (``tenant_id(i)``), and like ``plugpay-router sandbox --synthesize`` it answers any
numeric order id with a copy of a fixture. One process (one event loop) serves them all, so a benchmark of many
shops costs the machine what one sandbox costs, not a process per shop. Used by ``bench.shops``.

    python -m bench.tenants PORT COUNT
"""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web

from router.demo.sandbox import Sandbox, load_fixtures, make_app


def token(index: int) -> str:
    return f"bench-tenant-token-{index:04d}"


def tenant_id(index: int) -> int:
    return 1000 + index


def prefix(index: int) -> str:
    return f"/t{index}"


def app(count: int) -> web.Application:
    fixtures = load_fixtures()
    root = web.Application()
    for index in range(count):
        sandbox = Sandbox(fixtures, token=token(index), synthesize=True, tenant_id=tenant_id(index))
        root.add_subapp(prefix(index), make_app(sandbox))
    return root


async def serve(port: int, count: int) -> None:
    runner = web.AppRunner(app(count), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print(f"{count} Plug&Pay sandbox tenants on http://127.0.0.1:{port}/t0 .. /t{count - 1}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), int(sys.argv[2])))
