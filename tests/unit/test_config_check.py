"""What ``check`` reports for the rules and connectors: every problem at once, each with file:line, key path
and a suggestion for a misspelt name."""

from __future__ import annotations

from pathlib import Path

import pytest

from router import cli
from router.config import ConfigError
from tests.rules_support import HEADER, config_of, header_lines


def run_check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``plugpay-router check -c PATH`` in this process: its exit code, stdout and stderr."""
    code = cli.main(["check", "-c", str(path)])
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------- rules

BROKEN_RULES = """\
- name: welcome
  trigger: order_paid
  prodcts: [77]
  actions: [{connector: mem, text: "{{ order.id }}"}]
- name: no-trigger
  actions: [{connector: mem, text: x}]
- name: bad-when
  trigger: order_paid
  when: "order.amount | mony > 10"
  actions: [{connector: mem, text: x}]
- name: bad-scopes
  trigger: order_paid
  checkouts: []
  first_only: "yes please"
  source_rules: [{id: 1}]
  actions:
    - connector: mem
      for_each: "order.items |"
      text: "{{ item.label | uper }}"
- name: welcome
  trigger: order_paid
  actions: [{connector: hok, text: x}]
"""


def rule_problems(rules: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        config_of(rules, env)
    return [str(p) for p in info.value.problems]


def test_every_rule_problem_is_reported_at_once_with_file_line_key_and_suggestion():
    base = header_lines()

    def at(line: int) -> str:
        return f"rules.yaml:{base + line}"

    assert rule_problems(BROKEN_RULES) == [
        f"{at(3)}: rules[0].prodcts: unknown key (did you mean 'products'?)",
        f"{at(5)}: rules[1].trigger: is required: a trigger name such as order_paid, or a list of them",
        f"{at(9)}: rules[2].when: invalid expression: No filter named 'mony'. (did you mean 'money'?)",
        f"{at(13)}: rules[3].checkouts: is empty: list at least one id, or remove the key",
        f"{at(14)}: rules[3].first_only: expected true or false",
        f"{at(15)}: rules[3].source_rules: expected ids (numbers), got {{'id': 1}}",
        f"{at(18)}: rules[3].actions[0].for_each: invalid expression: unexpected end of template, expected 'name'.",
        f"{at(19)}: rules[3].actions[0].text: template error: No filter named 'uper'. (did you mean 'upper'?)",
        f"{at(20)}: rules[4].name: duplicate rule name 'welcome' (first at line {base + 1})",
        f"{at(22)}: rules[4].actions[0].connector: unknown connector 'hok' (did you mean 'hook'?) (known: mem, hook)",
    ]


def test_a_missing_variable_in_a_rule_names_the_variable_and_its_line():
    rules = """\
    - name: crm
      trigger: order_paid
      actions:
        - connector: hook
          path: /contacts
          headers: {X-Api-Key: "${CRM_KEY}"}
    """
    line = header_lines() + 6
    assert rule_problems(rules) == [
        f"rules.yaml:{line}: rules[0].actions[0].headers.X-Api-Key: environment variable CRM_KEY is not set"
    ]
    config = config_of(rules, {"CRM_KEY": "crm-key-0042"})
    assert "crm-key-0042" in config.secrets


def test_duplicate_yaml_keys_are_errors_not_silently_the_last_one():
    rules = """\
    - name: twice
      trigger: order_paid
      products: [77]
      products: [81]
      actions: [{connector: mem, text: x}]
    """
    [problem] = rule_problems(rules)
    first = header_lines() + 3
    assert problem == f"rules.yaml:{first + 1}: products: duplicate key (first at line {first}); keep only one"


def test_check_prints_all_problems_and_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "shop.yaml"
    path.write_text(HEADER + "".join(f"  {line}\n" for line in BROKEN_RULES.splitlines()))
    code, _, stderr = run_check(path, capsys)
    assert code == 1
    lines = stderr.splitlines()
    assert lines[-1] == "10 problems found"
    assert any("rules[0].prodcts: unknown key (did you mean 'products'?)" in line for line in lines)
    assert all(line.startswith(f"{path}:") for line in lines[:-1])


def test_check_warns_about_unknown_triggers_but_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "shop.yaml"
    path.write_text(
        HEADER + "  - {name: r, trigger: [order_paid, order_payed], actions: [{connector: mem, text: x}]}\n"
    )
    code, stdout, stderr = run_check(path, capsys)
    assert code == 0, stderr
    assert "ok: 1 rules" in stdout
    assert f"warning: {path}:{header_lines() + 1}: rules[0].trigger: 'order_payed' is not a known" in stderr
    assert "(did you mean 'order_paid'?)" in stderr


# ---------------------------------------------------------------- connectors

BROKEN = """version: 1
connectors:
  mail:
    type: email
    port: 587
    from: "Shop <shop@example.nl>"
  crm: {type: activecampaign, base_url: "https://acme.api-us1.com", api_token: t, rate_limit: "5 per second"}
  books:
    type: invoice
    flavor: moneybird
    breaker: {failure_ratio: 1.5, open_for: 10s}
  gen: {type: invoice, flavor: generic, url: "https://books.example.nl/in"}
rules:
  - name: welcome
    trigger: order_paid
    actions:
      - connector: crm
        op: sync_contacts
        email: "{{ order.billing.contact.email }}"
      - connector: crm
        op: subscribe
        email: "{{ order.billing.contact.email }}"
      - connector: mail
        to: "{{ order.billing.contact.email }}"
        subject: Bedankt
      - connector: gen
        order: "{{ data }}"
"""


def test_check_reports_connector_problems_with_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "config.yaml"
    path.write_text(BROKEN)
    code, stdout, stderr = run_check(path, capsys)
    assert code == 1
    lines = [line.replace(f"{path}:", "config.yaml:") for line in (stdout + stderr).splitlines()]
    expected = [
        "config.yaml:4: connectors.mail.host: is required",
        "config.yaml:7: connectors.crm.rate_limit: expected a rate such as '5/s' or '150/5m', got '5 per second'",
        "config.yaml:11: connectors.books.breaker.failure_ratio: must be above 0 and at most 1, got 1.5",
        "config.yaml:18: rules[0].actions[0].op: unknown op 'sync_contacts' (did you mean 'sync_contact'?)"
        " (known: sync_contact, add_tag, remove_tag, subscribe, unsubscribe)",
        "config.yaml:21: rules[0].actions[1].op: subscribe needs 'lists'",
        "config.yaml:23: rules[0].actions[2].text: an email needs a text or an html body (or both)",
        'config.yaml:27: rules[0].actions[3].order: must render to JSON: end the template with "| tojson"',
    ]
    for line in expected:
        assert line in lines, f"{line!r} not in:\n" + "\n".join(lines)


def test_invoice_flavors_need_their_settings(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "config.yaml"
    path.write_text(
        "version: 1\nconnectors:\n"
        "  books: {type: invoice, flavor: moneybird, token: t}\n"
        "  gen: {type: invoice, flavor: generic}\n"
    )
    code, stdout, stderr = run_check(path, capsys)
    output = stdout + stderr
    assert code == 1
    assert ":3: connectors.books.base_url: is required by flavor moneybird" in output
    assert ":4: connectors.gen.url: is required by flavor generic" in output
