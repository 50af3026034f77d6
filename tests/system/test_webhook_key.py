"""Hardening of the config, through the real CLI and daemon: the webhook key (item 4), secrets in errors (item 6).

Item 4: ``PLUGANDPAY_WEBHOOK_KEY=`` (set but empty) used to pass ``check`` and the daemon then accepted unsigned
webhooks; now an empty or placeholder key, or no key without ``allow_unsigned: true``, stops ``check`` and
``serve``, and running unsigned on purpose is said by both. Item 6: a typo such as ``port: "${SMTP_PASSWORD}"``
used to print the password in ``check`` and ``serve`` output (and so in the journal) and in a failed reload's
log line.
"""

from __future__ import annotations

import signal
from pathlib import Path

from tests.conftest import run_cli
from tests.support import WEBHOOK_KEY, base_config, webhook_body

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config.example.yaml"
ENV_EXAMPLE = ROOT / "deploy" / "plugpay-router.env.example"
PASSWORD = "hunter2-Tr0ub4dor"


def documented_env() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines() if "=" in line and line[0] != "#")
    return {name.strip(): value.strip() for name, value in pairs}


def key_line() -> int:
    return next(
        n for n, line in enumerate(EXAMPLE.read_text().splitlines(), 1) if line.strip().startswith("webhook_key:")
    )


def write(tmp_path: Path, text: str, name: str = "shop.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def config_text(tmp_path: Path, key: str | None = WEBHOOK_KEY) -> str:
    return base_config(
        api_url="http://127.0.0.1:9", sink_url="http://127.0.0.1:9", db=tmp_path / "r.db", port=9, key=key
    )


# ---------------------------------------------------------------- item 4


def test_item4_an_empty_webhook_key_variable_fails_check_naming_file_line_and_key():
    result = run_cli("check", "-c", str(EXAMPLE), env={**documented_env(), "PLUGANDPAY_WEBHOOK_KEY": ""})
    assert result.returncode == 1
    assert f"{EXAMPLE}:{key_line()}: plugandpay.webhook_key: is empty" in result.stderr
    assert "allow_unsigned: true" in result.stderr  # what to do instead, if unsigned is really meant


def test_item4_an_empty_webhook_key_stops_serve_before_it_listens():
    result = run_cli("serve", "-c", str(EXAMPLE), env={**documented_env(), "PLUGANDPAY_WEBHOOK_KEY": ""})
    assert result.returncode == 1
    assert "plugandpay.webhook_key: is empty" in result.stderr


def test_item4_the_placeholder_of_the_environment_example_fails_check():
    env = documented_env()
    assert env["PLUGANDPAY_WEBHOOK_KEY"] == "replace-with-your-webhook-key"  # what a copied, unedited file holds
    result = run_cli("check", "-c", str(EXAMPLE), env=env)
    assert result.returncode == 1
    assert f"{EXAMPLE}:{key_line()}: plugandpay.webhook_key: is a placeholder from the examples" in result.stderr
    assert "1 problem found" in result.stderr


def test_item4_no_webhook_key_without_the_opt_in_fails_check_saying_how_to_opt_in(tmp_path):
    text = config_text(tmp_path, key=None).replace("  allow_unsigned: true\n", "")
    path = write(tmp_path, text)
    result = run_cli("check", "-c", str(path))
    assert result.returncode == 1
    assert f"{path}:3: plugandpay.webhook_key: is not set, so webhooks would be accepted unsigned" in result.stderr
    assert "plugandpay.allow_unsigned: true" in result.stderr


async def test_item4_running_unsigned_on_purpose_is_said_by_check_and_by_the_daemon(
    tmp_path, sandbox, sink, daemon_factory
):
    text = config_text(tmp_path, key=None)
    assert "allow_unsigned: true" in text and "webhook_key" not in text
    checked = run_cli("check", "-c", str(write(tmp_path, text)))
    assert checked.returncode == 0, checked.stderr
    assert "plugandpay.allow_unsigned: WEBHOOKS ARE ACCEPTED UNSIGNED" in checked.stderr

    daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url, key=None).start()
    warning = await daemon.wait_log("webhooks are accepted unsigned")
    assert warning["level"] == "warning"
    response = await daemon.post(webhook_body(ident=1042), {"Content-Type": "application/json"})
    assert response.status_code == 202
    await sink.wait_for(1, path="/welcome")
    assert daemon.stop() == 0


# ---------------------------------------------------------------- item 6

TYPO = """\
  mail: {type: email, host: smtp.example.nl, port: "${SMTP_PASSWORD}", from: "Shop <shop@example.nl>"}
"""


def with_typo(text: str) -> str:
    return text.replace("connectors:\n", "connectors:\n" + TYPO)


def test_item6_check_names_the_key_of_a_typo_but_not_the_password_it_holds(tmp_path):
    text = with_typo(config_text(tmp_path))
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "SMTP_PASSWORD" in row)
    path = write(tmp_path, text)
    result = run_cli("check", "-c", str(path), env={"SMTP_PASSWORD": PASSWORD})
    assert result.returncode == 1
    assert f"{path}:{line}: connectors.mail.port: expected a whole number, got '***'" in result.stderr
    assert PASSWORD not in result.stdout + result.stderr


def test_item6_serve_refuses_the_typo_without_printing_the_password(tmp_path):
    path = write(tmp_path, with_typo(config_text(tmp_path)))
    result = run_cli("serve", "-c", str(path), env={"SMTP_PASSWORD": PASSWORD})
    assert result.returncode == 1
    assert "connectors.mail.port" in result.stderr
    assert PASSWORD not in result.stdout + result.stderr


async def test_item6_a_reload_with_the_typo_logs_the_error_without_the_password(sandbox, sink, daemon_factory):
    daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url, env={"SMTP_PASSWORD": PASSWORD}).start()
    await daemon.wait_log("daemon started")
    original = daemon.config_path.read_text()
    assert "SMTP_PASSWORD" not in original  # the running config knows nothing of it: only the new file's mask helps
    daemon.config_path.write_text(with_typo(original))
    daemon.signal(signal.SIGHUP)
    failed = await daemon.wait_log("config reload failed, keeping the running config")
    assert any("connectors.mail.port: expected a whole number, got '***'" in error for error in failed["errors"])
    assert PASSWORD not in daemon.log()
    assert "webhooks are accepted unsigned" not in daemon.log()  # with a key (item 4), no warning
    assert (await daemon.post(webhook_body(ident=1042))).status_code == 202  # the old config still serves
    assert daemon.stop() == 0
