"""Rule tests (``plugpay-router test``): cases pass and fail as they should, with diffs and file:line errors."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from router.config import ConfigError, load_config
from router.tools.rule_tests import run_file
from tests.conftest import run_cli
from tests.rules_support import HEADER, order, seller

RULES = """\
  - name: welcome-mail
    trigger: order_paid
    actions:
      - connector: mem
        to: "{{ order.billing.contact.email }}"
        subject: "Bestelling {{ order.invoice_number }}: {{ order.amount_with_tax | money }}"
  - name: course-access
    trigger: order_paid
    products: [77]
    first_only: true
    actions:
      - connector: hook
        for_each: order.items
        path: /enrol
        json: {course: "{{ item.product_id }}", year: "{{ now.year }}"}
  - name: per-rule
    trigger: order_paid
    source_rules: [318]
    actions: [{connector: mem, text: "{{ order.customer.vip }}"}]
  - name: affiliate-welcome
    trigger: affiliate_accepted
    actions: [{connector: mem, to: "{{ affiliate.email }}"}]
"""

PASSING = """\
- name: first paid order enrols every line
  event: {trigger: order_payment_completed, id: 1042, rule_id: 318}
  data_file: order-1042.json
  now: 2026-01-02T03:04:05Z
  matched: [welcome-mail, course-access, per-rule]
  actions:
    - {rule: welcome-mail, connector: mem, request: {to: bilal@example.nl, subject: "Bestelling 2025-0042: € 121,00"}}
    - {rule: course-access, item: "id:5501", request: {path: /enrol, json: {course: 77, year: 2026}}}
    - {rule: course-access, item: "id:5502", request: {json: {course: 81}}}
    - {rule: per-rule, status: dead, error: "has no attribute 'customer'"}
- name: repeat order from another Plug&Pay rule
  event:
    event: {trigger_type: order_payment_completed, triggerable_type: order, triggerable_id: 1043}
    rule_id: 319
  data_file: order-1043.yaml
  matched: [welcome-mail]
  reasons:
    course-access: "products: order has products ['90', '91']"
    per-rule: source_rules
    affiliate-welcome: trigger
  actions:
    - {request: {to: anna@example.nl}}
- name: accepted affiliate
  event: {trigger: affiliate_accepted, id: 14}
  data: {data: {id: 14, email: jan@partner.nl}}
  matched: [affiliate-welcome]
  actions: [{request: {to: jan@partner.nl}}]
- name: nothing for a subscription
  event: {trigger: subscription_ended, id: 901}
  data: {id: 901, product: {id: 77}}
  matched: []
  actions: []
"""

FAILING = """\
- name: passes
  event: {trigger: affiliate_accepted, id: 14}
  data: {id: 14, email: jan@partner.nl}
  matched: [affiliate-welcome]
- name: expects the wrong things
  event: {trigger: order_paid, id: 1043, rule_id: 318}
  data_file: order-1043.yaml
  matched: [welcome-mail, course-access]
  reasons: {affiliate-welcome: products}
  actions:
    - {rule: welcome-mail, request: {to: bilal@example.nl}}
    - {rule: per-rule, error: "no such thing"}
- name: wrong number of actions
  event: {trigger: affiliate_accepted, id: 14}
  data: {id: 14, email: jan@partner.nl}
  actions: []
"""


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    (tmp_path / "shop.yaml").write_text(HEADER + RULES)
    (tmp_path / "order-1042.json").write_text(json.dumps({"data": order("1042")}))
    # YAML works for data files too; this one is the bare object, without the API's envelope
    lines = [f"{key}: {json.dumps(value)}" for key, value in order("1043").items()]
    (tmp_path / "order-1043.yaml").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_passing_cases_print_pass_and_exit_0(shop: Path):
    (shop / "cases.yaml").write_text(PASSING)
    result = run_cli("test", "-c", str(shop / "shop.yaml"), str(shop / "cases.yaml"), memory=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        "PASS  first paid order enrols every line",
        "PASS  repeat order from another Plug&Pay rule",
        "PASS  accepted affiliate",
        "PASS  nothing for a subscription",
        "4 cases: 4 passed, 0 failed",
    ]


def test_failing_cases_print_a_diff_and_exit_1(shop: Path):
    (shop / "cases.yaml").write_text(FAILING)
    result = run_cli("test", "-c", str(shop / "shop.yaml"), str(shop / "cases.yaml"), memory=True)
    assert result.returncode == 1
    cases = str(shop / "cases.yaml")
    assert result.stdout == textwrap.dedent(f"""\
        PASS  passes
        FAIL  expects the wrong things ({cases}:5)
              matched rules differ (- expected, not matched; + matched, not expected):
                - course-access  (products: order has products ['90', '91'])
                + per-rule
              reasons.affiliate-welcome: expected the reason to mention 'products', got: trigger: listens to \
