"""The two-shop walk-through of docs/operating.md, as a reader runs it: examples/two-shops/ checks, serves the
course shop from the stand-ins and the yoga studio from a second sandbox, and a test webhook sent to each shop
(``trigger -c router.yaml --shop NAME``) reaches the team's channel with that shop's line, and the course
shop's welcome mail goes out; the stand-ins print both."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from router.demo.sandbox import Sandbox, SandboxServer, load_fixtures
from tests.conftest import run_cli
from tests.support import DaemonProcess, reserved_port
from tests.system.test_standins import standins  # noqa: F401 - the fixture, as the reader starts it

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "two-shops"
YOGA = {"YOGA_API_TOKEN": "yoga-api-token-2b7c9d0e1f", "YOGA_WEBHOOK_KEY": "yoga-webhook-key-8c1d4e7f0a"}


@pytest.fixture
async def yoga_api() -> AsyncIterator[SandboxServer]:
    server = await SandboxServer(Sandbox(load_fixtures(), token=YOGA["YOGA_API_TOKEN"], synthesize=True)).start()
    yield server
    await server.stop()


async def test_the_two_shop_example_delivers_each_shops_webhook_with_its_own_rules(
    tmp_path: Path,
    standins,  # noqa: F811
    yoga_api: SandboxServer,
) -> None:
    folder = tmp_path / "two-shops"
    shutil.copytree(EXAMPLE, folder)
    port = reserved_port()
    env = {**standins.env(), **YOGA, "YOGA_API_URL": yoga_api.url, "ROUTER_LISTEN": f"127.0.0.1:{port}"}
    config = folder / "router.yaml"
    checked = await asyncio.to_thread(run_cli, "check", "-c", str(config), env=env)
    assert checked.returncode == 0, checked.stderr
    assert "shop cursusshop: ok: 2 rules" in checked.stdout and "shop yogastudio: ok: 1 rules" in checked.stdout
    daemon = DaemonProcess(config, port, env).start()
    try:
        for shop, order in (("cursusshop", "1042"), ("yogastudio", "2042")):
            sent = await asyncio.to_thread(
                run_cli, "trigger", "-c", str(config), "--shop", shop, "order_paid", order, env=env
            )
            assert sent.returncode == 0, sent.stderr + sent.stdout
        wanted = {"Cursusshop: bestelling": False, "Yogastudio: bestelling": False, "mail    ": False}
        while not all(wanted.values()):
            line = await standins.line()
            for text in wanted:
                wanted[text] = wanted[text] or text in line
    finally:
        assert daemon.stop() == 0
