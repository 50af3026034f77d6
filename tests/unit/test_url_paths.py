"""Customer values in URL paths, in process: a value in ``path:`` stays one encoded segment, ``safe_path`` keeps
its slashes but no dot segment, query or fragment, a value in ``url:`` cannot change scheme or host, and the
HTTP connector refuses a path that leaves ``base_url`` or carries a query."""

from __future__ import annotations

import re
from typing import Any

import pytest

from connectors.base import ConnectorDefaults, Permanent
from connectors.http import HttpConnector
from tests.rules_support import order, planned

ATTACK = "../../admin?x=1#"


def with_email(email: str) -> dict[str, Any]:
    data = order()
    data["billing"]["contact"]["email"] = email
    return data


def test_a_customer_value_in_a_path_is_one_encoded_segment():
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


def test_a_value_that_is_a_dot_segment_fails_the_action():
    rules = """
    - name: enrol
      trigger: order_paid
      actions: [{connector: hook, path: "/contacts/{{ order.billing.contact.email }}/enrol"}]
    """
    delivery = planned(rules, with_email(".."))["enrol", 0]
    assert delivery.status == "dead"
    assert "'..' cannot be a path segment" in delivery.error


def test_safe_path_keeps_slashes_but_refuses_dot_segments_query_and_fragment():
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


def test_a_url_value_cannot_change_scheme_or_host():
    rules = """
    - name: hook
      trigger: order_paid
      actions: [{connector: hook, url: "https://hooks.example.nl/in/{{ order.billing.contact.email }}"}]
    """
    url = planned(rules, with_email("x@evil.example/../../y"))["hook", 0].request["url"]
    assert url == "https://hooks.example.nl/in/x%40evil.example%2F..%2F..%2Fy"


def connector(base_url: str) -> HttpConnector:
    return HttpConnector("hook", {"base_url": base_url}, ConnectorDefaults())


def test_the_http_connector_refuses_a_path_that_leaves_base_url_or_carries_a_query():
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
