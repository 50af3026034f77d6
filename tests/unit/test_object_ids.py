"""Object ids: one spelling per object, and nothing but a positive whole number ever becomes part of an API path.

An id arrives in a V2 webhook (number or text), a V1 form post, a list page of reconcile or backfill, or from
an operator; each is normalised the same way before any dedupe key, action key or path is built from it.
"""

from __future__ import annotations

import pytest

from router.events import FORM_TYPE, PayloadError, object_id, parse_body
from router.plugandpay import ApiRejected, resource_path
from router.shop.reconcile import listed_id


@pytest.mark.parametrize("given", [1042, "1042", "01042", "001042", " 1042 "])
def test_every_spelling_of_an_id_is_one_id(given: object) -> None:
    assert object_id(given) == "1042"


@pytest.mark.parametrize(
    "given",
    ["../../auth/tenants/me", "1042?include=x&a=", "1042/../1", "-1", "0", "1e3", "1042.0", "", "٣", True, None, 1.5],
)
def test_anything_but_a_positive_whole_number_is_no_id(given: object) -> None:
    with pytest.raises(ValueError, match="positive whole number"):
        object_id(given)


def test_an_id_past_the_api_s_64_bit_range_is_no_id() -> None:
    with pytest.raises(ValueError):
        object_id(2**63)
    assert object_id(2**63 - 1) == str(2**63 - 1)


def test_v1_posts_of_one_order_in_different_spellings_have_one_dedupe_key() -> None:
    events = [
        parse_body(f"webhook_event=order_paid&id={ident}".encode(), FORM_TYPE) for ident in ("1042", "01042", "001042")
    ]
    assert {event.triggerable_id for event in events} == {"1042"}
    assert len({event.dedupe_key for event in events}) == 1


def test_v2_webhooks_with_the_id_as_number_or_padded_text_are_one_object() -> None:
    as_number = parse_body(b'{"trigger_type": "order_paid", "triggerable_id": 1042}', "application/json")
    as_text = parse_body(b'{"trigger_type": "order_paid", "triggerable_id": "01042"}', "application/json")
    assert as_number.triggerable_id == as_text.triggerable_id == "1042"
    assert as_number.dedupe_key == as_text.dedupe_key


def test_a_webhook_whose_id_is_a_path_is_refused() -> None:
    with pytest.raises(PayloadError, match="must be an object id"):
        parse_body(b'{"trigger_type": "order_paid", "triggerable_id": "../../auth/tenants/me"}', "application/json")


def test_an_id_never_becomes_a_path_unless_it_is_a_whole_number() -> None:
    assert resource_path("order", "01042")[0] == "/v2/orders/1042"
    for hostile in ("../../auth/tenants/me", "1042?include=x&a=", "1042#x"):
        with pytest.raises(ApiRejected, match="positive whole number"):
            resource_path("order", hostile)


def test_a_listed_object_whose_id_is_not_an_id_is_left_out() -> None:
    assert listed_id({"id": 1042}) == "1042"
    assert listed_id({"id": "../../auth/tenants/me"}) is None
    assert listed_id({"id": "1042?include=x&a="}) is None
    assert listed_id({"name": "no id"}) is None
