"""``plugpay-router init DIR [--systemd]`` as a new shop meets it, through the real CLI: the folder it writes
checks once the env file is filled in (and not before), its rule tests pass, it needs no file outside itself,
it never overwrites a file, and the systemd unit it writes passes ``systemd-analyze verify``. Also the other
way a config leaves the repository: a copied ``config.example.yaml`` must work on its own.
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from router.demo.run import config_variables
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config.example.yaml"
ENV_EXAMPLE = ROOT / "deploy" / "plugpay-router.env.example"
PLACEHOLDER = "replace-with"


def env_lines(path: Path) -> dict[str, str]:
    """``NAME=value`` lines of an env file as systemd and ``docker --env-file`` read them (comments skipped)."""
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))
    return {name: value for name, value in pairs}


def filled(env: dict[str, str]) -> dict[str, str]:
    """The env file as a user fills it in: every placeholder replaced by a real, random value."""
    return {name: secrets.token_urlsafe(24) if PLACEHOLDER in value else value for name, value in env.items()}


def init(folder: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_cli("init", str(folder), *extra)


def test_init_writes_a_shop_folder_that_checks_once_its_env_file_is_filled_in(tmp_path):
    shop = tmp_path / "shop"
    result = init(shop)
    assert result.returncode == 0, result.stderr
    for name in ("config.yaml", "templates/welcome.html", "env", "config.tests.yaml"):
        assert f"wrote {shop / name}\n" in result.stdout
    env = filled(env_lines(shop / "env"))
    checked = run_cli("check", "-c", str(shop / "config.yaml"), env=env)
    assert checked.returncode == 0, checked.stderr
    assert "ok: 12 rules, 5 connectors" in checked.stdout
    assert "warning" not in checked.stderr  # not even a warning
    tested = run_cli("test", "-c", str(shop / "config.yaml"), str(shop / "config.tests.yaml"), env=env)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "4 cases: 4 passed, 0 failed" in tested.stdout


def test_the_shop_folder_needs_no_file_outside_itself(tmp_path):
    init(tmp_path / "written")
    moved = tmp_path / "elsewhere" / "shop"
    shutil.move(tmp_path / "written", moved)
    env = filled(env_lines(moved / "env"))
    result = run_cli("check", "-c", str(moved / "config.yaml"), "--render", env=env)
    assert result.returncode == 0, result.stderr  # the HTML template renders from the folder it moved with
    assert "0 problems" in result.stdout


def test_check_refuses_the_env_files_placeholders_until_they_are_filled_in(tmp_path):
    init(tmp_path)
    result = run_cli("check", "-c", str(tmp_path / "config.yaml"), env=env_lines(tmp_path / "env"))
    assert result.returncode == 1
    assert "admin.token: is a placeholder from the examples" in result.stderr
    assert "plugandpay.webhook_key: is a placeholder from the examples" in result.stderr
    assert "2 problems found" in result.stderr


def test_the_env_file_names_every_variable_of_the_config_each_with_where_it_comes_from(tmp_path):
    init(tmp_path)
    env_file = tmp_path / "env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600  # it holds the secrets
    assert set(env_lines(env_file)) == config_variables((tmp_path / "config.yaml").read_text())
    lines = env_file.read_text().splitlines()
    for number, line in enumerate(lines):
        if line and not line.startswith("#"):
            assert lines[number - 1].startswith("# "), f"no comment says where {line.split('=')[0]} comes from"
    text = env_file.read_text()
    assert "Plug&Pay > Settings > Developers" in text
    assert "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'" in text


def test_init_never_overwrites_a_file_and_says_which_it_kept(tmp_path):
    mine = "version: 1  # my own shop\n"
    (tmp_path / "config.yaml").write_text(mine)
    first = init(tmp_path)
    assert first.returncode == 0, first.stderr
    assert f"kept  {tmp_path / 'config.yaml'} (it exists: not overwritten)" in first.stdout
    assert f"wrote {tmp_path / 'env'}" in first.stdout
    assert (tmp_path / "config.yaml").read_text() == mine
    (tmp_path / "env").write_text("PLUGANDPAY_WEBHOOK_KEY=filled-in-by-me-7f3a\n")
    again = init(tmp_path, "--systemd")
    assert again.returncode == 0, again.stderr
    assert "wrote" not in again.stdout.replace(f"wrote {tmp_path / 'plugpay-router.service'}", "")
    assert (tmp_path / "env").read_text() == "PLUGANDPAY_WEBHOOK_KEY=filled-in-by-me-7f3a\n"


def test_init_refuses_a_folder_that_is_a_file(tmp_path):
    (tmp_path / "shop").write_text("")
    result = init(tmp_path / "shop")
    assert result.returncode == 1
    assert "exists and is not a folder" in result.stderr


def test_the_unit_names_the_folder_and_this_installations_program(tmp_path):
    result = init(tmp_path, "--systemd")
    assert result.returncode == 0, result.stderr
    unit = (tmp_path / "plugpay-router.service").read_text()
    program = Path(os.path.abspath(sys.executable)).parent / "plugpay-router"
    assert f"EnvironmentFile={tmp_path}/env\n" in unit
    assert f"ExecStartPre={program} check -c {tmp_path}/config.yaml\n" in unit
    assert f"ExecStart={program} serve -c {tmp_path}/config.yaml\n" in unit
    in_tmp = str(tmp_path).startswith(("/tmp/", "/var/tmp/"))
    assert "PrivateTmp=true" in unit and ("is under /tmp" in result.stderr) == in_tmp  # the unit would hide it
    assert "@" not in "".join(line for line in unit.splitlines() if not line.startswith("#"))  # no token left


def test_init_refuses_a_folder_a_unit_cannot_name(tmp_path):
    result = init(tmp_path / "my shop", "--systemd")
    assert result.returncode == 1
    assert "a systemd unit cannot name this folder" in result.stderr
    assert not (tmp_path / "my shop").exists()


def test_the_unit_init_writes_passes_systemd_analyze_verify(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd provides it)")
    assert init(tmp_path, "--systemd").returncode == 0
    unit = tmp_path / "plugpay-router.service"
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    about_it = [line for line in (result.stdout + result.stderr).splitlines() if unit.name in line]
    assert result.returncode == 0 and not about_it, result.stdout + result.stderr


def test_a_copied_example_config_passes_check_on_its_own(tmp_path):
    assert not EXAMPLE.is_symlink()  # a link copies as a file that has lost its neighbours
    copied = tmp_path / "shop.yaml"
    shutil.copy(EXAMPLE, copied)  # as `cp config.example.yaml shop.yaml` and the systemd steps did
    result = run_cli("check", "-c", str(copied), env=filled(env_lines(ENV_EXAMPLE)))
    assert result.returncode == 0, result.stderr
    assert "ok: 12 rules, 5 connectors" in result.stdout
