"""The sandbox's list endpoints, rules API and control endpoints: what reconcile, backfill and ``connect`` talk to.

Lists answer as the SDK's filters describe them (research notes §2.2, §8; unverified against the live API):
``GET /v2/orders`` (``payment_status``, ``since_paid_at``/``until_paid_at`` as ``Y-m-d H:i:s``,
``since_invoice_date``/``until_invoice_date`` as ``Y-m-d``, ``invoice_status``, ``sort``, ``direction``),
``GET /v2/subscriptions`` (``status``, ``since_created_at``/``until_created_at``) and
``GET /v2/affiliates/sellers`` (``status[]``, ``since``/``until`` on a ``created_at`` when a seller has one),
all with ``page``, ``limit`` (at most 100) and ``include``, in Laravel's envelope ``{data, links, meta}``.
Array filters are comma-joined, as the SDK sends them. The rules API is in ``sandbox_rules``.

Control (``/_sandbox/...``, no webhook is ever sent): ``POST /_sandbox/objects`` adds or changes objects,
so a test or a user can make a webhook go missing; ``POST /_sandbox/synthesize`` makes realistic orders paid
over the past days, the same as ``sandbox --synthesize N``. Synthesized orders are copies of the packaged
fixtures with new ids, dates and customers: no field the fixtures do not carry.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import random
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol
from urllib.parse import urlencode

from aiohttp import web

Shape = Callable[[str, dict[str, Any], str], dict[str, Any]]  # (kind, object, include) → the object as answered
Oversized = Callable[[web.Request, int], Awaitable[web.StreamResponse]]


class Sandbox(Protocol):
    """The sandbox's state as this module uses it (``router.demo.sandbox.Sandbox``)."""

    fixtures: dict[str, dict[str, dict[str, Any]]]
    token: str | None
    faults: dict[str, list[Any]]
    requests: list[dict[str, Any]]


MAX_LIMIT = 100
DEFAULT_LIMIT = 10
FIRST_NAMES = ("Anna", "Bilal", "Chantal", "Daan", "Emma", "Fatima", "Gijs", "Hanna", "Ivo", "Julia", "Kees", "Lotte")
LAST_NAMES = ("Jansen", "de Vries", "Bakker", "Visser", "Smit", "Meijer", "de Boer", "Mulder", "Bos", "Vos")
CITIES = (("Amsterdam", "1015CV"), ("Utrecht", "3511ED"), ("Rotterdam", "3011AD"), ("Zwolle", "8011CW"))


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def _api_time(text: str) -> str:
    """A filter's ``Y-m-d H:i:s`` (or ``Y-m-d``) as the ``YYYY-MM-DDTHH:MM:SS`` prefix of stored ISO times."""
    text = text.strip().replace(" ", "T")
    return text if "T" in text else f"{text}T00:00:00"


def _values(query: Any, *names: str) -> set[str]:
    found: set[str] = set()
    for name in names:
        for raw in query.getall(name, []):
            found.update(part.strip() for part in raw.split(",") if part.strip())
    return found


Window = tuple[str | None, str | None]


def _window(since: str | None, until: str | None, *, day: bool = False) -> Window:
    """The bounds of a time filter as prefixes of the stored ISO times (computed once per request)."""
    if day:
        return (since and since.strip()[:10], until and until.strip()[:10])
    return (since and _api_time(since), until and _api_time(until))


def _in_range(value: str | None, window: Window) -> bool:
    since, until = window
    if since is None and until is None:
        return True
    if not value:
        return False
    value = value[: len(since or until or "")]
    return (since is None or value >= since) and (until is None or value <= until)


def _order_filter(query: Any) -> Callable[[dict[str, Any]], bool]:
    statuses = _values(query, "payment_status", "payment_status[]")
    invoice_statuses = _values(query, "invoice_status")
    paid = _window(query.get("since_paid_at"), query.get("until_paid_at"))
    invoiced = _window(query.get("since_invoice_date"), query.get("until_invoice_date"), day=True)

    def keep(order: dict[str, Any]) -> bool:
        found = order.get("payment")
        payment: dict[str, Any] = found if isinstance(found, dict) else {}
        if statuses and payment.get("status") not in statuses:
            return False
        if invoice_statuses and order.get("invoice_status") not in invoice_statuses:
            return False
        return _in_range(payment.get("paid_at"), paid) and _in_range(order.get("invoice_date"), invoiced)

    return keep


