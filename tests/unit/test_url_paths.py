"""Hardening of templates (items 3 and 14): customer values stay one URL path segment, a template cannot change
the data later rules see, cannot run or grow without bound, and a YAML alias bomb is refused quickly."""

from __future__ import annotations

import re
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from connectors.base import ConnectorDefaults, Permanent
from connectors.http import HttpConnector
from router import cli
from tests.rules_support import HEADER, NOW, config_of, event, order, parse_config, plan

ATTACK = "../../admin?x=1#"


def planned(rules: str, data: dict[str, Any]) -> dict[tuple[str, int], Any]:
    """(rule, action index) → the delivery ``plan`` makes for order 1042 carrying ``data``."""
    result = plan(event(), data, config_of(rules), NOW)
    return {(d.rule, d.action_index): d for d in result.deliveries}


def with_email(email: str) -> dict[str, Any]:
    data = order()
    data["billing"]["contact"]["email"] = email
    return data


# ---------------------------------------------------------------- item 3: values in URL paths


def test_item3_a_customer_value_in_a_path_is_one_encoded_segment():
    rules = """
    - name: enrol
      trigger: order_paid
      actions:
        - connector: hook
          path: "/contacts/{{ order.billing.contact.email }}/enrol"
          query: {email: "{{ order.billing.contact.email }}"}
          json: {email: "{{ order.billing.contact.email }}"}
    """
    request = planned(rules, with_email(ATTACK))["enrol", 0].request
    assert request["path"] == "/contacts/..%2F..%2Fadmin%3Fx%3D1%23/enrol"
    assert request["query"] == {"email": ATTACK}  # encoded by the HTTP client as a parameter value
    assert request["json"] == {"email": ATTACK}  # bodies are not paths: untouched


def test_item3_a_value_that_is_a_dot_segment_fails_the_action():
    rules = """
    - name: enrol
      trigger: order_paid
      actions: [{connector: hook, path: "/contacts/{{ order.billing.contact.email }}/enrol"}]
    """
    delivery = planned(rules, with_email(".."))["enrol", 0]
    assert delivery.status == "dead"
    assert "'..' cannot be a path segment" in delivery.error


def test_item3_safe_path_keeps_slashes_but_refuses_dot_segments_query_and_fragment():
    rules = """
    - name: files
      trigger: order_paid
      actions: [{connector: hook, path: "/files/{{ order.billing.contact.email | safe_path }}"}]
    """
    assert planned(rules, with_email("a b/c"))["files", 0].request["path"] == "/files/a%20b/c"
    for value, reason in (("../x", "'.' or '..' segment"), ("a?b", "'?' or '#'"), ("a#b", "'?' or '#'")):
        delivery = planned(rules, with_email(value))["files", 0]
        assert delivery.status == "dead", value
        assert reason in delivery.error


def test_item3_a_url_value_cannot_change_scheme_or_host():
    rules = """
    - name: hook
      trigger: order_paid
      actions: [{connector: hook, url: "https://hooks.example.nl/in/{{ order.billing.contact.email }}"}]
    """
    url = planned(rules, with_email("x@evil.example/../../y"))["hook", 0].request["url"]
    assert url == "https://hooks.example.nl/in/x%40evil.example%2F..%2F..%2Fy"


def connector(base_url: str) -> HttpConnector:
    return HttpConnector("hook", {"base_url": base_url}, ConnectorDefaults())


def test_item3_the_http_connector_refuses_a_path_that_leaves_base_url_or_carries_a_query():
    hook = connector("https://hooks.example.nl/api/")
    assert hook.url_for({"path": "/contacts/a%2Fb/enrol"}) == "https://hooks.example.nl/api/contacts/a%2Fb/enrol"
    with pytest.raises(Permanent, match="outside base_url's path '/api'"):
        hook.url_for({"path": "/../admin"})
    with pytest.raises(Permanent, match="use query:"):
        hook.url_for({"path": "/contacts?x=1"})
    with pytest.raises(Permanent, match=re.escape("'.' or '..' path segment")):
        hook.url_for({"path": "/contacts/%2E%2E/enrol"})  # under /api still, but not the endpoint meant
    with pytest.raises(Permanent, match="not an http"):
        hook.url_for({"url": "https%3A%2F%2Fevil.example%2F"})
    with pytest.raises(Permanent, match="must render to a mapping"):
        hook.url_for({"path": "/x", "query": "a=1"})


# ---------------------------------------------------------------- item 14: the sandbox's limits


def test_item14a_a_condition_cannot_change_the_data_later_rules_see():
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


def test_item14b_a_template_past_the_render_timeout_fails_only_its_action():
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


def test_item14b_render_timeout_is_configurable_and_bounds_for_each_items_together():
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
def test_item14b_a_template_cannot_build_a_huge_value(template: str):
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


def alias_bomb(levels: int) -> str:
    lines = ["version: 1", 'a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


def test_item14c_check_refuses_a_yaml_alias_bomb_quickly(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb(9))
    started = time.monotonic()
    code = cli.main(["check", "-c", str(path)])
    elapsed = time.monotonic() - started
    out, err = capsys.readouterr()
    assert code == 1
    assert elapsed < 2
    assert f"{path}:" in out + err
    assert "aliases expand to more than 1,000,000 entries" in out + err


def test_item14c_ordinary_anchors_and_merges_still_load():
    rules = """
    - name: a
      trigger: order_paid
      actions: &common
        - {connector: mem, text: "{{ order.id }}"}
    - name: b
      trigger: order_paid
      actions: *common
    """
    deliveries = planned(rules, order())
    assert deliveries["a", 0].request == deliveries["b", 0].request == {"text": "1042"}
