"""A rule whose trigger is neither a Plug&Pay trigger nor an alias of one can never fire: ``check`` warns
(a new wire spelling may be on its way), while ``check --render`` and ``test``, where an author asks whether
the rules work, fail with the rule's file:line and a did-you-mean."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_cli

CONFIG = """\
version: 1
plugandpay: {api_url: "http://127.0.0.1:9", api_token: "pp-token-1234", webhook_key: "rules-test-key-1234"}
store: {url: "sqlite://router.db"}
connectors: {sink: {type: http, base_url: "http://127.0.0.1:9"}}
rules:
  - name: welcome
    trigger: order_paid
    actions: [{connector: sink, path: /welcome, json: {id: "{{ order.id }}"}}]
  - name: typo
    trigger: order_payed
    actions: [{connector: sink, path: /typo, json: {id: "{{ order.id }}"}}]
"""
CASES = """\
- name: a paid order is welcomed
  event: {trigger: order_paid, id: 1042}
  data: {id: 1042}
  matched: [welcome]
"""


def shop(tmp_path: Path) -> Path:
    (tmp_path / "cases.yaml").write_text(CASES)
    config = tmp_path / "shop.yaml"
    config.write_text(CONFIG)
    return config


def test_check_warns_about_an_unknown_trigger_and_passes(tmp_path: Path) -> None:
    result = run_cli("check", "-c", str(shop(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert "warning:" in result.stderr and "'order_payed' is not a known Plug&Pay trigger" in result.stderr


def test_check_render_fails_on_a_rule_that_can_never_fire(tmp_path: Path) -> None:
    config = shop(tmp_path)
    result = run_cli("check", "-c", str(config), "--render")
    assert result.returncode == 1
    assert f"{config}:10: rules[1].trigger: can never fire: 'order_payed'" in result.stderr
    assert "(did you mean 'order_paid'?)" in result.stderr
    assert "1 problem" in result.stdout
    assert "warning: " + str(config) + ":10" not in result.stderr  # said once, as the error


def test_rule_tests_fail_while_a_rule_can_never_fire(tmp_path: Path) -> None:
    config = shop(tmp_path)
    result = run_cli("test", "-c", str(config), str(tmp_path / "cases.yaml"))
    assert result.returncode == 1
    assert "can never fire: 'order_payed'" in result.stderr and "did you mean 'order_paid'" in result.stderr
    assert "1 case: 1 passed, 0 failed" in result.stdout  # the cases themselves still run
    config.write_text(CONFIG.replace("order_payed", "invoice_created"))  # fixed: the rule fires, elsewhere
    assert run_cli("test", "-c", str(config), str(tmp_path / "cases.yaml")).returncode == 0
