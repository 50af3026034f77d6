"""``plugpay-router reconcile``: one pass now, as the daemon's loop runs it, against the sandbox. A missed paid order
is stored once (a second run stores nothing) and a running daemon delivers it; ``--dry-run`` names what would be
stored and stores nothing; with shops, ``--shop`` picks the shop's token and settings and its events carry the
shop; on PostgreSQL it will not run beside a pass holding the lock; and a wrong token, an API or a store that
cannot be reached is one line on stderr and exit 1, never a traceback."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from router.demo.sandbox import Sandbox, SandboxServer
from router.demo.sandbox_api import synthesize_orders
from router.demo.standins.sink import HttpSink
from router.store.postgres import PostgresStore
from tests.conftest import run_cli
from tests.fleet import fleet_config
from tests.shops_support import ENV, YOGA_TOKEN, two_apis
from tests.support import DaemonProcess, reserved_port, webhook_body


def missed_orders(sandbox: Sandbox, count: int) -> list[str]:
    """``count`` orders paid 1 to 25 hours ago: inside the default lookback (72h), past its grace (10m)."""
    return synthesize_orders(sandbox, count, days=1, now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))


async def reconcile(config: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The command in a subprocess, off the event loop (the sandbox and the sink answer on it)."""
    return await asyncio.to_thread(run_cli, "reconcile", "-c", str(config), *args, env=env)


def listed_ids(output: str, trigger: str = "order_paid") -> set[str]:
    """The object ids a report line of ``trigger`` names (``  order_paid: ... stored: 1044, 1045``)."""
    [line] = [line for line in output.splitlines() if line.startswith(f"  {trigger}:")]
    return set(line.rpartition(": ")[2].split(", "))


def reconciled(config: Path, *args: str) -> list[dict[str, object]]:
    listed = run_cli("events", "-c", str(config), "--source", "reconcile", "--json", *args, env=ENV)
    assert listed.returncode == 0, listed.stderr
    return list(json.loads(listed.stdout))


