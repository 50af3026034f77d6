"""Connector types describe themselves: checks of ``type: moneybird``, and what ``simulate`` and the demo show."""

from __future__ import annotations

import json
import textwrap

import pytest

from router.config import ConfigError, parse_config
from router.demo.report import describe_request
from router.tools.simulate import destination


def connectors_of(text: str):
    return parse_config(
        "version: 1\nplugandpay: {allow_unsigned: true}\nconnectors:\n" + textwrap.indent(textwrap.dedent(text), "  "),
        "c.yaml",
        {},
    ).connectors


def test_type_moneybird_needs_its_administration_and_token():
    with pytest.raises(ConfigError) as info:
        connectors_of("books: {type: moneybird, base_url: moneybird.com/api/v2/1, url: https://x.nl}")
    assert [str(p) for p in info.value.problems] == [
        "c.yaml:4: connectors.books.url: unknown key",
        "c.yaml:4: connectors.books.token: is required",
    ]


def test_each_type_describes_a_rendered_action_its_own_way():
    found = connectors_of("""\
        mail: {type: email, host: smtp.example.nl, from: shop@example.nl}
        crm: {type: activecampaign, base_url: "https://acme.api-us1.com", api_token: t}
        books: {type: moneybird, base_url: "https://moneybird.com/api/v2/1", token: t}
        hook: {type: http, base_url: "https://hooks.example.nl/", method: PUT, headers: {Authorization: Bearer abc}}
        """)
    order = json.dumps({"invoice_number": "2025-0042"})
    assert describe_request(found["mail"], {"to": "anna@example.nl", "subject": "Bedankt"}) == (
        'mail to anna@example.nl: "Bedankt"'
    )
    assert describe_request(found["crm"], {"op": "remove_tag", "email": "a@b.nl", "tags": ["x", "y"]}) == (
        "ActiveCampaign contact a@b.nl; tags x, y removed"
    )
    assert describe_request(found["books"], {"order": order}) == "invoice 2025-0042"
    assert describe_request(found["hook"], {"path": "/enrol"}) == "PUT /enrol"
    assert destination(found["hook"], {"path": "enrol", "query": {"a": 1}}) == {
        "method": "PUT",
        "url": "https://hooks.example.nl/enrol",
        "query": {"a": 1},
        "headers": {"Authorization": "Bearer ***"},
    }
    assert destination(found["crm"], {"op": "sync_contact", "email": "a@b.nl"}) == {"op": "sync_contact"}
