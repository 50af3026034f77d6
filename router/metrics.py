"""Prometheus metrics: what an operator watches at 3 am.

Counters move as events and deliveries flow (received by trigger and outcome, deliveries by connector and
outcome, attempt latency); gauges that describe the backlog (pending events and deliveries, dead
deliveries, age of the oldest pending item, and the same per connector) are read from the store when
``/metrics`` is scraped, so they are true for every instance sharing the store. Each daemon has its own
registry, so several can run in one test process. deploy/prometheus-alerts.yaml turns them into alerts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from router.events import TRIGGERS
from router.store.base import Store

CONTENT_TYPE = CONTENT_TYPE_LATEST
BREAKER_STATES = ("closed", "half-open", "open")
# Triggers outside Plug&Pay's known set get their own label up to this many; later ones count as "other",
# so a sender inventing trigger names cannot grow /metrics (and memory) without bound.
MAX_UNKNOWN_TRIGGER_LABELS = 50
OTHER_TRIGGER = "other"


class Metrics:
    def __init__(self, shops: bool = False) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        # With ``shops:``, the webhook and routing counts per shop too (a router of one shop exports neither).
        self.shop_received = (
            Counter(
                "plugpay_router_shop_events_received",
                "Webhooks received per shop, by trigger and outcome",
                ["shop", "trigger", "outcome"],
                registry=r,
            )
            if shops
            else None
        )
        self.shop_routed = (
            Counter(
                "plugpay_router_shop_events_routed",
                "Events routed per shop, by outcome",
                ["shop", "outcome"],
                registry=r,
            )
            if shops
            else None
        )
        self.shop_reconcile_found = (
            Counter(
                "plugpay_router_shop_reconcile_events_found",
                "Events a shop's reconcile loop created because their webhook never came, by shop and trigger",
                ["shop", "trigger"],
                registry=r,
            )
            if shops
            else None
        )
        # 1 for each shop whose section or rules file has problems (not running, or on its last good config),
        # 0 for each shop that loaded; set with ``set_shops`` whenever a config is applied.
        self.shop_config_broken = (
            Gauge(
                "plugpay_router_shop_config_broken",
                "1 for a shop whose config has problems (it is not running, or runs its last good config), else 0",
                ["shop"],
                registry=r,
            )
            if shops
            else None
        )
        self.events_received = Counter(
            "plugpay_router_events_received",
            "Webhooks received, by trigger and outcome",
            ["trigger", "outcome"],
            registry=r,
        )
        self.events_routed = Counter(
            "plugpay_router_events_routed",
            "Events routed, by outcome (routed, retry, failed)",
            ["outcome"],
            registry=r,
        )
        self.deliveries = Counter(
            "plugpay_router_delivery_attempts",
            "Delivery attempts, by connector and outcome (delivered, retry, dead)",
            ["connector", "outcome"],
            registry=r,
        )
        self.attempt_seconds = Histogram(
            "plugpay_router_attempt_duration_seconds",
            "Duration of one delivery attempt",
            ["connector"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.pending = Gauge("plugpay_router_pending", "Items waiting in the store", ["kind"], registry=r)
        self.dead = Gauge("plugpay_router_deliveries_dead", "Deliveries that gave up", registry=r)
        self.failed = Gauge("plugpay_router_events_failed", "Events that could not be routed", registry=r)
        self.oldest_pending = Gauge(
            "plugpay_router_oldest_pending_age_seconds",
            "Age of the oldest pending event or delivery",
            registry=r,
        )
        self.connector_pending = Gauge(
            "plugpay_router_connector_pending", "Pending deliveries per connector", ["connector"], registry=r
        )
        self.connector_oldest = Gauge(
            "plugpay_router_connector_oldest_pending_age_seconds",
            "Age of the oldest pending delivery per connector (0 when none is pending)",
            ["connector"],
            registry=r,
        )
        self.connector_dead = Gauge(
            "plugpay_router_connector_deliveries_dead", "Dead deliveries per connector", ["connector"], registry=r
        )
        self.reloads = Counter("plugpay_router_config_reloads", "Config reloads, by result", ["result"], registry=r)
        self.config_info = Gauge(
            "plugpay_router_config_info",
            "The loaded config (value 1), labelled with its version",
            ["version"],
            registry=r,
        )
        self.breaker = Gauge(
            "plugpay_router_breaker_state",
            "Circuit breaker per connector: 1 for the current state",
            ["connector", "state"],
            registry=r,
        )
        self.reconcile_checked = Counter(
            "plugpay_router_reconcile_objects_checked",
            "Objects the reconcile loop listed from the Plug&Pay API, by trigger",
            ["trigger"],
            registry=r,
        )
        self.reconcile_found = Counter(
            "plugpay_router_reconcile_events_found",
            "Events the reconcile loop created because their webhook never came, by trigger",
            ["trigger"],
            registry=r,
        )

        self.quarantined = Counter(
            "plugpay_router_webhooks_quarantined",
            "Webhooks that failed verification, by outcome (kept, rate_limited, store_unavailable)",
            ["outcome"],
            registry=r,
        )
        self.quarantine_entries = Gauge(
            "plugpay_router_quarantine_entries", "Webhooks kept in the quarantine", registry=r
        )
        self.quarantine_bytes = Gauge("plugpay_router_quarantine_bytes", "Size of the quarantine", registry=r)
        self.alerts_sent = Counter("plugpay_router_alerts", "Alerts stored for sending, by kind", ["kind"], registry=r)
        self.alerts_waiting = Gauge(
            "plugpay_router_alerts_waiting", "Alert outbox rows waiting for their kind's next digest", registry=r
        )
        self.rules_unknown = Counter(
            "plugpay_router_rule_outcomes_unknown",
            "Rules not run because data their scope needs was not available, by reason",
            ["reason"],
            registry=r,
        )

        self.protocol_errors = Counter(
            "plugpay_router_protocol_errors",
            "Requests refused before routing because their request line or headers were malformed, by kind",
            ["kind"],
            registry=r,
        )

        self._received: dict[tuple[str, str], Any] = {}
        self._unknown_triggers: set[str] = set()

    def set_config(self, version: str) -> None:
        self.config_info.clear()
        self.config_info.labels(version=version).set(1)

    def set_shops(self, loaded: Iterable[str], broken: Iterable[str]) -> None:
        """The shops of the config just applied: ``broken`` ones (their config has problems) 1, ``loaded`` ones
        0; a shop no longer in the file has no line."""
        if self.shop_config_broken is None:
            return
        self.shop_config_broken.clear()
        for name in loaded:
            self.shop_config_broken.labels(shop=name).set(0)
        for name in broken:
            self.shop_config_broken.labels(shop=name).set(1)

    def trigger_label(self, trigger: str) -> str:
        """The ``trigger`` label of a webhook: its name when known or among the first unknown ones, else other."""
        if not trigger:
            return "unknown"
        if trigger in TRIGGERS or trigger in self._unknown_triggers:
            return trigger
        if len(self._unknown_triggers) < MAX_UNKNOWN_TRIGGER_LABELS:
            self._unknown_triggers.add(trigger)
            return trigger
        return OTHER_TRIGGER

    def observe_received(self, trigger: str, outcome: str, shop: str = "") -> None:
        # Called for every webhook: keep the labelled children instead of looking them up each time.
        label = self.trigger_label(trigger)
        child = self._received.get((label, outcome))
        if child is None:
            child = self._received[(label, outcome)] = self.events_received.labels(trigger=label, outcome=outcome)
        child.inc()
        if shop and self.shop_received is not None:
            self.shop_received.labels(shop=shop, trigger=label, outcome=outcome).inc()

    def observe_routed(self, outcome: str, shop: str = "") -> None:
        self.events_routed.labels(outcome=outcome).inc()
        if shop and self.shop_routed is not None:
            self.shop_routed.labels(shop=shop, outcome=outcome).inc()

    def observe_protocol_error(self, kind: str) -> None:
        self.protocol_errors.labels(kind=kind).inc()

    def observe_quarantined(self, outcome: str) -> None:
        self.quarantined.labels(outcome=outcome).inc()

    def observe_unknown(self, reason: str, count: int) -> None:
        self.rules_unknown.labels(reason=reason.removeprefix("unknown: ")).inc(count)

    def observe_attempt(self, connector: str, outcome: str, seconds: float) -> None:
        self.deliveries.labels(connector=connector, outcome=outcome).inc()
        self.attempt_seconds.labels(connector=connector).observe(seconds)

    def observe_reconcile(self, trigger: str, checked: int, found: int, shop: str = "") -> None:
        self.reconcile_checked.labels(trigger=trigger).inc(checked)
        self.reconcile_found.labels(trigger=trigger).inc(found)
        if shop and self.shop_reconcile_found is not None:
            self.shop_reconcile_found.labels(shop=shop, trigger=trigger).inc(found)

    async def render(self, store: Store, breakers: Callable[[], Mapping[str, str]]) -> bytes:
        """Refresh the store-backed gauges, then the text exposition."""
        now = time.time()
        counts = await store.counts(now)
        self.pending.labels(kind="events").set(counts.events.get("pending", 0))
        self.pending.labels(kind="deliveries").set(counts.deliveries.get("pending", 0))
        self.dead.set(counts.deliveries.get("dead", 0))
        self.failed.set(counts.events.get("failed", 0))
        self.oldest_pending.set(0 if counts.oldest_pending_at is None else max(0.0, now - counts.oldest_pending_at))
        per_connector = await store.connector_backlog()
        for gauge in (self.connector_pending, self.connector_oldest, self.connector_dead):
            gauge.clear()  # a connector whose deliveries were all purged or sent has no line
        for connector, backlog in per_connector.items():
            oldest = backlog.oldest_pending_at
            self.connector_pending.labels(connector=connector).set(backlog.pending)
            self.connector_oldest.labels(connector=connector).set(0 if oldest is None else max(0.0, now - oldest))
            self.connector_dead.labels(connector=connector).set(backlog.dead)
        kept = await store.quarantine_stats()
        self.quarantine_entries.set(kept.entries)
        self.quarantine_bytes.set(kept.bytes)
        for connector, state in breakers().items():
            for candidate in BREAKER_STATES:
                self.breaker.labels(connector=connector, state=candidate).set(1 if candidate == state else 0)
        return generate_latest(self.registry)
