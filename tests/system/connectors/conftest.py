"""Fixtures for the connector tests: real local servers (``router.demo.standins``: SMTP, ActiveCampaign, Moneybird).

``build(yaml)`` goes through the real config loader and ``Connectors`` (so settings are typed and checked
exactly as ``check`` does, and every connector gets its rate limiter) with a fresh set of guards, so
breaker and limiter state never leaks between tests.
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
from toolkit.protection import Guards

FIXTURES = Path(__file__).resolve().parents[3] / "router" / "demo" / "fixtures"


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
