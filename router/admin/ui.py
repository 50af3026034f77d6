"""The dashboard under ``/ui``: overview, events with search, an event's trace, dead letters, replay and re-route.

Pages are rendered on the server with Jinja2 in its own environment (autoescape on, apart from the rule
sandbox): every customer value is text, never markup. A page needs a session (``auth``) of ``admin.token``
or of a user of ``admin.users``, whose pages show only its shops (``access``); an action
(replay, re-route, logout) is a POST with the session's CSRF token and answers with a redirect back to the
page it came from. Replaying a dead delivery is one click; sending a delivered one again (a second mail)
goes through a confirmation page first, with no script needed. Everything a page shows passes the
config's masker, and rendered requests have the values of secret-named keys replaced. ``/ui/live.json`` is
the small document the pages poll every 5 s.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from router.admin.access import Access, Scoped, identify, user_access, user_tokens
from router.admin.api import ACCESS, BadQuery, event_filter
from router.admin.auth import (
    COOKIE,
    CSRF_FIELD,
    LoginThrottle,
    Sessions,
    clear_session,
    local_target,
    over_tls,
    set_session,
)
from router.admin.chart import chart
from router.admin.pages import ago, environment
from router.alerts.conditions import open_conditions
from router.config import Config
from router.secrets import masker
from router.store.base import DeliveryFilter, DeliveryHealth, Store
from router.store.quarantined import QuarantineStats
from router.tools.trace import Trace, object_kind, trace_event

PAGE_SIZES = (50, 200, 1000)
COUNT_CAP = 10_000  # a page counts matches up to here ("more than 10000"), so a wide filter stays fast
Page = Callable[[web.Request, str], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class AdminStatus:
    """What the running daemon tells the dashboard about itself."""

    config: Callable[[], Config]
    breakers: Callable[[], Mapping[str, str]]
    reloaded_at: Callable[[], float]
    token_changed_at: Callable[[], float] = lambda: 0.0  # a reload that changed admin.token: sessions end
    # When a reload last changed (or removed) a user's token (``access.changed_users``): its sessions end.
    user_changed_at: Callable[[str], float] = lambda name: 0.0


class Dashboard:
    def __init__(
        self,
        store: Store,
        status: AdminStatus,
        on_requeued: Callable[[], None],
        on_rerouted: Callable[[], None],
        throttle: LoginThrottle | None = None,
    ):
        self.store = store
        self.status = status
        self.on_requeued = on_requeued
        self.on_rerouted = on_rerouted
        self.sessions = Sessions(
            lambda: status.config().admin.token,
            status.token_changed_at,
            lambda: user_tokens(status.config().admin),
            status.user_changed_at,
        )
        self.throttle = throttle or LoginThrottle()
        self.env = environment()

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/ui", self._page(self.overview)),
            web.get("/ui/login", self.login_form),
            web.post("/ui/login", self.login),
            web.post("/ui/logout", self._action(self.logout)),
            web.get("/ui/events", self._page(self.events)),
            web.get("/ui/events/{id:[0-9]{1,18}}", self._page(self.event)),
            web.get("/ui/objects/{kind}/{ident}", self._page(self.object_page)),
            web.get("/ui/dead", self._page(self.dead)),
            web.get("/ui/live.json", self._page(self.live)),
            web.get("/ui/deliveries/{id:[0-9]{1,18}}/again", self._page(self.confirm_again)),
            web.post("/ui/deliveries/{id:[0-9]{1,18}}/replay", self._action(self.replay_one)),
            web.post("/ui/replay", self._action(self.replay_selected)),
            web.post("/ui/events/{id:[0-9]{1,18}}/reroute", self._action(self.reroute)),
        ]

    # ------------------------------------------------------------ plumbing

    def _disabled(self) -> web.Response | None:
        if self.status.config().admin.token:
            return None
        return web.Response(status=404, text="the dashboard is disabled: set admin.token in the config")

    def _page(self, handler: Page) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def page(request: web.Request) -> web.StreamResponse:
            disabled = self._disabled()
            if disabled is not None:
                return disabled
            session = self._session(request)
            if session is None:
                if request.path.endswith(".json"):
                    return web.json_response({"error": "log in first"}, status=401)
                raise web.HTTPSeeOther("/ui/login?" + urlencode({"next": request.path_qs}))
            try:
                return await handler(request, session)
            except BadQuery as exc:
                return self._render("error.html", request, session, status=400, message=str(exc))

        return page

    def _action(self, handler: Page) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def action(request: web.Request) -> web.StreamResponse:
            disabled = self._disabled()
            if disabled is not None:
                return disabled
            session = self._session(request)
            if session is None:
                return web.Response(status=403, text="log in first")
            if not await self.sessions.csrf_ok(request, session):
                return web.Response(status=403, text="missing or wrong CSRF token: reload the page and try again")
            return await handler(request, session)

        return action

    def _session(self, request: web.Request) -> str | None:
        """The request's live session, its login kept in ``request[ACCESS]``; None without one."""
        session = request.cookies.get(COOKIE)
        login = self.sessions.login_of(session)
        access = None if login is None else user_access(self.status.config().admin, login[0])
        if session is None or access is None:
            return None
        request[ACCESS] = access
        return session

    def _scoped(self, request: web.Request) -> Scoped:
        return Scoped(self.store, request.get(ACCESS) or Access(shops=()))

    def _not_found(self, request: web.Request, what: str) -> web.Response:
        """A user's action on what it cannot see (another shop's, or nothing): 404, never "exists elsewhere"."""
        return self._render("error.html", request, request.cookies.get(COOKIE), status=404, message=f"no {what}")

    def _render(
        self, template: str, request: web.Request, session: str | None, *, status: int = 200, **context: Any
    ) -> web.Response:
        config = self.status.config()
        access: Access | None = request.get(ACCESS)
        version = config.version
        if access is not None and access.shops is not None:  # a user's shops' own versions, no other's
            version = " ".join(config.shops[s].version for s in access.shops if s in config.shops) or "-"
        text = self.env.get_template(template).render(
            csrf=self.sessions.csrf(session) if session else "",
            csrf_field=CSRF_FIELD,
            path=request.path_qs,
            config_version=version,
            login=access,
            users=bool(config.admin.users),
            done=request.query.get("done", ""),
            problem=request.query.get("problem", ""),
            q=request.query.get("q", ""),
            **context,
        )
        return web.Response(text=masker(config.secrets)(text), status=status, content_type="text/html")

    async def _back(self, request: web.Request, message: str, *, problem: bool = False) -> web.Response:
        """Back to the page the form came from, saying ``message`` (in green, or as a ``problem``)."""
        form = await request.post()
        target = local_target(str(form.get("back") or ""))
        target = target.split("?", 1)[0] + "?" + urlencode({"problem" if problem else "done": message})
        raise web.HTTPSeeOther(target)

    # ------------------------------------------------------------ login

    async def login_form(self, request: web.Request) -> web.StreamResponse:
        disabled = self._disabled()
        if disabled is not None:
            return disabled
        return self._render("login.html", request, None, next=local_target(request.query.get("next")), failed=False)

    async def login(self, request: web.Request) -> web.StreamResponse:
        disabled = self._disabled()
        if disabled is not None:
            return disabled
        wait = self.throttle.retry_after(request.remote)
        if wait:
            message = f"too many wrong tokens from this address: try again in {wait} s"
            return web.Response(status=429, text=message, headers={"Retry-After": str(wait)})
        form = await request.post()
        target = local_target(str(form.get("next") or ""))
        admin = self.status.config().admin
        access = identify(admin, str(form.get("token") or ""))
        if access is None:
            self.throttle.failed(request.remote)
            return self._render("login.html", request, None, status=401, next=target, failed=True)
        response = web.HTTPSeeOther(target)
        session = self.sessions.issue(user=access.user)
        set_session(response, session, secure=over_tls(request, admin.public_url, admin.trusted_proxies))
        raise response

    async def logout(self, request: web.Request, session: str) -> web.StreamResponse:
        self.sessions.end(session)
        response = web.HTTPSeeOther("/ui/login")
        clear_session(response)
        raise response

    # ------------------------------------------------------------ pages

    async def overview(self, request: web.Request, session: str) -> web.StreamResponse:
        now, scoped = time.time(), self._scoped(request)
        # The chart and the quarantine are the whole router's: a user's overview goes without them.
        everything = not scoped.access.scoped
        hours = await self.store.hourly(now - 47 * 3600, now) if everything else None
        counts = await scoped.backlog()
        breakers = scoped.breakers(self.status.breakers())
        quarantine = await self.store.quarantine_stats() if everything else QuarantineStats(0, 0, None)
        backlog_after = self.status.config().alerts.backlog
        return self._render(
            "overview.html",
            request,
            session,
            chart=chart(hours) if hours is not None else None,
            counts=counts,
            conditions=open_conditions(breakers, counts, quarantine, backlog_after, now),
            breakers=breakers,
            reloaded_at=self.status.reloaded_at(),
        )

    async def events(self, request: web.Request, session: str) -> web.StreamResponse:
        query = dict(request.query)
        search = query.pop("q", "").strip()
        if search:
            query["triggerable_id"] = search.lstrip("#")
        flt = event_filter(query)
        limit = _page_size(query.get("limit"))
        scoped = self._scoped(request)
        records = await scoped.list_events(flt, limit=limit)
        total = await scoped.count_events(flt, cap=COUNT_CAP + 1) if len(records) >= limit else len(records)
        health = await self.store.delivery_health([r.id for r in records])
        objects = sorted({(r.event.triggerable_type, r.event.triggerable_id) for r in records}) if search else []
        return self._render(
            "events.html",
            request,
            session,
            events=records,
            cap=COUNT_CAP,
            health=health,
            total=total,
            flt=flt,
            limit=limit,
            objects=objects,
            statuses=("pending", "routed", "failed", "stale"),
        )

    async def event(self, request: web.Request, session: str) -> web.StreamResponse:
        trace = await trace_event(self.store, int(request.match_info["id"]))
        if trace is None or not self._scoped(request).access.sees(trace.events[0].record.event.shop):
            return self._render("error.html", request, session, status=404, message="no such event")
        return self._render("trace.html", request, session, trace=trace, single=True, health=_health(trace))

    async def object_page(self, request: web.Request, session: str) -> web.StreamResponse:
        try:
            kind = object_kind(request.match_info["kind"])
        except ValueError as exc:
            raise BadQuery(str(exc)) from None
        trace = await self._scoped(request).trace_object(kind, request.match_info["ident"][:64])
        return self._render("trace.html", request, session, trace=trace, single=False, health=_health(trace))

    async def dead(self, request: web.Request, session: str) -> web.StreamResponse:
        flt = DeliveryFilter(status="dead", connector=request.query.get("connector") or None)
        limit = _page_size(request.query.get("limit"))
        scoped = self._scoped(request)
        records = await scoped.list_deliveries(flt, limit=limit)
        total = await scoped.count_deliveries(flt, cap=COUNT_CAP + 1) if len(records) >= limit else len(records)
        objects = await self.store.objects_of(sorted({d.event_id for d in records}))
        return self._render(
            "dead.html", request, session, deliveries=records, objects=objects, total=total, limit=limit, cap=COUNT_CAP
        )

    async def confirm_again(self, request: web.Request, session: str) -> web.StreamResponse:
        """The confirmation step before a delivered delivery is sent again."""
        delivery_id = int(request.match_info["id"])
        record = await self._scoped(request).delivery(delivery_id)
        if record is None:
            return self._render("error.html", request, session, status=404, message=f"no delivery {delivery_id}")
        back = local_target(request.query.get("back") or f"/ui/events/{record.event_id}").split("?", 1)[0]
        attempts = await self.store.list_attempts(delivery_id)
        return self._render("again.html", request, session, d=record, attempts=attempts, back=back)

    async def live(self, request: web.Request, session: str) -> web.StreamResponse:
        scoped = self._scoped(request)
        counts = await scoped.backlog()
        body = {
            "pending_events": counts.events.get("pending", 0),
            "pending_deliveries": counts.deliveries.get("pending", 0),
            "dead": counts.deliveries.get("dead", 0),
            "oldest_pending": ago(counts.oldest_pending_at) if counts.oldest_pending_at else "-",
            "latest_event": await scoped.latest_event(),
            "breakers": scoped.breakers(self.status.breakers()),
        }
        return web.json_response(body, headers={"Cache-Control": "no-store"})

    # ------------------------------------------------------------ actions

    async def replay_one(self, request: web.Request, session: str) -> web.StreamResponse:
        delivery_id = int(request.match_info["id"])
        scoped = self._scoped(request)
        record = await scoped.delivery(delivery_id)
        if record is None and scoped.access.scoped:
            return self._not_found(request, f"delivery {delivery_id}")
        if record is None or record.status not in ("dead", "delivered") or record.request is None:
            return await self._back(request, f"delivery {delivery_id} cannot be replayed", problem=True)
        form = await request.post()
        confirmed = form.get("confirm") == "yes"
        if record.status == "delivered" and not confirmed:
            # Sending a delivered one again is a second mail: never without the confirmation page's yes.
            back = local_target(str(form.get("back") or ""))
            raise web.HTTPSeeOther(f"/ui/deliveries/{delivery_id}/again?" + urlencode({"back": back}))
        if not await self.store.replay_deliveries([delivery_id], time.time(), delivered=confirmed):
            return await self._back(request, f"delivery {delivery_id} cannot be replayed now", problem=True)
        self.on_requeued()
        sent = "will be sent again" if record.status == "delivered" else "requeued"
        return await self._back(request, f"delivery {delivery_id} {sent}")

    async def replay_selected(self, request: web.Request, session: str) -> web.StreamResponse:
        """Replay the ticked dead deliveries (a delivered one is never sent again from a list)."""
        form = await request.post()
        ids = [int(v) for v in form.getall("ids", []) if isinstance(v, str) and v.isdigit() and len(v) < 19]
        if not ids:
            return await self._back(request, "Nothing selected: tick the deliveries to replay first.", problem=True)
        ids = await self._scoped(request).visible_dead(ids)  # a user's own shops' only
        count = await self.store.replay_deliveries(ids, time.time(), delivered=False)
        if count:
            self.on_requeued()
        message = f"{count} deliver{'y' if count == 1 else 'ies'} requeued"
        if count < len(ids):
            message += (
                f"; {len(ids) - count} of the selected {'was' if len(ids) - count == 1 else 'were'} no longer dead"
            )
        return await self._back(request, message, problem=not count)

    async def reroute(self, request: web.Request, session: str) -> web.StreamResponse:
        event_id = int(request.match_info["id"])
        scoped = self._scoped(request)
        if scoped.access.scoped and await scoped.event(event_id) is None:
            return self._not_found(request, f"event {event_id}")
        if not await self.store.reroute_event(event_id, time.time()):
            return await self._back(request, f"no event {event_id}")
        self.on_rerouted()
        return await self._back(request, f"event {event_id} will be routed again with fresh data")


def _health(trace: Trace) -> dict[int, DeliveryHealth]:
    """How the deliveries of each event of a trace stand (the trace holds them all already)."""
    health = {}
    for ev in trace.events:
        states = Counter(str(d.record.status) for d in ev.deliveries)
        health[ev.record.id] = DeliveryHealth(**{s: states[s] for s in ("delivered", "pending", "dead", "superseded")})
    return health


def _page_size(value: str | None) -> int:
    return int(value) if value in {str(n) for n in PAGE_SIZES} and value is not None else PAGE_SIZES[0]
