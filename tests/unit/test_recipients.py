"""Mail recipients built from customer text: a name is only ever a display name, an address field or a plain
string is exactly one address, and ``check`` says what is wrong with the shape of ``to``."""

from __future__ import annotations

import pytest

from connectors.base import Permanent
from connectors.recipients import recipients
from router.config import ConfigError, parse_config

ATTACKS = [
    "Eve <a@evil.example>, b@evil.example;",
    "x@evil.example, " * 200,
    "Bilal\r\nBcc: x@evil.example",
    "g: a@evil.example, b@evil.example;",
    '"quoted" <a@evil.example>',
]


@pytest.mark.parametrize("name", ATTACKS)
def test_a_name_is_only_ever_a_display_name(name):
    (only,) = recipients([{"name": name, "email": "bilal@example.nl"}], "to")
    assert only.email == "bilal@example.nl"
    assert only.address.addr_spec == "bilal@example.nl"
    assert "\n" not in str(only.address) and "\r" not in str(only.address)


@pytest.mark.parametrize(
    "email",
    [
        "Eve <a@evil.example>",
        "a@evil.example, bilal@example.nl",
        "bilal@example.nl\r\nBcc: x@evil.example",
        "bilal@example.nl x@evil.example",
        '"a,b"@evil.example',
        "",
        "not an address",
    ],
)
def test_the_email_field_must_be_exactly_one_bare_address(email):
    with pytest.raises(Permanent, match=r"to\[0\]\.email: expected one e-mail address"):
        recipients([{"name": "Bilal", "email": email}], "to")


@pytest.mark.parametrize(
    "text",
    [
        "Eve <a@evil.example>, b@evil.example; de Wit <bilal@example.nl>",
        "Eve <a@evil.example> (de Wit <bilal@example.nl>",  # a comment swallowing the real address
        "g: bilal@example.nl;",
        "not an address",
        ".. <bilal@example.nl>",  # names the standard library's parser fails on instead of reporting
        "../admin?x=1 <bilal@example.nl>",
    ],
)
def test_a_plain_string_must_parse_strictly_to_one_address(text):
    with pytest.raises(Permanent, match="a plain string must be exactly one address"):
        recipients(text, "to")


def test_a_plain_string_with_one_address_still_works():
    (only,) = recipients("Bilal de Wit <bilal@example.nl>", "to")
    assert (only.name, only.email) == ("Bilal de Wit", "bilal@example.nl")
    assert recipients("", "cc") == [] and recipients(None, "cc") == []


def test_check_reports_a_recipient_without_email_an_unknown_key_and_a_cap_below_one():
    text = """version: 1
connectors:
  mail: {type: email, host: smtp.example.nl, from: "Shop <shop@example.nl>", max_recipients: 0}
rules:
  - name: welcome
    trigger: order_paid
    actions:
      - connector: mail
        to: [{name: "{{ order.billing.contact.firstname }}"}]
        cc: [{email: a@example.nl, adres: x}]
        subject: Hoi
        text: Hoi
"""
    with pytest.raises(ConfigError) as failed:
        parse_config(text, "shop.yaml", env={})
    message = str(failed.value)
    assert "rules[0].actions[0].to: each recipient needs an 'email'" in message
    assert "rules[0].actions[0].cc: unknown recipient key 'adres'" in message
    assert "connectors.mail.max_recipients: must be at least 1" in message
