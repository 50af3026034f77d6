"""The Slack connector (``type: slack``): one message per delivery to a Slack incoming webhook.

Settings: ``webhook_url`` (the secret URL Slack shows for the webhook, ``https://hooks.slack.com/services/...``),
``base_url`` (send the webhook's path there instead: a stand-in, a proxy), ``allow_mentions``, ``metadata``
and ``timeout``. An action has ``text`` and/or ``blocks`` (Block Kit, as a YAML list or a template ending in
``| tojson``), so an alert's plain ``{"text": ...}`` is a complete action. Customer-typed text stays text: it
goes into the JSON body only, and unless ``allow_mentions`` is set the sequences that notify people
(``<!everyone>``, ``<!channel>``, ``<!here>``, ``<!subteam^...>``, ``<@U...>``) are escaped so they show as
typed instead of pinging anyone. Slack has no idempotency key and does not deduplicate: a retry after a
timeout can post the message twice. The delivery key rides along as message metadata (``event_type``
``plugpay_router_delivery``), so a Slack app (or a person) can tell a repeat; Slack's SDKs send
``metadata`` with incoming webhooks, but Slack's webhook page does not list it, so ``metadata: false`` turns
it off. Answers (api.slack.com changelog 2016-05-17, rate-limits page): ``200 ok``; plain-text errors
``400 invalid_payload`` / ``user_not_found``, ``403 action_prohibited``, ``404 channel_not_found``, ``410
channel_is_archived`` (the last two, and ``no_service``, leave the webhook dead at once and not called again
until a reload), ``500 rollup_error`` (retried); ``429`` with ``Retry-After`` (honoured; its body is
undocumented). A JSON error body (``{"ok": false, "error": ...}``) is read too. Default rate limit 1/s, the
one message per second Slack allows per webhook (short bursts tolerated).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from connectors.base import ConnectorDefaults, DeliveryError, Field, Limiter, Outgoing, Permanent, Sent
from connectors.chat import ChatConnector, Provider, check_hook, rendered_list
from toolkit import jsontext
from toolkit.client import Response
from toolkit.status import classify_status
from toolkit.units import Rate

SLACK = Provider(
    name="Slack",
    hosts=("hooks.slack.com", "hooks.slack-gov.com"),
    example="https://hooks.slack.com/services/T.../B.../...",
    path=re.compile(r"(?:/[^/?#]+){2,}"),  # /services/T/B/secret today; any path of two or more segments
)
MAX_BLOCKS = 50  # Block Kit's limit per message
METADATA_EVENT = "plugpay_router_delivery"
# Control sequences that notify people: <!channel>, <!here>, <!everyone>, <!subteam^ID>, <@U123>.
PING = re.compile(r"<(?=[!@])")
HINTS = {
    "invalid_payload": "Slack could not read the message: check the blocks against Block Kit",
    "invalid_blocks": "a block is not valid Block Kit",
    "user_not_found": "the webhook's user does not exist",
    "action_prohibited": "the workspace does not allow this webhook to post here",
    "channel_not_found": "the webhook's channel no longer exists: make a new incoming webhook, update webhook_url",
    "channel_is_archived": "the webhook's channel is archived: unarchive it or make a new incoming webhook",
    "no_service": "the webhook was removed or revoked: make a new incoming webhook, update webhook_url",
    "invalid_token": "the webhook URL is not valid (revoked or mistyped): copy it again from Slack",
    "no_team": "the webhook's workspace no longer exists",
    "team_disabled": "the webhook's workspace is disabled",
    "rollup_error": "a hiccup at Slack",
}


def quiet(value: Any) -> Any:
    """``value`` with every mention sequence in its text escaped (``<!channel>`` shows as typed, pings nobody).

    ``plain_text`` objects of Block Kit are left alone: Slack shows them as they are, mentions never work there.
    """
    if isinstance(value, str):
        return PING.sub("&lt;", value)
    if isinstance(value, Mapping):
        if value.get("type") == "plain_text":
            return dict(value)
        return {key: quiet(item) for key, item in value.items()}
    if isinstance(value, list):
        return [quiet(item) for item in value]
    return value


def slack_error(response: Response) -> str:
    """Slack's error code: the plain-text body (``channel_not_found``), or ``error`` of a JSON body."""
    text = response.text.strip()
    try:
        body = jsontext.loads(text) if text.startswith("{") else None
    except ValueError:
        body = None
    if isinstance(body, Mapping) and body.get("error"):
        return str(body["error"])
    return " ".join(text.split())[:200]


