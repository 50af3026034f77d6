"""The command line with a config of several shops: ``check`` gives each shop's verdict and fails on one shop's
problems (at their file, line and key), a command that acts on one shop asks which (``--shop``, with the nearest
name for a typo), and the store commands and ``trace`` show one shop's events with ``--shop``."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from router.store.sqlite import SqliteStore
from tests.conftest import run_cli
from tests.system.test_store_contract import WINDOW, T, event
from tests.unit.test_shops_config import CONFIG, CURSUS_RULES, ENV, folder


def shop_folder(tmp_path: Path, rules: str = CURSUS_RULES) -> Path:
    path = folder(tmp_path, rules=rules)
    path.write_text(CONFIG.replace("version: 1\n", f'version: 1\nstore: {{url: "sqlite:///{tmp_path / "r.db"}"}}\n'))
    return path


def test_check_tells_each_shop_and_fails_on_one_shops_problems(tmp_path: Path) -> None:
    path = shop_folder(tmp_path)
    ok = run_cli("check", "-c", str(path), env=ENV)
    assert ok.returncode == 0, ok.stderr
    assert "shop cursusshop: ok: 2 rules, 2 connectors" in ok.stdout and "shop yogastudio: ok: 1 rules" in ok.stdout
    shop_folder(tmp_path, CURSUS_RULES.replace("connector: ops", "connector: opps"))
    broken = run_cli("check", "-c", str(path), env=ENV)
    assert broken.returncode == 1 and "shop yogastudio: ok" in broken.stdout
    assert f"{tmp_path / 'shops' / 'cursusshop.yaml'}:3: rules[1].actions[0].connector: unknown connector 'opps'" in (
        broken.stderr
    )
    assert "shop cursusshop: 1 problem" in broken.stderr


def test_a_command_for_one_shop_asks_which_and_suggests_the_nearest_name(tmp_path: Path) -> None:
    path = shop_folder(tmp_path)
    which = run_cli("simulate", "-c", str(path), "order_paid", "1042", env=ENV)
    assert which.returncode == 1
    assert "serves several shops (cursusshop, yogastudio): name one with --shop NAME" in which.stderr
    typo = run_cli("test", "-c", str(path), "--shop", "yogastudo", "cases.yaml", env=ENV)
    assert typo.returncode == 1 and "no shop 'yogastudo' (did you mean 'yogastudio'?)" in typo.stderr


async def test_the_store_commands_list_one_shops_events_with_shop(tmp_path: Path) -> None:
    path = shop_folder(tmp_path)
    store = SqliteStore(tmp_path / "r.db")
    await store.open()
    for shop, ident in (("cursusshop", 1042), ("yogastudio", 2042)):
        await store.add_event(dataclasses.replace(event(ident), shop=shop), dedupe_window=WINDOW, now=T)
    await store.close()
    listed = run_cli("events", "-c", str(path), "--shop", "yogastudio", "--json", env=ENV)
    assert listed.returncode == 0, listed.stderr
    assert '"2042"' in listed.stdout and '"1042"' not in listed.stdout
    every = run_cli("events", "-c", str(path), "--json", env=ENV)
    assert '"2042"' in every.stdout and '"1042"' in every.stdout  # the agency's view: every shop


async def test_trace_with_shop_shows_only_that_shops_order_of_the_same_number(tmp_path: Path) -> None:
    path = shop_folder(tmp_path)
    store = SqliteStore(tmp_path / "r.db")
    await store.open()
    for shop in ("cursusshop", "yogastudio"):  # order 1042 in both shops: two different orders
        await store.add_event(dataclasses.replace(event(1042), shop=shop), dedupe_window=WINDOW, now=T)
    await store.close()
    one = run_cli("trace", "-c", str(path), "--shop", "yogastudio", "order", "1042", "--json", env=ENV)
    assert one.returncode == 0, one.stderr
    [traced] = json.loads(one.stdout)["events"]
    assert traced["shop"] == "yogastudio"


async def test_replay_and_reroute_with_shop_refuse_another_shops_event(tmp_path: Path) -> None:
    path = shop_folder(tmp_path)
    store = SqliteStore(tmp_path / "r.db")
    await store.open()
    cursus = await store.add_event(dataclasses.replace(event(1042), shop="cursusshop"), dedupe_window=WINDOW, now=T)
    await store.close()
    wrong = run_cli("reroute", "-c", str(path), "--shop", "yogastudio", str(cursus.event_id), env=ENV)
    assert wrong.returncode == 1 and f"no event {cursus.event_id} in shop yogastudio" in wrong.stderr
    replay = run_cli("replay", "-c", str(path), "--shop", "yogastudio", "--event", str(cursus.event_id), env=ENV)
    assert replay.returncode == 1 and "in shop yogastudio" in replay.stderr
    right = run_cli("reroute", "-c", str(path), "--shop", "cursusshop", str(cursus.event_id), env=ENV)
    assert right.returncode == 0, right.stderr
