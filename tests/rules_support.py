"""Helpers for the rule-language tests: configs from a rules snippet, events, the sandbox's fixtures, and the
deliveries a plan makes."""

from __future__ import annotations

import copy
import datetime as dt
import textwrap
from typing import Any

from router.config import Config, parse_config
from router.demo.sandbox import load_fixtures
from router.events import Event, normalise_json
from router.routing.route import Plan, plan

NOW = dt.datetime(2025, 3, 14, 10, 0, tzinfo=dt.UTC)
FIXTURES = load_fixtures()

HEADER = """\
version: 1
plugandpay: {api_url: "http://127.0.0.1:9", api_token: "pp-token-1234", webhook_key: "rules-test-key-1234"}
store: {url: "sqlite:///unused.db"}
connectors:
  mem: {type: memory}
  hook:
    type: http
    base_url: "https://hooks.example.nl"
    headers: {Authorization: "Bearer ${HOOK_TOKEN:-hook-secret-5678}"}
rules:
"""


def config_of(rules: str, env: dict[str, str] | None = None, file: str = "rules.yaml") -> Config:
    """A config whose ``rules:`` section is ``rules`` (a YAML list, indented or not)."""
    return parse_config(HEADER + textwrap.indent(textwrap.dedent(rules), "  "), file, env or {})


def header_lines() -> int:
    return HEADER.count("\n")


def event(
    trigger: str = "order_paid", ident: int | str = 1042, kind: str | None = None, rule_id: int | None = 318
) -> Event:
    body: dict[str, Any] = {"trigger_type": trigger, "triggerable_id": ident, "rule_id": rule_id, "tenant_id": 42}
    if kind is not None:
        body["triggerable_type"] = kind
    return normalise_json(body)


def order(ident: str = "1042", **changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(FIXTURES["orders"][ident])
    data.update(changes)
    return data


def subscription(ident: str = "901") -> dict[str, Any]:
    return copy.deepcopy(FIXTURES["subscriptions"][ident])


def seller(ident: str = "14") -> dict[str, Any]:
    return copy.deepcopy(FIXTURES["sellers"][ident])


def run(config: Config, ev: Event, data: dict[str, Any], *, explain: bool = False) -> Plan:
    return plan(ev, data, config, NOW, explain=explain)


def planned(rules: str, data: dict[str, Any]) -> dict[tuple[str, int], Any]:
    """(rule, action index) → the delivery ``plan`` makes for order 1042 carrying ``data``."""
    result = plan(event(), data, config_of(rules), NOW)
    return {(d.rule, d.action_index): d for d in result.deliveries}


def matched(config: Config, ev: Event, data: dict[str, Any]) -> list[str]:
    """Names of the matching rules, checked to agree between the index and the full explanation."""
    fast = [o.rule.name for o in run(config, ev, data).outcomes if o.matched]
    slow = [o.rule.name for o in run(config, ev, data, explain=True).outcomes if o.matched]
    assert fast == slow, f"index and explain disagree: {fast} != {slow}"
    return fast


def reasons(config: Config, ev: Event, data: dict[str, Any]) -> dict[str, str]:
    return {o.rule.name: o.reason for o in run(config, ev, data, explain=True).outcomes}
