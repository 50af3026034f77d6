"""Validation of the rules section: every error has file:line, key path and a suggestion, all at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from router.config import ConfigError
from tests.conftest import run_cli
from tests.rules_support import HEADER, config_of, header_lines

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


def problems(rules: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        config_of(rules, env)
    return [str(p) for p in info.value.problems]


def test_every_rule_problem_is_reported_at_once_with_file_line_key_and_suggestion():
    base = header_lines()

    def at(line: int) -> str:
        return f"rules.yaml:{base + line}"

    assert problems(BROKEN_RULES) == [
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
    assert problems(rules) == [
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
    [problem] = problems(rules)
    first = header_lines() + 3
    assert problem == f"rules.yaml:{first + 1}: products: duplicate key (first at line {first}); keep only one"


def test_check_prints_all_problems_and_fails(tmp_path: Path):
    path = tmp_path / "shop.yaml"
    path.write_text(HEADER + "".join(f"  {line}\n" for line in BROKEN_RULES.splitlines()))
    result = run_cli("check", "-c", str(path), memory=True)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[-1] == "10 problems found"
    assert any("rules[0].prodcts: unknown key (did you mean 'products'?)" in line for line in lines)
    assert all(line.startswith(f"{path}:") for line in lines[:-1])


def test_check_warns_about_unknown_triggers_but_passes(tmp_path: Path):
    path = tmp_path / "shop.yaml"
    path.write_text(
        HEADER + "  - {name: r, trigger: [order_paid, order_payed], actions: [{connector: mem, text: x}]}\n"
    )
    result = run_cli("check", "-c", str(path), memory=True)
    assert result.returncode == 0, result.stderr
    assert "ok: 1 rules" in result.stdout
    assert f"warning: {path}:{header_lines() + 1}: rules[0].trigger: 'order_payed' is not a known" in result.stderr
    assert "(did you mean 'order_paid'?)" in result.stderr
