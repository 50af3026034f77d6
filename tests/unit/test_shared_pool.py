"""One pool of outgoing connections for the whole daemon: inside ``shared_pool`` every session reuses the same
kept-alive connections, a session closed when a reload retires its config leaves the pool to the others, and
outside it (the commands) each session keeps a pool of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from router.demo.standins import serve_app
from toolkit.client import new_session, shared_pool


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[int]]]:
    ports: list[int] = []

    async def answer(request: web.Request) -> web.Response:
        assert request.transport is not None
        ports.append(request.transport.get_extra_info("peername")[1])
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/", answer)
    runner, url = await serve_app(app, "127.0.0.1", 0)
    yield url, ports
    await runner.cleanup()


async def test_sessions_in_the_shared_pool_reuse_one_connection_and_outlive_a_closed_one(server) -> None:
    url, ports = server
    async with shared_pool():
        retired, current = new_session(5), new_session(5)
        async with retired.get(url) as response:
            assert response.status == 200
        await retired.close()  # a reload's old config: its session goes, the pool stays
        async with current.get(url) as response:
            assert response.status == 200
        await current.close()
    assert len(ports) == 2 and len(set(ports)) == 1


async def test_outside_the_shared_pool_each_session_has_its_own_connections(server) -> None:
    url, ports = server
    first, second = new_session(5), new_session(5)
    for session in (first, second):
        async with session.get(url) as response:
            assert response.status == 200
        await session.close()
    assert len(set(ports)) == 2
