"""The daemon: wires receive, route and deliver around one store, and handles signals.

One process runs the HTTP servers (webhooks and health on ``server.listen``; the admin API, dashboard
and metrics on ``admin.listen``), the route loop and the deliver loop. The live config, API client and
connectors form one ``Loaded`` (what one load of the file built) that every stage reads per item; SIGHUP
builds a complete new ``Loaded`` from the file and swaps it in one assignment, or keeps the old one and
logs the file:line error. SIGTERM (and SIGINT) stop accepting, let in-flight work finish within a bound, release
leases and exit 0. A store that can no longer be trusted (its file deleted, replaced or corrupt) makes
the daemon stop the same way and exit non-zero, so its supervisor restarts it on a sound store.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
import uuid
from pathlib import Path

import structlog
from aiohttp import web

from connectors import registry
from router import logs
from router.admin import AdminStatus, admin_app
from router.admin.listener import AdminListener, not_here
from router.alerts.loop import Alerter
from router.claims import ClaimLoop
from router.config import Config, ConfigError, load_config
from router.delivery.deliver import Deliverer
from router.foreground import Foreground
from router.inbound.quarantine import Quarantine
from router.inbound.receive import Receiver, error
from router.inbound.v1 import V1Receiver
from router.listener import GuardedSite, Limits, connection_cap, raise_fd_limit
from router.loaded import Loaded
from router.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from router.metrics import Metrics
from router.retention import purge_forever
from router.routing.route import Router
from router.shop.reconcile import Reconciler
from router.store import Store, StoreLost, StoreUnavailable, make_store
from router.store.base import DeliveryRecord, EventRecord
from router.tracing import spans as tracing

log = structlog.get_logger("router.daemon")
# With a store that notifies (PostgreSQL LISTEN/NOTIFY) idle loops are woken by commits of any instance,
# so polling only guards against a lost notice.
NOTIFIED_POLL = 5.0
# Wake-ups of the claim loops are gathered for this long, so a burst of webhooks is claimed in a few batches.
COALESCE = 0.005
BUSY_PAUSE = 0.02  # while webhooks need the CPU, each stage claims at most once per this many seconds
# A route whose store write failed (a full disk, a dropped connection) is tried again after these waits, in
# place, before its lease is left to bring it back (routing may run twice: its transaction checks the lease).
ROUTE_STORE_RETRY = (0.5, 1.0, 2.0, 4.0, 8.0)
# On SIGTERM, how long requests in progress (a webhook being committed) may take before they are cancelled.
HTTP_SHUTDOWN_TIMEOUT = 10.0


class Daemon:
    def __init__(self, config_path: str | os.PathLike[str], config: Config):
        self.config_path = Path(config_path)
        self.loaded = Loaded.build(config)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.store: Store = make_store(config.store.url, base=self.config_path.resolve().parent, daemon=True)
        self._stop = asyncio.Event()
        self._lost: str | None = None
        self._runner: web.AppRunner | None = None
        self._site: GuardedSite | None = None
        self._admin: AdminListener | None = None
        self.reloaded_at = time.time()
        self.token_changed_at = 0.0  # when a reload last changed admin.token (dashboard sessions end then)
        self._tasks: list[asyncio.Task[None]] = []
        self.foreground = Foreground()
        self._retired: set[asyncio.Task[None]] = set()
        self.metrics = Metrics()
        self.router = Router(
            self.store,
            lambda: (self.loaded.config, self.loaded.api),
            self.owner,
            on_routed=self._wake_deliver,
            observe=lambda outcome: self.metrics.events_routed.labels(outcome=outcome).inc(),
            observe_unknown=self.metrics.observe_unknown,
        )
        self.deliverer = Deliverer(
            self.store,
            lambda: (self.loaded.config, self.loaded.connectors),
            self.owner,
            observe=self.metrics.observe_attempt,
        )
        self.quarantine = Quarantine(self.store, lambda: self.loaded.config, observe=self.metrics.observe_quarantined)
        self.receiver = Receiver(
            self.store,
            lambda: self.loaded.config,
            on_accepted=self._wake_route,
            observe=self.metrics.observe_received,
            quarantine=self.quarantine,
        )
        self.v1_receiver = V1Receiver(self.receiver, lambda: self.loaded.config)
        self.admin_status = AdminStatus(
            config=lambda: self.loaded.config,
            breakers=lambda: self.loaded.connectors.breaker_states(),
            reloaded_at=lambda: self.reloaded_at,
            token_changed_at=lambda: self.token_changed_at,
        )
        self.route_loop: ClaimLoop[EventRecord] = ClaimLoop(
            "route",
            lambda n: self.store.claim_events(self.owner, n, self._event_lease(), time.time()),
            self.router.handle,
            lambda: self.store.next_due(time.time()),
            concurrency=config.plugandpay.concurrency,
            coalesce=COALESCE,
            renew=lambda ids: self.store.extend_leases(self.owner, ids, time.time() + self._event_lease(), "events"),
            renew_every=self._event_lease() / 3,
            retry_unavailable=ROUTE_STORE_RETRY,
            busy=self.foreground.busy,
            busy_pause=BUSY_PAUSE,
        )
        self.deliver_loop: ClaimLoop[DeliveryRecord] = ClaimLoop(
            "deliver",
            lambda n: self.store.claim_deliveries(self.owner, n, self._delivery_lease(), time.time()),
            self.deliverer.handle,
            lambda: self.store.next_due(time.time()),
            concurrency=config.delivery.concurrency,
            coalesce=COALESCE,
            renew=lambda ids: self.store.extend_leases(self.owner, ids, time.time() + self._delivery_lease()),
            renew_every=self._delivery_lease() / 3,
            busy=self.foreground.busy,
            busy_pause=BUSY_PAUSE,
        )
        self.alerter = Alerter(
            self.store,
            lambda: self.loaded.config,
            breakers=lambda: self.loaded.connectors.breaker_states(),
            errors=lambda: self.loaded.connectors.breaker_errors(),
            on_created=self._wake_route,
            on_sent=lambda kind: self.metrics.alerts_sent.labels(kind=kind).inc(),
            on_waiting=self.metrics.alerts_waiting.set,
        )
        self.reconciler = Reconciler(
            self.store,
            lambda: (self.loaded.config, self.loaded.api),
            on_found=self._wake_route,
            observe=self._observe_reconcile,
        )
        if self.store.subscribe(self._on_store_notice):
            self.route_loop.idle = self.deliver_loop.idle = NOTIFIED_POLL
        self.store.on_lost(self._on_store_lost)

    def _on_store_lost(self, reason: str) -> None:
        """Nothing may be acknowledged any more: stop, and exit non-zero (``run`` raises ``StoreLost``)."""
        log.error("store lost, stopping", error=reason)
        self._lost = reason
        self._stop.set()

    def _event_lease(self) -> float:
        api = self.loaded.config.plugandpay
        return api.lease or api.timeout * 3 + 30

    def _delivery_lease(self) -> float:
        delivery = self.loaded.config.delivery
        return delivery.lease or delivery.timeout * 2 + 30

    def _on_store_notice(self, kind: str) -> None:
        """Another instance (or a CLI command) committed work of ``kind``: wake the stage that takes it."""
        (self.route_loop if kind == "events" else self.deliver_loop).wake()

    def _wake_route(self) -> None:
        self.route_loop.wake()

    def _observe_reconcile(self, trigger: str, checked: int, found: int) -> None:
        self.metrics.observe_reconcile(trigger, checked, found)
        if found:
            self.alerter.note("missed_webhooks", {"trigger": trigger, "count": found})

    def _wake_deliver(self) -> None:
        self.deliver_loop.wake()

    # ------------------------------------------------------------ HTTP

    def make_app(self) -> web.Application:
        # The receiver enforces server.max_body_bytes itself (a reload may change it); this is a backstop.
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_post(self.loaded.config.server.path, self._webhook)  # the fast, usual match
        app.router.add_post("/{path:.*}", self._webhook)  # the path after a reload moved it
        app.router.add_get("/{path:.*}", not_here)
        return app

    def make_admin_app(self) -> web.Application:
        """The admin listener's application: /metrics, /api and /ui (``router.admin``)."""
        return admin_app(self.store, self.admin_status, self._metrics, self._wake_deliver, self._wake_route)

    async def _webhook(self, request: web.Request) -> web.StreamResponse:
        self.foreground.started()  # while webhooks compete for the CPU, routing and delivery hold back
        try:
            return await self._dispatch(request)
        finally:
            self.foreground.finished()

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        # Dispatch on the live config, so a reload can move the webhook path.
        v1_path = self.loaded.config.server.v1_path
        if v1_path is not None and request.path == v1_path:
            return await self.v1_receiver(request)
        if request.path != self.loaded.config.server.path:
            return error(404, f"no webhook endpoint at {request.path}")
        return await self.receiver(request)

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _metrics(self, request: web.Request) -> web.Response:
        try:
            body = await self.metrics.render(self.store, self.loaded.connectors.breaker_states)
        except StoreUnavailable as exc:
            return error(503, f"store unavailable: {exc}")
        return web.Response(body=body, headers={"Content-Type": METRICS_CONTENT_TYPE})

    async def _readyz(self, request: web.Request) -> web.Response:
        try:
            async with asyncio.timeout(2):
                await self.store.ping()
        except (StoreUnavailable, TimeoutError) as exc:
            return web.json_response({"status": "unavailable", "store": str(exc) or "timeout"}, status=503)
        return web.json_response({"status": "ready", "config_version": self.loaded.config.version})

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        config = self.loaded.config
        tracing.start(config.tracing, config.secrets)  # a no-op unless the config asks for traces
        await self.store.open()
        nofile = raise_fd_limit()
        # handler_cancellation stays off (aiohttp's default): a webhook whose sender hung up mid-commit still
        # commits, so its retry is answered as a duplicate.
        self._runner = web.AppRunner(
            self.make_app(), access_log=None, handle_signals=False, shutdown_timeout=HTTP_SHUTDOWN_TIMEOUT
        )
        await self._runner.setup()
        self._site = GuardedSite(
            self._runner,
            config.server.host,
            config.server.port,
            _limits(config),
            on_protocol_error=self.metrics.observe_protocol_error,
            reuse_address=True,
        )
        await self._site.start()
        asyncio.get_running_loop().set_exception_handler(self._site.loop_exception)
        if config.admin.enabled:
            self._admin = AdminListener(self.make_admin_app(), HTTP_SHUTDOWN_TIMEOUT)
            await self._admin.start(config.admin, _limits(config))
        if connection_cap(config.server.max_connections) < config.server.max_connections:
            log.warning(
                "open-file limit lowers server.max_connections",
                max_connections=config.server.max_connections,
                effective=connection_cap(config.server.max_connections),
                nofile=nofile,
            )
        self._tasks = [
            asyncio.create_task(self.route_loop.run(), name="route"),
            asyncio.create_task(self.deliver_loop.run(), name="deliver"),
            asyncio.create_task(purge_forever(self.store, lambda: self.loaded.config.retention), name="retention"),
            asyncio.create_task(self.reconciler.run(), name="reconcile"),
            asyncio.create_task(self.alerter.run(), name="alerts"),
            asyncio.create_task(self.foreground.watch(), name="foreground"),
        ]
        self.metrics.set_config(config.version)
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self.reload()))
        loop.add_signal_handler(signal.SIGTERM, self._stop.set)
        loop.add_signal_handler(signal.SIGINT, self._stop.set)
        if not config.plugandpay.webhook_key:
            log.warning("webhooks are accepted unsigned", setting="plugandpay.allow_unsigned: true")
        if not config.admin.token:
            log.info("admin API disabled: set admin.token to enable /api and /ui")
        log.info(
            "daemon started",
            listen=f"{config.server.host}:{config.server.port}",
            path=config.server.path,
            config_version=config.version,
            rules=len(config.rules.rules),
            store=_store_kind(config),
            owner=self.owner,
        )

    async def reload(self) -> bool:
        """Re-read the config file; swap it in when valid, else keep serving the old one."""
        old = self.loaded
        try:
            await asyncio.to_thread(registry.load_plugins)  # a connector plugin installed since is found now
            config = await asyncio.to_thread(load_config, self.config_path)
        except ConfigError as exc:
            self.metrics.reloads.labels(result="error").inc()
            self.alerter.note("reload_failed", {"error": str(exc).splitlines()[0][:300]})
            log.error(
                "config reload failed, keeping the running config",
                errors=str(exc).splitlines(),
                config_version=old.config.version,
            )
            return False
        for key, before, after in (
            (
                "server.listen",
                (old.config.server.host, old.config.server.port),
                (config.server.host, config.server.port),
            ),
            ("store.url", old.config.store.url, config.store.url),
            ("tracing", old.config.tracing, config.tracing),
            (
                "admin.listen",
                (old.config.admin.host, old.config.admin.port, old.config.admin.enabled),
                (config.admin.host, config.admin.port, config.admin.enabled),
            ),
        ):
            if before != after:
                log.warning("config key changed but needs a restart to apply", key=key)
        self.loaded = Loaded.build(config)
        self.reloaded_at = time.time()
        if config.admin.token != old.config.admin.token:
            self.token_changed_at = self.reloaded_at
        for site in (self._site, self._admin.site if self._admin else None):
            if site is not None:
                site.limits = _limits(config)  # applies to connections accepted from now on
        logs.set_secrets(old.config.secrets | config.secrets)
        tracing.set_secrets(old.config.secrets | config.secrets)
        self.route_loop.concurrency = config.plugandpay.concurrency
        self.deliver_loop.concurrency = config.delivery.concurrency
        self.route_loop.renew_every = self._event_lease() / 3
        self.deliver_loop.renew_every = self._delivery_lease() / 3
        self.metrics.reloads.labels(result="ok").inc()
        self.metrics.set_config(config.version)
        retire = asyncio.create_task(self._retire(old, config.delivery.timeout * 2 + 5))
        self._retired.add(retire)
        retire.add_done_callback(self._retired.discard)
        log.info(
            "config reloaded",
            config_version=config.version,
            rules=len(config.rules.rules),
            connectors=len(config.connectors),
        )
        self.route_loop.wake()
        self.deliver_loop.wake()
        self.reconciler.wake()
        return True

    @staticmethod
    async def _retire(loaded: Loaded, grace: float) -> None:
        """Close an old load's clients once sends that started under it have had time to finish."""
        await asyncio.sleep(grace)
        await loaded.aclose()

    async def run(self) -> None:
        await self.start()
        try:
            await self._stop.wait()
        finally:
            await self.shutdown()
        if self._lost is not None:
            raise StoreLost(self._lost)

    async def shutdown(self) -> None:
        log.info("stopping: no new webhooks; finishing in-flight work")
        if self._runner is not None:
            await self._runner.cleanup()
        if self._admin is not None:
            await self._admin.stop()
        grace = self.loaded.config.delivery.timeout + 5
        await self.route_loop.stop(grace)
        await self.deliver_loop.stop(grace)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for task in list(self._retired):
            task.cancel()
        with contextlib.suppress(StoreUnavailable):
            await self.store.release(self.owner)
        await self.loaded.aclose()
        await self.store.close()
        await tracing.stop()  # the spans still queued, within a bound
        log.info("stopped")


def _limits(config: Config) -> Limits:
    server = config.server
    return Limits(
        server.header_timeout, server.keepalive_timeout, server.max_connections, server.max_connections_per_address
    )


def _store_kind(config: Config) -> str:
    return config.store.url.split(":", 1)[0]
