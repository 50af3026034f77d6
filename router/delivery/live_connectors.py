"""The live connectors of one config: each built by its connector type, behind its rate limit and breaker.

A reload builds a new ``Connectors`` and closes the old one once its in-flight sends have had time to
finish. The guards (``toolkit.protection``) outlive it: a connector that keeps its name, type and
settings keeps its limiter and breaker state, and connectors naming the same destination (the type's
``rate_destination``) share one limiter.
"""

from __future__ import annotations

from collections.abc import Mapping

import structlog

from connectors.base import Connector, ConnectorDefaults
from connectors.registry import connector_class
from router.config import ConnectorConfig
from toolkit.protection import GUARDS, BreakerSettings, Guard, Guards

log = structlog.get_logger("router.deliver")


class Connectors:
    """The connector instances built from one config."""

    def __init__(self, configs: Mapping[str, ConnectorConfig], defaults: ConnectorDefaults, guards: Guards = GUARDS):
        self.by_name: dict[str, Connector] = {}
        self.guards: dict[str, Guard] = {}
        for name, cfg in configs.items():
            cls = connector_class(cfg.type, cfg.settings)
            rate = cfg.rate_limit or cls.default_rate(cfg.settings)
            guard = guards.guard(
                name,
                cfg.type,
                cfg.settings,
                rate,
                BreakerSettings.from_values(cfg.breaker),
                destination=cls.rate_destination(name, cfg.settings),
            )
            self.guards[name] = guard
            self.by_name[name] = cls(name, cfg.settings, defaults, limiter=guard.limiter)

    def get(self, name: str) -> Connector | None:
        return self.by_name.get(name)

    def breaker_states(self) -> dict[str, str]:
        """``{connector name: "closed" | "open" | "half-open"}``, for metrics and the admin API."""
        return {name: guard.breaker.state for name, guard in self.guards.items()}

    def breaker_errors(self) -> dict[str, str]:
        """``{connector name: what its last failed send said}``, for the destination_down alert."""
        return {name: guard.breaker.last_error for name, guard in self.guards.items() if guard.breaker.last_error}

    async def aclose(self) -> None:
        for connector in self.by_name.values():
            try:
                await connector.aclose()
            except Exception:
                log.exception("closing connector failed", connector=connector.name)
