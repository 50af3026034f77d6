"""The admin API under ``/api`` (on the admin listener): look at events and deliveries, replay them, re-route events.

Every request needs ``Authorization: Bearer <admin.token>`` or the token of one of ``admin.users``
(constant-time compare; wrong tokens are limited per client address, 429 with ``Retry-After``); without a
token in the config the API is disabled and answers 404 saying so. A user's token sees and acts on only its
shops (``router.admin.access``): lists hold only their rows, and an event or delivery of another shop is a
404 like one that does not exist. Answers never contain a secret: rendered
requests and errors pass through the config's masker, and attempt errors are already truncated when
stored. Filters are query parameters (``status``, ``trigger``, ``triggerable_id``, ``connector``,
``rule``, ``event_id``, ``shop``, ``since``, ``until`` as ISO-8601 or epoch seconds, ``limit``); bulk replay takes
the same filters as a JSON body. Replaying a dead delivery needs nothing more; a delivered one would be
sent again (a second mail), so it is refused with 409 and the reason unless the body says
``{"confirm": true}``, for one delivery and for a bulk replay of ``status: delivered`` alike.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from router.admin.access import Access, Scoped, identify
from router.admin.auth import LoginThrottle
from router.config import Config
from router.secrets import json_masker
from router.store.base import DELIVERY_STATUSES, EVENT_STATUSES, DeliveryFilter, DeliveryRecord, EventFilter, Store
from toolkit.units import parse_timestamp

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_LIMIT = 1000
# Ids are stored as 64-bit integers; a larger number would overflow the store's driver.
MAX_ID = 2**63 - 1


ACCESS = "plugpay_router.access"  # the request's login (``router.admin.access.Access``), set by the guard


class BadQuery(ValueError):
    pass


def bearer(request: web.Request, config: Config) -> Access | None:
    """The login whose token the request's ``Authorization: Bearer`` header carries, or None."""
    # aiohttp keeps header bytes that are not UTF-8 as surrogates; surrogateescape gives the raw bytes back.
    given = request.headers.get("Authorization", "")
    if not given.startswith("Bearer "):
        return None
    return identify(config.admin, given[len("Bearer ") :])


