"""deploy/prometheus-alerts.yaml watches the conditions a person must act on: every metric its rules use is
one the daemon's /metrics serves (a renamed metric would silently never fire), /metrics shows the backlog
per connector, and the file passes ``promtool check rules`` where promtool is installed. Its per-shop rules
(``plugpay-router-shops``) use only what a daemon with ``shops:`` serves with a shop label, down to the
``outcome`` values the rules select, and each names the shop: promtool fires them on shop-labelled series."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from router.demo.sandbox import Fault
from router.demo.standins.sink import Reply
from tests.shops_support import CURSUS_KEY, YOGA_KEY, post, two_shops_admin
from tests.support import DaemonProcess, webhook_body

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus-alerts.yaml"
ROUTER_GROUP, SHOPS_GROUP = "plugpay-router", "plugpay-router-shops"
SELECTOR = re.compile(r"(plugpay_router_\w+)(?:\{([^}]*)\})?")
MATCHER = re.compile(r'(\w+)\s*(=~|=)\s*"([^"]*)"')


def rules_of(group: str) -> list[dict[str, Any]]:
    [rules] = [g["rules"] for g in yaml.safe_load(RULES.read_text())["groups"] if g["name"] == group]
    return list(rules)


def served_names(metrics: str) -> set[str]:
    """Every metric name /metrics serves (a counter family also as its ``_total`` samples)."""
    served = set(re.findall(r"^# TYPE (plugpay_router_\w+) (\w+)", metrics, re.M))
    return {name for name, _ in served} | {f"{name}_total" for name, kind in served if kind == "counter"}


def samples(metrics: str, name: str) -> list[dict[str, str]]:
    """The label sets of ``name``'s sample lines."""
    return [
        dict(re.findall(r'(\w+)="([^"]*)"', labels)) for labels in re.findall(rf"^{name}\{{([^}}]*)\}} ", metrics, re.M)
    ]


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
    used = {name for rule in rules_of(ROUTER_GROUP) for name, _ in SELECTOR.findall(rule["expr"])}
    assert used and used <= served_names(metrics), sorted(used - served_names(metrics))


def test_promtool_accepts_the_rules() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian's prometheus package ships it)")
    result = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 13 rules found" in result.stdout


def two_shops_with_metrics(tmp_path: Path, cursus_api: str, yoga_api: str, sink: str) -> DaemonProcess:
    """cursusshop and yogastudio (tests/shops_support.py), the yoga studio reconciled, and lms, whose rules file is
    missing (a broken shop)."""
    api = f'{{api_url: "{yoga_api}", api_token: "${{YOGA_API_TOKEN}}"}}'
    lms = f"  lms:\n    plugandpay: {api}\n    rules_file: shops/lms.yaml\n"
    reconcile = "    reconcile: {every: 1h, lookback: 1h}\n"  # its passes count missed webhooks (none here)
    return two_shops_admin(tmp_path, cursus_api, yoga_api, sink, yoga=reconcile, more=lms)


def selected(expr: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """Each metric an expression selects, with every (label, value) its matchers accept (``=~"a|b"``: each)."""
    out = []
    for name, matchers in SELECTOR.findall(expr):
        accepted = [
            (label, one)
            for label, op, value in MATCHER.findall(matchers)
            for one in (value.split("|") if op == "=~" else [value])
        ]
        out.append((name, accepted))
    return out


async def test_a_daemon_with_shops_serves_every_series_the_per_shop_rules_select_labelled_with_the_shop(
    tmp_path, apis, sink
) -> None:
    assert {g["name"] for g in yaml.safe_load(RULES.read_text())["groups"]} == {ROUTER_GROUP, SHOPS_GROUP}
    cursus_api, yoga_api = apis
    yoga_api.state.faults["/v2/orders/2099"] = [Fault(404, times=10)]
    daemon = two_shops_with_metrics(tmp_path, cursus_api.url, yoga_api.url, sink.url).start()
    try:
        # Accepted and routed first: the shop's tenant is known then, so another tenant's webhook is refused.
        assert (await post(daemon, "yogastudio", webhook_body(ident=2042, tenant_id=77), YOGA_KEY)).status_code == 202
        await sink.wait_for(1, path="/yoga")
        assert (await post(daemon, "yogastudio", webhook_body(ident=2099, tenant_id=77), YOGA_KEY)).status_code == 202
        await daemon.wait_log("event failed", triggerable="order:2099")  # the API answers 404
        await daemon.wait_log("reconcile pass", shop="yogastudio")  # at start: it found nothing missing
        assert (await post(daemon, "yogastudio", webhook_body(ident=2043, tenant_id=77), CURSUS_KEY)).status_code == 401
        assert (await post(daemon, "yogastudio", webhook_body(ident=2044, tenant_id=42), YOGA_KEY)).status_code == 403
        assert (await post(daemon, "yogastudio", b'{"not": "a webhook"}', YOGA_KEY)).status_code == 400
        assert daemon.admin_url is not None
        async with httpx.AsyncClient(timeout=10) as client:
            too_large = b'{"event": "' + b"x" * 70_000 + b'"}'
            answer = await client.post(
                f"{daemon.webhook_url}/yogastudio", content=too_large, headers={"Content-Type": "application/json"}
            )
            assert answer.status_code == 413
            metrics = (await client.get(f"{daemon.admin_url}/metrics")).text
    finally:
        assert daemon.stop() == 0
    assert metric_value(metrics, "plugpay_router_shop_config_broken", shop="lms") == 1
    assert metric_value(metrics, "plugpay_router_shop_config_broken", shop="yogastudio") == 0
    rules = rules_of(SHOPS_GROUP)
    assert rules
    for rule in rules:
        alert = rule["alert"]
        assert "{{ $labels.shop }}" in rule["annotations"]["summary"], alert
        assert "by (shop)" in rule["expr"], f"{alert}: the alert must keep the shop label"
        for name, accepted in selected(rule["expr"]):
            assert name in served_names(metrics), f"{alert}: {name} is not served"
            series = [labels for labels in samples(metrics, name) if labels.get("shop") == "yogastudio"]
            for label, value in accepted:
                assert any(labels.get(label) == value for labels in series), (
                    f'{alert}: no {name}{{shop="yogastudio", {label}="{value}"}} in /metrics'
                )


def test_promtool_fires_each_per_shop_rule_for_the_shop_whose_series_moved_naming_it(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian's prometheus package ships it)")
    series, tests = [], []
    for rule in rules_of(SHOPS_GROUP):
        for name, accepted in selected(rule["expr"]):
            labels = ",".join(f'{label}="{value}"' for label, value in dict(accepted).items())
            series.append({"series": f'{name}{{shop="yogastudio",{labels}}}', "values": "0+1x30"})  # one a minute
            series.append({"series": f'{name}{{shop="cursusshop",{labels}}}', "values": "0+0x30"})  # none
        annotations = {k: v.replace("{{ $labels.shop }}", "yogastudio") for k, v in rule["annotations"].items()}
        labels = {**rule.get("labels", {}), "shop": "yogastudio"}
        expected = [{"exp_labels": labels, "exp_annotations": annotations}]
        tests.append({"eval_time": "20m", "alertname": rule["alert"], "exp_alerts": expected})
    case = tmp_path / "shops.test.yaml"
    case.write_text(
        yaml.safe_dump(
            {
                "rule_files": [str(RULES)],
                "evaluation_interval": "1m",
                "tests": [{"interval": "1m", "input_series": series, "alert_rule_test": tests}],
            }
        )
    )
    result = subprocess.run([promtool, "test", "rules", str(case)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
