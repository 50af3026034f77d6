"""What one load of the config file built: the config, its Plug&Pay API client and its live connectors.

Every stage reads the current ``Loaded`` per item; SIGHUP builds a complete new one and the daemon swaps it
in one assignment, closing the old one's clients once the sends that started under it had time to finish.
With several shops in one router (issue 24), this is what each shop will have.
"""

from __future__ import annotations

from dataclasses import dataclass

from connectors.base import ConnectorDefaults
from router.config import Config
from router.delivery.live_connectors import Connectors
from router.plugandpay import PlugAndPayClient

USER_AGENT = "plugpay-router/0.1"


@dataclass(frozen=True)
class Loaded:
    """What one load of the config file built: the config, its Plug&Pay API client and its live connectors."""

    config: Config
    api: PlugAndPayClient
    connectors: Connectors

    @classmethod
    def build(cls, config: Config) -> Loaded:
        api = PlugAndPayClient.from_settings(config.plugandpay)
        defaults = ConnectorDefaults(timeout=config.delivery.timeout, user_agent=USER_AGENT)
        return cls(config, api, Connectors(config.connectors, defaults))

    async def aclose(self) -> None:
        await self.api.aclose()
        await self.connectors.aclose()
