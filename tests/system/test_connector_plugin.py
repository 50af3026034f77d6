"""Connector types from other packages: the example plugin (examples/connector-plugin, installed with pip)
delivers through the real daemon, ``check`` says where each type came from, and a plugin that cannot be
loaded is a config error naming its package, never a crash."""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.support import WEBHOOK_KEY, webhook_body

if importlib.util.find_spec("plugpay_ntfy") is None:
    reason = "the example plugin is not installed: pip install ./examples/connector-plugin"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: .ci/run installs it)", pytrace=False)
    pytest.skip(reason, allow_module_level=True)

NTFY = """\
  - name: sale-on-my-phone
    trigger: order_paid
    actions:
      - {connector: phone, title: "Verkocht", message: "Order {{ order.id }} van {{ order.billing.contact.firstname }}"}
"""


async def test_a_plugin_connector_delivers_through_the_daemon(daemon_factory, sandbox, sink) -> None:
    daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url)
    text = daemon.config_path.read_text()
    text = text.replace(
        "connectors:\n", f'connectors:\n  phone: {{type: ntfy, base_url: "{sink.url}/ntfy", topic: shop-7f3a}}\n'
    )
    daemon.config_path.write_text(text.replace("rules:\n", "rules:\n" + NTFY))
    daemon.start()
    assert (await daemon.post(webhook_body(ident=1042))).status_code == 202
    [published] = await sink.wait_for(1, path="/ntfy/")
    assert published.json()["topic"] == "shop-7f3a"
    assert published.json()["title"] == "Verkocht" and published.json()["message"].startswith("Order 1042 van ")
    checked = run_cli("check", "-c", str(daemon.config_path), env={"PLUGANDPAY_WEBHOOK_KEY": WEBHOOK_KEY})
    assert checked.returncode == 0, checked.stderr
    assert (
        "note: connector type 'ntfy' from plugin package 'plugpay-router-ntfy' (plugpay_ntfy:NtfyConnector)"
        in checked.stderr
    )


def broken_plugin(folder: Path) -> dict[str, str]:
    """An installed-looking package whose entry point names a module that does not exist."""
    info = folder / "shop_broken_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: shop-broken-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[plugpay_router.connectors]\nlms = shop_lms_connector:LmsConnector\n")
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")]))}


def test_a_plugin_that_cannot_be_loaded_is_a_config_error_naming_its_package(tmp_path: Path) -> None:
    env = broken_plugin(tmp_path)
    config = tmp_path / "shop.yaml"
    config.write_text(
        "version: 1\nplugandpay: {allow_unsigned: true}\n"
        "connectors:\n  lms: {type: lms, base_url: https://lms.example.nl}\n"
        "rules: [{name: r, trigger: order_paid, actions: [{connector: lms}]}]\n"
    )
    result = run_cli("check", "-c", str(config), env=env)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert (
        f"{config}:4: connectors.lms.type: connector type 'lms' from plugin package 'shop-broken-plugin'"
        " (shop_lms_connector:LmsConnector) failed to load: ModuleNotFoundError" in result.stderr
    )
    # A config that does not use it still loads, with a warning.
    config.write_text(config.read_text().replace("type: lms, base_url", "type: http, base_url"))
    fine = run_cli("check", "-c", str(config), env=env)
    assert fine.returncode == 0, fine.stderr
    assert "warning: connector type 'lms' from plugin package 'shop-broken-plugin'" in fine.stderr


def test_the_example_plugin_s_own_tests_pass_with_the_kit() -> None:
    folder = Path(__file__).resolve().parents[2] / "examples" / "connector-plugin"
    result = subprocess.run(
        ["python", "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder / "tests")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=folder,
    )
    assert result.returncode == 0, result.stdout[-2000:]
