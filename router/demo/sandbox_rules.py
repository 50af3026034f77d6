"""The sandbox's Webhook V2 rules: ``GET/POST /v2/rules``, ``GET/PATCH/DELETE /v2/rules/{id}``, bulk ``DELETE``.

The rules live in memory, shaped as the SDK's rule mock (research notes §4.1): ``{id, name, driver,
trigger_type, action_type, action_data{hook_url}, condition_data, readonly, ...}``. A rule created with
``readonly: true`` stands for one the shop owner must not lose (the real API sets that flag itself): it
cannot be changed or deleted.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from router.demo.sandbox_api import Oversized, Sandbox, _iso, _values, gate, paginate


@dataclass
class ShopRules:
    """The shop's rules (Plug&Pay's "integrations"), by id."""

    rules: dict[int, dict[str, Any]] = field(default_factory=dict)
    next_id: int = 1

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        now = _iso(dt.datetime.now(dt.UTC))
        rule = {
            "id": self.next_id,
            "name": body.get("name"),
            "driver": body.get("driver"),
            "trigger_type": body.get("trigger_type"),
            "action_type": body.get("action_type"),
            "action_data": _action_data(body.get("action_data")),
            "condition_data": body.get("condition_data") or {},
            "readonly": bool(body.get("readonly", False)),
            "created_at": now,
            "updated_at": None,
            "deleted_at": None,
        }
        self.rules[self.next_id] = rule
        self.next_id += 1
        return rule


def _action_data(given: Any) -> dict[str, Any]:
    # Requests carry ``url`` (the SDK's create test), responses ``hook_url`` (its show mock): keep both.
    data = dict(given) if isinstance(given, dict) else {}
    url = data.get("hook_url") or data.get("url")
    if url:
        data["hook_url"] = url
        data.pop("url", None)
    return data


def rules_api(sandbox: Sandbox, shop: ShopRules, oversized: Oversized) -> list[web.RouteDef]:
    async def index(request: web.Request) -> web.StreamResponse:
        refused = await gate(sandbox, request, oversized)
        if refused is not None:
            return refused
        drivers = _values(request.query, "driver")
        found = [r for r in shop.rules.values() if not drivers or r["driver"] in drivers]
        return web.json_response(paginate(request, found))

    async def create(request: web.Request) -> web.StreamResponse:
        refused = await gate(sandbox, request, oversized)
        if refused is not None:
            return refused
        body = await request.json()
        missing = [k for k in ("name", "driver", "trigger_type", "action_type") if not body.get(k)]
        if missing:
            return web.json_response({"message": "invalid", "errors": {k: ["required"] for k in missing}}, status=422)
        return web.json_response({"data": shop.create(body)}, status=201)

    async def one(request: web.Request) -> web.StreamResponse:
        refused = await gate(sandbox, request, oversized)
        if refused is not None:
            return refused
        ident = request.match_info["id"]
        rule = shop.rules.get(int(ident)) if ident.isdigit() else None
        if rule is None:
            return web.json_response({"message": "Not found."}, status=404)
        if request.method == "GET":
            return web.json_response({"data": rule})
        if rule["readonly"]:
            return web.json_response({"message": "This rule is read-only."}, status=403)
        if request.method == "DELETE":
            del shop.rules[rule["id"]]
            return web.Response(status=204)
        changes = await request.json()
        for key in ("name", "trigger_type", "action_type", "condition_data"):
            if key in changes:
                rule[key] = changes[key]
        if "action_data" in changes:
            rule["action_data"] = _action_data(changes["action_data"])
        rule["updated_at"] = _iso(dt.datetime.now(dt.UTC))
        return web.json_response({"data": rule})

    async def bulk_delete(request: web.Request) -> web.StreamResponse:
        refused = await gate(sandbox, request, oversized)
        if refused is not None:
            return refused
        ids = [int(i) for i in (await request.json()).get("ids", [])]
        for ident in ids:
            rule = shop.rules.get(ident)
            if rule is not None and not rule["readonly"]:
                del shop.rules[ident]
        return web.Response(status=204)

    return [
        web.get("/v2/rules", index),
        web.post("/v2/rules", create),
        web.delete("/v2/rules", bulk_delete),
        web.get("/v2/rules/{id}", one),
        web.patch("/v2/rules/{id}", one),
        web.delete("/v2/rules/{id}", one),
    ]


SHOP_RULES = web.AppKey("shop_rules", ShopRules)


def register(app: web.Application, sandbox: Sandbox, oversized: Oversized) -> None:
    """Add the rules API to the sandbox's application (its rules: ``app[SHOP_RULES]``)."""
    shop = ShopRules()
    app[SHOP_RULES] = shop
    app.router.add_routes(rules_api(sandbox, shop, oversized))
