"""Connector types by name. A new connector module registers its class in ``CONNECTOR_TYPES``."""

from __future__ import annotations

from connectors.activecampaign import ActiveCampaignConnector
from connectors.base import Connector, ConnectorDefaults, Outgoing, Permanent, Retryable, Sent, Throttled
from connectors.email import EmailConnector
from connectors.http import HttpConnector
from connectors.invoice import InvoiceConnector
from connectors.memory import MemoryConnector

CONNECTOR_TYPES: dict[str, type[Connector]] = {
    ActiveCampaignConnector.type: ActiveCampaignConnector,
    EmailConnector.type: EmailConnector,
    HttpConnector.type: HttpConnector,
    InvoiceConnector.type: InvoiceConnector,
    MemoryConnector.type: MemoryConnector,
}

__all__ = [
    "CONNECTOR_TYPES",
    "Connector",
    "ConnectorDefaults",
    "Outgoing",
    "Permanent",
    "Retryable",
    "Sent",
    "Throttled",
]
