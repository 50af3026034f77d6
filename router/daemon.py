"""The daemon: wires receive, route and deliver around one store, and handles signals.

One process runs the HTTP servers (webhooks and health on ``server.listen``; the admin API, dashboard
and metrics on ``admin.listen``), the alert loop, retention, and a pipeline per shop (``router.pipelines``:
its receiver, route and deliver loops and reconciler; one pipeline without ``shops:``). A pipeline's
config, API client and connectors form one ``Loaded`` that its stages read per item; SIGHUP builds new
ones from the file and swaps each in one assignment, or keeps the old config and logs the file:line error
(with shops, per shop: one shop's broken rules keep that shop on its last good ones). SIGTERM (and
SIGINT) stop accepting, let in-flight work finish within a bound, release leases and exit 0. A store
that can no longer be trusted (its file deleted, replaced or corrupt) makes the daemon stop the same way
and exit non-zero, so its supervisor restarts it on a sound store.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import signal
import socket
import time
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from connectors import registry
from router import logs
from router.admin import AdminStatus, admin_app
from router.admin.access import changed_users
from router.admin.listener import AdminListener, not_here
from router.alerts.loop import Alerter
from router.claims import ClaimLoop
from router.config import Config, ConfigError, load_config
from router.foreground import Foreground
from router.inbound.receive import error
from router.listener import GuardedSite, Limits, connection_cap, raise_fd_limit
from router.loaded import Loaded
from router.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from router.metrics import Metrics
from router.pipelines.due import DueWatch
from router.pipelines.fleet import Fleet
from router.pipelines.pipeline import Pipeline, Shared
from router.retention import purge_forever
from router.store import Store, StoreLost, StoreUnavailable, make_store
from router.store.base import DeliveryRecord, EventRecord
from router.tracing import spans as tracing
from toolkit.client import shared_pool

log = structlog.get_logger("router.daemon")
# How often the one poll for every loop looks for due work (``router.pipelines.due``). With a store that
# notifies (PostgreSQL LISTEN/NOTIFY) idle loops are woken by commits of any instance, so polling only guards
# against a lost notice; SQLite has no notices (a CLI command's writes are found by this poll).
NOTIFIED_POLL = 5.0
POLL = 1.0
# On SIGTERM, how long requests in progress (a webhook being committed) may take before they are cancelled.
HTTP_SHUTDOWN_TIMEOUT = 10.0


class Daemon:
    def __init__(self, config_path: str | os.PathLike[str], config: Config):
        self.config_path = Path(config_path)
        self.config = config  # the file's; each shop's own is its pipeline's (``router.pipelines``)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.store: Store = make_store(config.store.url, base=self.config_path.resolve().parent, daemon=True)
        self._stop = asyncio.Event()
        self._lost: str | None = None
        self._runner: web.AppRunner | None = None
        self._site: GuardedSite | None = None
        self._admin: AdminListener | None = None
        self.reloaded_at = time.time()
        self.token_changed_at = 0.0  # when a reload last changed admin.token (dashboard sessions end then)
        self.users_changed_at: dict[str, float] = {}  # the same, per user of admin.users (changed or removed)
        self._tasks: list[asyncio.Task[None]] = []
        self.foreground = Foreground()
        self._retired: set[asyncio.Task[None]] = set()
        self.metrics = Metrics(shops=bool(config.shops or config.broken_shops))
        self.alerter = Alerter(
            self.store,
            lambda: self.config,
            breakers=lambda: self.fleet.breakers(),
            errors=lambda: self.fleet.breaker_errors(),
            on_created=lambda: self.fleet.main.wake_route(),  # alert events are the router's own work
            on_sent=lambda kind: self.metrics.alerts_sent.labels(kind=kind).inc(),
            on_waiting=self.metrics.alerts_waiting.set,
        )
        by_shop = bool(config.shops or config.broken_shops)
        shared = Shared(self.store, self.owner, self.metrics, self.foreground, self.alerter.note, by_shop)
        self.fleet = Fleet(config, shared)
        self.admin_status = AdminStatus(
            config=lambda: self.config,
            breakers=lambda: self.fleet.breakers(),
            reloaded_at=lambda: self.reloaded_at,
            token_changed_at=lambda: self.token_changed_at,
            user_changed_at=lambda name: self.users_changed_at.get(name, 0.0),
        )
        notified = self.store.subscribe(self._on_store_notice)
        self.due = DueWatch(self.store, lambda: self.fleet, by_shop, NOTIFIED_POLL if notified else POLL)
        self.store.on_lost(self._on_store_lost)

    @property
    def route_loop(self) -> ClaimLoop[EventRecord]:
        return self.fleet.main.route_loop

    @property
    def deliver_loop(self) -> ClaimLoop[DeliveryRecord]:
        return self.fleet.main.deliver_loop

    def _on_store_lost(self, reason: str) -> None:
        """Nothing may be acknowledged any more: stop, and exit non-zero (``run`` raises ``StoreLost``)."""
        log.error("store lost, stopping", error=reason)
        self._lost = reason
        self._stop.set()

    def _on_store_notice(self, kind: str, shop: str | None) -> None:
        """Another instance (or a CLI command) committed work of ``kind``: wake the stage that takes it (of
        ``shop`` only, when the notice names one: waking every shop's loops cost each of them two queries)."""
        self.fleet.wake(kind, shop)

    # ------------------------------------------------------------ HTTP

    def make_app(self) -> web.Application:
        # The receiver enforces server.max_body_bytes itself (a reload may change it); this is a backstop.
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_post(self.config.server.path, self._webhook)  # the fast, usual match (one shop)
        app.router.add_post("/{path:.*}", self._webhook)  # the path after a reload moved it
        app.router.add_get("/{path:.*}", not_here)
        return app

    def make_admin_app(self) -> web.Application:
        """The admin listener's application: /metrics, /api and /ui (``router.admin``)."""
        return admin_app(
            self.store,
            self.admin_status,
            self._metrics,
            lambda: self.fleet.wake("deliveries"),
            lambda: self.fleet.wake("events"),
        )

    async def _webhook(self, request: web.Request) -> web.StreamResponse:
        self.foreground.started()  # while webhooks compete for the CPU, routing and delivery hold back
        try:
            return await self._dispatch(request)
        finally:
            self.foreground.finished()

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        # Dispatch on the live config, so a reload can move the webhook path.
        v1_path = self.config.server.v1_path
        if v1_path is not None and request.path == v1_path and not self.config.shops:
            return await self.fleet.main.v1_receiver(request)
        found = self.fleet.for_path(request.path)
        if isinstance(found, tuple):
            return error(*found)
        if not found.shop:
            return await found.receiver(request)
        with structlog.contextvars.bound_contextvars(shop=found.shop):  # its log lines name the shop
            return await found.receiver(request)

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _metrics(self, request: web.Request) -> web.Response:
        try:
            body = await self.metrics.render(self.store, self.fleet.breakers)
        except StoreUnavailable as exc:
            return error(503, f"store unavailable: {exc}")
        return web.Response(body=body, headers={"Content-Type": METRICS_CONTENT_TYPE})

    async def _readyz(self, request: web.Request) -> web.Response:
        try:
            async with asyncio.timeout(2):
                await self.store.ping()
        except (StoreUnavailable, TimeoutError) as exc:
            return web.json_response({"status": "unavailable", "store": str(exc) or "timeout"}, status=503)
        return web.json_response({"status": "ready", "config_version": self.config.version})

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        config = self.config
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
            asyncio.create_task(purge_forever(self.store, lambda: self.config.retention), name="retention"),
            asyncio.create_task(self.alerter.run(), name="alerts"),
            asyncio.create_task(self.foreground.watch(), name="foreground"),
            asyncio.create_task(self.due.run(), name="due"),
        ]
        for pipeline in self.fleet:
            self._run(pipeline)
        self.metrics.set_config(config.version)
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self.reload()))
        loop.add_signal_handler(signal.SIGTERM, self._stop.set)
        loop.add_signal_handler(signal.SIGINT, self._stop.set)
        if not config.plugandpay.webhook_key and not config.shops:
            log.warning("webhooks are accepted unsigned", setting="plugandpay.allow_unsigned: true")
        if not config.admin.token:
            log.info("admin API disabled: set admin.token to enable /api and /ui")
        log.info(
            "daemon started",
            listen=f"{config.server.host}:{config.server.port}",
            path=config.server.path,
            config_version=config.version,
            rules=sum(len(p.loaded.config.rules.rules) for p in self.fleet),
            store=_store_kind(config),
            owner=self.owner,
            **({"shops": sorted(config.shops)} if config.shops else {}),
        )

    def _run(self, pipeline: Pipeline) -> None:
        """Start a pipeline's loops (its reconciler runs only when its config asks for passes); with shops, every
        line they log names the shop (the tasks of its items inherit the context)."""
        context = contextvars.copy_context()
        if pipeline.shop:
            context.run(structlog.contextvars.bind_contextvars, shop=pipeline.shop)
        suffix = f":{pipeline.shop}" if pipeline.shop else ""
        for name, job in (
            ("route", pipeline.route_loop.run()),
            ("deliver", pipeline.deliver_loop.run()),
            ("reconcile", pipeline.reconciler.run()),
            ("tenant", pipeline.learn_tenant()),
        ):
            self._tasks.append(asyncio.create_task(job, name=name + suffix, context=context))

    async def reload(self) -> bool:
        """Re-read the config file; swap it in when valid, else keep serving the old one. With shops, a shop
        whose part has problems keeps its last good config and the others take theirs (``Fleet.apply``)."""
        old = self.fleet.main.loaded
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
            ("shops", bool(self.config.shops or self.config.broken_shops), bool(config.shops or config.broken_shops)),
            (
                "admin.listen",
                (old.config.admin.host, old.config.admin.port, old.config.admin.enabled),
                (config.admin.host, config.admin.port, config.admin.enabled),
            ),
        ):
            if before != after:
                log.warning("config key changed but needs a restart to apply", key=key)
        if self.fleet.shared.by_shop != bool(config.shops or config.broken_shops):
            log.error("config reload failed: going from one shop to shops: (or back) needs a restart")
            self.metrics.reloads.labels(result="error").inc()
            return False
        changes = self.fleet.apply(config)
        self.config = config
        self.reloaded_at = time.time()
        if config.admin.token != old.config.admin.token:
            self.token_changed_at = self.reloaded_at
        for name in changed_users(old.config.admin, config.admin):
            self.users_changed_at[name] = self.reloaded_at
        for site in (self._site, self._admin.site if self._admin else None):
            if site is not None:
                site.limits = _limits(config)  # applies to connections accepted from now on
        logs.set_secrets(old.config.secrets | config.secrets)
        tracing.set_secrets(old.config.secrets | config.secrets)
        self.metrics.reloads.labels(result="ok").inc()
        self.metrics.set_config(config.version)
        grace = config.delivery.timeout * 2 + 5
        for pipeline in changes.started:
            self._run(pipeline)
        for pipeline in changes.stopped:
            self._later(self._retire(pipeline.loaded, grace, pipeline))
        for loaded in changes.retired:
            self._later(self._retire(loaded, grace))
        for pipeline in self.fleet:
            self._later(pipeline.learn_tenant())  # a new token may belong to another tenant
        log.info(
            "config reloaded",
            config_version=config.version,
            rules=sum(len(p.loaded.config.rules.rules) for p in self.fleet),
            connectors=len(config.connectors),
            **({"shops": sorted(config.shops)} if config.shops else {}),
        )
        return True

    def _later(self, job: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(job)
        self._retired.add(task)
        task.add_done_callback(self._retired.discard)

    @staticmethod
    async def _retire(loaded: Loaded, grace: float, pipeline: Pipeline | None = None) -> None:
        """Close an old load's clients once sends that started under it have had time to finish (stopping its
        pipeline first, when its shop left the config)."""
        if pipeline is not None:
            await pipeline.stop(grace)
        await asyncio.sleep(grace)
        await loaded.aclose()

    async def run(self) -> None:
        async with shared_pool():  # every shop's clients reuse one pool of outgoing connections
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
        grace = self.config.delivery.timeout + 5
        await asyncio.gather(*(pipeline.stop(grace) for pipeline in self.fleet))
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for task in list(self._retired):
            task.cancel()
        with contextlib.suppress(StoreUnavailable):
            await self.store.release(self.owner)
        for pipeline in self.fleet:
            await pipeline.loaded.aclose()
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
