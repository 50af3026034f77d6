"""The example shop's files agree with each other and with what is installed: the repository's
``config.example.yaml`` is the packaged one without the template file a copy could not take along, ``init``
turns the dashboard on and nothing else, ``deploy/`` holds exactly what ``init`` writes for /etc/plugpay-router,
every file ``init`` writes is package data, and the systemd and Docker steps go in the order that works.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import yaml

from router.cli.init import example, shop_config, systemd_unit

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "router" / "examples"
# The one line of the packaged example the repository's copy comments out (it names a file beside the config).
HTML_FILE = "        html_file: templates/welcome.html    # the same mail as HTML: a template file next to this one\n"
HTML_FILE_OFF = "        # html_file: templates/welcome.html  # and as HTML, from a template file: `init` writes one\n"
ETC, OPT = Path("/etc/plugpay-router"), "/opt/plugpay-router/bin/plugpay-router"


def keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(map(str, node)) | {k for value in node.values() for k in keys(value)}
    if isinstance(node, list):
        return {k for value in node for k in keys(value)}
    return set()


def test_the_repository_example_is_the_packaged_one_without_its_template_file():
    root = ROOT / "config.example.yaml"
    assert not root.is_symlink()  # `cp` and `install` copy a link's target, not the files beside it
    packaged = (EXAMPLES / "config.example.yaml").read_text()
    assert packaged.count(HTML_FILE) == 1
    assert root.read_text() == packaged.replace(HTML_FILE, HTML_FILE_OFF), (
        "config.example.yaml must be router/examples/config.example.yaml with its html_file line commented out"
    )
    assert not {key for key in keys(yaml.safe_load(root.read_text())) if key.endswith("_file")}


def test_the_config_init_writes_is_the_example_with_the_dashboard_on():
    packaged = example("config.example.yaml")
    written = yaml.safe_load(shop_config(packaged))
    assert written.pop("admin") == {"token": "${ROUTER_ADMIN_TOKEN}", "listen": "127.0.0.1:8081"}
    assert written == yaml.safe_load(packaged)  # the demo's shop, admin aside


def test_the_deploy_files_are_what_init_writes_for_etc_plugpay_router():
    assert (ROOT / "deploy" / "plugpay-router.service").read_text() == systemd_unit(ETC, OPT)
    assert (ROOT / "deploy" / "plugpay-router.env.example").read_text() == example("plugpay-router.env")


def test_a_unit_may_read_a_folder_or_program_under_home():
    assert "\nProtectHome=true\n" in systemd_unit(ETC, OPT)
    assert "\nProtectHome=read-only\n" in systemd_unit(Path("/home/anna/shop"), OPT)
    assert "\nProtectHome=read-only\n" in systemd_unit(ETC, "/root/venv/bin/plugpay-router")
    assert "\nProtectHome=true\n" in systemd_unit(Path("/homeless/shop"), OPT)


def test_every_file_init_writes_is_package_data():
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["router"]
    packaged = {path for pattern in patterns for path in (ROOT / "router").glob(pattern) if path.is_file()}
    files = {path for path in EXAMPLES.rglob("*") if path.is_file() and "__pycache__" not in path.parts}
    assert files and files <= packaged, sorted(str(p.relative_to(ROOT)) for p in files - packaged)


def section(page: Path, heading: str) -> str:
    return page.read_text().split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]


def first_sh_block(text: str) -> list[str]:
    block = re.search(r"```sh\n(.*?)```", text, re.S)
    assert block is not None
    return [line for line in block.group(1).splitlines() if line and not line.startswith("#")]


def position(lines: list[str], *needles: str) -> int:
    found = [n for n, line in enumerate(lines) if all(needle in line for needle in needles)]
    assert found, f"no step with {needles}"
    return found[0]


def test_the_systemd_steps_create_the_group_and_user_and_fill_the_env_file_before_enabling():
    steps = first_sh_block(section(ROOT / "docs" / "operating.md", "Running under systemd"))
    group = position(steps, "groupadd --system plugpay-router")
    user = position(steps, "useradd --system", "--gid plugpay-router", "plugpay-router")
    init = position(steps, "plugpay-router init /etc/plugpay-router --systemd")
    fill = position(steps, "/etc/plugpay-router/env", "-e")
    check = position(steps, "EnvironmentFile=/etc/plugpay-router/env", "User=plugpay-router", "check -c")
    enable = position(steps, "systemctl", "enable --now plugpay-router")
    assert group < user < init < fill < check < enable
    assert not [line for line in steps if "config.example.yaml" in line or "env.example" in line]  # init writes them


def test_the_docker_steps_write_the_shop_folder_with_init():
    steps = first_sh_block(section(ROOT / "docs" / "operating.md", "Running in Docker"))
    init = position(steps, "plugpay-router init /shop")
    check = position(steps, "--env-file shop/env", "check -c /etc/plugpay-router/config.yaml")
    serve = position(steps, "docker run -d")
    assert init < check < serve
    assert "plugpay-router init /shop" in (ROOT / "Dockerfile").read_text()