def parse_time(value: str | None, name: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        return parse_timestamp(value, time.time())
    except ValueError as exc:
        raise BadQuery(f"{name}: {exc}") from None


def _int(value: Any, name: str, default: int | None = None) -> int | None:
    if value is None or value == "":
        return default
    text = str(value)
    shown = text if len(text) <= 40 else f"{text[:40]}..."  # never echo a megabyte back
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise BadQuery(f"{name}: expected a whole number, got {shown!r}") from None
    if abs(number) > MAX_ID:
        raise BadQuery(f"{name}: {shown} is out of range (at most {MAX_ID})")
    return number


def _choice(value: str | None, name: str, choices: tuple[str, ...]) -> str | None:
    if value and value not in choices:
        raise BadQuery(f"{name}: expected one of {', '.join(choices)}, got {value!r}")
    return value or None


def event_filter(query: Mapping[str, Any]) -> EventFilter:
    return EventFilter(
        status=_choice(query.get("status"), "status", EVENT_STATUSES),
        trigger=query.get("trigger") or None,
        triggerable_id=query.get("triggerable_id") or None,
        since=parse_time(query.get("since"), "since"),
        until=parse_time(query.get("until"), "until"),
        shop=_shop(query.get("shop")),
    )


def delivery_filter(query: Mapping[str, Any]) -> DeliveryFilter:
    return DeliveryFilter(
        status=_choice(query.get("status"), "status", DELIVERY_STATUSES),
        connector=query.get("connector") or None,
        rule=query.get("rule") or None,
        event_id=_int(query.get("event_id"), "event_id"),
        since=parse_time(query.get("since"), "since"),
        until=parse_time(query.get("until"), "until"),
        shop=_shop(query.get("shop")),
    )


def _shop(value: str | None) -> str | None:
    """A ``shop`` filter: a shop's name (a router without ``shops:`` has one shop, named "")."""
    return None if value is None else str(value)[:64]


def _limit(query: Mapping[str, Any]) -> int:
    value = _int(query.get("limit"), "limit", 50) or 50
    return max(1, min(value, MAX_LIMIT))


class AdminApi:
    def __init__(
        self,
        store: Store,
        config: Callable[[], Config],
        on_requeued: Callable[[], None],
        on_rerouted: Callable[[], None],
        throttle: LoginThrottle | None = None,
    ):
        self.store = store
        self.config = config
        self.on_requeued = on_requeued
        self.on_rerouted = on_rerouted
        self.throttle = throttle or LoginThrottle()

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/events", self._guard(self.list_events)),
            web.get("/api/events/{id}", self._guard(self.get_event)),
            web.post("/api/events/{id}/reroute", self._guard(self.reroute)),
            web.get("/api/deliveries", self._guard(self.list_deliveries)),
            web.get("/api/deliveries/{id}", self._guard(self.get_delivery)),
            web.post("/api/deliveries/{id}/replay", self._guard(self.replay_one)),
            web.post("/api/replay", self._guard(self.replay_bulk)),
        ]

    def _guard(self, handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            token = self.config().admin.token
            if not token:
                return _error(404, "the admin API is disabled: set admin.token in the config")
            wait = self.throttle.retry_after(request.remote)
            if wait:
                answer = _error(429, f"too many wrong tokens from this address: try again in {wait} s")
                answer.headers["Retry-After"] = str(wait)
                return answer
            access = bearer(request, self.config())
            if access is None:
                self.throttle.failed(request.remote)
                return _error(401, "missing or wrong admin token (Authorization: Bearer <admin.token>)")
            request[ACCESS] = access
            try:
                return await handler(request)
            except BadQuery as exc:
                return _error(400, str(exc))

        return guarded

    def _scoped(self, request: web.Request) -> Scoped:
        return Scoped(self.store, request[ACCESS])

    def _json(self, data: Any, status: int = 200) -> web.Response:
        mask = json_masker(self.config().secrets)
        return web.Response(text=mask(json.dumps(data, default=str)), status=status, content_type="application/json")

    # ------------------------------------------------------------ events

    async def list_events(self, request: web.Request) -> web.Response:
        records = await self._scoped(request).list_events(event_filter(request.query), limit=_limit(request.query))
        return self._json({"events": [r.as_dict() for r in records]})

    async def get_event(self, request: web.Request) -> web.Response:
        event_id = _int(request.match_info["id"], "id")
        assert event_id is not None
        record = await self._scoped(request).event(event_id)
        if record is None:
            return _error(404, f"no event {event_id}")
        deliveries = await self.store.list_deliveries(DeliveryFilter(event_id=event_id), limit=MAX_LIMIT)
        body = record.as_dict()
        body["payload"] = dict(record.event.payload)
        body["deliveries"] = [await self._delivery_detail(d.id) for d in deliveries]
        return self._json(body)

    async def reroute(self, request: web.Request) -> web.Response:
        event_id = _int(request.match_info["id"], "id")
        assert event_id is not None
        scoped = self._scoped(request)
        hidden = scoped.access.scoped and await scoped.event(event_id) is None  # another shop's: as if none
        if hidden or not await self.store.reroute_event(event_id, time.time()):
            return _error(404, f"no event {event_id}")
        self.on_rerouted()
        return self._json({"event_id": event_id, "rerouting": True}, status=202)

    # ------------------------------------------------------------ deliveries

    async def list_deliveries(self, request: web.Request) -> web.Response:
        flt = delivery_filter(request.query)
        records = await self._scoped(request).list_deliveries(flt, limit=_limit(request.query))
        return self._json({"deliveries": [r.as_dict() for r in records]})

    async def _delivery_detail(self, delivery_id: int, record: DeliveryRecord | None = None) -> dict[str, Any] | None:
        record = record or await self.store.get_delivery(delivery_id)
        if record is None:
            return None
        body = record.as_dict()
        body["request"] = record.request
        body["attempts"] = [a.as_dict() for a in await self.store.list_attempts(delivery_id)]
        return body

    async def get_delivery(self, request: web.Request) -> web.Response:
        delivery_id = _int(request.match_info["id"], "id")
        assert delivery_id is not None
        record = await self._scoped(request).delivery(delivery_id)
        body = None if record is None else await self._delivery_detail(delivery_id, record)
        if body is None:
            return _error(404, f"no delivery {delivery_id}")
        return self._json(body)

    async def replay_one(self, request: web.Request) -> web.Response:
        delivery_id = _int(request.match_info["id"], "id")
        assert delivery_id is not None
        body = await _body(request, '{"confirm": true} (only needed to send a delivered delivery again)')
        confirmed = body.get("confirm") is True
        record = await self._scoped(request).delivery(delivery_id)
        if record is None:
            return _error(404, f"no delivery {delivery_id}")
        if record.status not in ("dead", "delivered") or record.request is None:
            return _error(
                409,
                f"delivery {delivery_id} is {record.status}; only rendered dead or delivered "
                "deliveries can be replayed (re-route the event to render it again)",
            )
        if record.status == "delivered" and not confirmed:
            return _error(409, f"delivery {delivery_id} was delivered already; {SEND_AGAIN}")
        count = await self.store.replay_deliveries([delivery_id], time.time(), delivered=confirmed)
        if count:
            self.on_requeued()
        return self._json({"replayed": count}, status=202)

    async def replay_bulk(self, request: web.Request) -> web.Response:
        body = await _body(request, '{"status": "dead", "connector": ..., "since": ...}')
        confirmed = body.pop("confirm", None) is True
        query = {k: None if v is None else str(v) for k, v in body.items()}
        query.setdefault("status", "dead")
        flt = delivery_filter(query)
        if flt.status not in ("dead", "delivered"):
            return _error(400, "status: bulk replay takes dead or delivered deliveries")
        if flt.status == "delivered" and not confirmed:
            return _error(409, f"these deliveries were delivered already; {SEND_AGAIN}")
        ids = await self._scoped(request).delivery_ids(flt)
        count = await self.store.replay_deliveries(ids, time.time(), delivered=confirmed)
        if count:
            self.on_requeued()
        return self._json({"replayed": count}, status=202)


SEND_AGAIN = (
    "replaying sends the same request again (a second mail to the customer, a second invoice): "
    'to do that on purpose, send {"confirm": true} in the body'
)


async def _body(request: web.Request, shape: str) -> dict[str, Any]:
    """The request's JSON object (empty without a body); BadQuery (400) naming ``shape`` otherwise."""
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except (ValueError, RecursionError):  # RecursionError: JSON nested thousands of levels deep
        raise BadQuery(f"the body must be JSON: {shape}") from None
    if not isinstance(body, dict):
        raise BadQuery(f"the body must be a JSON object: {shape}")
    return body


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)