async def test_a_missed_paid_order_is_stored_once_and_the_running_daemon_delivers_it(
    tmp_path: Path, sandbox: SandboxServer, sink: HttpSink
) -> None:
    ids = missed_orders(sandbox.state, 4)
    config, port = tmp_path / "router.yaml", reserved_port()
    # No reconcile: section: the daemon does not reconcile by itself, the command uses the defaults.
    config.write_text(
        fleet_config(port=port, api_url=sandbox.url, sink_url=sink.url, store_url=f"sqlite:///{tmp_path / 'r.db'}")
    )
    daemon = DaemonProcess(config, port).start()
    try:
        came, missed = ids[0], ids[1:]
        assert (await daemon.post(webhook_body("order_paid", came))).status_code == 202  # this webhook came
        await sink.wait_for(1, path="/welcome")

        dry = await reconcile(config, "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert "order_paid: 4 objects checked" in dry.stdout and "3 without an event" in dry.stdout
        assert listed_ids(dry.stdout) == set(missed)
        assert "no reconcile: section" in dry.stdout  # the defaults, and it says so
        assert "dry run: 3 events would be stored; nothing stored" in dry.stdout
        assert reconciled(config) == []

        done = await reconcile(config)  # the dry run moved no watermark: this pass checks the same window
        assert done.returncode == 0, done.stderr
        assert "order_paid: 4 objects checked" in done.stdout and "3 missed events stored" in done.stdout
        assert listed_ids(done.stdout) == set(missed)
        await sink.wait_for(4, path="/welcome")  # the daemon found them by itself and delivered them

        again = await reconcile(config)
        assert again.returncode == 0, again.stderr
        assert "no webhook was missed: nothing stored" in again.stdout
        assert sorted(str(e["triggerable_id"]) for e in reconciled(config)) == sorted(missed)
        assert {e["source"] for e in reconciled(config)} == {"reconcile"}
    finally:
        assert daemon.stop() == 0
    assert Counter(int(r.json()["order"]) for r in sink.to("/welcome")) == Counter({int(i): 1 for i in ids})


@pytest.fixture
async def apis() -> AsyncIterator[tuple[SandboxServer, SandboxServer]]:
    async with two_apis(synthesize=False) as both:  # only the orders the sandbox holds exist
        yield both


def two_shops(tmp_path: Path, cursus_api: str, yoga_api: str) -> Path:
    rule = "[{name: welcome, trigger: order_paid, actions: [{connector: sink, path: /welcome}]}]"
    config = tmp_path / "router.yaml"
    config.write_text(f"""version: 1
store: {{url: "sqlite:///{tmp_path / "r.db"}"}}
connectors:
  sink: {{type: http, base_url: "http://127.0.0.1:9"}}
shops:
  cursusshop:
    plugandpay: {{api_url: "{cursus_api}", api_token: "${{CURSUS_API_TOKEN}}", webhook_key: "${{CURSUS_WEBHOOK_KEY}}"}}
    rules: {rule}
  yogastudio:
    plugandpay: {{api_url: "{yoga_api}", api_token: "${{YOGA_API_TOKEN}}", webhook_key: "${{YOGA_WEBHOOK_KEY}}"}}
    rules: {rule}
    reconcile: {{every: 15m, lookback: 48h, grace: 5m}}
""")
    return config


async def test_with_shops_the_command_asks_which_and_reconciles_only_that_shop_with_its_token(
    tmp_path: Path, apis: tuple[SandboxServer, SandboxServer]
) -> None:
    cursus_api, yoga_api = apis
    missed_orders(cursus_api.state, 2)
    yoga_ids = missed_orders(yoga_api.state, 2)
    config = two_shops(tmp_path, cursus_api.url, yoga_api.url)

    which = await reconcile(config, env=ENV)
    assert (
        which.returncode == 1 and "serves several shops (cursusshop, yogastudio): name one with --shop" in which.stderr
    )
    typo = await reconcile(config, "--shop", "yogastudo", env=ENV)
    assert typo.returncode == 1 and "no shop 'yogastudo' (did you mean 'yogastudio'?)" in typo.stderr
    assert cursus_api.state.requests == [] and yoga_api.state.requests == []

    done = await reconcile(config, "--shop", "yogastudio", env=ENV)
    assert done.returncode == 0, done.stderr
    assert "shop yogastudio: reconcile order_paid (lookback 2d, grace 5m)" in done.stdout  # the shop's settings
    assert listed_ids(done.stdout) == set(yoga_ids)
    assert {r["authorization"] for r in yoga_api.state.requests} == {f"Bearer {YOGA_TOKEN}"}
    assert cursus_api.state.requests == []
    events = reconciled(config, "--shop", "yogastudio")
    assert sorted(str(e["triggerable_id"]) for e in events) == sorted(yoga_ids)
    assert {(e["shop"], e["tenant_id"]) for e in events} == {("yogastudio", "77")}
    assert reconciled(config, "--shop", "cursusshop") == []


async def test_on_postgresql_the_command_refuses_while_a_pass_holds_the_lock_and_a_notice_wakes_the_daemon(
    tmp_path: Path, pg_url: str, sandbox: SandboxServer, sink: HttpSink
) -> None:
    [missed] = missed_orders(sandbox.state, 1)
    config, port = tmp_path / "router.yaml", reserved_port()
    config.write_text(fleet_config(port=port, api_url=sandbox.url, sink_url=sink.url, store_url=pg_url))
    daemon = DaemonProcess(config, port).start()
    holder = PostgresStore(pg_url)
    await holder.open()
    try:
        async with holder.exclusive("reconcile") as mine:  # another instance's pass, under way
            assert mine
            refused = await reconcile(config)
        assert refused.returncode == 1 and "Traceback" not in refused.stderr
        assert "another reconcile pass" in refused.stderr and "nothing was done" in refused.stderr
        assert reconciled(config) == []

        done = await reconcile(config)
        assert done.returncode == 0, done.stderr
        assert listed_ids(done.stdout) == {missed}
        [delivered] = await sink.wait_for(1, path="/welcome")
        assert delivered.json()["order"] == missed
    finally:
        await holder.close()
        assert daemon.stop() == 0


async def test_a_wrong_token_an_unreachable_api_or_store_is_one_line_and_exit_1(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    missed_orders(sandbox.state, 1)
    sqlite = f"sqlite:///{tmp_path / 'r.db'}"
    cases = {
        "wrong token": (sandbox.url, sqlite, {"PLUGANDPAY_API_TOKEN": "not-the-token"}, "401"),
        "API unreachable": (f"http://127.0.0.1:{reserved_port()}", sqlite, {}, "unreachable"),
        "store unreachable": (
            sandbox.url,
            f"postgresql://postgres@127.0.0.1:{reserved_port()}/test",
            {},
            "the store cannot be opened",
        ),
    }
    for case, (api_url, store_url, env, said) in cases.items():
        config = tmp_path / f"{case.replace(' ', '-')}.yaml"
        config.write_text(fleet_config(port=9, api_url=api_url, sink_url="http://127.0.0.1:9", store_url=store_url))
        failed = await reconcile(config, env=env)
        assert failed.returncode == 1, case
        [line] = failed.stderr.strip().splitlines()
        assert line.startswith("error: ") and said in line, (case, line)
    assert reconciled(tmp_path / "wrong-token.yaml") == []