def _subscription_filter(query: Any) -> Callable[[dict[str, Any]], bool]:
    statuses = _values(query, "status", "status[]")
    created = _window(query.get("since_created_at"), query.get("until_created_at"), day=True)
    return lambda s: (not statuses or s.get("status") in statuses) and _in_range(s.get("created_at"), created)


def _seller_filter(query: Any) -> Callable[[dict[str, Any]], bool]:
    statuses = _values(query, "status", "status[]")
    window = _window(query.get("since"), query.get("until"), day=True)

    def keep(seller: dict[str, Any]) -> bool:
        if statuses and seller.get("status") not in statuses:
            return False
        # The fixtures' sellers carry no timestamps: only a seller that has one can fall outside a window.
        return "created_at" not in seller or _in_range(seller.get("created_at"), window)

    return keep


SORT_KEYS: dict[str, Callable[[dict[str, Any]], str]] = {
    "paid_at": lambda o: str((o.get("payment") or {}).get("paid_at") or ""),
    "invoice_number": lambda o: str(o.get("invoice_number") or ""),
    "invoice_date": lambda o: str(o.get("invoice_date") or ""),
    "name": lambda o: str(o.get("name") or ""),
}
FILTERS = {"orders": _order_filter, "subscriptions": _subscription_filter, "sellers": _seller_filter}


def _positive(text: str | None, default: int) -> int:
    try:
        return max(1, int(text)) if text is not None else default
    except ValueError:
        return default


