"""Config loading: typed sections, ${VAR} interpolation, and errors that name file, line and key."""

from __future__ import annotations

import textwrap

import pytest

from router.config import ConfigError, parse_config

GOOD = """\
version: 1
server: {listen: "127.0.0.1:9000", path: /hook}
plugandpay:
  api_url: https://api.plugandpay.nl
  api_token: "${PP_TOKEN}"
  webhook_key: "${PP_KEY:-fallback-key}"
delivery: {schedule: [5s, 5m, 2h], timeout: 10s, concurrency: 4}
connectors:
  hook: {type: http, base_url: "https://example.nl", headers: {Authorization: "Bearer ${LMS_TOKEN}"}}
rules:
  - name: r1
    trigger: order_paid
    actions:
      - connector: hook
        path: /x
        json: {email: "{{ order.billing.contact.email }}"}
"""


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(textwrap.dedent(text), "shop.yaml", env or {})
    return [str(p) for p in info.value.problems]


def test_valid_config_is_typed_and_interpolated():
    config = parse_config(GOOD, "shop.yaml", {"PP_TOKEN": "tok-123456", "LMS_TOKEN": "lms-abcdef"})
    assert (config.server.host, config.server.port, config.server.path) == ("127.0.0.1", 9000, "/hook")
    assert config.plugandpay.api_token == "tok-123456"
    assert config.plugandpay.webhook_key == "fallback-key"
    assert config.delivery.schedule == (5.0, 300.0, 7200.0)
    assert config.connectors["hook"].settings["headers"] == {"Authorization": "Bearer lms-abcdef"}
    assert {"tok-123456", "lms-abcdef", "fallback-key"} <= config.secrets
    assert [r.name for r in config.rules.rules] == ["r1"]


def test_missing_variable_names_variable_file_line_and_key():
    assert problems(GOOD, {"LMS_TOKEN": "x"}) == [
        "shop.yaml:5: plugandpay.api_token: environment variable PP_TOKEN is not set"
    ]


def test_unknown_connector_names_known_ones():
    text = GOOD.replace("connector: hook", "connector: hok")
    assert problems(text, {"PP_TOKEN": "a", "LMS_TOKEN": "b"}) == [
        "shop.yaml:14: rules[0].actions[0].connector: unknown connector 'hok' (did you mean 'hook'?) (known: hook)"
    ]


def test_every_problem_is_reported_at_once_with_suggestions():
    found = problems(
        """\
        version: 1
        sever: {listen: ":80"}
        delivery: {schedule: [5s, soon], timeout: 10s}
        connectors:
          hook: {type: htp}
        rules:
          - name: r1
            trigger: order_paid
            prodcts: [77]
            actions: [{connector: hook}]
        """
    )
    assert found == [
        "shop.yaml:2: sever: unknown key (did you mean 'server'?)",
        "shop.yaml:3: delivery.schedule: expected a duration such as '30s', '5m', '2h' or '7d', got 'soon'",
        "shop.yaml:5: connectors.hook.type: unknown connector type 'htp' (did you mean 'http'?) (known: "
        + ", ".join(sorted(__import__("connectors").CONNECTOR_TYPES))
        + ")",
        "shop.yaml:9: rules[0].prodcts: unknown key (did you mean 'products'?)",
        "shop.yaml:10: rules[0].actions[0].connector: unknown connector 'hook' (known: none configured)",
    ]


def test_template_syntax_error_points_at_its_line():
    text = GOOD.replace("{{ order.billing.contact.email }}", "{{ order.billing. }}")
    [problem] = problems(text, {"PP_TOKEN": "a", "LMS_TOKEN": "b"})
    assert problem.startswith("shop.yaml:16: rules[0].actions[0].json: template error:")


def test_yaml_syntax_error_has_a_line():
    [problem] = problems("version: 1\nrules:\n  - name: [unclosed\n")
    assert problem.startswith("shop.yaml:") and "invalid YAML" in problem


def test_bad_listen_and_reserved_path():
    found = problems('server: {listen: "nowhere", path: /healthz}\n')
    assert found == [
        "shop.yaml:1: server.listen: expected host:port such as '0.0.0.0:8080', got 'nowhere'",
        "shop.yaml:1: server.path: /healthz is reserved",
    ]