affiliate_accepted, not order_paid
              actions[0] welcome-mail -> mem:
                --- expected
                +++ actual
                @@ -2,5 +2,5 @@
                   "rule": "welcome-mail",
                   "request": {{
                -    "to": "bilal@example.nl"
                +    "to": "anna@example.nl"
                   }}
                 }}
              actions[1] per-rule -> mem:
              expected the error to mention 'no such thing', got: render: rule 'per-rule': {shop / "shop.yaml"}:29: \
undefined value: 'dict object' has no attribute 'customer'
        FAIL  wrong number of actions ({cases}:13)
              expected 0 actions, rendered 1:
                --- expected
                +++ actual
                @@ -0,0 +1 @@
                +affiliate-welcome -> mem
        3 cases: 1 passed, 2 failed
        """)


def test_mistakes_in_the_cases_file_are_all_reported_with_file_line_and_suggestions(shop: Path):
    (shop / "cases.yaml").write_text("""\
- name: one
  evnt: {trigger: order_paid, id: 1042}
  data: {id: 1042}
  matched: [welcome-mai]
  actions:
    - {rule: course-acces, conector: mem, status: lost}
- name: one
  event: {trigger: order_paid, idd: 1}
  data_file: missing.json
  reasons: {per-rule: 5}
- name: three
  event: {event: {trigger_type: order_paid}}
  data: [1, 2]
- just a string
""")
    cases = str(shop / "cases.yaml")
    result = run_cli("test", "-c", str(shop / "shop.yaml"), cases, memory=True)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{cases}:1: [0].event: is required: a webhook body, or {{trigger: order_paid, id: 1042, rule_id: 318}}",
        f"{cases}:2: [0].evnt: unknown key (did you mean 'event'?) (known: name, event, data, data_file, now, "
        "matched, reasons, actions)",
        f"{cases}:4: [0].matched[0]: no rule named 'welcome-mai' in the config (did you mean 'welcome-mail'?)",
        f"{cases}:6: [0].actions[0].conector: unknown key (did you mean 'connector'?) (known: rule, connector, item, "
        "status, error, request)",
        f"{cases}:6: [0].actions[0].rule: no rule named 'course-acces' in the config (did you mean 'course-access'?)",
        f"{cases}:6: [0].actions[0].status: expected pending or dead",
        f"{cases}:7: [1].name: duplicate case name (first at line 1)",
        f"{cases}:8: [1].event.idd: unknown key (did you mean 'id'?) (known: trigger, id, type, rule_id, tenant_id)",
        f"{cases}:8: [1].event.id: is required (or give a full webhook body)",
        f"{cases}:9: [1].data_file: cannot read {shop / 'missing.json'}: No such file or directory",
        f"{cases}:10: [1].reasons.per-rule: expected text",
        f"{cases}:12: [2].event: event: not a Plug&Pay webhook: missing field 'triggerable_id'",
        f"{cases}:13: [2].data: data: expected a JSON object (the order, subscription or seller)",
        f"{cases}:14: [3]: expected a case: a mapping with name, event, data",
        "14 problems found",
    ]


def test_a_cases_file_must_be_a_list(shop: Path):
    (shop / "cases.yaml").write_text("name: not a list\n")
    config = load_config(shop / "shop.yaml", {})
    with pytest.raises(ConfigError) as info:
        run_file(config, str(shop / "cases.yaml"))
    assert [str(p) for p in info.value.problems] == [
        f"{shop / 'cases.yaml'}:1: a cases file is a YAML list of cases (each starts with '- name: ...')"
    ]


def test_cases_run_without_network_or_store(shop: Path):
    # the config's API is unreachable and its store does not exist: rule tests need neither
    (shop / "cases.yaml").write_text(PASSING)
    report = run_file(load_config(shop / "shop.yaml", {}), str(shop / "cases.yaml"))
    assert report.ok
    assert [r.case.name for r in report.results][2] == "accepted affiliate"
    assert not (shop / "unused.db").exists()
    assert seller()["email"] == "jan@partner.nl"