def paginate(request: web.Request, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Laravel's paginator envelope around one page of ``items``."""
    limit = min(MAX_LIMIT, _positive(request.query.get("limit"), DEFAULT_LIMIT))
    page = _positive(request.query.get("page"), 1)
    total = len(items)
    last = max(1, -(-total // limit))
    start = (page - 1) * limit
    chunk = items[start : start + limit]
    base = str(request.url.with_query(None))

    def link(number: int) -> str:
        query = [(k, v) for k, v in request.query.items() if k != "page"] + [("page", str(number))]
        return f"{base}?{urlencode(query)}"

    return {
        "data": chunk,
        "links": {
            "first": link(1),
            "last": link(last),
            "prev": link(page - 1) if page > 1 else None,
            "next": link(page + 1) if page < last else None,
        },
        "meta": {
            "current_page": page,
            "from": start + 1 if chunk else None,
            "last_page": last,
            "path": base,
            "per_page": limit,
            "to": start + len(chunk) if chunk else None,
            "total": total,
        },
    }


async def gate(sandbox: Sandbox, request: web.Request, oversized: Oversized) -> web.StreamResponse | None:
    """Record the request, play a queued fault, check Accept and the token: an answer, or None to go on."""
    sandbox.requests.append(
        {
            "method": request.method,
            "path": request.path,
            "query": dict(request.query),
            "authorization": request.headers.get("Authorization", ""),
            "user_agent": request.headers.get("User-Agent", ""),
            "accept": request.headers.get("Accept", ""),
        }
    )
    queued = sandbox.faults.get(request.path)
    if queued:
        fault = queued[0]
        fault.times -= 1
        if fault.times <= 0:
            queued.pop(0)
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.oversize:
            return await oversized(request, fault.oversize)
        headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
        return web.json_response(fault.body or {"message": "Simulated failure"}, status=fault.status, headers=headers)
    if "application/json" not in request.headers.get("Accept", ""):
        raise web.HTTPFound("/login")
    if sandbox.token and request.headers.get("Authorization") != f"Bearer {sandbox.token}":
        return web.json_response({"message": "Unauthenticated."}, status=401)
    return None


def _listing(sandbox: Sandbox, kind: str, shape: Shape, oversized: Oversized) -> Callable[[web.Request], Any]:
    # The filtered, sorted list of a query, made on its first page and reused for its later pages (as a
    # database would page through one result), so paging through 10,000 objects does not sort them 100 times.
    results: dict[tuple[tuple[str, str], ...], list[dict[str, Any]]] = {}

    def matching(request: web.Request) -> list[dict[str, Any]]:
        key = tuple(sorted((k, v) for k, v in request.query.items() if k not in ("page", "limit", "include")))
        if request.query.get("page", "1") != "1" and key in results:
            return results[key]
        keep = FILTERS[kind](request.query)
        found = [obj for obj in sandbox.fixtures.get(kind, {}).values() if keep(obj)]
        sort = SORT_KEYS.get(request.query.get("sort") or "")
        if sort is not None:
            found.sort(key=sort, reverse=request.query.get("direction", "asc").lower() == "desc")
        else:
            found.sort(key=lambda o: int(o["id"]) if str(o.get("id", "")).isdigit() else 0)
        if len(results) >= 32:
            results.clear()
        results[key] = found
        return found

    async def handler(request: web.Request) -> web.StreamResponse:
        refused = await gate(sandbox, request, oversized)
        if refused is not None:
            return refused
        page = paginate(request, matching(request))
        include = request.query.get("include", "")
        page["data"] = [shape(kind, obj, include) for obj in page["data"]]
        return web.json_response(page)

    return handler


def put_objects(sandbox: Sandbox, kind: str, objects: Iterable[dict[str, Any]]) -> list[str]:
    """Add objects, or change the fields given of existing ones (by ``id``); no webhook is sent."""
    if kind not in sandbox.fixtures:
        raise ValueError(f"unknown kind {kind!r} (known: {', '.join(sandbox.fixtures)})")
    table = sandbox.fixtures.setdefault(kind, {})
    changed = []
    for obj in objects:
        ident = str(obj["id"])
        if ident in table:
            table[ident].update(copy.deepcopy(obj))
        else:
            table[ident] = copy.deepcopy(obj)
        changed.append(ident)
    return changed


def synthesize_orders(
    sandbox: Sandbox, count: int, *, days: float = 30.0, seed: int = 13, now: dt.datetime | None = None
) -> list[str]:
    """Add ``count`` paid orders spread over the past ``days``, built from the fixture orders; returns the ids."""
    templates = list(sandbox.fixtures.get("orders", {}).values())
    if not templates:
        raise ValueError("there is no fixture order to build orders from")
    rng = random.Random(seed)
    now = now or dt.datetime.now(dt.UTC)
    table = sandbox.fixtures["orders"]
    next_id = max((int(i) for i in table if i.isdigit()), default=0) + 1
    made = []
    for number in range(count):
        ident = next_id + number
        order = copy.deepcopy(templates[number % len(templates)])
        paid = now - dt.timedelta(seconds=rng.uniform(60, days * 86400))
        _restamp(order, ident, paid, rng)
        table[str(ident)] = order
        made.append(str(ident))
    return made


def _restamp(order: dict[str, Any], ident: int, paid: dt.datetime, rng: random.Random) -> None:
    created = paid - dt.timedelta(seconds=rng.uniform(20, 600))
    reference = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    order.update(
        id=ident,
        reference=reference,
        invoice_number=f"{paid.year}-{ident:05d}",
        invoice_date=paid.strftime("%Y-%m-%d"),
        created_at=_iso(created),
        updated_at=_iso(paid + dt.timedelta(seconds=2)),
    )
    payment = order.get("payment")
    if isinstance(payment, dict):
        payment.update(order_id=ident, status="paid", paid_at=_iso(paid), transaction_id=f"tr_{rng.getrandbits(40):x}")
        if payment.get("url"):
            payment["url"] = payment["url"].rsplit("/", 1)[0] + "/" + reference
    contact = (order.get("billing") or {}).get("contact")
    if isinstance(contact, dict):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        contact.update(firstname=first, lastname=last, email=f"{first.lower()}.{ident}@example.nl")
        if contact.get("invoice_email"):
            contact["invoice_email"] = contact["email"]
    address = (order.get("billing") or {}).get("address")
    if isinstance(address, dict):
        address["city"], address["zipcode"] = rng.choice(CITIES)
    for line, item in enumerate(order.get("items") or []):
        if isinstance(item, dict) and "id" in item:
            item["id"] = ident * 10 + line


def register(app: web.Application, sandbox: Sandbox, shape: Shape, oversized: Oversized) -> None:
    """Add the list endpoints and the control endpoints to the sandbox's application;
    ``shape`` applies ``include=`` to an object, ``oversized`` streams a fault's oversized answer."""

    async def objects(request: web.Request) -> web.Response:
        body = await request.json()
        changed = {kind: put_objects(sandbox, kind, items) for kind, items in body.items()}
        return web.json_response({"changed": changed})

    async def synthesize(request: web.Request) -> web.Response:
        body = await request.json()
        ids = synthesize_orders(
            sandbox, int(body.get("orders", 0)), days=float(body.get("days", 30)), seed=int(body.get("seed", 13))
        )
        return web.json_response({"orders": ids})

    for kind, path in (
        ("orders", "/v2/orders"),
        ("subscriptions", "/v2/subscriptions"),
        ("sellers", "/v2/affiliates/sellers"),
    ):
        app.router.add_get(path, _listing(sandbox, kind, shape, oversized))
    app.router.add_post("/_sandbox/objects", objects)
    app.router.add_post("/_sandbox/synthesize", synthesize)
