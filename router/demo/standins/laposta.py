"""A small Laposta API v2 simulator (aiohttp, real socket) for the demo and the laposta connector tests.

It answers what the laposta connector relies on. Documented (api.laposta.nl/doc; Laposta's PHP library; DMT's
Laposta client, which models the error object): Basic auth with the API key as user name and no password;
``POST /v2/member`` with a form body (``list_id``, ``ip``, ``email``, ``source_url``, ``custom_fields[...]``,
``options[upsert]``, ``options[suppress_reactivation]``) answering ``{"member": {member_id, list_id, email,
state, signup_date, modified, ip, source_url, custom_fields}}``; errors as ``{"error": {"type", "message",
"code", "parameter"}}`` with codes 201 (empty), 203 (unknown list or field), 204 (the address exists; with the
existing ``member_id``) and 208 (not an e-mail address); states ``active``, ``unsubscribed`` and ``cleaned``;
an upsert of an unsubscribed member re-activates it unless ``suppress_reactivation`` is set; a limit answered
with 429 and ``Retry-After``. Not documented, so chosen here and switchable: the exact limit (``per_minute``, 30
as a secondary source gives for a free account), the 401 wording, and whether a suppressed re-activation answers
with the member left unsubscribed (``kept_unsubscribed_answer="member"``, the default) or with the 204 error
(``"exists"``). ``slow_create`` commits the next request and stalls before answering.
"""

from __future__ import annotations

import asyncio
import base64
import re
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from router.demo.standins import serve_app

API_KEY = "lp-test-key-JdMtbsMq2j"
LIST_ID = "BaImMu3JZA"
FIELDS = ("voornaam", "achternaam", "cursus")
NOW = "2025-03-14 09:13:42"
CUSTOM = re.compile(r"custom_fields\[([^\]]+)\](\[\])?")


def error(
    status: int, message: str, code: int | None = None, parameter: str | None = None, **extra: Any
) -> web.Response:
    body: dict[str, Any] = {"type": "invalid_input" if code else "invalid_request", "message": message}
    if code is not None:
        body["code"] = code
    if parameter is not None:
        body["parameter"] = parameter
    return web.json_response({"error": {**body, **extra}}, status=status)


@dataclass
class Hit:
    method: str
    path: str
    form: list[tuple[str, str]]
    at: float  # time.monotonic() on arrival
    status: int = 0


@dataclass
class LapostaServer:
    api_key: str = API_KEY
    lists: dict[str, tuple[str, ...]] = field(default_factory=lambda: {LIST_ID: FIELDS})  # list -> field names
    members: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (list, lower email) -> member
    per_minute: int = 30
    kept_unsubscribed_answer: str = "member"  # or "exists": the 204 error
    hits: list[Hit] = field(default_factory=list)
    faults: list[tuple[int, dict[str, str]]] = field(default_factory=list)  # the next answers of POST /v2/member
    slow_create: float = 0.0
    url: str = ""
    _window: deque[float] = field(default_factory=deque)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"{self.url}/v2"

    def member(self, email: str, list_id: str = LIST_ID) -> dict[str, Any] | None:
        return self.members.get((list_id, email.lower()))

    def add_member(self, email: str, state: str = "active", list_id: str = LIST_ID, **fields: Any) -> dict[str, Any]:
        member = {
            "member_id": secrets.token_hex(5),
            "list_id": list_id,
            "email": email,
            "state": state,
            "signup_date": NOW,
            "modified": None,
            "ip": "127.0.0.1",
            "source_url": "",
            "custom_fields": {name: fields.get(name, "") for name in self.lists[list_id]},
        }
        self.members[(list_id, email.lower())] = member
        return member

    def fail(self, status: int, headers: dict[str, str] | None = None, times: int = 1) -> None:
        self.faults.extend([(status, headers or {})] * times)

    async def wait_hits(self, count: int, timeout: float = 10.0) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(self.hits) >= count), timeout)

    def arrivals(self) -> dict[str, str]:
        """``laposta:<address>`` → what the list holds for it (the connector's ``receipt_key``)."""
        return {
            f"laposta:{email}": f"Laposta member {member['email']} ({member['state']}) of list {list_id}"
            for (list_id, email), member in self.members.items()
        }

    # ------------------------------------------------------------ server

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> LapostaServer:
        app = web.Application()
        app.router.add_post("/v2/member", self._add)
        self._runner, self.url = await serve_app(app, host, port)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _add(self, request: web.Request) -> web.Response:
        now = time.monotonic()
        pairs = [(str(k), str(v)) for k, v in (await request.post()).items()]
        hit = Hit(request.method, request.path, pairs, now)
        response = await self._answer(request, pairs, now)
        hit.status = response.status
        async with self._changed:
            self.hits.append(hit)
            self._changed.notify_all()
        return response

    async def _answer(self, request: web.Request, pairs: list[tuple[str, str]], now: float) -> web.Response:
        user, _, _ = base64.b64decode(request.headers.get("Authorization", "Basic Og==")[6:]).decode().partition(":")
        if user != self.api_key:
            return error(401, "No valid API key was provided")
        while self._window and self._window[0] <= now - 60.0:
            self._window.popleft()
        if len(self._window) >= self.per_minute:
            wait = max(1, round(self._window[0] + 60.0 - now))
            message = f"Too many requests, please try again in {wait} seconds"
            response = error(429, message)
            response.headers["Retry-After"] = str(wait)
            return response
        self._window.append(now)
        if self.faults:
            status, headers = self.faults.pop(0)
            response = error(status, f"Scripted {status}")
            response.headers.update(headers)
            return response
        return await self._upsert(pairs)

    async def _upsert(self, pairs: list[tuple[str, str]]) -> web.Response:
        form = dict(pairs)
        list_id = form.get("list_id", "")
        if list_id not in self.lists:
            return error(400, "Unknown list", 203, "list_id")
        for key in ("ip", "email"):
            if not form.get(key):
                return error(400, f"{key} is empty", 201, key)
        email = form["email"]
        if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
            return error(400, "Email address is invalid", 208, "email")
        fields: dict[str, Any] = {}
        for key, value in pairs:
            match = CUSTOM.fullmatch(key)
            if match is None:
                continue
            name = match.group(1)
            if name not in self.lists[list_id]:
                return error(400, f"Unknown field {name}", 203, f"custom_fields.{name}")
            if match.group(2):
                fields.setdefault(name, []).append(value)
            else:
                fields[name] = value
        upsert = form.get("options[upsert]") == "true"
        suppress = form.get("options[suppress_reactivation]") == "true"
        member = self.member(email, list_id)
        if member is not None:
            exists = error(400, "Email address exists", 204, "email", member_id=member["member_id"])
            if not upsert:
                return exists
            if member["state"] != "active" and suppress and self.kept_unsubscribed_answer == "exists":
                return exists
            if member["state"] != "active" and not suppress:
                member["state"] = "active"  # Laposta re-activates an unsubscribed member on upsert
            member["custom_fields"].update(fields)
            member["modified"] = NOW
        else:
            member = self.add_member(email, "active", list_id, **fields)
            member["ip"], member["source_url"] = form["ip"], form.get("source_url", "")
        if self.slow_create:
            delay, self.slow_create = self.slow_create, 0.0
            await asyncio.sleep(delay)  # committed, but the client gives up before it hears so
        return web.json_response({"member": member})
