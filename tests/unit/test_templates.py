"""Templates: the filters, the context every action sees, and errors that name the rule and the line."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from router.render.templates import compile_condition, compile_template, date, money, render_tree, tojson
from tests.rules_support import HEADER, config_of, event, order, run, seller, subscription


@pytest.mark.parametrize(
    ("value", "args", "expected"),
    [
        (121.0, (), "€ 121,00"),
        ("121.00", (), "€ 121,00"),
        (121, ("en",), "€121.00"),
        ("1234.5", (), "€ 1.234,50"),
        ("1234567.891", ("en",), "€1,234,567.89"),
        ("0.125", (), "€ 0,13"),  # cents round half up, as on an invoice
        ("-5", (), "-€ 5,00"),
        ("-5", ("en",), "-€5.00"),
        ("30.25", ("nl", ""), "30,25"),
        ("30.25", ("en", "EUR "), "EUR 30.25"),
    ],
)
def test_money_in_dutch_and_english(value, args, expected):
    assert money(value, *args) == expected


@pytest.mark.parametrize("value", [None, "", "abc", True, "NaN", "Infinity"])
def test_money_refuses_what_is_not_an_amount(value):
    with pytest.raises(ValueError, match="not an amount"):
        money(value)


def test_money_refuses_an_unknown_style():
    with pytest.raises(ValueError, match="style must be 'nl' or 'en'"):
        money(1, "de")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((), "14-03-2025"),
        (("long",), "14 maart 2025"),
        (("long", "en"), "14 March 2025"),
        (("iso",), "2025-03-14"),
        (("%A %d %B %Y, %H:%M",), "vrijdag 14 maart 2025, 09:13"),
        (("%a %d %b", "en"), "Fri 14 Mar"),
        (("datetime", "nl", "Europe/Amsterdam"), "14-03-2025 10:13"),  # CET is UTC+1 in March
    ],
)
def test_date_formats_api_timestamps(args, expected):
    assert date("2025-03-14T09:13:38.000000Z", *args) == expected


def test_date_accepts_plain_dates_and_datetimes():
    assert date("2025-06-05", "long") == "5 juni 2025"
    assert date(dt.datetime(2025, 7, 1, 22, 30, tzinfo=dt.UTC), "datetime", tz="Europe/Amsterdam") == "02-07-2025 00:30"
    with pytest.raises(ValueError, match="not a date"):
        date("gisteren")
    with pytest.raises(ValueError, match="unknown time zone"):
        date("2025-03-14T09:13:38Z", tz="Mars/Olympus")


def test_tojson_is_plain_json_without_html_escaping():
    value = {"name": "Timmermans & Zn", "note": "<b>café</b>", "n": 1}
    assert tojson(value) == '{"name": "Timmermans & Zn", "note": "<b>café</b>", "n": 1}'
    assert json.loads(tojson(value)) == value


def test_filters_work_inside_rule_templates():
    config = config_of("""
        - name: mail
          trigger: order_paid
          actions:
            - connector: mem
              subject: "Factuur {{ order.invoice_number }}: {{ order.amount_with_tax | money }}"
              text: "Betaald op {{ order.payment.paid_at | date('long') }} ({{ order.amount_with_tax | money('en') }})"
              json: '{{ {"lines": order.items | length, "tags": order.tags} | tojson }}'
    """)
    [delivery] = run(config, event(), order()).deliveries
    assert delivery.request["subject"] == "Factuur 2025-0042: € 121,00"
    assert delivery.request["text"] == "Betaald op 14 maart 2025 (€121.00)"
    assert json.loads(delivery.request["json"]) == {"lines": 2, "tags": ["cursus", "voorjaar-2025"]}


def test_the_context_has_event_object_data_item_rule_and_now():
    config = config_of("""
        - name: ctx
          trigger: order_paid
          description: shows the context
          actions:
            - connector: mem
              for_each: "[1]"
              json:
                trigger: "{{ event.trigger }} {{ event.raw_trigger }}"
                object: "{{ event.triggerable_type }} {{ event.triggerable_id }}"
                pp_rule: "{{ event.rule_id }} {{ event.tenant_id }}"
                same: "{{ data is mapping and data.id == order.id }}"
                rule: "{{ rule.name }}: {{ rule.description }}"
                now: "{{ now | date('iso') }} {{ now.year }}"
                item: "{{ item }}"
    """)
    [order_delivery] = run(config, event("order_payment_completed"), order()).deliveries
    assert order_delivery.request["json"] == {
        "trigger": "order_paid order_payment_completed",
        "object": "order 1042",
        "pp_rule": "318 42",
        "same": "True",
        "rule": "ctx: shows the context",
        "now": "2025-03-14 2025",
        "item": "1",
    }
    objects = config_of("""
        - {name: o, trigger: order_paid, actions: [{connector: mem, text: "{{ order.invoice_number }}"}]}
        - {name: s, trigger: subscription_ended, actions: [{connector: mem, text: "{{ subscription.status }}"}]}
        - {name: a, trigger: affiliate_accepted, actions: [{connector: mem, text: "{{ affiliate.name }}"}]}
    """)
    for ev, data, expected in (
        (event(), order(), "2025-0042"),
        (event("subscription_ended", 901), subscription(), "ended"),
        (event("affiliate_accepted", 14), seller(), "Jan de Vries"),
    ):
        [delivery] = run(objects, ev, data).deliveries
        assert delivery.request == {"text": expected}


def test_a_missing_key_is_an_error_naming_the_rule_and_the_templates_line():
    rules = """
        - name: typo
          trigger: order_paid
          actions:
            - connector: mem
              to: "{{ order.billing.contact.email }}"
              subject: "Hoi {{ order.billing.contact.first_name }}"
    """
    config = config_of(rules)
    [delivery] = run(config, event(), order()).deliveries
    assert delivery.status == "dead"
    assert delivery.request is None
    lines = (HEADER + rules).splitlines()
    line = next(n for n, text in enumerate(lines, 1) if "first_name" in text)
    assert delivery.error == (
        f"render: rule 'typo': rules.yaml:{line}: undefined value: 'dict object' has no attribute 'first_name'"
    )


def test_templates_run_in_the_sandbox():
    config = config_of("""
        - name: escape
          trigger: order_paid
          actions: [{connector: mem, text: "{{ order.items.__class__.__mro__ }}"}]
    """)
    [delivery] = run(config, event(), order()).deliveries
    assert delivery.status == "dead"
    assert "not allowed in the sandbox" in delivery.error


def test_dot_access_means_the_objects_keys():
    template = compile_template("{{ order.items | length }} {{ order.values }} {{ order.keys }}", "t:1")
    assert render_tree(template, {"order": {"items": [1, 2], "values": "v", "keys": "k"}}) == "2 v k"


def test_identical_sources_compile_once():
    assert compile_template("{{ order.id }}", "a:1").compiled is compile_template("{{ order.id }}", "b:9").compiled
    first, second = compile_condition("order.id > 1", "a:1"), compile_condition("order.id > 1", "b:2")
    assert first.compiled is second.compiled
    assert (first.where, second.where) == ("a:1", "b:2")
