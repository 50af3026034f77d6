"""Shared fixtures: the sandbox API, an HTTP sink (both stand-ins of ``router.demo``), and a factory for daemons
in subprocesses; every daemon and reserved port a test used is cleaned up when it ends.

The test-only ``type: memory`` connector (``tests.memory_connector``) is registered for every in-process
test; ``run_cli(..., memory=True)`` runs the command line with it registered too.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from router.demo.sandbox import SandboxServer
from router.demo.standins.sink import HttpSink
from tests import memory_connector
from tests.support import RESERVED, STARTED, DaemonProcess, base_config, hand_over, reserved_port, sandbox_server

# Registered at import, before any test module is collected, so configs built at import time may use it.
memory_connector.register()
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    server = await sandbox_server().start()
    yield server
    await server.stop()


@pytest.fixture
async def sink() -> AsyncIterator[HttpSink]:
    server = await HttpSink().start()
    yield server
    await server.stop()


@pytest.fixture
async def any_order_api() -> AsyncIterator[SandboxServer]:
    """A sandbox where any numeric order id is a paid order."""
    server = await sandbox_server(synthesize=True).start()
    yield server
    await server.stop()


@pytest.fixture
async def ops() -> AsyncIterator[HttpSink]:
    """A second recording sink: the team's channel, where the alerts go."""
    server = await HttpSink().start()
    yield server
    await server.stop()


@pytest.fixture(autouse=True)
def no_daemon_outlives_its_test() -> Iterator[None]:
    """Kill every daemon subprocess a test started (restarted ones included) once the test is over, then
    release the ports the test reserved."""
    first = len(STARTED)
    yield
    for proc in STARTED[first:]:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    del STARTED[first:]
    for reservation in RESERVED.values():
        reservation.release()
    RESERVED.clear()


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[Callable[..., DaemonProcess]]:
    """``make(config_text=None, **base_config kwargs)`` writes a config and returns an unstarted daemon."""
    started: list[DaemonProcess] = []

    def make(config_text: str | None = None, *, env: dict[str, str] | None = None, **kwargs: object) -> DaemonProcess:
        port = reserved_port()
        admin_port: int | None = None
        if config_text is None:
            admin_port = reserved_port()  # the admin listener (/metrics, /api, /ui) of the base config
            hand_over(admin_port)
            kwargs.setdefault("admin_port", admin_port)
            config_text = base_config(port=port, db=tmp_path / "router.db", **kwargs)  # type: ignore[arg-type]
        path = tmp_path / f"config-{len(started)}.yaml"
        path.write_text(config_text)
        daemon = DaemonProcess(path, port, env)
        if kwargs.get("admin_port"):
            daemon.admin_url = f"http://127.0.0.1:{kwargs['admin_port']}"
        started.append(daemon)
        return daemon

    yield make


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, memory: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m router ARGS`` and capture its output; ``memory``: with ``type: memory`` registered."""
    command = ["-m", "tests.memory_connector"] if memory else ["-m", "router"]
    extra = {"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))} if memory else {}
    return subprocess.run(
        [sys.executable, *command, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PLUGANDPAY_API_TOKEN": "test-api-token-7c2e", **extra, **(env or {})},
        cwd=cwd,
    )


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL store URL whose search_path is a fresh, empty schema, dropped afterwards.

    Without a reachable server the test is skipped with the reason, except under ``CI=true``, where
    that is a failure: CI has a server, and a silent skip there would hide the PostgreSQL store.
    """
    from tests import pg

    reason = pg.unreachable_reason()
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true: the PostgreSQL tests must run)")
        pytest.skip(reason)
    schema = asyncio.run(pg.new_schema())
    try:
        yield pg.with_query(pg.SERVER_URL, search_path=schema, application_name=schema)
    finally:
        asyncio.run(pg.drop_schema(schema))
