"""Connector types by name: the registry the daemon and ``check`` look types up in.

A new connector module registers its class in ``CONNECTOR_TYPES``. Importing this module imports every
connector type (aiosmtplib with the email one); nothing that only opens the store or reads JSON needs it.

``connector_class`` is the type that serves one configured connector: the registered type, or the one it
is an alias for (``type: invoice`` with ``flavor: moneybird`` is the ``moneybird`` type).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.activecampaign import ActiveCampaignConnector
from connectors.base import Connector
from connectors.email import EmailConnector
from connectors.http import HttpConnector
from connectors.invoice import InvoiceConnector
from connectors.moneybird import MoneybirdConnector

CONNECTOR_TYPES: dict[str, type[Connector]] = {
    ActiveCampaignConnector.type: ActiveCampaignConnector,
    EmailConnector.type: EmailConnector,
    HttpConnector.type: HttpConnector,
    InvoiceConnector.type: InvoiceConnector,
    MoneybirdConnector.type: MoneybirdConnector,
}


def connector_class(kind: str, settings: Mapping[str, Any]) -> type[Connector]:
    """The class that builds and describes a connector of type ``kind`` with these (checked) settings."""
    return CONNECTOR_TYPES[kind].resolve(settings)
