"""What the chat webhook types (``type: slack``, ``type: discord``) share: the secret webhook URL and one POST.

An incoming webhook has no credentials apart from its URL: whoever knows it can post to the channel, so
``webhook_url`` is a secret setting (masked everywhere) and no message, ``simulate`` line or dead reason
ever shows it whole (``Hook.shown`` masks its last segment; ``ChatConnector.scrub`` takes it out of transport
errors). ``check`` holds the URL to the provider's own host over https, unless ``base_url`` is set: then the
webhook URL's path is sent to ``base_url`` instead, for a local stand-in, an egress proxy or a host of the
provider this router does not know (the hosts are the documented ones, the list may not be complete). Both
types post one JSON body per delivery through the pooled client of ``toolkit.client`` and classify the answer
with ``toolkit.status.classify_status``; a webhook the provider says is gone (Slack 404/410, Discord 401/404)
is remembered, so later deliveries through it are dead at once without knocking again, until the config is
reloaded. Neither provider deduplicates: a retry after a timeout can post the message twice.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlsplit

from connectors.base import Connector, ConnectorDefaults, DeliveryError, Field, Limiter, Permanent, excerpt
from toolkit import jsontext
from toolkit.client import Response, make_client, send


@dataclass(frozen=True)
class Provider:
    """What ``check`` knows of one provider's webhook URLs."""

    name: str  # "Slack"
    hosts: tuple[str, ...]  # the documented hosts (over https)
    example: str  # the URL's documented shape, for messages
    path: re.Pattern[str]  # what the URL's path must look like


@dataclass(frozen=True)
class Hook:
    """One webhook: the URL requests go to, the webhook URL's path (it holds the secret) and its query."""

    url: str
    path: str
    query: str
    shown_base: str  # scheme and host (or base_url) as they may be shown

    @property
    def shown(self) -> str:
        """The URL with its secret last segment masked: ``https://hooks.slack.com/services/T0/B0/***``."""
        head, _, _ = self.path.rstrip("/").rpartition("/")
        return f"{self.shown_base}{head}/***"

    @property
    def secrets(self) -> tuple[str, ...]:
        """The pieces of the URL no message may contain, longest first."""
        last = self.path.rstrip("/").rpartition("/")[2]
        pieces = {self.url, self.path, last} if len(last) >= 4 else {self.url, self.path}
        return tuple(sorted((p for p in pieces if p), key=len, reverse=True))


def hook_of(settings: Mapping[str, Any]) -> Hook:
    """Where a connector with these settings posts: the webhook URL, or its path under ``base_url``."""
    raw = str(settings.get("webhook_url") or "").strip()
    base = str(settings.get("base_url") or "").strip().rstrip("/")
    parts = urlsplit(raw)
    path = parts.path if parts.scheme or parts.netloc else raw.partition("?")[0]
    query = parts.query if parts.scheme or parts.netloc else raw.partition("?")[2]
    if not base:
        return Hook(raw, path, query, f"{parts.scheme}://{parts.netloc}" if parts.netloc else "")
    if path and not path.startswith("/"):
        path = "/" + path
    return Hook(base + path + (f"?{query}" if query else ""), path, query, base)


def check_hook(settings: Mapping[str, Any], provider: Provider) -> list[tuple[str, str]]:
    """``check``'s problems with ``webhook_url`` and ``base_url``; never quotes the secret URL itself."""
    raw = str(settings.get("webhook_url") or "").strip()
    base = str(settings.get("base_url") or "").strip()
    problems: list[tuple[str, str]] = []
    if base:
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            problems.append(
                ("base_url", "must be an http:// or https:// URL without a query, e.g. http://127.0.0.1:8125")
            )
    else:
        parts = urlsplit(raw)
        host = (parts.hostname or "").lower()
        if parts.scheme != "https" or host not in provider.hosts:
            got = f"host {host!r}" if host else "no host"
            problems.append(
                (
                    "webhook_url",
                    f"must be an https:// URL on {' or '.join(provider.hosts)} ({provider.example}), got {got} over "
                    f"{parts.scheme or 'no scheme'}; for a stand-in, a proxy or another {provider.name} host set "
                    "base_url (the webhook URL's path is then sent there)",
                )
            )
            return problems
    if not provider.path.fullmatch(hook_of(settings).path):
        problems.append(("webhook_url", f"is not a {provider.name} webhook URL: expected {provider.example}"))
    return problems


