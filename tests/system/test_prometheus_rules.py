"""deploy/prometheus-alerts.yaml watches the conditions a person must act on: every metric its rules use is
one the daemon's /metrics serves (a renamed metric would silently never fire), /metrics shows the backlog
per connector, and the file passes ``promtool check rules`` where promtool is installed."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from router.demo.standins.sink import Reply
from tests.support import webhook_body

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus-alerts.yaml"


def metric_value(metrics: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in metrics.splitlines():
        if line.startswith(f"{name}{{{wanted}}} "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {name}{{{wanted}}} in /metrics")


async def test_the_rules_use_only_metrics_the_daemon_serves_and_the_backlog_shows_per_connector(
    daemon_factory, sandbox, sink
) -> None:
    sink.replies = [Reply(400, {"error": "unknown course"})]  # one dead delivery, so every family has a line
    daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url).start()
    event_id = (await daemon.post(webhook_body(ident=1042))).json()["event_id"]
    await daemon.wait_log("delivery dead", event_id=event_id)
    assert daemon.admin_url is not None
    async with httpx.AsyncClient(timeout=10) as client:
        metrics = (await client.get(f"{daemon.admin_url}/metrics")).text
    assert metric_value(metrics, "plugpay_router_connector_deliveries_dead", connector="sink") == 1
    assert metric_value(metrics, "plugpay_router_connector_pending", connector="sink") == 0
    assert metric_value(metrics, "plugpay_router_connector_oldest_pending_age_seconds", connector="sink") == 0
    served = set(re.findall(r"^# TYPE (plugpay_router_\w+) (\w+)", metrics, re.M))
    names = {name for name, _ in served} | {f"{name}_total" for name, kind in served if kind == "counter"}
    used = set(re.findall(r"plugpay_router_\w+", RULES.read_text()))
    assert used and used <= names, sorted(used - names)


def test_promtool_accepts_the_rules() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian's prometheus package ships it)")
    result = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 8 rules found" in result.stdout
