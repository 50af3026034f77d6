"""The loaded config as typed, immutable objects, and the one place every default is written.

Each section of the YAML file is a frozen dataclass; a key left out of the file takes the dataclass's
default (the builder passes on only the keys the file gives), so a default is never repeated in the
validation specs or the builder.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from toolkit.units import Rate

if TYPE_CHECKING:
    from router.config.source import Problem
    from router.render.rulebook import Action, Rule, RuleSet

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
    # One client address may hold at most this many of them (0: no such cap), so it cannot take every slot.
    max_connections_per_address: int = 250
    v1_path: str | None = None  # legacy V1 form webhooks: unsigned, so only on this secret path (off when unset)


@dataclass(frozen=True)
class AdminUser:
    """One ``admin.users`` entry: a token that sees and acts on only the events and deliveries of ``shops``."""

    name: str
    token: str = field(repr=False)
    shops: tuple[str, ...] = ()


@dataclass(frozen=True)
class AdminConfig:
    token: str | None = None
    # The admin listener (/api, /ui, /metrics): its own address, so publishing the webhook port never publishes it.
    host: str = "127.0.0.1"
    port: int = 8081
    listen_given: bool = False  # admin.listen is in the file: serve /metrics there even without a token
    # The Host names served (others get 421); the section fills in the listen address, localhost and public_url's.
    hosts: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")
    public_url: str | None = None  # the dashboard's public address; https marks the session cookie Secure
    trusted_proxies: tuple[str, ...] = ()  # peers whose X-Forwarded-Proto: https counts as TLS
    # Shop-scoped logins beside ``token`` (which keeps seeing every shop); each token is one of the config's secrets.
    users: tuple[AdminUser, ...] = ()

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
    allow_unsigned: bool = False  # the explicit opt-in to accept webhooks without a key (router.config.webhook)
    signature: SignatureConfig = field(default_factory=SignatureConfig)
    timeout: float = 25.0
    concurrency: int = 16
    retry: tuple[float, ...] = DEFAULT_API_RETRY
    lease: float | None = None  # how long a claimed event stays with its instance; None: timeout * 3 + 30 s
    max_response_bytes: int = 10 * 1024 * 1024  # a larger API answer fails the event instead of filling memory
    trigger_aliases: Mapping[str, str] = field(default_factory=dict)  # wire trigger_type → trigger, over the built-in
    confirm_state: bool | Mapping[str, bool] = True  # the fetched state must agree with the trigger (per trigger)
    state_recheck: tuple[float, ...] = (10.0, 40.0, 70.0)  # fetch again after these delays before "state mismatch"
    rate_limit: Rate | None = None  # every API call of one process (route, reconcile, backfill, connect); None: off
    shop_rules: str = "universal"  # what ``connect`` plans: one rule per trigger, or per product where rules say


@dataclass(frozen=True)
class StoreConfig:
    url: str = "sqlite:///var/lib/plugpay-router/router.db"


@dataclass(frozen=True)
class DeliveryConfig:
    schedule: tuple[float, ...] = DEFAULT_SCHEDULE
    timeout: float = 15.0
    concurrency: int = 32
    lease: float | None = None  # how long a claimed delivery stays with its instance; None: timeout * 2 + 30 s
    render_timeout: float = 1.0  # seconds one action's templates (or one condition) may take to render


@dataclass(frozen=True)
class RetentionConfig:
    events: float = 30 * 86400.0
    dedupe_window: float = 7 * 86400.0
    keep_payloads: bool = False
    interval: float = 600.0
    action_keys: float = 400 * 86400.0  # how long an action stays "done" after its event and delivery are purged


@dataclass(frozen=True)
class QuarantineConfig:
    """Webhooks that failed verification, kept (bounded) until the settings are fixed and they are released."""

    max_entries: int = 10_000
    max_bytes: int = 50 * 1024 * 1024
    max_age: float = 7 * 86400.0
    per_ip: Rate = field(default_factory=lambda: Rate(60, 60.0))  # kept per source IP; the rest only counted


# What the router tells its owner about, each on by default (alerts.when turns one off).
ALERT_KINDS = (
    "dead_delivery",
    "destination_down",
    "event_failed",
    "quarantined",
    "missed_webhooks",
    "backlog",
    "reload_failed",
)


@dataclass(frozen=True)
class AlertChannel:
    """Where alerts go: one of the config's connectors, and the action keys every alert through it gets
    (``to`` for an email connector, ``path`` for an http one)."""

    connector: str
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AlertsConfig:
    channels: tuple[AlertChannel, ...] = ()
    dashboard_url: str | None = None
    digest_every: float = 900.0  # after the first alert of a kind, the rest of it one message per interval
    kinds: frozenset[str] = frozenset(ALERT_KINDS)  # the kinds that are on
    backlog: float = 900.0  # the age of the oldest pending work that is a backlog
    daily_summary: int | None = None  # the minute of the day (in ``timezone``) yesterday's summary is sent
    timezone: str = "Europe/Amsterdam"  # where "yesterday" and ``daily_summary`` are reckoned

    @property
    def enabled(self) -> bool:
        return bool(self.channels)


@dataclass(frozen=True)
class ReconcileConfig:
    """The missed-webhook poller. It runs when the file has a ``reconcile:`` section (``enabled`` then
    defaults to true) and ``every`` is above 0."""

    enabled: bool = False
    every: float = 900.0
    lookback: float = 72 * 3600.0
    grace: float = 600.0  # an object younger than this is left to its webhook, which is usually on its way
    triggers: tuple[str, ...] = ()  # the builder fills in the derivable triggers the rules use when not given

    @property
    def active(self) -> bool:
        return self.enabled and self.every > 0


@dataclass(frozen=True)
class TracingConfig:
    """OpenTelemetry traces (the ``otel`` extra): on with a ``tracing:`` section, or when the environment names
    an OTLP endpoint or a traces exporter (``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_TRACES_EXPORTER``)."""

    enabled: bool = False
    otlp_endpoint: str | None = None  # the collector's base URL; None: the exporter reads OTEL_EXPORTER_OTLP_*
    service_name: str = "plugpay-router"  # or OTEL_SERVICE_NAME
    sample_ratio: float | None = 1.0  # the share of traces kept; None: OTEL_TRACES_SAMPLER decides
    exporter: str = "otlp"  # or "console" (OTEL_TRACES_EXPORTER)


@dataclass(frozen=True)
class ConnectorConfig:
    name: str
    type: str
    settings: Mapping[str, Any]
    schedule: tuple[float, ...] | None = None
    rate_limit: Rate | None = None
    breaker: Mapping[str, Any] | None = None  # overrides of toolkit.protection.BreakerSettings


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
    # The ${VAR}s whose value is a secret, by name: stored requests name them instead of holding the value.
    secret_vars: Mapping[str, str] = field(default_factory=dict, repr=False)
    warnings: tuple[Problem, ...] = ()  # not errors, but worth a look (``check`` prints them)
    unset: tuple[Problem, ...] = ()  # loaded offline: the variables a command that sends would need
    quarantine: QuarantineConfig = field(default_factory=QuarantineConfig)
    reconcile: ReconcileConfig = field(default_factory=ReconcileConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    tracing: TracingConfig = field(default_factory=TracingConfig)
    shop: str = ""  # the shop this config is for: "" for the one shop of a file without ``shops:``
    # With ``shops:``: each shop's own config (its plugandpay, connectors, rules, reconcile over the file's
    # other sections), and the shops whose section has problems, with them; a broken shop stops no other.
    shops: Mapping[str, Config] = field(default_factory=dict)
    broken_shops: Mapping[str, tuple[Problem, ...]] = field(default_factory=dict)

    @functools.cached_property
    def marked_actions(self) -> dict[int, tuple[Action, Action]]:
        """Routing's cache of each action with its secrets marked (``router.routing.route``), by ``id`` of the action.

        Kept on the config because it is valid exactly as long as the config's secrets are: a reload builds a
        new config, and with it an empty cache."""
        return {}

    def schedule_for(self, rule: Rule, action: Action) -> tuple[float, ...]:
        """The retry schedule of one action: the rule's, else its connector's, else the global one."""
        if rule.schedule is not None:
            return rule.schedule
        connector = self.connectors.get(action.connector)
        if connector is not None and connector.schedule is not None:
            return connector.schedule
        return self.delivery.schedule
