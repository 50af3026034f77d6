"""The webhook key through the real CLI and daemon: an empty or placeholder key, or no key without
``allow_unsigned: true``, stops ``check`` and ``serve`` naming file:line:key, and running unsigned on purpose is
said by both. (``PLUGANDPAY_WEBHOOK_KEY=``, set but empty, used to pass ``check``, and the daemon then accepted
unsigned webhooks.)
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_cli
from tests.support import config_file, offline_config, webhook_body

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config.example.yaml"
ENV_EXAMPLE = ROOT / "deploy" / "plugpay-router.env.example"


def documented_env() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines() if "=" in line and line[0] != "#")
    return {name.strip(): value.strip() for name, value in pairs}


def key_line() -> int:
    return next(
        n for n, line in enumerate(EXAMPLE.read_text().splitlines(), 1) if line.strip().startswith("webhook_key:")
    )


def test_an_empty_webhook_key_variable_fails_check_naming_file_line_and_key():
    result = run_cli("check", "-c", str(EXAMPLE), env={**documented_env(), "PLUGANDPAY_WEBHOOK_KEY": ""})
    assert result.returncode == 1
    assert f"{EXAMPLE}:{key_line()}: plugandpay.webhook_key: is empty" in result.stderr
    assert "allow_unsigned: true" in result.stderr  # what to do instead, if unsigned is really meant


def test_an_empty_webhook_key_stops_serve_before_it_listens():
    result = run_cli("serve", "-c", str(EXAMPLE), env={**documented_env(), "PLUGANDPAY_WEBHOOK_KEY": ""})
    assert result.returncode == 1
    assert "plugandpay.webhook_key: is empty" in result.stderr


def test_the_placeholder_of_the_environment_example_fails_check():
    env = documented_env()
    assert env["PLUGANDPAY_WEBHOOK_KEY"] == "replace-with-your-webhook-key"  # what a copied, unedited file holds
    result = run_cli("check", "-c", str(EXAMPLE), env=env)
    assert result.returncode == 1
    assert f"{EXAMPLE}:{key_line()}: plugandpay.webhook_key: is a placeholder from the examples" in result.stderr
    assert "1 problem found" in result.stderr


def test_no_webhook_key_without_the_opt_in_fails_check_saying_how_to_opt_in(tmp_path):
    text = offline_config(tmp_path, key=None).replace("  allow_unsigned: true\n", "")
    path = config_file(tmp_path, text)
    result = run_cli("check", "-c", str(path))
    assert result.returncode == 1
    assert f"{path}:3: plugandpay.webhook_key: is not set, so webhooks would be accepted unsigned" in result.stderr
    assert "plugandpay.allow_unsigned: true" in result.stderr


async def test_running_unsigned_on_purpose_is_said_by_check_and_by_the_daemon(tmp_path, sandbox, sink, daemon_factory):
    text = offline_config(tmp_path, key=None)
    assert "allow_unsigned: true" in text and "webhook_key" not in text
    checked = run_cli("check", "-c", str(config_file(tmp_path, text)))
    assert checked.returncode == 0, checked.stderr
    assert "plugandpay.allow_unsigned: WEBHOOKS ARE ACCEPTED UNSIGNED" in checked.stderr

    daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url, key=None).start()
    warning = await daemon.wait_log("webhooks are accepted unsigned")
    assert warning["level"] == "warning"
    response = await daemon.post(webhook_body(ident=1042), {"Content-Type": "application/json"})
    assert response.status_code == 202
    await sink.wait_for(1, path="/welcome")
    assert daemon.stop() == 0