class SlackConnector(ChatConnector):
    type: ClassVar[str] = "slack"
    provider: ClassVar[Provider] = SLACK
    gone_statuses: ClassVar[frozenset[int]] = frozenset({404, 410})
    settings_fields: ClassVar[Mapping[str, Field]] = {
        **ChatConnector.common_fields,
        "metadata": Field("bool", default=True),
    }
    action_keys: ClassVar[frozenset[str]] = frozenset({"text", "blocks"})

    def __init__(
        self, name: str, settings: Mapping[str, Any], defaults: ConnectorDefaults, *, limiter: Limiter | None = None
    ):
        super().__init__(name, settings, defaults, limiter=limiter)
        self.metadata = settings.get("metadata") is not False

    @staticmethod
    def check_settings(settings: Mapping[str, Any]) -> list[tuple[str, str]]:
        return check_hook(settings, SLACK)

    @staticmethod
    def check_action(action: Mapping[str, Any]) -> list[tuple[str, str]]:
        if "text" not in action and "blocks" not in action:
            return [("text", "a Slack message needs text (or blocks)")]
        blocks = action.get("blocks")
        if blocks is not None and not isinstance(blocks, str | list | Mapping):
            return [("blocks", "expected a list of Block Kit blocks (or a template ending in '| tojson')")]
        return []

    @classmethod
    def check_rendered(cls, request: Mapping[str, Any], settings: Mapping[str, Any]) -> list[str]:
        """What Slack would refuse or ``send`` would: no text and no blocks, blocks that are not a list, too many."""
        try:
            body = message_body(request, allow_mentions=True)
        except Permanent as exc:
            return [exc.message]
        if len(body.get("blocks") or []) > MAX_BLOCKS:
            return [f"blocks: Slack takes at most {MAX_BLOCKS} blocks per message, got {len(body['blocks'])}"]
        return []

    @classmethod
    def default_rate(cls, settings: Mapping[str, Any]) -> Rate:
        return Rate(1, 1.0)

    async def send(self, out: Outgoing) -> Sent:
        body = message_body(out.request, allow_mentions=self.allow_mentions)
        if self.metadata:
            body["metadata"] = {"event_type": METADATA_EVENT, "event_payload": {"delivery_key": out.delivery_key}}
        response = await self.post(body)
        if response.is_success:
            answer = response.text.strip()
            result = {"status": response.status_code, "answer": answer[:200]}
            return Sent(response.status_code, f"Slack: {' '.join(answer.split())[:100] or 'ok'}", result)
        code = slack_error(response)
        reason = f"{code} ({HINTS[code]})" if code in HINTS else code
        if response.status_code == 400 and self.metadata:
            reason += (
                "; the message carried the delivery key as metadata: if this webhook refuses it, set metadata: false"
            )
        try:
            return classify_status(response.status_code, reason, response.headers.get("Retry-After"))
        except DeliveryError as exc:
            raise self.refuse(exc) from None


def message_body(request: Mapping[str, Any], *, allow_mentions: bool) -> dict[str, Any]:
    """The JSON body of one message: ``text`` and ``blocks``, mentions escaped unless they are allowed."""
    raw = request.get("text")
    text = "" if raw is None else str(raw)
    blocks = rendered_list(request.get("blocks"), "blocks")
    if not text.strip() and not blocks:
        raise Permanent("nothing to send: text rendered empty and there are no blocks")
    body: dict[str, Any] = {}
    if text:
        body["text"] = text if allow_mentions else quiet(text)
    if blocks:
        body["blocks"] = blocks if allow_mentions else quiet(blocks)
    return body
