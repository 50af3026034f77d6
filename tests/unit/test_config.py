"""Config loading: typed sections with one source of defaults, ``${VAR}`` interpolation, leases, and errors
that name file, line and key but never quote a secret."""

from __future__ import annotations

import dataclasses
import textwrap

import pytest

from connectors.registry import CONNECTOR_TYPES
from router.config import ConfigError, parse_config
from router.config import sections as config_sections
from router.config.model import (
    AdminConfig,
    DeliveryConfig,
    PlugAndPayConfig,
    RetentionConfig,
    ServerConfig,
    SignatureConfig,
    StoreConfig,
)

# ---------------------------------------------------------------- sections and ${VAR}

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


SECTIONS = {
    "server": ServerConfig,
    "admin": AdminConfig,
    "plugandpay": PlugAndPayConfig,
    "store": StoreConfig,
    "delivery": DeliveryConfig,
    "retention": RetentionConfig,
}


# A config without a webhook key must say that it accepts unsigned webhooks (tests/unit/test_webhook_key.py).
UNSIGNED = "plugandpay: {allow_unsigned: true}\n"


@pytest.mark.parametrize(
    "text",
    [UNSIGNED, "".join(f"{name}: {{}}\n" for name in SECTIONS if name != "plugandpay") + UNSIGNED],
    ids=["absent", "empty"],
)
def test_a_setting_left_out_takes_the_default_of_its_dataclass(text):
    config = parse_config(text, "shop.yaml", {})
    for name, section in SECTIONS.items():
        expected = PlugAndPayConfig(allow_unsigned=True) if section is PlugAndPayConfig else section()
        assert getattr(config, name) == expected, name
    assert config.plugandpay.signature == SignatureConfig()
    assert (config.server.host, config.server.port, config.delivery.concurrency) == ("0.0.0.0", 8080, 32)


def test_every_default_is_written_once_in_the_dataclasses_not_in_the_key_specs():
    specs = [
        config_sections.SERVER_FIELDS,
        config_sections.ADMIN_FIELDS,
        config_sections.SIGNATURE_FIELDS,
        config_sections.PLUGANDPAY_FIELDS,
        config_sections.STORE_FIELDS,
        config_sections.DELIVERY_FIELDS,
        config_sections.RETENTION_FIELDS,
    ]
    for spec in specs:
        assert [key for key, field in spec.items() if field.default is not None] == []
    given = parse_config("server: {path: /in}\ndelivery: {timeout: 20s}\n" + UNSIGNED, "shop.yaml", {})
    assert given.server == dataclasses.replace(ServerConfig(), path="/in")
    assert given.delivery == dataclasses.replace(DeliveryConfig(), timeout=20.0)


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
        plugandpay: {allow_unsigned: true}
        """
    )
    assert found == [
        "shop.yaml:2: sever: unknown key (did you mean 'server'?)",
        "shop.yaml:3: delivery.schedule: expected a duration such as '30s', '5m', '2h' or '7d', got 'soon'",
        "shop.yaml:5: connectors.hook.type: unknown connector type 'htp' (did you mean 'http'?) (known: "
        + ", ".join(sorted(CONNECTOR_TYPES))
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
    found = problems('server: {listen: "nowhere", path: /healthz}\n' + UNSIGNED)
    assert found == [
        "shop.yaml:1: server.listen: expected host:port such as '0.0.0.0:8080', got 'nowhere'",
        "shop.yaml:1: server.path: /healthz is reserved",
    ]


# ---------------------------------------------------------------- secrets in problem messages
# A problem message never quotes a value read from the environment (whatever the variable's name) or a secret
# setting of the file: ``check`` and ``serve`` print it, so it would end up in the journal.

TYPO = """\
version: 1
plugandpay: {allow_unsigned: true}
connectors:
  mail:
    type: email
    host: smtp.example.nl
    port: "${SMTP_PASSWORD}"
    from: "Shop <shop@example.nl>"
