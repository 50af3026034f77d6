"""A bare aiohttp server: POST reads the body and answers 200 and counts; ``GET /count`` tells the count.

It is the ceiling that ingest is compared against, and the destination of the end-to-end benchmark. With
``--hang`` it never answers a POST (it counts it and holds it): a destination that hangs (``bench.hanging``).
"""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web

received = 0
HANG = "--hang" in sys.argv


async def handle(request: web.Request) -> web.Response:
    global received
    await request.read()
    received += 1
    if HANG:
        await asyncio.Event().wait()  # until the client gives up or the server stops
    return web.json_response({"ok": True}, status=200)


async def count(request: web.Request) -> web.Response:
    return web.json_response({"received": received})


def main() -> None:
    app = web.Application()
    app.router.add_get("/count", count)
    app.router.add_post("/{path:.*}", handle)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
