"""Commands that send nothing and call no server read only what they need: rule tests, ``simulate --data``,
``check --offline`` and ``quarantine list`` run without the shop's secrets (or with the env example's
placeholders), and a missing secret is named only by a command that would use it, once per cause.

Each command runs as a subprocess with a bare environment, as in a CI job that has no secrets.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from router.store.sqlite import SqliteStore

REPO = Path(__file__).resolve().parents[2]
ENV_EXAMPLE = REPO / "deploy" / "plugpay-router.env.example"

CONFIG = """\
version: 1
admin: {token: "${ROUTER_ADMIN_TOKEN}"}
plugandpay:
  api_token: "${PLUGANDPAY_API_TOKEN}"
  webhook_key: "${PLUGANDPAY_WEBHOOK_KEY}"
store: {url: "sqlite://router.db"}
connectors:
  mail: {type: email, host: smtp.example.nl, port: "${SMTP_PORT}", username: "${SMTP_USERNAME}",
         password: "${SMTP_PASSWORD}", from: shop@example.nl}
  lms: {type: http, base_url: "https://lms.example.nl", headers: {Authorization: "Bearer ${LMS_TOKEN}"}}
rules:
  - name: welcome
    trigger: order_paid
    actions:
      - {connector: mail, to: "{{ order.billing.contact.email }}", subject: "Welkom", text: "Hoi"}
      - {connector: lms, path: /enrol, json: {order: "{{ order.id }}"}}
"""
CASES = """\
- name: a paid order is welcomed and enrolled
  event: {trigger: order_paid, id: 1042}
  data: {id: 1042, billing: {contact: {email: bilal@example.nl}}}
  matched: [welcome]
  actions:
    - {rule: welcome, connector: mail, request: {to: bilal@example.nl}}
    - {rule: welcome, connector: lms, request: {path: /enrol}}
"""


def shop(tmp_path: Path) -> Path:
    (tmp_path / "cases.yaml").write_text(CASES)
    (tmp_path / "order.json").write_text(json.dumps({"id": 1042, "billing": {"contact": {"email": "b@example.nl"}}}))
    config = tmp_path / "shop.yaml"
    config.write_text(CONFIG)
    return config


def run(*args: str, env: dict[str, str] | None = None, cwd: Path) -> subprocess.CompletedProcess[str]:
    bare = {"PATH": "/usr/bin:/bin", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "router", *args], capture_output=True, text=True, env=bare, cwd=cwd, timeout=60
    )


async def create_store(path: Path) -> None:
    store = SqliteStore(path)
    await store.open()
    await store.close()


def env_example() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines() if "=" in line and line[0] != "#")
    return {name: value for name, value in pairs}


def test_rule_tests_run_without_any_secret(tmp_path: Path) -> None:
    config = shop(tmp_path)
    result = run("test", "-c", str(config), str(tmp_path / "cases.yaml"), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 case: 1 passed, 0 failed" in result.stdout


def test_rule_tests_run_with_the_env_example_and_its_placeholder_key(tmp_path: Path) -> None:
    config = shop(tmp_path)
    result = run("test", "-c", str(config), str(tmp_path / "cases.yaml"), env=env_example(), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_simulate_with_data_needs_no_secret_and_without_data_names_the_token(tmp_path: Path) -> None:
    config = shop(tmp_path)
    offline = run(
        "simulate", "-c", str(config), "order_paid", "1042", "--data", str(tmp_path / "order.json"), cwd=tmp_path
    )
    assert offline.returncode == 0, offline.stdout + offline.stderr
    assert "Nothing was sent" in offline.stdout
    online = run("simulate", "-c", str(config), "order_paid", "1042", cwd=tmp_path)
    assert online.returncode == 1
    assert "plugandpay.api_token: environment variable PLUGANDPAY_API_TOKEN is not set" in online.stderr
    assert "SMTP_PASSWORD" not in online.stderr  # not needed to fetch an order


def test_check_names_each_unset_variable_once_with_the_nearest_name(tmp_path: Path) -> None:
    config = shop(tmp_path)
    result = run("check", "-c", str(config), env={"SMTP_PASWORD": "typo-in-the-env-file"}, cwd=tmp_path)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if ": " in line and "problem" not in line]
    assert f"{config}:8: connectors.mail.port: environment variable SMTP_PORT is not set" in lines
    assert not any("whole number" in line for line in lines)  # the empty port is the same cause, not a second
    assert any("SMTP_PASSWORD is not set (did you mean 'SMTP_PASWORD'?)" in line for line in lines)
    assert len([line for line in lines if "connectors.mail.port" in line]) == 1
    assert "typo-in-the-env-file" not in result.stderr


def test_check_offline_validates_the_file_alone(tmp_path: Path) -> None:
    config = shop(tmp_path)
    result = run("check", "-c", str(config), "--offline", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "note: " in result.stderr and "PLUGANDPAY_WEBHOOK_KEY is not set (serve needs it)" in result.stderr
    assert run("check", "-c", str(config), "--offline", env=env_example(), cwd=tmp_path).returncode == 0
    config.write_text(CONFIG.replace('port: "${SMTP_PORT}"', "port: many"))
    broken = run("check", "-c", str(config), "--offline", cwd=tmp_path)
    assert broken.returncode == 1 and "connectors.mail.port: expected a whole number" in broken.stderr


def test_quarantine_list_needs_only_the_store(tmp_path: Path) -> None:
    config = shop(tmp_path)
    missing = run("quarantine", "list", "-c", str(config), cwd=tmp_path)
    assert missing.returncode == 1 and f"no store at {tmp_path / 'router.db'}" in missing.stderr
    assert not (tmp_path / "router.db").exists()  # a reader never creates a store
    asyncio.run(create_store(tmp_path / "router.db"))
    result = run("quarantine", "list", "-c", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "0 kept" in result.stdout
    assert "PLUGANDPAY_WEBHOOK_KEY is not set: whether each entry verifies now is not known" in result.stderr