"""


def test_a_secret_typed_into_a_number_setting_is_not_echoed():
    [problem] = problems(TYPO, {"SMTP_PASSWORD": "hunter2-Secret!"})
    assert problem == "shop.yaml:7: connectors.mail.port: expected a whole number, got '***'"


@pytest.mark.parametrize("password", ["back\\slash-pw", 'it\'s-"quoted"', "tab\tand\nnewline"])
def test_a_secret_is_masked_in_the_quoted_spelling_of_the_message(password):
    [problem] = problems(TYPO, {"SMTP_PASSWORD": password})
    assert problem == "shop.yaml:7: connectors.mail.port: expected a whole number, got '***'"


def test_a_value_from_any_variable_is_masked_whatever_its_name():
    text = TYPO.replace("${SMTP_PASSWORD}", "${SMTP_PORT}").replace("smtp.example.nl", '"${SMTP_HOST}"')
    text += 'server: {listen: "${LISTEN}"}\n'
    env = {"SMTP_PORT": "pw-in-the-wrong-var", "SMTP_HOST": "smtp.example.nl", "LISTEN": "also-not-a-port"}
    found = problems(text, env)
    assert found == [
        "shop.yaml:7: connectors.mail.port: expected a whole number, got '***'",
        "shop.yaml:9: server.listen: expected host:port such as '0.0.0.0:8080', got '***'",
    ]


def test_a_literal_secret_setting_is_masked_where_another_key_quotes_it():
    text = 'plugandpay: {allow_unsigned: true, api_token: "literal-tok-5e1a"}\nserver: {listen: literal-tok-5e1a}\n'
    assert problems(text) == ["shop.yaml:2: server.listen: expected host:port such as '0.0.0.0:8080', got '***'"]


def test_secrets_in_warnings_are_masked_too():
    text = """\
    plugandpay: {allow_unsigned: true}
    connectors: {mem: {type: memory}}
    rules:
      - name: r
        trigger: "${TRIGGER}"
        actions: [{connector: mem, text: x}]
    """
    config = parse_config(textwrap.dedent(text), "shop.yaml", {"TRIGGER": "private-trigger-name"})
    assert "private-trigger-name" not in " ".join(str(w) for w in config.warnings)
    assert any("rules[0].trigger" in str(w) and "***" in str(w) for w in config.warnings)


def test_file_line_and_key_stay_readable_and_short_or_plain_values_stay_shown():
    # "shop" is in the file name, "true" is a word of the message, "abc" is too short to hide anything.
    text = 'plugandpay: {allow_unsigned: "${UNSIGNED}"}\nserver: {listen: "${LISTEN}", max_body_bytes: "${BODY}"}\n'
    found = problems(text, {"UNSIGNED": "true", "LISTEN": "shop", "BODY": "abc"})
    assert found == [
        "shop.yaml:2: server.max_body_bytes: expected a whole number, got 'abc'",
        "shop.yaml:2: server.listen: expected host:port such as '0.0.0.0:8080', got '***'",
    ]


def test_a_default_written_in_the_file_is_shown_unmasked():
    found = problems('plugandpay: {allow_unsigned: true}\nserver: {max_body_bytes: "${BODY:-lots}"}\n')
    assert found == ["shop.yaml:2: server.max_body_bytes: expected a whole number, got 'lots'"]


# ---------------------------------------------------------------- ${VAR} in number and true/false settings
# Environment variables are always text, so ``port: "${SMTP_PORT:-587}"`` must give the number 587 (the
# example config and the demo depend on it), while text that is no number stays an error with file:line.

TYPED = """version: 1
server: {max_body_bytes: "${MAX_BODY:-4096}"}
connectors:
  mail:
    type: email
    host: 127.0.0.1
    port: "${SMTP_PORT:-587}"
    starttls: "${SMTP_STARTTLS:-true}"
    from: "Shop <shop@example.nl>"
    breaker: {failure_ratio: "${RATIO:-0.5}"}
plugandpay: {allow_unsigned: true}
"""


def test_defaults_and_variables_become_numbers_and_booleans():
    config = parse_config(TYPED, "typed.yaml", env={"SMTP_PORT": "2525", "SMTP_STARTTLS": "False"})
    mail = config.connectors["mail"]
    assert mail.settings["port"] == 2525
    assert mail.settings["starttls"] is False
    assert mail.breaker == {"failure_ratio": 0.5, "calls": 10, "open_for": 30.0, "enabled": True}
    assert config.server.max_body_bytes == 4096


def test_text_that_is_not_of_the_type_is_still_an_error_with_file_and_line():
    with pytest.raises(ConfigError) as info:
        parse_config(TYPED, "typed.yaml", env={"SMTP_PORT": "smtp", "SMTP_STARTTLS": "yes"})
    assert [str(p) for p in info.value.problems] == [
        "typed.yaml:7: connectors.mail.port: expected a whole number, got '***'",  # env values are never echoed
        "typed.yaml:8: connectors.mail.starttls: expected true or false, got 'yes'",
    ]


# ---------------------------------------------------------------- leases
# ``plugandpay.lease`` and ``delivery.lease`` set how long a claim stays with an instance. Unset, they follow
# the timeouts (the daemon derives them); set, they must be longer than the timeout of their stage, or a slow
# but healthy instance would have its work taken over while still doing it.

LEASES = """version: 1
plugandpay: {{api_url: "http://127.0.0.1:9", timeout: 10s, allow_unsigned: true{api}}}
delivery: {{timeout: 15s{delivery}}}
rules: []
"""


def test_leases_are_read_and_default_to_unset() -> None:
    config = parse_config(LEASES.format(api=", lease: 45s", delivery=", lease: 1m"))
    assert (config.plugandpay.lease, config.delivery.lease) == (45.0, 60.0)
    plain = parse_config(LEASES.format(api="", delivery=""))
    assert (plain.plugandpay.lease, plain.delivery.lease) == (None, None)


def test_a_lease_not_longer_than_its_timeout_is_an_error() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(LEASES.format(api=", lease: 10s", delivery=", lease: 5s"), file="shop.yaml")
    text = str(raised.value)
    assert "shop.yaml:2: plugandpay.lease: must be longer than plugandpay.timeout (10s)" in text
    assert "shop.yaml:3: delivery.lease: must be longer than delivery.timeout (15s)" in text
