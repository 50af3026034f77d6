"""A Slack and Discord incoming-webhook simulator (aiohttp, real socket) for the demo and the chat connector tests.

One server plays both providers on their own paths, so one ``base_url`` serves a connector of either type:
Slack's ``POST /services/T.../B.../<secret>`` and Discord's ``POST /api[/v10]/webhooks/<id>/<token>``. Slack
(api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks, api.slack.com/docs/rate-limits):
``200 ok`` in plain text; plain-text errors ``400 invalid_payload``, ``403 action_prohibited``, ``404
channel_not_found``, ``410 channel_is_archived``, ``500 rollup_error``; ``429`` with ``Retry-After`` past a
window of a few messages per second (Slack gives no number; the body ``rate_limited`` is as seen in the wild,
as are ``404 no_service`` for an unknown webhook, ``403 invalid_token`` for a wrong secret and ``400 no_text``
/ ``invalid_blocks`` / ``invalid_metadata_format``). Discord (github discord/discord-api-docs:
``docs/resources/webhook.mdx``, ``docs/topics/rate-limits.md``, ``docs/topics/opcodes-and-status-codes.md``,
``docs/reference.md``): ``204``, or ``200`` and the message with ``?wait=true``; JSON errors ``404
{"message": "Unknown Webhook", "code": 10015}``, ``401 {"message": "Invalid Webhook Token", "code": 50027}``,
``400 {"message": "Cannot send an empty message", "code": 50006}``, ``400 {"code": 50035, "errors": {...},
"message": "Invalid Form Body"}`` (content over 2000 characters, more than 10 embeds) and ``50109`` for a body
that is not JSON; a bucket per webhook (5 per 2 s, as commonly reported) with ``X-RateLimit-Limit/-Remaining/
-Reset/-Reset-After/-Bucket`` on every answer and, past it, ``429`` with ``Retry-After``, ``X-RateLimit-Scope:
user`` and ``{"message": "You are being rate limited.", "retry_after": 1.5, "global": false}``. Every message
is kept with whom it would have notified (``pings``: Slack's ``<!channel>``-style sequences, Discord's
``@everyone`` / ``<@id>`` unless ``allowed_mentions`` stops them); a test scripts one answer per provider
(``fail``), a webhook that is archived or deleted (``set_state``), and ``stall`` (the message is posted, then
the answer comes too late: the lost-response case a retry runs into).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import math
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from connectors.discord import discord_receipt
from router.demo.standins import serve_app

SLACK_PINGS = re.compile(r"<(![a-z^]+[^>]*|@[UW][A-Z0-9]+)>")  # <!channel>, <!here>, <!subteam^S1>, <@U123>
DISCORD_PINGS = re.compile(r"@everyone|@here|<@[!&]?\d+>")


@dataclass
class Message:
    provider: str  # "slack" or "discord"
    hook: str  # the Slack path or the Discord webhook id
    body: dict[str, Any]
    pings: list[str]
    at: float  # time.monotonic() on arrival

    @property
    def text(self) -> str:
        return str(self.body.get("text" if self.provider == "slack" else "content") or "")

    @property
    def delivery_key(self) -> str | None:
        metadata = self.body.get("metadata")
        payload = metadata.get("event_payload") if isinstance(metadata, dict) else None
        return str(payload["delivery_key"]) if isinstance(payload, dict) and "delivery_key" in payload else None


@dataclass
class Hit:
    provider: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    status: int = 0
    at: float = field(default_factory=time.monotonic)  # on arrival


@dataclass
class Webhook:
    state: str = "ok"  # ok, archived (Slack 410), deleted (404), prohibited (Slack 403)
    token: str = ""  # the secret part of the URL
    window: list[float] = field(default_factory=list)  # arrival times of the current rate window


@dataclass
class ChatServer:
    slack_rate: tuple[int, float] = (3, 1.0)  # about 1/s with short bursts tolerated [Slack gives no number]
    discord_rate: tuple[int, float] = (5, 2.0)
    slack: dict[str, Webhook] = field(default_factory=dict)  # "T/B" -> webhook
    discord: dict[str, Webhook] = field(default_factory=dict)  # webhook id -> webhook
    messages: list[Message] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    faults: dict[str, list[tuple[int, Any, dict[str, str]]]] = field(default_factory=dict)
    stall: float = 0.0  # the next message is posted, then answered this many seconds late
    refuse_metadata: bool = False  # a Slack webhook that refuses message metadata (400 invalid_payload)
    url: str = ""
    _ids: Any = field(default_factory=lambda: itertools.count(1250000000000000001))
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _runner: web.AppRunner | None = None

    # ------------------------------------------------------------ setting up

    def add_slack(self, state: str = "ok") -> str:
        """A new Slack webhook; its path (``/services/T.../B.../secret``), to append to ``url`` or a real host."""
        team, bot = f"T{secrets.token_hex(4).upper()}", f"B{secrets.token_hex(4).upper()}"
        hook = Webhook(state, secrets.token_urlsafe(18))
        self.slack[f"{team}/{bot}"] = hook
        return f"/services/{team}/{bot}/{hook.token}"

    def add_discord(self, state: str = "ok") -> str:
        """A new Discord webhook; its path (``/api/webhooks/<id>/<token>``)."""
        ident = str(next(self._ids))
        hook = Webhook(state, secrets.token_urlsafe(48))
        self.discord[ident] = hook
        return f"/api/webhooks/{ident}/{hook.token}"

    def set_state(self, path: str, state: str) -> None:
        """Archive (Slack), delete or prohibit the webhook at ``path``."""
        self._lookup(path)[1].state = state

    def fail(self, provider: str, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        """The next request to ``provider`` gets this answer (text or JSON body) and posts nothing."""
        self.faults.setdefault(provider, []).append((status, body, headers or {}))

    def sent_to(self, path: str) -> list[Message]:
        return [m for m in self.messages if m.hook == self._key(path)]

    async def wait_messages(self, count: int, timeout: float = 10.0) -> list[Message]:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(self.messages) >= count), timeout)
        return self.messages

    def arrivals(self) -> dict[str, str]:
        """What arrived, for the demo's report: Slack by the delivery key in its metadata, Discord by its text."""
        found: dict[str, str] = {}
        for message in self.messages:
            text = " ".join(message.text.split())
            name = "Slack" if message.provider == "slack" else "Discord"
            key = message.delivery_key if message.provider == "slack" else discord_receipt(message.text)
            if key:
                found[key] = f'{name} message: "{text}"'
        return found

    @staticmethod
    def _key(path: str) -> str:
        parts = path.strip("/").split("/")
        return "/".join(parts[1:3]) if parts[0] == "services" else parts[-2]

    def _lookup(self, path: str) -> tuple[str, Webhook]:
        provider = "slack" if path.strip("/").startswith("services") else "discord"
        return provider, (self.slack if provider == "slack" else self.discord)[self._key(path)]

    # ------------------------------------------------------------ server

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> ChatServer:
        app = web.Application()
        app.router.add_post("/services/{team}/{bot}/{secret}", self._slack)
        app.router.add_post("/api/webhooks/{id}/{token}", self._discord)
        app.router.add_post(r"/api/v{version:\d+}/webhooks/{id}/{token}", self._discord)
        self._runner, self.url = await serve_app(app, host, port)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _record(self, hit: Hit, response: web.StreamResponse, message: Message | None) -> web.StreamResponse:
        hit.status = response.status
        async with self._changed:
            self.hits.append(hit)
            if message is not None:
                self.messages.append(message)
            self._changed.notify_all()
        if message is not None and self.stall:
            wait, self.stall = self.stall, 0.0
            await asyncio.sleep(wait)
        return response

    def _scripted(self, provider: str) -> web.Response | None:
        if not self.faults.get(provider):
            return None
        status, body, headers = self.faults[provider].pop(0)
        if body is None or isinstance(body, str):
            return web.Response(status=status, text=body or "", headers=headers)
        return web.json_response(body, status=status, headers=headers)

    @staticmethod
    def _over(hook: Webhook, rate: tuple[int, float], now: float) -> float:
        """Seconds until the webhook's window has room again (0: room now, and this request takes a place)."""
        limit, per = rate
        hook.window[:] = [t for t in hook.window if t > now - per]
        if len(hook.window) >= limit:
            return hook.window[0] + per - now
        hook.window.append(now)
        return 0.0

    # ------------------------------------------------------------ Slack

    async def _slack(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        hit = Hit("slack", request.path, dict(request.query), dict(request.headers), raw)
        answer, message = self._slack_answer(request, raw)
        return await self._record(hit, answer, message)

    def _slack_answer(self, request: web.Request, raw: bytes) -> tuple[web.Response, Message | None]:
        def text(status: int, body: str, headers: dict[str, str] | None = None) -> tuple[web.Response, None]:
            return web.Response(status=status, text=body, content_type="text/html", headers=headers), None

        info = request.match_info
        hook = self.slack.get(f"{info['team']}/{info['bot']}")
        if hook is None:
            return text(404, "no_service")
        if info["secret"] != hook.token:
            return text(403, "invalid_token")
        scripted = self._scripted("slack")
        if scripted is not None:
            return scripted, None
        if hook.state == "deleted":
            return text(404, "channel_not_found")
        if hook.state == "archived":
            return text(410, "channel_is_archived")
        if hook.state == "prohibited":
            return text(403, "action_prohibited")
        wait = self._over(hook, self.slack_rate, time.monotonic())
        if wait:
            return text(429, "rate_limited", {"Retry-After": str(math.ceil(wait))})
        try:
            body = json.loads(raw)
        except ValueError:
            return text(400, "invalid_payload")
        if not isinstance(body, dict):
            return text(400, "invalid_payload")
        blocks = body.get("blocks")
        if blocks is not None and not (
            isinstance(blocks, list) and all(isinstance(b, dict) and b.get("type") for b in blocks)
        ):
            return text(400, "invalid_blocks")
        if not str(body.get("text") or "").strip() and not blocks:
            return text(400, "no_text")
        metadata = body.get("metadata")
        if metadata is not None:
            if self.refuse_metadata:
                return text(400, "invalid_payload")
            if not (
                isinstance(metadata, dict)
                and re.fullmatch(r"[A-Za-z0-9_]+", str(metadata.get("event_type") or ""))
                and isinstance(metadata.get("event_payload"), dict)
            ):
                return text(400, "invalid_metadata_format")
        pings = SLACK_PINGS.findall(json.dumps([body.get("text"), blocks]))
        message = Message("slack", f"{info['team']}/{info['bot']}", body, pings, time.monotonic())
        return web.Response(text="ok", content_type="text/html"), message

    # ------------------------------------------------------------ Discord

    async def _discord(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        hit = Hit("discord", request.path, dict(request.query), dict(request.headers), raw)
        answer, message = self._discord_answer(request, raw)
        return await self._record(hit, answer, message)

    def _discord_answer(self, request: web.Request, raw: bytes) -> tuple[web.Response, Message | None]:
        def error(
            status: int, body: dict[str, Any], headers: dict[str, str] | None = None
        ) -> tuple[web.Response, None]:
            return web.json_response(body, status=status, headers=headers), None

        ident = request.match_info["id"]
        hook = self.discord.get(ident)
        if hook is None or hook.state == "deleted":
            return error(404, {"message": "Unknown Webhook", "code": 10015})
        if request.match_info["token"] != hook.token:
            return error(401, {"message": "Invalid Webhook Token", "code": 50027})
        scripted = self._scripted("discord")
        if scripted is not None:
            return scripted, None
        now = time.monotonic()
        wait = self._over(hook, self.discord_rate, now)
        limit, per = self.discord_rate
        reset_after = (hook.window[0] + per - now) if hook.window else per
        headers = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(max(0, limit - len(hook.window))),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": f"webhook-{ident[-6:]}",
        }
        if wait:
            headers.update({"Retry-After": str(math.ceil(wait)), "X-RateLimit-Scope": "user"})
            limited = {"message": "You are being rate limited.", "retry_after": round(wait, 3), "global": False}
            return error(429, limited, headers)
        try:
            body = json.loads(raw)
        except ValueError:
            return error(400, {"message": "The request body contains invalid JSON.", "code": 50109})
        if not isinstance(body, dict):
            return error(400, {"message": "The request body contains invalid JSON.", "code": 50109})
        invalid = self._discord_form_errors(body)
        if invalid:
            return error(400, {"code": 50035, "errors": invalid, "message": "Invalid Form Body"}, headers)
        content, embeds = str(body.get("content") or ""), body.get("embeds") or []
        if not content.strip() and not embeds:
            return error(400, {"message": "Cannot send an empty message", "code": 50006}, headers)
        message = Message("discord", ident, body, self._discord_pings(body), now)
        if request.query.get("wait", "").lower() not in ("true", "1"):
            return web.Response(status=204, headers=headers), message
        stored = {
            "id": str(next(self._ids)),
            "type": 0,
            "content": content,
            "channel_id": "1250000000000000000",
            "author": {"id": ident, "username": body.get("username") or "Plug&Pay", "bot": True},
            "embeds": embeds,
            "mentions": [],
            "mention_everyone": "@everyone" in message.pings,
            "timestamp": dt.datetime.now(dt.UTC).isoformat(),
            "webhook_id": ident,
        }
        return web.json_response(stored, headers=headers), message

    @staticmethod
    def _discord_form_errors(body: dict[str, Any]) -> dict[str, Any]:
        def too_long(limit: int) -> dict[str, Any]:
            return {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": f"Must be {limit} or fewer in length."}]}

        errors: dict[str, Any] = {}
        if len(str(body.get("content") or "")) > 2000:
            errors["content"] = too_long(2000)
        embeds = body.get("embeds")
        if embeds is not None and (not isinstance(embeds, list) or len(embeds) > 10):
            errors["embeds"] = too_long(10)
        return errors

    @staticmethod
    def _discord_pings(body: dict[str, Any]) -> list[str]:
        """Whom the content would notify: every mention, unless ``allowed_mentions`` says otherwise."""
        found: list[str] = DISCORD_PINGS.findall(str(body.get("content") or ""))
        allowed = body.get("allowed_mentions")
        if not isinstance(allowed, dict):
            return found
        parse = set(allowed.get("parse") or [])
        kinds = {"@everyone": "everyone", "@here": "everyone"}
        return [p for p in found if kinds.get(p, "roles" if p.startswith("<@&") else "users") in parse]
