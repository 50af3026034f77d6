"""The loaded config as typed, immutable objects, and the one place every default is written.

Each section of the YAML file is a frozen dataclass; a key left out of the file takes the dataclass's
default (the builder passes on only the keys the file gives), so a default is never repeated in the
validation specs or the builder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from connectors.units import Rate

if TYPE_CHECKING:
    from router.config.source import Problem
    from router.rules import Action, Rule, RuleSet

DEFAULT_SCHEDULE = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 50400.0, 72000.0, 86400.0)
DEFAULT_API_RETRY = (1.0, 5.0, 30.0, 120.0, 600.0, 1800.0, 3600.0)


@dataclass(frozen=True)
class ServerConfig:
    host: str = "0.0.0.0"
    port: int = 8080
    path: str = "/webhooks/plugandpay"
    max_body_bytes: int = 65536
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keepalive_timeout: float = 75.0
    max_connections: int = 1000


@dataclass(frozen=True)
class AdminConfig:
    token: str | None = None
    # The admin listener (/api, /ui, /metrics): its own address, so publishing the webhook port never publishes it.
    host: str = "127.0.0.1"
    port: int = 8081
    listen_given: bool = False  # admin.listen is in the file: serve /metrics there even without a token

    @property
    def enabled(self) -> bool:
        """Whether the admin listener runs: with a token (API, dashboard, metrics) or an explicit address."""
        return bool(self.token) or self.listen_given


@dataclass(frozen=True)
class SignatureConfig:
    header: str = "X-Signature"
    encoding: str = "hex"


@dataclass(frozen=True)
class PlugAndPayConfig:
    api_url: str = "https://api.plugandpay.nl"
    api_token: str | None = None
    webhook_key: str | None = None
    signature: SignatureConfig = field(default_factory=SignatureConfig)
    timeout: float = 25.0
    concurrency: int = 16
    retry: tuple[float, ...] = DEFAULT_API_RETRY
    lease: float | None = None  # how long a claimed event stays with its instance; None: timeout * 3 + 30 s
    max_response_bytes: int = 10 * 1024 * 1024  # a larger API answer fails the event instead of filling memory


@dataclass(frozen=True)
class StoreConfig:
    url: str = "sqlite:///var/lib/plugpay-router/router.db"


@dataclass(frozen=True)
class DeliveryConfig:
    schedule: tuple[float, ...] = DEFAULT_SCHEDULE
    timeout: float = 15.0
    concurrency: int = 32
    lease: float | None = None  # how long a claimed delivery stays with its instance; None: timeout * 2 + 30 s


@dataclass(frozen=True)
class RetentionConfig:
    events: float = 30 * 86400.0
    dedupe_window: float = 7 * 86400.0
    keep_payloads: bool = False
    interval: float = 600.0
    action_keys: float = 400 * 86400.0  # how long an action stays "done" after its event and delivery are purged


@dataclass(frozen=True)
class ConnectorConfig:
    name: str
    type: str
    settings: Mapping[str, Any]
    schedule: tuple[float, ...] | None = None
    rate_limit: Rate | None = None
    breaker: Mapping[str, Any] | None = None  # overrides of connectors.protection.BreakerSettings


@dataclass(frozen=True)
class Config:
    file: str
    version: str
    server: ServerConfig
    admin: AdminConfig
    plugandpay: PlugAndPayConfig
    store: StoreConfig
    delivery: DeliveryConfig
    retention: RetentionConfig
    connectors: Mapping[str, ConnectorConfig]
    rules: RuleSet
    secrets: frozenset[str] = frozenset()
    warnings: tuple[Problem, ...] = ()  # not errors, but worth a look (``check`` prints them)

    def schedule_for(self, rule: Rule, action: Action) -> tuple[float, ...]:
        """The retry schedule of one action: the rule's, else its connector's, else the global one."""
        if rule.schedule is not None:
            return rule.schedule
        connector = self.connectors.get(action.connector)
        if connector is not None and connector.schedule is not None:
            return connector.schedule
        return self.delivery.schedule
