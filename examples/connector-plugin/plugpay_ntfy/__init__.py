"""The ``ntfy`` connector type: one push message to an ntfy topic per delivery (an example plugin).

ntfy publishes a JSON message posted to the server's root URL (``{"topic", "message", "title", "tags",
"priority"}``, docs.ntfy.sh/publish), so every value, customer text included, travels as a JSON string and
never becomes a header or a path. The topic is a secret (anyone who knows it can read the topic); a
protected topic takes an access token (``Authorization: Bearer``). ntfy has no idempotency key: a send that
timed out after ntfy received it is sent again on the retry, so a phone may show a message twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from connectors.base import Connector, ConnectorDefaults, Field, Limiter, Outgoing, Sent, excerpt
from toolkit.client import make_client, send
from toolkit.status import classify_status

PRIORITIES = range(1, 6)  # ntfy's min (1) to max (5); 3 is the default


class NtfyConnector(Connector):
    type: ClassVar[str] = "ntfy"
    settings_fields: ClassVar[Mapping[str, Field]] = {
        "base_url": Field("str", default="https://ntfy.sh"),
        "topic": Field("str", required=True, secret=True),
        "token": Field("str", secret=True),
        "timeout": Field("duration"),
    }
    action_keys: ClassVar[frozenset[str]] = frozenset({"message", "title", "tags", "priority", "click"})
    required_action_keys: ClassVar[frozenset[str]] = frozenset({"message"})
    text_keys: ClassVar[frozenset[str]] = frozenset({"message", "title", "click"})

    def __init__(
        self, name: str, settings: Mapping[str, Any], defaults: ConnectorDefaults, *, limiter: Limiter | None = None
    ):
        super().__init__(name, settings, defaults, limiter=limiter)
        self.url = str(settings.get("base_url") or "https://ntfy.sh").rstrip("/") + "/"
        self.topic = str(settings["topic"])
        token = settings.get("token")
        headers = {"User-Agent": defaults.user_agent, **({"Authorization": f"Bearer {token}"} if token else {})}
        self._client = make_client(float(settings.get("timeout") or defaults.timeout), limiter, headers=headers)

    @staticmethod
    def check_action(action: Mapping[str, Any]) -> list[tuple[str, str]]:
        priority = action.get("priority")
        if isinstance(priority, int) and priority not in PRIORITIES:
            return [("priority", "ntfy priorities are 1 (min) to 5 (max)")]
        return []

    @classmethod
    def check_rendered(cls, request: Mapping[str, Any], settings: Mapping[str, Any]) -> list[str]:
        problems = []
        if not str(request.get("message") or "").strip():
            problems.append("message: rendered empty")
        if request.get("priority") is not None and _priority(request["priority"]) is None:
            problems.append(f"priority: {request['priority']!r} is not 1 to 5")
        return problems

    @classmethod
    def describe(cls, request: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
        return f"ntfy: {excerpt(request.get('title') or request.get('message'), 40)}"

    def body(self, request: Mapping[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"topic": self.topic, "message": str(request.get("message") or "")}
        if request.get("title"):
            body["title"] = str(request["title"])
        if request.get("tags"):
            tags = request["tags"]
            body["tags"] = [str(tag) for tag in (tags if isinstance(tags, list) else [tags])]
        if (priority := _priority(request.get("priority"))) is not None:
            body["priority"] = priority
        if request.get("click"):
            body["click"] = str(request["click"])
        return body

    async def send(self, out: Outgoing) -> Sent:
        request = self._client.build_request("POST", self.url, json=self.body(out.request))
        response = await send(self._client, request, self.limiter, what="ntfy")
        return classify_status(response.status_code, response.text[:500], response.headers.get("Retry-After"))

    async def aclose(self) -> None:
        await self._client.aclose()


def _priority(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number in PRIORITIES else None
