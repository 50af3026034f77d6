"""PostgreSQL for tests: where the server is, whether it answers, and a fresh schema per test.

The server is ``ROUTER_TEST_POSTGRES_URL`` (default: the local one CI uses, 127.0.0.1:5432, user
``postgres``, database ``test``, trust auth). Each test gets its own schema, named in the store URL as
``search_path`` (and as ``application_name``, so a test can find and kill exactly its own connections),
and dropped afterwards, so tests are independent and may run beside other users of the database.
"""

from __future__ import annotations

import asyncio
import functools
import os
import uuid
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

SERVER_URL = os.environ.get("ROUTER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(params)
    return urlunsplit(parts._replace(query=urlencode(query)))


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


@functools.cache
def unreachable_reason() -> str | None:
    """Why the test server cannot be used (None when it can); asked once per test session."""
    try:
        asyncio.run(_probe())
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        return f"no PostgreSQL server at {SERVER_URL}: {type(exc).__name__}: {exc}"
    return None


async def _probe() -> None:
    conn = await asyncpg.connect(SERVER_URL, timeout=3)
    await conn.close()


async def new_schema() -> str:
    name = f"ppr_test_{uuid.uuid4().hex[:12]}"
    await execute(f"CREATE SCHEMA {name}")
    return name


async def drop_schema(name: str) -> None:
    await execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


async def connect() -> asyncpg.Connection:
    return await asyncpg.connect(SERVER_URL, timeout=5)


async def execute(sql: str, *args: object) -> str:
    conn = await asyncpg.connect(SERVER_URL, timeout=5)
    try:
        return str(await conn.execute(sql, *args))
    finally:
        await conn.close()


async def fetchval(sql: str, *args: object) -> object:
    conn = await asyncpg.connect(SERVER_URL, timeout=5)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def terminate(application_name: str) -> int:
    """Kill every server connection of that application (as a restart or a network cut would)."""
    killed = await fetchval(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE application_name = $1 AND pid <> pg_backend_pid()",
        application_name,
    )
    assert isinstance(killed, int)
    return killed
