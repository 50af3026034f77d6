"""What an event keeps of its fetched object: a summary and a hash that depends on the data, not its order."""

from __future__ import annotations

from router.plugandpay import PlugAndPayClient
from router.routing.route import fetched_record


def test_the_hash_follows_the_data_not_the_key_order() -> None:
    one = fetched_record("order", {"id": 7, "status": "paid", "billing": {"b": 1, "a": "é"}}, keep_all=False)
    two = fetched_record("order", {"billing": {"a": "é", "b": 1}, "status": "paid", "id": 7}, keep_all=False)
    other = fetched_record("order", {"id": 7, "status": "open", "billing": {"b": 1, "a": "é"}}, keep_all=False)
    assert one == two
    assert one["sha256"] != other["sha256"]
    assert one["summary"] == {"id": 7, "status": "paid"}


def test_values_a_fast_codec_refuses_are_still_hashed() -> None:
    huge = {"id": 2**70, "tags": {1: "int key"}, "when": object()}
    kept = fetched_record("order", huge, keep_all=False)
    assert len(kept["sha256"]) == 64
    assert kept["summary"]["id"] == 2**70


def test_api_answers_are_read_whatever_json_they_hold() -> None:
    assert PlugAndPayClient._decode("GET /v2/orders/1", 200, None, b'{"id": 1, "amount": 12.5}') == {
        "id": 1,
        "amount": 12.5,
    }
    assert PlugAndPayClient._decode("GET /v2/orders/1", 200, None, b'{"id": 1180591620717411303424}') == {"id": 2**70}
