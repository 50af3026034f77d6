"""The ActiveCampaign connector (``type: activecampaign``): the connector type in ``connector``, its API in ``api``."""

from connectors.activecampaign.api import ActiveCampaignApi
from connectors.activecampaign.connector import ActiveCampaignConnector

__all__ = ["ActiveCampaignApi", "ActiveCampaignConnector"]
