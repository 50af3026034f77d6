"""The Discord connector (``type: discord``): one message per delivery to a Discord channel webhook.

Settings: ``webhook_url`` (the secret URL, ``https://discord.com/api/webhooks/<id>/<token>``), ``base_url``
(send the webhook's path there instead: a stand-in, a proxy), ``allow_mentions``, ``username``,
``avatar_url`` and ``timeout``. An action has ``text`` (Discord's ``content``) and/or ``embeds`` (a YAML list or
a template ending in ``| tojson``), and may override ``username`` / ``avatar_url``; an alert's plain
``{"text": ...}`` is a complete action. Customer-typed text goes into the JSON body only, and every message
carries ``allowed_mentions: {"parse": []}`` (unless ``allow_mentions`` is set), so a name such as
``@everyone`` shows as typed and pings nobody. Text over Discord's 2000 characters is cut (with ``…``) rather
than refused. Discord has no idempotency key for webhooks and does not deduplicate: a retry after a timeout
can post the message twice. The message is posted with ``?wait=true`` (unless the URL says ``wait``), so
Discord confirms it was saved and answers ``200`` with the message (its id is kept with the attempt); a
``204`` (no wait) counts as sent too. Answers (discord-api-docs ``resources/webhook.mdx``,
``topics/rate-limits.md``, ``topics/opcodes-and-status-codes.md``): errors are JSON ``{"message", "code",
"errors"?}``; ``404`` (``Unknown Webhook``, 10015) and ``401`` (``Invalid Webhook Token``, 50027) leave the
webhook dead at once and not called again until a reload (Discord restricts callers who keep using a
deleted webhook, and counts 401s toward its ban of an IP); ``429`` carries ``retry_after`` (seconds, a float) in
the body and ``Retry-After`` in a header: the longer one is honoured and pauses the whole connector. Discord
asks callers to read its rate-limit headers rather than hard-code limits: when an answer says
``X-RateLimit-Remaining: 0`` the connector waits ``X-RateLimit-Reset-After`` before the next message. The
default rate limit, 5 per 2 s per webhook, is the bucket commonly reported, not a documented number.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from connectors.base import ConnectorDefaults, DeliveryError, Field, Limiter, Outgoing, Permanent, Sent
from connectors.chat import ChatConnector, Provider, check_hook, rendered_list, retry_after_of
from toolkit.client import Response
from toolkit.status import classify_status, parse_retry_after
from toolkit.units import Rate

DISCORD = Provider(
    name="Discord",
    hosts=("discord.com", "discordapp.com", "ptb.discord.com", "canary.discord.com"),
    example="https://discord.com/api/webhooks/<id>/<token>",
    path=re.compile(r"/api(?:/v\d+)?/webhooks/\d+/[^/?#]+"),
)
MAX_CONTENT = 2000  # characters of ``content``
MAX_EMBEDS = 10
HINTS = {
    10015: "the webhook was deleted: make a new one and update webhook_url",
    50027: "the webhook URL's token is wrong or was reset: copy the URL again from Discord",
    50006: "the message is empty",
    50035: "Discord refused a field",
    220001: "the webhook posts into a forum channel, which needs a thread: use a webhook of a text channel",
}


def discord_content(text: str) -> str:
    """``text`` as Discord's ``content``: cut to 2000 characters (the last one ``…``) instead of refused."""
    return text if len(text) <= MAX_CONTENT else text[: MAX_CONTENT - 1] + "…"


def discord_receipt(content: str) -> str:
    """The key a message is known by where no delivery key can go (the demo's report matches arrivals by it)."""
    return "discord:" + hashlib.sha256(content.encode()).hexdigest()[:16]


def discord_error(response: Response) -> tuple[str, int | None]:
    """A reason from Discord's JSON error (``message``, ``code``, the fields of ``errors``), and the code."""
    try:
        body = response.json()
    except ValueError:
        return " ".join(response.text.split())[:200], None
    if not isinstance(body, Mapping):
        return " ".join(response.text.split())[:200], None
    code = body.get("code") if isinstance(body.get("code"), int) else None
    parts = [str(body.get("message") or "error") + (f" (code {code})" if code is not None else "")]
    parts += _field_errors(body.get("errors"), "")[:3]
    if code in HINTS:
        parts.append(HINTS[code])
    return "; ".join(parts)[:400], code


def _field_errors(errors: Any, where: str) -> list[str]:
    """``embeds.0.title: Must be 256 or fewer in length.`` for each leaf of Discord's nested ``errors``."""
    if not isinstance(errors, Mapping):
        return []
    found: list[str] = []
    for item in errors.get("_errors") or []:
        if isinstance(item, Mapping):
            found.append(f"{where or 'body'}: {item.get('message') or item.get('code')}")
    for key, value in errors.items():
        if key != "_errors":
            found += _field_errors(value, f"{where}.{key}" if where else str(key))
    return found


