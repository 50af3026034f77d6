"""One shop's pipeline: what its config built, its webhook receiver, its route and deliver loops, its reconciler.

A router of one shop has one pipeline (shop ``""``) that claims all the work, as it always did. With
``shops:`` each shop has its own, which claims only its own events and deliveries, with its own concurrency,
Plug&Pay client and connectors (their rate limits and circuit breakers): a shop whose destination hangs or
whose API is slow holds up only itself. The router's own pipeline (shop ``""``, no webhook path, no rules)
then routes and delivers the alert events. The daemon owns the store, the HTTP listeners, alerts and
signals; it hands a pipeline a new ``Loaded`` on reload. A named shop's webhooks must name the tenant its API
token belongs to: once that is known, the receiver quarantines one that names another (403), and the route
stage checks again before the fetch (an event for another tenant fails, unrouted).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from router.claims import ClaimLoop
from router.delivery.deliver import Deliverer
from router.events import Event
from router.foreground import Foreground
from router.inbound.quarantine import Quarantine
from router.inbound.receive import Receiver
from router.inbound.v1 import V1Receiver
from router.loaded import Loaded
from router.metrics import Metrics
from router.plugandpay import ApiError
from router.routing.route import Router
from router.shop.reconcile import Reconciler
from router.store import Store
from router.store.base import DeliveryRecord, EventRecord

log = structlog.get_logger("router.pipeline")
# Wake-ups of the claim loops are gathered for this long, so a burst of webhooks is claimed in a few batches.
COALESCE = 0.005
# A route whose store write failed (a full disk, a dropped connection) is tried again after these waits, in
# place, before its lease is left to bring it back (routing may run twice: its transaction checks the lease).
ROUTE_STORE_RETRY = (0.5, 1.0, 2.0, 4.0, 8.0)


@dataclass(frozen=True)
class Shared:
    """What every pipeline of one daemon uses together."""

    store: Store
    owner: str
    metrics: Metrics
    foreground: Foreground
    note: Callable[[str, dict[str, object]], None]  # a cause for the alert loop (``Alerter.note``)
    by_shop: bool  # the config has ``shops:``: each pipeline claims only its own shop's work


class Pipeline:
    def __init__(self, loaded: Loaded, shared: Shared):
        self.loaded = loaded
        self.shared = shared
        self.shop = loaded.config.shop
        self.store = shared.store
        claims = self.shop if shared.by_shop else None  # None: all the work of the store
        self._due_of = [self.shop] if shared.by_shop else None
        self._tenant: tuple[Loaded, str] | None = None  # the tenant of the token of that load
        metrics = shared.metrics
        self.router = Router(
            self.store,
            lambda: (self.loaded.config, self.loaded.api),
            shared.owner,
            on_routed=self.wake_deliver,
            observe=lambda outcome: metrics.observe_routed(outcome, self.shop),
            observe_unknown=metrics.observe_unknown,
            refuse=self._foreign_tenant if self.shop else None,
        )
        self.deliverer = Deliverer(
            self.store,
            lambda: (self.loaded.config, self.loaded.connectors),
            shared.owner,
            observe=self._observe_attempt,
        )
        self.quarantine = Quarantine(self.store, lambda: self.loaded.config, observe=metrics.observe_quarantined)
        self.receiver = Receiver(
            self.store,
            lambda: self.loaded.config,
            on_accepted=self.wake_route,
            observe=lambda trigger, outcome: metrics.observe_received(trigger, outcome, self.shop),
            quarantine=self.quarantine,
            foreign=self._known_foreign if self.shop else None,
        )
        self.v1_receiver = V1Receiver(self.receiver, lambda: self.loaded.config)
        self.route_loop: ClaimLoop[EventRecord] = ClaimLoop(
            "route",
            lambda n: self.store.claim_events(shared.owner, n, self.event_lease(), time.time(), claims),
            self.router.handle,
            lambda: self._next_due("events"),
            concurrency=loaded.config.plugandpay.concurrency,
            idle=None,  # the daemon's one poll for every loop wakes it (``router.pipelines.due``)
            coalesce=COALESCE,
            renew=lambda ids: self.store.extend_leases(shared.owner, ids, time.time() + self.event_lease(), "events"),
            renew_every=self.event_lease() / 3,
            retry_unavailable=ROUTE_STORE_RETRY,
            busy=shared.foreground.busy,
            pace=shared.foreground.pace,
        )
        self.deliver_loop: ClaimLoop[DeliveryRecord] = ClaimLoop(
            "deliver",
            lambda n: self.store.claim_deliveries(shared.owner, n, self.delivery_lease(), time.time(), claims),
            self.deliverer.handle,
            lambda: self._next_due("deliveries"),
            concurrency=loaded.config.delivery.concurrency,
            idle=None,
            coalesce=COALESCE,
            renew=lambda ids: self.store.extend_leases(shared.owner, ids, time.time() + self.delivery_lease()),
            renew_every=self.delivery_lease() / 3,
            busy=shared.foreground.busy,
            pace=shared.foreground.pace,
        )
        self.reconciler = Reconciler(
            self.store,
            lambda: (self.loaded.config, self.loaded.api),
            on_found=self.wake_route,
            observe=self._observe_reconcile,
        )

    def _observe_attempt(self, connector: str, outcome: str, seconds: float) -> None:
        """An attempt in the metrics, a shop's connector named ``shop/connector`` as its breaker is."""
        self.shared.metrics.observe_attempt(f"{self.shop}/{connector}" if self.shop else connector, outcome, seconds)

    async def _next_due(self, kind: str) -> float | None:
        """When this pipeline's next event (``kind`` "events") or delivery becomes due: each loop sleeps until
        its own kind's, so a backlog of deliveries does not keep the route loop claiming."""
        due = (await self.store.due_times(self._due_of))[0]
        return due.events if kind == "events" else due.deliveries

    def event_lease(self) -> float:
        api = self.loaded.config.plugandpay
        return api.lease or api.timeout * 3 + 30

    def delivery_lease(self) -> float:
        delivery = self.loaded.config.delivery
        return delivery.lease or delivery.timeout * 2 + 30

    def wake_route(self) -> None:
        self.route_loop.wake()

    def wake_deliver(self) -> None:
        self.deliver_loop.wake()

    def swap(self, loaded: Loaded) -> Loaded:
        """Serve ``loaded`` from now on; the old one is returned for the daemon to close once its sends ended."""
        old, self.loaded = self.loaded, loaded
        config = loaded.config
        self.route_loop.concurrency = config.plugandpay.concurrency
        self.deliver_loop.concurrency = config.delivery.concurrency
        self.route_loop.renew_every = self.event_lease() / 3
        self.deliver_loop.renew_every = self.delivery_lease() / 3
        self.route_loop.wake()
        self.deliver_loop.wake()
        self.reconciler.wake()
        return old

    async def stop(self, grace: float) -> None:
        await self.route_loop.stop(grace)
        await self.deliver_loop.stop(grace)

    def _observe_reconcile(self, trigger: str, checked: int, found: int) -> None:
        self.shared.metrics.observe_reconcile(trigger, checked, found, self.shop)
        if found:
            item: dict[str, object] = {"trigger": trigger, "count": found}
            self.shared.note("missed_webhooks", {"shop": self.shop, **item} if self.shop else item)

    async def learn_tenant(self) -> None:
        """Ask the API once, at start, whose the shop's token is, so the receiver can tell a webhook for another
        tenant at once; an API that cannot say now leaves it to the route stage, which asks again."""
        if not self.shop:
            return
        try:
            await self._tenant_of(self.loaded)
        except ApiError as exc:
            log.warning("shop's tenant not known yet: the route stage asks again", shop=self.shop, error=str(exc))

    async def _tenant_of(self, loaded: Loaded) -> str:
        """The tenant the token of ``loaded`` belongs to, asked once per load."""
        if self._tenant is None or self._tenant[0] is not loaded:
            tenant = await loaded.api.tenant()
            self._tenant = (loaded, str(tenant.get("id", "")))
        return self._tenant[1]

    def _known_foreign(self, event: Event) -> str | None:
        """At receive: why ``event`` is not this shop's, when its tenant is known already (else None: the route
        stage checks)."""
        if self._tenant is None or self._tenant[0] is not self.loaded:
            return None
        return self._why_foreign(event, self._tenant[1])

    async def _foreign_tenant(self, event: Event) -> str | None:
        """At route, before the fetch: why a named shop must not route ``event``, or None. An API that cannot
        say whose the token is leaves the event to its retry, like a failed fetch."""
        if event.tenant_id is None or event.source == "alert":
            return None
        return self._why_foreign(event, await self._tenant_of(self.loaded))

    def _why_foreign(self, event: Event, mine: str) -> str | None:
        if event.tenant_id is None or str(event.tenant_id) == mine:
            return None
        return f"the webhook names tenant {event.tenant_id}, but shop {self.shop}'s API token belongs to tenant {mine}"
