"""The commands that read or requeue what a daemon stored never create a store: a path that does not exist
is an error naming it (exit 1), not an empty table with exit 0 that looks like a shop without orders."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli


@pytest.mark.parametrize(
    "command",
    [["events"], ["deliveries"], ["trace", "order", "1042"], ["replay", "--dead"], ["reroute", "1"], ["purge"]],
    ids=lambda c: c[0],
)
def test_a_store_url_that_names_no_file_is_an_error_and_creates_nothing(command: list[str], tmp_path: Path) -> None:
    missing = tmp_path / "does" / "not" / "exist.db"
    result = run_cli(*command, "--store", f"sqlite:///{missing}")
    assert result.returncode == 1, result.stdout
    assert f"no store at {missing}" in result.stderr
    assert not missing.exists() and not missing.parent.exists()


def test_trace_with_a_config_whose_store_is_elsewhere_names_the_path(tmp_path: Path) -> None:
    config = tmp_path / "shop.yaml"
    config.write_text('version: 1\nstore: {url: "sqlite://data/router.db"}\n')
    result = run_cli("trace", "-c", str(config), "order", "1042")
    assert result.returncode == 1
    assert f"no store at {tmp_path / 'data' / 'router.db'}" in result.stderr
    assert not (tmp_path / "data").exists()
