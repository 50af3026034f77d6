"""``ContractTests``: the behaviour every connector type owes the deliver stage, as tests to inherit.

The deliver stage keeps every wait in the store and decides retries from what ``send`` returns or raises, so
a connector must classify answers the same way as the built-in ones, send the same delivery key on every
attempt (where its destination can use one), and treat customer-typed text as data. A subclass provides the
connector class, its settings for a base URL and one rendered action; each test runs the connector against
a ``StandIn`` on 127.0.0.1. The tests are plain functions around ``asyncio.run``: no pytest plugin needed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar, TypeVar
from urllib.parse import parse_qsl

import pytest

from connectors.base import Connector, ConnectorDefaults, Outgoing, Permanent, Retryable, Sent, Throttled
from connectors.testing.stand_in import Recorded, Reply, StandIn

T = TypeVar("T")
PLAIN_TEXT = "Bilal de Wit"
# Customer text that tries to be more than text: another recipient, a header line, a path, a query.
HOSTILE_TEXT = "Eve <a@evil.example>, b@evil.example\r\nX-Injected: yes\r\n../../admin?x=1#frag"
TIMEOUT = 0.5


class ContractTests:
    """Inherit in a ``Test...`` class and fill in the four members below; pytest collects the ``test_`` methods."""

    connector: ClassVar[type[Connector]]
    # The destination the tests send to: a StandIn subclass answers what a protocol needs first (a session,
    # a lookup) and takes the scripted replies for the rest.
    stand_in: ClassVar[type[StandIn]] = StandIn

    def settings(self, base_url: str) -> dict[str, Any]:
        """The connector's (already typed) settings, sending to ``base_url``."""
        raise NotImplementedError

    def action(self, customer_text: str) -> dict[str, Any]:
        """One rendered action as the router hands it to ``send``, with ``customer_text`` where a template would put
        a customer's name or message."""
        raise NotImplementedError

    def delivery_key_of(self, request: Recorded) -> str | None:
        """Where the destination finds the delivery key; return None when this type cannot send one."""
        return request.headers.get("Idempotency-Key")

    # -- the contract

    def test_a_send_reaches_the_destination_and_is_sent(self) -> None:
        sent, stand_in = self._send(Reply(200))
        assert isinstance(sent, Sent)
        assert len(stand_in.requests) >= 1

    def test_the_delivery_key_is_the_same_on_every_attempt(self) -> None:
        async def two_attempts(stand_in: StandIn) -> None:
            connector = self._connector(stand_in.url)
            try:
                with pytest.raises(Retryable):
                    await connector.send(self._outgoing(attempt=1))
                await connector.send(self._outgoing(attempt=2))
            finally:
                await connector.aclose()

        stand_in = self._run(two_attempts, Reply(500))
        keys = {self.delivery_key_of(request) for request in stand_in.requests}
        if keys == {None}:
            pytest.skip(f"{self.connector.type}: the destination takes no delivery key (documented)")
        assert keys == {"plugpay-router-kit-1"}, keys

    def test_a_429_is_retryable_after_the_destination_s_retry_after(self) -> None:
        outcome, _ = self._send(Reply(429, {"error": "slow down"}, {"Retry-After": "7"}))
        if isinstance(outcome, Throttled):
            assert outcome.wait >= 7
        else:
            assert isinstance(outcome, Retryable), outcome
            assert outcome.retry_after == 7

    @pytest.mark.parametrize("status", [500, 502, 503])
    def test_a_server_error_is_retryable(self, status: int) -> None:
        outcome, _ = self._send(Reply(status, {"error": "down"}))
        assert isinstance(outcome, Retryable), outcome

    @pytest.mark.parametrize("status", [400, 401, 403, 422])
    def test_a_client_error_is_permanent(self, status: int) -> None:
        outcome, _ = self._send(Reply(status, {"error": "no"}))
        assert isinstance(outcome, Permanent), outcome

    def test_a_timeout_is_retryable(self) -> None:
        outcome, _ = self._send(Reply(200, delay=TIMEOUT * 4))
        assert isinstance(outcome, Retryable), outcome

    def test_customer_text_stays_data(self) -> None:
        _, plain = self._send(Reply(200))
        outcome, hostile = self._send(Reply(200), customer_text=HOSTILE_TEXT)
        if isinstance(outcome, Permanent):
            return  # refused with a reason: nothing reached the destination that was not meant to
        assert isinstance(outcome, Sent), outcome
        assert len(hostile.requests) == len(plain.requests), "customer text changed how many requests were sent"
        for before, after in zip(plain.requests, hostile.requests, strict=True):
            assert (after.method, after.path, after.query) == (before.method, before.path, before.query)
            assert not any(name.lower() == "x-injected" for name in after.headers)
        assert any(_carries(request, HOSTILE_TEXT) for request in hostile.requests), "the text did not arrive whole"

    def test_check_rendered_accepts_the_sample_action(self) -> None:
        assert self.connector.check_rendered(self.action(PLAIN_TEXT), self.settings("http://127.0.0.1:9")) == []

    # -- plumbing

    def _connector(self, base_url: str) -> Connector:
        return self.connector("kit", self.settings(base_url), ConnectorDefaults(timeout=TIMEOUT))

    def _outgoing(self, attempt: int = 1, customer_text: str = PLAIN_TEXT) -> Outgoing:
        return Outgoing(1, "plugpay-router-kit-1", 1, self.action(customer_text), attempt)

    def _send(self, *replies: Reply, customer_text: str = PLAIN_TEXT) -> tuple[Any, StandIn]:
        async def once(stand_in: StandIn) -> Any:
            connector = self._connector(stand_in.url)
            try:
                return await connector.send(self._outgoing(customer_text=customer_text))
            except (Retryable, Permanent, Throttled) as exc:
                return exc
            finally:
                await connector.aclose()

        found: list[Any] = []

        async def keep(stand_in: StandIn) -> None:
            found.append(await once(stand_in))

        stand_in = self._run(keep, *replies)
        return found[0], stand_in

    def _run(self, work: Callable[[StandIn], Awaitable[None]], *replies: Reply) -> StandIn:
        async def main() -> StandIn:
            async with self.stand_in(*replies) as stand_in:
                await work(stand_in)
            return stand_in

        return asyncio.run(main())


def _carries(request: Recorded, text: str) -> bool:
    """Whether ``text`` arrived whole in the request's body: as a JSON string anywhere in it, a form value, or
    as text."""
    content_type = next((v for k, v in request.headers.items() if k.lower() == "content-type"), "")
    if content_type.startswith("application/x-www-form-urlencoded"):
        return any(value == text or text in value for _, value in parse_qsl(request.body.decode(), True))
    try:
        decoded = json.loads(request.body)
    except ValueError:
        return text in request.body.decode(errors="replace")
    return _in_json(decoded, text)


def _in_json(value: Any, text: str) -> bool:
    if isinstance(value, str):
        return text in value
    if isinstance(value, Mapping):
        return any(_in_json(v, text) for v in value.values())
    if isinstance(value, list):
        return any(_in_json(v, text) for v in value)
    return False
