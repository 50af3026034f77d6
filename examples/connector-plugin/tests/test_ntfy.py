"""The ntfy plugin keeps plugpay-router's connector contract (the kit's tests run against a local stand-in),
and sends what ntfy's JSON publishing expects."""

from __future__ import annotations

import asyncio
from typing import Any

from plugpay_ntfy import NtfyConnector

from connectors.base import ConnectorDefaults, Outgoing
from connectors.testing import ContractTests, Recorded, StandIn


class TestNtfyKeepsTheContract(ContractTests):
    connector = NtfyConnector

    def settings(self, base_url: str) -> dict[str, Any]:
        return {"base_url": base_url, "topic": "shop-sales-7f3a9c", "token": "tk_example"}

    def action(self, customer_text: str) -> dict[str, Any]:
        return {"title": "Verkocht", "message": f"Order 1042 van {customer_text}", "tags": ["tada"], "priority": 4}

    def delivery_key_of(self, request: Recorded) -> str | None:
        return None  # ntfy takes no idempotency key (see the module docstring)


def test_a_message_is_published_as_json_to_the_topic() -> None:
    async def publish() -> StandIn:
        async with StandIn() as stand_in:
            settings = {"base_url": stand_in.url, "topic": "shop-sales-7f3a9c", "token": "tk_example"}
            connector = NtfyConnector("phone", settings, ConnectorDefaults())
            action = {"title": "Verkocht", "message": "Order 1042", "tags": "tada", "priority": "5"}
            await connector.send(Outgoing(1, "key-1", 1, action))
            await connector.aclose()
        return stand_in

    [request] = asyncio.run(publish()).requests
    assert (request.method, request.path) == ("POST", "/")
    assert request.headers["Authorization"] == "Bearer tk_example"
    assert request.json() == {
        "topic": "shop-sales-7f3a9c",
        "message": "Order 1042",
        "title": "Verkocht",
        "tags": ["tada"],
        "priority": 5,
    }


def test_check_names_a_priority_ntfy_does_not_have() -> None:
    assert NtfyConnector.check_action({"message": "x", "priority": 9}) == [
        ("priority", "ntfy priorities are 1 (min) to 5 (max)")
    ]
    assert NtfyConnector.check_rendered({"message": " ", "priority": "loud"}, {}) == [
        "message: rendered empty",
        "priority: 'loud' is not 1 to 5",
    ]