class DiscordConnector(ChatConnector):
    type: ClassVar[str] = "discord"
    provider: ClassVar[Provider] = DISCORD
    gone_statuses: ClassVar[frozenset[int]] = frozenset({401, 404})
    settings_fields: ClassVar[Mapping[str, Field]] = {
        **ChatConnector.common_fields,
        "username": Field("str"),
        "avatar_url": Field("str"),
    }
    action_keys: ClassVar[frozenset[str]] = frozenset({"text", "embeds", "username", "avatar_url"})
    text_keys: ClassVar[frozenset[str]] = frozenset({"text", "username", "avatar_url"})

    def __init__(
        self, name: str, settings: Mapping[str, Any], defaults: ConnectorDefaults, *, limiter: Limiter | None = None
    ):
        super().__init__(name, settings, defaults, limiter=limiter)
        self.username = str(settings.get("username") or "")
        self.avatar_url = str(settings.get("avatar_url") or "")
        if not re.search(r"(?:^|&)wait=", self.hook.query):
            self.url = self.hook.url + ("&" if self.hook.query else "?") + "wait=true"

    @staticmethod
    def check_settings(settings: Mapping[str, Any]) -> list[tuple[str, str]]:
        return check_hook(settings, DISCORD)

    @staticmethod
    def check_action(action: Mapping[str, Any]) -> list[tuple[str, str]]:
        if "text" not in action and "embeds" not in action:
            return [("text", "a Discord message needs text (or embeds)")]
        embeds = action.get("embeds")
        if embeds is not None and not isinstance(embeds, str | list | Mapping):
            return [("embeds", "expected a list of embeds (or a template ending in '| tojson')")]
        if isinstance(embeds, list) and len(embeds) > MAX_EMBEDS:
            return [("embeds", f"Discord takes at most {MAX_EMBEDS} embeds per message, got {len(embeds)}")]
        return []

    @classmethod
    def check_rendered(cls, request: Mapping[str, Any], settings: Mapping[str, Any]) -> list[str]:
        """What ``send`` would refuse: no text and no embeds, embeds that are not a list of mappings, too many."""
        try:
            message_body(request, settings, allow_mentions=True)
        except Permanent as exc:
            return [exc.message]
        return []

    @classmethod
    def default_rate(cls, settings: Mapping[str, Any]) -> Rate:
        return Rate(5, 2.0)

    @classmethod
    def receipt_key(cls, request: Mapping[str, Any]) -> str | None:
        text = request.get("text")
        return discord_receipt(discord_content(str(text))) if text else None

    async def send(self, out: Outgoing) -> Sent:
        defaults = {"username": self.username, "avatar_url": self.avatar_url}
        response = await self.post(message_body(out.request, defaults, allow_mentions=self.allow_mentions))
        if response.is_success:
            self._pace(response)
            return self._sent(response)
        if response.status_code == 429:
            raise self.refuse(self._rate_limited(response))
        reason, _ = discord_error(response)
        try:
            return classify_status(response.status_code, reason, response.headers.get("Retry-After"))
        except DeliveryError as exc:
            raise self.refuse(exc) from None

    def _sent(self, response: Response) -> Sent:
        try:
            message = response.json() if response.content else {}
        except ValueError:
            message = {}
        if not isinstance(message, Mapping) or not message.get("id"):
            return Sent(response.status_code, "Discord: accepted", {"status": response.status_code})
        result = {"status": response.status_code, "message_id": str(message["id"])}
        if message.get("channel_id"):
            result["channel_id"] = str(message["channel_id"])
        return Sent(response.status_code, f"Discord message {message['id']}", result)

    def _pace(self, response: Response) -> None:
        """Discord's headers say the bucket is empty: hold the next message until it refills."""
        if response.headers.get("X-RateLimit-Remaining") == "0" and self.limiter is not None:
            wait = retry_after_of(response.headers.get("X-RateLimit-Reset-After"))
            if wait:
                self.limiter.pause(wait)

    def _rate_limited(self, response: Response) -> DeliveryError:
        """A 429: Retryable after the longer of the body's ``retry_after`` and the ``Retry-After`` header."""
        try:
            body = response.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, Mapping) else {}
        waits = [
            parse_retry_after(response.headers.get("Retry-After")),
            retry_after_of(str(body.get("retry_after") or "")),
            retry_after_of(response.headers.get("X-RateLimit-Reset-After")),
        ]
        wait = max((w for w in waits[:2] if w is not None), default=waits[2])
        if wait and self.limiter is not None:
            self.limiter.pause(wait)
        scope = response.headers.get("X-RateLimit-Scope") or ("global" if body.get("global") else "")
        reason = str(body.get("message") or "rate limited") + (f" (scope {scope})" if scope else "")
        try:
            classify_status(429, reason, None if wait is None else f"{wait:g}")
        except DeliveryError as exc:
            return exc
        raise AssertionError("a 429 is never a success")  # pragma: no cover


def message_body(request: Mapping[str, Any], defaults: Mapping[str, Any], *, allow_mentions: bool) -> dict[str, Any]:
    """The JSON body of one message: ``content``, ``embeds``, the sender's name and avatar, ``allowed_mentions``."""
    raw = request.get("text")
    content = discord_content("" if raw is None else str(raw))
    embeds = rendered_list(request.get("embeds"), "embeds")
    if len(embeds) > MAX_EMBEDS:
        raise Permanent(f"embeds: Discord takes at most {MAX_EMBEDS} embeds per message, got {len(embeds)}")
    if not content.strip() and not embeds:
        raise Permanent("nothing to send: text rendered empty and there are no embeds")
    body: dict[str, Any] = {"content": content} if content else {}
    if embeds:
        body["embeds"] = embeds
    for key in ("username", "avatar_url"):
        value = request.get(key) or defaults.get(key)
        if value:
            body[key] = str(value)
    if not allow_mentions:
        body["allowed_mentions"] = {"parse": []}
    return body
