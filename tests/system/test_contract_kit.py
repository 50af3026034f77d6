"""The contract kit (``connectors.testing``) holds the built-in connectors to the contract, and notices a
connector that breaks it: a wrong classification, a delivery key that changes between attempts, customer
text that leaks into a header. The kit's tests run here against the ``http`` type, as a plugin's would."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from connectors.base import Outgoing, Permanent, Sent
from connectors.http import HttpConnector
from connectors.testing import ContractTests, Recorded


class TestTheHttpConnectorKeepsTheContract(ContractTests):
    connector = HttpConnector

    def settings(self, base_url: str) -> dict[str, Any]:
        return {"base_url": base_url + "/hooks", "headers": {}, "method": "POST"}

    def action(self, customer_text: str) -> dict[str, Any]:
        return {"path": "/enrol", "json": {"name": customer_text, "course": 77}}


class RetriesNothing(HttpConnector):
    """A connector that gives up on every error: a 500 would make a delivery dead at once."""

    async def send(self, out: Outgoing) -> Sent:
        try:
            return await super().send(out)
        except Exception as exc:
            raise Permanent(str(exc)) from None


class NewKeyEachAttempt(HttpConnector):
    async def send(self, out: Outgoing) -> Sent:
        return await super().send(
            Outgoing(out.delivery_id, f"{out.delivery_key}-{out.attempt}", out.event_id, out.request)
        )


class NameInAHeader(HttpConnector):
    def build(self, out: Outgoing) -> Any:
        request = super().build(out)
        request.headers["X-Customer"] = str(out.request["json"]["name"]).replace("\r\n", " ")
        request.headers["X-Injected"] = "yes" if "X-Injected" in str(out.request["json"]["name"]) else "no"
        return request


class Broken(TestTheHttpConnectorKeepsTheContract):
    __test__ = False  # collected only through the tests below
    connector: ClassVar[type[HttpConnector]] = HttpConnector


@pytest.mark.parametrize(
    ("broken", "test"),
    [
        (RetriesNothing, "test_a_server_error_is_retryable"),
        (RetriesNothing, "test_a_timeout_is_retryable"),
        (NewKeyEachAttempt, "test_the_delivery_key_is_the_same_on_every_attempt"),
        (NameInAHeader, "test_customer_text_stays_data"),
    ],
)
def test_the_kit_fails_a_connector_that_breaks_the_contract(broken: type[HttpConnector], test: str) -> None:
    kit = Broken()
    kit.connector = broken
    method = getattr(kit, test)
    with pytest.raises(AssertionError):
        method(500) if test == "test_a_server_error_is_retryable" else method()


def test_a_recorded_request_reads_as_json() -> None:
    assert Recorded("POST", "/x", "", {}, b'{"a": 1}').json() == {"a": 1}
