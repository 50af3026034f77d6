"""Fixtures for the connector tests: real local servers (``router.demo.standins``: SMTP, ActiveCampaign, Moneybird).

``build(yaml)`` goes through the real config loader and ``Connectors`` (so settings are typed and checked
exactly as ``check`` does, and every connector gets its rate limiter) with a fresh set of guards, so
breaker and limiter state never leaks between tests. ``start_daemon(connectors, rules)`` runs the real daemon
with those sections instead, for the tests that go through it; ``finished`` awaits its deliveries.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from connectors.base import ConnectorDefaults, Outgoing
from router.config import parse_config
from router.delivery.live_connectors import Connectors
from router.demo.standins.activecampaign import ActiveCampaignServer
from router.demo.standins.moneybird import MoneybirdServer
from router.demo.standins.smtp import SmtpServer
from tests.support import DaemonProcess, reserved_port, stored, wait_until
from toolkit.protection import Guards

FIXTURES = Path(__file__).resolve().parents[3] / "router" / "demo" / "fixtures"
# The customer of order 1042, and template expressions over the fetched order, for rules of the daemon tests.
CUSTOMER = "bilal@example.nl"
FIRSTNAME = "{{ order.billing.contact.firstname }}"
LASTNAME = "{{ order.billing.contact.lastname }}"
EMAIL = "{{ order.billing.contact.email }}"


def order(ident: str = "1042") -> dict[str, Any]:
    return json.loads((FIXTURES / "orders.json").read_text())[ident]


def build(connectors_yaml: str, *, timeout: float = 5.0) -> Connectors:
    """Connectors from the ``connectors:`` section given as YAML (indented by two spaces)."""
    text = f"version: 1\nplugandpay: {{allow_unsigned: true}}\nconnectors:\n{connectors_yaml}"
    config = parse_config(text, "test.yaml", env={})
    return Connectors(config.connectors, ConnectorDefaults(timeout=timeout, user_agent="plugpay-router/test"), Guards())


def outgoing(request: dict[str, Any], *, key: str = "ppr_0123456789abcdef0123456789abcdef", ident: int = 1) -> Outgoing:
    return Outgoing(delivery_id=ident, delivery_key=key, event_id=1, request=request)


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    server = await SmtpServer().start()
    yield server
    await server.stop()


@pytest.fixture
async def ac() -> AsyncIterator[ActiveCampaignServer]:
    server = await ActiveCampaignServer().start()
    yield server
    await server.stop()


@pytest.fixture
async def mb() -> AsyncIterator[MoneybirdServer]:
    server = await MoneybirdServer().start()
    yield server
    await server.stop()


def start_daemon(tmp_path: Path, api_url: str, connectors: str, rules: str) -> DaemonProcess:
    """A daemon with these ``connectors:`` and ``rules:`` sections (YAML, indented by two spaces)."""
    port = reserved_port()
    path = tmp_path / "config.yaml"
    path.write_text(f"""version: 1
server: {{listen: "127.0.0.1:{port}", path: /webhooks/plugandpay}}
plugandpay:
  api_url: {api_url}
  api_token: "${{PLUGANDPAY_API_TOKEN}}"
  allow_unsigned: true
  retry: [0.2s, 0.5s]
store: {{url: "sqlite:///{tmp_path / "router.db"}"}}
delivery: {{schedule: [0.2s, 0.4s], timeout: 5s}}
connectors:
{connectors}
rules:
{rules}""")
    return DaemonProcess(path, port).start()


def mail_rule(to: Any, *, name: str = "welcome-mail") -> str:
    return f"""  - name: {name}
    trigger: order_paid
    actions:
      - connector: mail
        to: {json.dumps(to)}
        subject: "Bedankt voor je bestelling {{{{ order.invoice_number }}}}"
        text: "Hoi {FIRSTNAME}"
"""


def mail_connector(smtp: SmtpServer) -> str:
    return f'  mail: {{type: email, host: 127.0.0.1, port: {smtp.port}, from: "Shop <shop@example.nl>"}}'


async def finished(tmp_path: Path, count: int = 1) -> list[Any]:
    """The deliveries, once ``count`` of them are delivered or dead."""
    found: list[Any] = []

    async def done() -> bool:
        found[:] = (await stored(tmp_path / "router.db"))[1]
        return sum(d.status in ("delivered", "dead") for d in found) >= count

    await wait_until(done, 15, f"{count} finished deliveries")
    return found