def retry_after_of(value: str | None) -> float | None:
    """Seconds in a header such as ``X-RateLimit-Reset-After`` (decimals allowed), or None."""
    try:
        seconds = float(value) if value else None
    except ValueError:
        return None
    return None if seconds is None or seconds < 0 else seconds


def rendered_list(value: Any, key: str) -> list[Any]:
    """``blocks`` / ``embeds`` as a list of mappings: a YAML list, or a template that rendered JSON (``| tojson``)."""
    if value is None or value == "" or value == []:
        return []
    if isinstance(value, str):
        try:
            value = jsontext.loads(value)
        except ValueError:
            raise Permanent(f"{key}: rendered text that is not JSON (end the template with '| tojson')") from None
    if isinstance(value, Mapping):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
        raise Permanent(f"{key}: expected a list of mappings")
    return value


class ChatConnector(Connector):
    """A message to a chat webhook: subclasses build the body (``payload``) and read the answer (``send``)."""

    provider: ClassVar[Provider]
    # Answers that mean the webhook itself is gone or refused for good: remembered, see the module docstring.
    gone_statuses: ClassVar[frozenset[int]] = frozenset()
    common_fields: ClassVar[Mapping[str, Field]] = {
        "webhook_url": Field("str", required=True, secret=True),
        "base_url": Field("str"),
        "allow_mentions": Field("bool", default=False),
        "timeout": Field("duration"),
    }
    text_keys: ClassVar[frozenset[str]] = frozenset({"text"})

    def __init__(
        self, name: str, settings: Mapping[str, Any], defaults: ConnectorDefaults, *, limiter: Limiter | None = None
    ):
        super().__init__(name, settings, defaults, limiter=limiter)
        self.hook = hook_of(settings)
        self.url = self.hook.url  # a type may add to the query (Discord's ``wait=true``)
        self.allow_mentions = bool(settings.get("allow_mentions"))
        self.timeout = float(settings.get("timeout") or defaults.timeout)
        self._client = make_client(self.timeout, limiter, headers={"User-Agent": defaults.user_agent})
        self._gone: str | None = None

    @classmethod
    def rate_destination(cls, name: str, settings: Mapping[str, Any]) -> str:
        """One limiter per webhook (both providers count per webhook); the key shows no part of the secret."""
        return f"{cls.type}:{hashlib.sha256(hook_of(settings).path.encode()).hexdigest()[:16]}"

    @classmethod
    def destination(cls, request: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
        return {"webhook": hook_of(settings).shown}

    @classmethod
    def describe(cls, request: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
        extras = [
            f"{len(v)} {k if len(v) != 1 else k[:-1]}"
            for k in ("blocks", "embeds")
            if isinstance(v := request.get(k), list) and v
        ]
        text = f'"{excerpt(request.get("text") or "", 60)}"' if request.get("text") else "(no text)"
        return f"{cls.provider.name} message: {text}" + "".join(f", {e}" for e in extras)

    def scrub(self, text: str) -> str:
        """``text`` without any piece of the webhook URL."""
        for secret in self.hook.secrets:
            text = text.replace(secret, "***")
        return text

    def refuse(self, exc: DeliveryError) -> DeliveryError:
        """``exc`` with its message scrubbed and the provider's name in front; a gone webhook is remembered."""
        exc.message = self.scrub(f"{self.provider.name}: {exc.message}")
        exc.args = (exc.message,)
        if isinstance(exc, Permanent) and exc.status_code in self.gone_statuses:
            when = time.strftime("%H:%M:%S")
            self._gone = f"{exc.message} (at {when}; not called again until the config is reloaded)"
        return exc

    async def post(self, payload: Mapping[str, Any]) -> Response:
        """POST ``payload`` as JSON to the webhook; a webhook known to be gone is not called at all."""
        if self._gone is not None:
            raise Permanent(self._gone)
        request = self._client.build_request("POST", self.url, json=payload)
        try:
            return await send(self._client, request, self.limiter)
        except DeliveryError as exc:
            raise self.refuse(exc) from None

    async def aclose(self) -> None:
        await self._client.aclose()
