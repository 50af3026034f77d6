"""A local Plug&Pay API simulator: the endpoints the router fetches, serving realistic fixtures.

It behaves like the real API where the research notes say how (``{"data": ...}`` envelopes, relations
present only when asked for with ``include=``, 404 for unknown ids, 401 without the token, a 302 when
``Accept: application/json`` is missing). Tests and the demo use it as a real server on 127.0.0.1, and
it can be told to misbehave: ``POST /_sandbox/faults`` queues error answers (status, Retry-After, delay)
for a path, or an oversized answer (``oversize``: a 200 whose JSON body streams that many bytes), and
``GET /_sandbox/requests`` shows what it was asked. ``reject_includes`` (``--reject-include`` on the command
line, ``POST /_sandbox/reject_includes`` at run time) makes it answer a request for those includes with a
400 naming them, as a Laravel API rejects an include it does not allow. Fixture files may carry a top-level
``_assumptions`` note (what the fixtures still guess); keys starting with ``_`` are not served.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import web

from router.demo import sandbox_api, sandbox_rules
from router.demo.standins import serve_app

RELATIONS = {
    "orders": {
        "billing": "billing",
        "items": "items",
        "payment": "payment",
        "discounts": "total_discounts",
        "taxes": "taxes",
        "tags": "tags",
        "comments": "comments",
        "checkout": "checkout",
    },
    "subscriptions": {
        "billing": "billing",
        "pricing": "pricing",
        "product": "product",
        "trial": "trial",
        "tags": "tags",
        "meta": "meta",
    },
    "sellers": {
        "address": "address",
        "contact": "contact",
        "profile": "profile",
        "statistics": "statistics",
        "payout_options": "payout_options",
        "payout_methods": "payout_methods",
    },
}


@dataclass
class Fault:
    status: int
    times: int = 1
    retry_after: str | None = None
    delay: float = 0.0
    body: Any = None
    oversize: int = 0  # > 0: answer 200 with a JSON body of this many bytes, streamed, never held in memory


@dataclass
class Sandbox:
    fixtures: dict[str, dict[str, dict[str, Any]]]
    token: str | None = None
    synthesize: bool = False
    tenant_id: int = 42  # the shop the token belongs to (``/v2/auth/tenants/me``)
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    reject_includes: set[str] = field(default_factory=set)

    def lookup(self, kind: str, ident: str) -> dict[str, Any] | None:
        found = self.fixtures.get(kind, {}).get(ident)
        if found is None and self.synthesize and ident.isdigit() and self.fixtures.get(kind):
            found = copy.deepcopy(next(iter(self.fixtures[kind].values())))
            found["id"] = int(ident)
            if isinstance(found.get("payment"), dict):
                found["payment"]["order_id"] = int(ident)
        return found


def load_fixtures(folder: str | Path | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    """Fixtures by resource: ``{"orders": {"1042": {...}}, ...}`` from a folder or the packaged set."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for kind in RELATIONS:
        if folder is None:
            text = resources.files("router.demo").joinpath("fixtures", f"{kind}.json").read_text(encoding="utf-8")
        else:
            path = Path(folder) / f"{kind}.json"
            text = path.read_text(encoding="utf-8") if path.exists() else "{}"
        out[kind] = {str(k): v for k, v in json.loads(text).items() if not str(k).startswith("_")}
    return out


def _shape(kind: str, obj: dict[str, Any], include: str) -> dict[str, Any]:
    wanted = {part.strip() for part in include.split(",") if part.strip()}
    relations = RELATIONS[kind]
    hidden = {key for name, key in relations.items() if name not in wanted}
    return {k: v for k, v in obj.items() if k not in hidden}


