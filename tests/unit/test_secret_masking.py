"""A secret written into an action (``Authorization: "Bearer ${LMS_TOKEN}"``) is rendered as
``***`` with a note of where it was, and only the sender puts the current value back, at exactly those places.

Customer text never gets a secret: neither by typing the placeholder (``${LMS_TOKEN}``), nor the mask (``***``),
nor by knowing an old value of the secret.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from connectors.base import Retryable
from router.config import Config
from router.render.secret_refs import restore
from tests.rules_support import config_of, event, order, run

TOKEN = "lms-token-9f3a7c"
ENV = {"LMS_TOKEN": TOKEN}
RULE = """\
- name: course
  trigger: order_paid
  actions:
    - connector: hook
      path: /enrolments
      headers: {Authorization: "Bearer ${LMS_TOKEN}"}
      json:
        name: "{{ order.billing.contact.firstname }}"
        greeting: "Hoi {{ order.billing.contact.firstname }}, key ${LMS_TOKEN}."
        keys: ["${LMS_TOKEN}", "plain"]
"""


def rendered(config: Config, **contact: Any) -> Any:
    data = order()
    data["billing"]["contact"].update(contact)
    [delivery] = run(config, event(), data).deliveries
    assert delivery.status == "pending", delivery.error
    return delivery.request


def test_the_rendered_request_holds_a_mask_and_where_each_secret_was():
    request = rendered(config_of(RULE, ENV))
    assert TOKEN not in json.dumps(request)
    assert request["headers"] == {"Authorization": "Bearer ***"}
    assert request["json"] == {"name": "Bilal", "greeting": "Hoi Bilal, key ***.", "keys": ["***", "plain"]}
    assert request["_secrets"] == [
        {"path": ["headers", "Authorization"], "at": 7, "var": "LMS_TOKEN"},
        {"path": ["json", "greeting"], "at": 15, "var": "LMS_TOKEN"},
        {"path": ["json", "keys", 0], "at": 0, "var": "LMS_TOKEN"},
    ]


def test_sending_puts_back_the_value_of_the_config_in_force_then():
    stored = json.loads(json.dumps(rendered(config_of(RULE, ENV))))  # as the store gives it back
    sent = restore(stored, config_of(RULE, {"LMS_TOKEN": "rotated-token-2"}).secret_vars)
    assert sent["headers"] == {"Authorization": "Bearer rotated-token-2"}
    assert sent["json"]["greeting"] == "Hoi Bilal, key rotated-token-2."
    assert sent["json"]["keys"] == ["rotated-token-2", "plain"]
    assert "_secrets" not in sent
    assert stored["headers"] == {"Authorization": "Bearer ***"}  # the stored request is left as it was


@pytest.mark.parametrize("name", ["${LMS_TOKEN}", "*** ${LMS_TOKEN:-x} ***"], ids=["placeholder", "mask"])
def test_customer_text_that_looks_like_a_placeholder_or_the_mask_is_sent_literally(name):
    config = config_of(RULE, ENV)
    sent = restore(json.loads(json.dumps(rendered(config, firstname=name))), config.secret_vars)
    assert sent["json"]["name"] == name
    assert sent["json"]["greeting"] == f"Hoi {name}, key {TOKEN}."


def test_customer_text_holding_a_secret_value_is_masked_for_good():
    """Someone who learnt the old token cannot have the new one written where their own text goes."""
    request = rendered(config_of(RULE, ENV), firstname=TOKEN)
    assert TOKEN not in json.dumps(request)
    sent = restore(request, config_of(RULE, {"LMS_TOKEN": "rotated-token-2"}).secret_vars)
    assert sent["json"]["name"] == "***"
    assert sent["json"]["greeting"] == "Hoi ***, key rotated-token-2."


def test_a_variable_the_current_config_lacks_fails_the_attempt_retryable_naming_it():
    request = rendered(config_of(RULE, ENV))
    with pytest.raises(Retryable, match=r"secret variable LMS_TOKEN is not set in the current config"):
        restore(request, {})


def test_requests_without_secrets_are_stored_and_sent_unchanged():
    config = config_of(RULE.replace("${LMS_TOKEN}", "public"), ENV)
    request = rendered(config)
    assert "_secrets" not in request and request["headers"] == {"Authorization": "Bearer public"}
    assert restore(request, config.secret_vars) == request


def test_a_secret_in_template_code_is_a_render_error_naming_the_variable():
    config = config_of(RULE.replace("plain", "{{ '${LMS_TOKEN}' | upper }}"), ENV)
    [delivery] = run(config, event(), order()).deliveries
    assert delivery.status == "dead" and delivery.request is None
    assert "${LMS_TOKEN} is used inside template code" in (delivery.error or "")
    assert TOKEN not in (delivery.error or "") and TOKEN.upper() not in (delivery.error or "")


def test_a_filter_block_that_changes_a_secret_is_a_render_error():
    config = config_of(RULE.replace("plain", "{% filter upper %}${LMS_TOKEN}{% endfilter %}"), ENV)
    [delivery] = run(config, event(), order()).deliveries
    assert delivery.status == "dead"
    assert "json.keys.1: a secret variable's value is changed by a template filter" in (delivery.error or "")


def test_only_secret_variables_are_masked():
    """A variable is a secret by its name or its key (``Authorization``), as in log masking; a host is not."""
    config = config_of(RULE.replace('"${LMS_TOKEN}", ', '"${LMS_HOST}", '), {**ENV, "LMS_HOST": "lms.example.nl"})
    assert "LMS_HOST" not in config.secret_vars and config.secret_vars["LMS_TOKEN"] == TOKEN
    assert rendered(config)["json"]["keys"] == ["lms.example.nl", "plain"]


def test_a_secret_is_masked_also_as_the_router_respells_it():
    from router.secrets import json_masker, masker

    mask = masker(frozenset({"MyTrigger-Secret-99"}))
    assert mask("trigger 'mytrigger-secret-99' is not known") == "trigger '***' is not known"
    assert json_masker(frozenset({" Padded-Secret-77 "}))('{"t": "padded-secret-77"}') == '{"t": "***"}'
