"""Normalising Plug&Pay webhook bodies: nested and flat V2, V1 form posts, aliases, bad input."""

from __future__ import annotations

import pytest

from router.events import PayloadError, canonical_trigger, normalise_form, normalise_json


def test_nested_v2_payload_is_normalised():
    event = normalise_json(
        {
            "event": {"trigger_type": "order_payment_completed", "triggerable_type": "order", "triggerable_id": 1042},
            "rule_id": 318,
            "tenant_id": 42,
            "sent_at": "2025-03-14T09:13:41.000000Z",
        }
    )
    assert (event.trigger, event.raw_trigger) == ("order_paid", "order_payment_completed")
    assert (event.triggerable_type, event.triggerable_id) == ("order", "1042")
    assert (event.rule_id, event.tenant_id, event.sent_at) == ("318", "42", "2025-03-14T09:13:41.000000Z")
    assert event.source == "v2"


def test_flat_payload_with_string_ids_equals_nested_with_ints():
    flat = normalise_json(
        {
            "trigger_type": "order_paid",
            "triggerable_type": "orders",
            "triggerable_id": "1042",
            "rule_id": "318",
            "tenant_id": "42",
        }
    )
    nested = normalise_json(
        {
            "event": {"trigger_type": "order_paid", "triggerable_type": "order", "triggerable_id": 1042},
            "rule_id": 318,
            "tenant_id": 42,
        }
    )
    assert flat.dedupe_key == nested.dedupe_key
    assert flat.business_key == nested.business_key


def test_same_order_from_two_plugandpay_rules_is_one_business_event_but_two_webhooks():
    a = normalise_json({"trigger_type": "order_paid", "triggerable_id": 7, "rule_id": 1, "tenant_id": 42})
    b = normalise_json({"trigger_type": "order_payment_completed", "triggerable_id": 7, "rule_id": 2, "tenant_id": 42})
    assert a.business_key == b.business_key
    assert a.dedupe_key != b.dedupe_key


@pytest.mark.parametrize(
    ("wire", "name"),
    [
        ("order_payment_completed", "order_paid"),
        ("order_invoice_created", "invoice_created"),
        ("subscription_ended", "subscription_ended"),
        ("Affiliate_Accepted", "affiliate_accepted"),
        ("order_created", "order_created"),
    ],
)
def test_wire_spellings_map_to_plugandpay_names_and_unknown_ones_stay(wire, name):
    assert canonical_trigger(wire) == name


def test_triggerable_type_is_implied_by_known_trigger_when_missing():
    event = normalise_json({"trigger_type": "affiliate_accepted", "triggerable_id": 14})
    assert event.triggerable_type == "affiliate"


@pytest.mark.parametrize("spelling", ["seller", "affiliate_seller", "affiliates"])
def test_affiliate_type_spellings(spelling):
    event = normalise_json({"trigger_type": "affiliate_quit", "triggerable_type": spelling, "triggerable_id": 14})
    assert event.triggerable_type == "affiliate"


def test_v1_form_post():
    event = normalise_form(
        {
            "webhook_event": "order_payment_completed",
            "id": "1042",
            "email": "a@b.nl",
            "firstname": "A",
            "total": "121.00",
            "status": "paid",
        }
    )
    assert (event.trigger, event.triggerable_type, event.triggerable_id, event.source) == (
        "order_paid",
        "order",
        "1042",
        "v1",
    )
    assert "email" not in event.payload  # customer data from V1 posts is not kept


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "must be a JSON object"),
        ({"triggerable_id": 1}, "missing field 'trigger_type'"),
        ({"trigger_type": "order_paid"}, "missing field 'triggerable_id'"),
        ({"trigger_type": "order_paid", "triggerable_id": {"a": 1}}, "must be an object id"),
        ({"trigger_type": "order_paid", "triggerable_id": "1; drop"}, "must be an object id"),
        ({"trigger_type": "order_paid", "triggerable_id": True}, "must be an object id"),
        ({"trigger_type": "weird", "triggerable_id": 1}, "missing field 'triggerable_type'"),
        ({"event": "x", "rule_id": 1}, "'event' must be an object"),
    ],
)
def test_malformed_payloads_say_what_is_wrong(body, message):
    with pytest.raises(PayloadError, match=message):
        normalise_json(body)
