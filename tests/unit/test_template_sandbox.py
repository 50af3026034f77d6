"""What a template cannot do, in process: change the data later rules see (from a condition or an action), run
past its render timeout (one budget for all ``for_each`` items, and only its own action fails), or build a huge
value."""

from __future__ import annotations

import textwrap
import time

import pytest

from tests.rules_support import HEADER, NOW, config_of, event, order, parse_config, plan, planned


def test_a_condition_or_a_template_cannot_change_the_data_later_rules_see():
    rules = """
    - name: meddler
      trigger: order_paid
      when: "data.update({'mode': 'test', 'invoice_number': 'forged'}) or true"
      actions: [{connector: mem, text: "meddled"}]
    - name: appender
      trigger: order_paid
      actions: [{connector: mem, text: "{{ order.items.append(1) }}"}]
    - name: later
      trigger: order_paid
      when: "order.mode == 'live'"
      actions: [{connector: mem, text: "{{ order.invoice_number }} {{ order.items | length }}"}]
    """
    data = order()
    result = plan(event(), data, config_of(rules), NOW)
    outcomes = {o.rule.name: o for o in result.outcomes}
    assert not outcomes["meddler"].matched
    assert "not allowed in the sandbox" in outcomes["meddler"].reason
    assert "update" in outcomes["meddler"].reason
    deliveries = {d.rule: d for d in result.deliveries}
    assert deliveries["appender"].status == "dead"
    assert "not allowed in the sandbox" in deliveries["appender"].error
    assert deliveries["later"].request == {"text": f"2025-0042 {len(order()['items'])}"}
    assert data == order()


SLOW = "{% set r = range(100000) | list %}{% for a in r %}{% for b in r %}{% endfor %}{% endfor %}"


def test_a_template_past_the_render_timeout_fails_only_its_action():
    rules = f"""
    - name: slow
      trigger: order_paid
      actions:
        - connector: mem
          text: "{SLOW}"
        - connector: mem
          text: "fine {{{{ order.id }}}}"
    """
    started = time.monotonic()
    deliveries = planned(rules, order())
    assert time.monotonic() - started < 5
    assert deliveries["slow", 0].status == "dead"
    assert "render timed out after 1s" in deliveries["slow", 0].error
    assert deliveries["slow", 1].request == {"text": "fine 1042"}


def test_the_render_timeout_is_configurable_and_bounds_all_for_each_items_together():
    rules = f"""
    - name: slow
      trigger: order_paid
      actions:
        - connector: mem
          for_each: "range(50)"
          text: "{SLOW}"
    """
    header = HEADER.replace("connectors:", "delivery: {render_timeout: 200ms}\nconnectors:")
    config = parse_config(header + textwrap.indent(textwrap.dedent(rules), "  "), "rules.yaml", {})
    assert config.delivery.render_timeout == 0.2
    started = time.monotonic()
    result = plan(event(), order(), config, NOW)
    assert time.monotonic() - started < 2  # one budget for the action, not 50 x 0.2 s
    assert len(result.deliveries) == 50
    assert all("render timed out after 0.2s" in (d.error or "") for d in result.deliveries)


@pytest.mark.parametrize(
    "template",
    [
        "{{ 'x' * 1000000000 }}",
        "{{ 'x' | center(1000000000) }}",
        "{{ 'x'.ljust(1000000000) }}",
        "{{ '%1000000000d' % 1 }}",
        "{{ '{:>1000000000}'.format(1) }}",
        "{{ 2 ** 100000000 }}",
        "{% for i in range(100000) %}{{ 'a long line of text' }}{% endfor %}",
        "{% set s = 'x' * 900000 %}{{ s ~ s }}",
    ],
)
def test_a_template_cannot_build_a_huge_value(template: str):
    rules = f"""
    - name: big
      trigger: order_paid
      actions: [{{connector: mem, text: "{template}"}}]
    """
    started = time.monotonic()
    delivery = planned(rules, order())["big", 0]
    assert time.monotonic() - started < 1
    assert delivery.status == "dead"
    assert "too large" in delivery.error
