"""Connector types by name. A new connector module registers its class in ``CONNECTOR_TYPES``."""

from __future__ import annotations

from connectors.base import Connector, ConnectorDefaults, Outgoing, Permanent, Retryable, Sent
from connectors.http import HttpConnector
from connectors.memory import MemoryConnector

CONNECTOR_TYPES: dict[str, type[Connector]] = {
    HttpConnector.type: HttpConnector,
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
]
