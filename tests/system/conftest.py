"""Fixtures of the store test files (contract, insight, reconcile, quarantine): each test runs against a fresh
SQLite file and a fresh PostgreSQL schema alike. ``open_store`` opens further stores on the same database: a
second instance for PostgreSQL, a second process's view of the file for SQLite. And ``raw_sink`` for the
template tests: a destination that records each request's path exactly as sent (tests/template_support.py);
``apis`` for the many-shop tests: two shops' Plug&Pay sandboxes (tests/shops_support.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from router.demo.sandbox import SandboxServer
from router.store.base import Store
from router.store.postgres import PostgresStore
from router.store.sqlite import SqliteStore
from tests.shops_support import two_apis
from tests.template_support import RawSink

Opener = Callable[[], Awaitable[Store]]


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return str(request.getfixturevalue("pg_url"))  # a sync fixture: pg_url sets its schema up with asyncio.run


def make(url: str) -> Store:
    if url.startswith("sqlite"):
        return SqliteStore(Path(url.removeprefix("sqlite://")))
    return PostgresStore(url)


@pytest.fixture
async def open_store(store_url: str) -> AsyncIterator[Opener]:
    opened: list[Store] = []

    async def opener() -> Store:
        store = make(store_url)
        await store.open()
        opened.append(store)
        return store

    yield opener
    for store in opened:
        await store.close()


@pytest.fixture
async def store(open_store: Opener) -> Store:
    return await open_store()


@pytest.fixture
async def raw_sink() -> AsyncIterator[RawSink]:
    server = await RawSink().start()
    yield server
    await server.stop()


@pytest.fixture
async def apis() -> AsyncIterator[tuple[SandboxServer, SandboxServer]]:
    """Two shops' Plug&Pay APIs (tests/shops_support.py): the course shop's and the yoga studio's."""
    async with two_apis() as both:
        yield both
