"""The edge's config keys: a secret V1 path, trigger aliases, confirm_state and the quarantine bounds."""

from __future__ import annotations

import pytest

from router.config import ConfigError
from router.config import parse_config as parse_router_config
from router.events import Event, note_unknown_trigger
from router.routing.route import with_aliases

TOKEN = "Xq3vR9_kLm2PzT7wYb4NcD8fGh1JsA6e"
KEY = "webhook_key: k-edge-test-7f3a"


def parse_config(text: str, file: str, env: dict[str, str]):  # type: ignore[no-untyped-def]
    """These configs are about other keys: give each a webhook key (a config without one is an error)."""
    if "plugandpay: {" in text:
        text = text.replace("plugandpay: {", "plugandpay: {" + KEY + ", ", 1)
    else:
        text = text + "plugandpay: {" + KEY + "}\n"
    return parse_router_config(text, file, env)


def test_v1_path_must_end_in_a_long_random_token():
    config = parse_config(f"server: {{v1_path: /webhooks/plugandpay/v1/{TOKEN}}}\n", "c.yaml", {})
    assert config.server.v1_path == f"/webhooks/plugandpay/v1/{TOKEN}"
    for guessable in ("/webhooks/v1/secret", "/webhooks/v1/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "/v1/1234567890"):
        with pytest.raises(ConfigError) as caught:
            parse_config(f"server: {{v1_path: {guessable}}}\n", "c.yaml", {})
        assert "c.yaml:1: server.v1_path: V1 webhooks are unsigned, so the last path segment must be a secret" in (
            str(caught.value)
        )
        assert "secrets.token_urlsafe(32)" in str(caught.value)
    with pytest.raises(ConfigError, match=r"must differ from server\.path"):
        parse_config(f"server: {{path: /wh/{TOKEN}, v1_path: /wh/{TOKEN}}}\n", "c.yaml", {})


def test_trigger_aliases_extend_the_built_in_table_for_webhooks_and_rules():
    config = parse_config(
        """plugandpay: {trigger_aliases: {Affiliate_Seller_Approved: affiliate_accepted}}
connectors: {m: {type: memory}}
rules:
  - {name: r, trigger: affiliate_seller_approved, actions: [{connector: m, text: x}]}
""",
        "c.yaml",
        {},
    )
    assert config.plugandpay.trigger_aliases == {"affiliate_seller_approved": "affiliate_accepted"}
    assert config.rules.rules[0].triggers == ("affiliate_accepted",)
    stored = Event("affiliate_seller_approved", "affiliate_seller_approved", "affiliate", "14")  # before the alias
    assert with_aliases(stored, config).trigger == "affiliate_accepted"


def test_the_unknown_trigger_warning_names_the_config_key(capsys):
    note_unknown_trigger(Event("seller_went_live", "Seller_Went_Live", "affiliate", "14"))
    out = capsys.readouterr().out
    assert "plugandpay.trigger_aliases: {seller_went_live: <trigger>}" in out
    assert "router/events.py" not in out


def test_confirm_state_takes_a_bool_or_a_bool_per_trigger():
    assert parse_config("", "c.yaml", {}).plugandpay.confirm_state is True
    per_trigger = parse_config(
        "plugandpay: {confirm_state: {order_payment_completed: false}, state_recheck: [1s, 2s]}\n", "c.yaml", {}
    )
    assert per_trigger.plugandpay.confirm_state == {"order_paid": False}
    assert per_trigger.plugandpay.state_recheck == (1.0, 2.0)
    with pytest.raises(ConfigError, match=r"plugandpay\.confirm_state: expected true / false, or a mapping"):
        parse_config("plugandpay: {confirm_state: sometimes}\n", "c.yaml", {})


def test_quarantine_bounds_default_to_10000_entries_50_mb_7_days():
    quarantine = parse_config("", "c.yaml", {}).quarantine
    assert (quarantine.max_entries, quarantine.max_bytes, quarantine.max_age) == (10_000, 50 * 1024 * 1024, 7 * 86400)
    small = parse_config("quarantine: {max_entries: 5, max_bytes: 1000, max_age: 1h, per_ip: 3/m}\n", "c.yaml", {})
    assert (small.quarantine.max_entries, small.quarantine.per_ip.count, small.quarantine.per_ip.per) == (5, 3, 60)