def make_app(sandbox: Sandbox) -> web.Application:
    async def serve(request: web.Request, kind: str) -> web.StreamResponse:
        ident = request.match_info["id"]
        refused_early = await sandbox_api.gate(sandbox, request, stream_oversized)
        if refused_early is not None:
            return refused_early
        include = request.query.get("include", "")
        refused = sorted(sandbox.reject_includes & {part.strip() for part in include.split(",")})
        if refused:
            allowed = ", ".join(name for name in RELATIONS[kind] if name not in sandbox.reject_includes)
            message = (
                f"Requested include(s) `{', '.join(refused)}` are not allowed. Allowed include(s) are `{allowed}`."
            )
            return web.json_response({"message": message}, status=400)
        found = sandbox.lookup(kind, ident)
        if found is None:
            return web.json_response({"message": "Not found."}, status=404)
        return web.json_response({"data": _shape(kind, found, include)})

    async def orders(request: web.Request) -> web.StreamResponse:
        return await serve(request, "orders")

    async def subscriptions(request: web.Request) -> web.StreamResponse:
        return await serve(request, "subscriptions")

    async def sellers(request: web.Request) -> web.StreamResponse:
        return await serve(request, "sellers")

    async def tenant(request: web.Request) -> web.Response:
        if sandbox.token and request.headers.get("Authorization") != f"Bearer {sandbox.token}":
            return web.json_response({"message": "Unauthenticated."}, status=401)
        return web.json_response({"data": {"id": sandbox.tenant_id, "name": "Sandbox Shop", "plan": "lite"}})

    async def add_fault(request: web.Request) -> web.Response:
        body = await request.json()
        fault = Fault(
            status=int(body["status"]),
            times=int(body.get("times", 1)),
            retry_after=None if body.get("retry_after") is None else str(body["retry_after"]),
            delay=float(body.get("delay", 0)),
            body=body.get("body"),
            oversize=int(body.get("oversize", 0)),
        )
        sandbox.faults.setdefault(str(body["path"]), []).append(fault)
        return web.json_response({"queued": True})

    async def reject_includes(request: web.Request) -> web.Response:
        body = await request.json()
        sandbox.reject_includes = {str(name) for name in body.get("includes", [])}
        return web.json_response({"reject_includes": sorted(sandbox.reject_includes)})

    async def list_requests(request: web.Request) -> web.Response:
        return web.json_response(sandbox.requests)

    async def clear(request: web.Request) -> web.Response:
        sandbox.requests.clear()
        sandbox.faults.clear()
        return web.json_response({"cleared": True})

    app = web.Application()
    app.router.add_get("/v2/orders/{id}", orders)
    app.router.add_get("/v2/subscriptions/{id}", subscriptions)
    app.router.add_get("/v2/affiliates/sellers/{id}", sellers)
    app.router.add_get("/v2/auth/tenants/me", tenant)
    app.router.add_post("/_sandbox/faults", add_fault)
    app.router.add_post("/_sandbox/reject_includes", reject_includes)
    app.router.add_get("/_sandbox/requests", list_requests)
    app.router.add_delete("/_sandbox/requests", clear)
    sandbox_api.register(app, sandbox, _shape, stream_oversized)  # list and control endpoints
    sandbox_rules.register(app, sandbox, stream_oversized)  # the shop's Webhook V2 rules
    return app


async def stream_oversized(request: web.Request, size: int, chunk: int = 64 * 1024) -> web.StreamResponse:
    """A 200 whose JSON body (an order padded with one long string) is ``size`` bytes, written in chunks."""
    head, tail = b'{"data": {"id": 1, "padding": "', b'"}}'
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    left = max(0, size - len(head) - len(tail))
    try:
        await response.write(head)
        while left > 0:
            await response.write(b"x" * min(chunk, left))
            left -= chunk
        await response.write(tail)
        await response.write_eof()
    except (ConnectionError, RuntimeError):
        pass  # the client stopped reading: that is what a careful client does
    return response


class SandboxServer:
    """The sandbox on a real socket of ``host`` (port 0: a free one, bound by the server itself)."""

    def __init__(self, state: Sandbox):
        self.state = state
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> SandboxServer:
        self._runner, self.url = await serve_app(make_app(self.state), host, port)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def fail(self, path: str, status: int, *, times: int = 1, retry_after: str | None = None) -> None:
        """Answer the next ``times`` requests for ``path`` with ``status`` (and ``Retry-After``)."""
        self.state.faults.setdefault(path, []).append(Fault(status, times, retry_after))
