"""The Postmark connector (``type: postmark``): one transactional mail per delivery over Postmark's Email API.

Each delivery is one ``POST /email`` with the ``X-Postmark-Server-Token`` header: ``From`` (the ``from``
setting), ``To`` / ``Cc`` / ``Bcc`` / ``ReplyTo`` built from structured recipients (``connectors.recipients``:
customer text can name a recipient but never add one; names also lose the punctuation an address parser
reads, ``<>()[],;:@\\"``), ``Subject``, ``TextBody`` and/or ``HtmlBody``, ``MessageStream`` and an optional
``Tag``. Postmark has no idempotency key, so a send is never safe to repeat by itself; the connector puts
the delivery key in the message's ``Metadata`` (``delivery_key``) and, before any attempt after the first,
asks Postmark's message search (``GET /messages/outbound?metadata_delivery_key=``) whether a message with
that metadata was sent already: within Postmark's retention window (45 days by default) one delivery key
gives at most one mail, as far as the search has caught up (how quickly it does is not documented).
Errors are HTTP 422 with an ``ErrorCode``: most are permanent (300 invalid request, 406 inactive recipient,
400/401 sender signature); 405 (not allowed to send: out of credits), 429 and 100 (maintenance) are
retried. HTTP 401 is a wrong server token (permanent); 429 and 5xx retry. Postmark publishes no numeric
rate limit: 10 requests/s is this type's cautious default. Sources: postmarkapp.com/developer (API
overview, Email API, Messages API), the support articles on ErrorCode 300 and custom metadata, and
research/connectors.md §2.4.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from email.headerregistry import Address
from typing import Any, ClassVar
from urllib.parse import quote

from connectors.base import Connector, ConnectorDefaults, Field, Limiter, Outgoing, Permanent, Retryable, Sent, excerpt
from connectors.email import shown_recipients
from connectors.recipients import RECIPIENT_KEYS, Recipient, check_shape, parse_one, recipients
from toolkit.client import Response, make_client, send
from toolkit.headers import checked_headers
from toolkit.jsontext import loads as json_loads
from toolkit.status import is_transient, parse_retry_after
from toolkit.units import Rate

DEFAULT_URL = "https://api.postmarkapp.com"
POSTMARK_RATE = Rate(10, 1.0)  # Postmark publishes no number; it answers 429 when a sender is too fast
MAX_RECIPIENTS = 50  # Postmark's limit per message, To, Cc and Bcc together
RETRIED_CODES = {100: "maintenance", 405: "not allowed to send (out of credits?)", 429: "rate limit exceeded"}
METADATA_KEY = "delivery_key"
NAME_JUNK = re.compile(r'[<>()\[\],;:@\\"\x00-\x1f\x7f]+')
SETTINGS: Mapping[str, Field] = {
    "server_token": Field("str", required=True, secret=True),
    "from": Field("str", required=True),
    "message_stream": Field("str", default="outbound"),
    "max_recipients": Field("int", default=MAX_RECIPIENTS),
    "find_before_resend": Field("bool", default=True),
    "base_url": Field("str", default=DEFAULT_URL),
    "timeout": Field("duration"),
}


def formatted(recipient: Recipient) -> str:
    """``"Name" <address>`` for a Postmark address field; the name keeps no address syntax at all."""
    name = " ".join(NAME_JUNK.sub(" ", recipient.name).split())
    return str(Address(display_name=name, addr_spec=recipient.email))


def answer_of(response: Response) -> Mapping[str, Any]:
    try:
        body = json_loads(response.content) if response.content else {}
    except ValueError:
        return {}
    return body if isinstance(body, Mapping) else {}


def error_code(body: Mapping[str, Any]) -> int | None:
    code = body.get("ErrorCode")
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def build_message(request: Mapping[str, Any], *, sender: str, stream: str, cap: int, key: str) -> dict[str, Any]:
    """The ``POST /email`` body of one rendered action, or Permanent saying why Postmark would refuse it."""
    to, cc, bcc, reply_to = (recipients(request.get(name), name) for name in RECIPIENT_KEYS)
    if not to:
        raise Permanent(f"to: rendered no recipient ({request.get('to')!r})")
    count = max(len(to) + len(cc) + len(bcc), len(reply_to))
    if count > cap:
        raise Permanent(f"{count} recipients, more than max_recipients ({cap}) allows for one message")
    subject = checked_headers({"Subject": request.get("subject") or ""}, mail=True)["Subject"]
    if not subject.strip():
        raise Permanent("subject: rendered empty")
    text, html = (str(request.get(name) or "") for name in ("text", "html"))
    if not text.strip() and not html.strip():
        raise Permanent("text and html rendered empty: Postmark needs a TextBody or an HtmlBody (ErrorCode 300)")
    body: dict[str, Any] = {"From": sender, "To": ", ".join(formatted(r) for r in to), "Subject": subject}
    for name, found in (("Cc", cc), ("Bcc", bcc), ("ReplyTo", reply_to)):
        if found:
            body[name] = ", ".join(formatted(r) for r in found)
    if text.strip():
        body["TextBody"] = text
    if html.strip():
        body["HtmlBody"] = html
    body["MessageStream"] = str(request.get("message_stream") or stream or "outbound").strip()
    if request.get("tag"):
        body["Tag"] = str(request["tag"])
    body["Metadata"] = {METADATA_KEY: key}
    return body


class PostmarkConnector(Connector):
    type: ClassVar[str] = "postmark"
    settings_fields: ClassVar[Mapping[str, Field]] = SETTINGS
    action_keys: ClassVar[frozenset[str]] = frozenset(
        {"to", "cc", "bcc", "reply_to", "subject", "text", "html", "message_stream", "tag"}
    )
    required_action_keys: ClassVar[frozenset[str]] = frozenset({"to", "subject"})
    text_keys: ClassVar[frozenset[str]] = frozenset({"subject", "text", "html", "message_stream", "tag"})

    def __init__(
        self, name: str, settings: Mapping[str, Any], defaults: ConnectorDefaults, *, limiter: Limiter | None = None
    ):
        super().__init__(name, settings, defaults, limiter=limiter)
        self.base = str(settings.get("base_url") or DEFAULT_URL).rstrip("/")
        self.sender = formatted(parse_one(str(settings["from"]), "from"))
        self.stream = str(settings.get("message_stream") or "outbound")
        self.cap = int(settings.get("max_recipients") or MAX_RECIPIENTS)
        self.find_first = bool(settings.get("find_before_resend", True))
        headers = {
            "X-Postmark-Server-Token": str(settings["server_token"]),
            "Accept": "application/json",
            "User-Agent": defaults.user_agent,
        }
        self._client = make_client(float(settings.get("timeout") or defaults.timeout), limiter, headers=headers)

    # ---------------------------------------------------------------- checks and descriptions

    @staticmethod
    def check_settings(settings: Mapping[str, Any]) -> list[tuple[str, str]]:
        problems = []
        try:
            parse_one(str(settings.get("from") or ""), "from")
        except Permanent as exc:
            problems.append(("from", f"{exc.message.removeprefix('from: ')} (a sender signature in Postmark)"))
        cap = settings.get("max_recipients")
        if cap is not None and not 1 <= int(cap) <= MAX_RECIPIENTS:
            problems.append(("max_recipients", f"must be 1 to {MAX_RECIPIENTS} (Postmark's limit per message)"))
        if not str(settings.get("base_url") or DEFAULT_URL).startswith(("http://", "https://")):
            problems.append(("base_url", "must be an http:// or https:// URL"))
        if not str(settings.get("message_stream") or "outbound").strip():
            problems.append(("message_stream", "must name a message stream, such as outbound"))
        return problems

    @staticmethod
    def check_action(action: Mapping[str, Any]) -> list[tuple[str, str]]:
        problems = [problem for key in RECIPIENT_KEYS if key in action for problem in check_shape(action[key], key)]
        if "text" not in action and "html" not in action:
            problems.append(("text", "a Postmark mail needs a text or an html body (or both)"))
        return problems

    @classmethod
    def check_rendered(cls, request: Mapping[str, Any], settings: Mapping[str, Any]) -> list[str]:
        """What ``send`` would refuse: a recipient that is not one address, too many recipients, an empty
        subject or one with a line break, no body (built exactly as sending builds it; nothing is sent)."""
        cap = int(settings.get("max_recipients") or MAX_RECIPIENTS)
        try:
            build_message(request, sender="", stream=str(settings.get("message_stream") or ""), cap=cap, key="")
        except Permanent as exc:
            return [exc.message]
        return []

    @classmethod
    def default_rate(cls, settings: Mapping[str, Any]) -> Rate:
        return POSTMARK_RATE

    @classmethod
    def rate_destination(cls, name: str, settings: Mapping[str, Any]) -> str:
        return f"postmark:{str(settings.get('base_url') or DEFAULT_URL).rstrip('/')}"

    @classmethod
    def describe(cls, request: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
        return f'Postmark mail to {shown_recipients(request.get("to"))}: "{excerpt(request.get("subject"), 50)}"'

    @classmethod
    def destination(cls, request: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
        found = {key: shown_recipients(request[key]) for key in ("to", "cc", "bcc") if request.get(key)}
        return {**found, **({"subject": request["subject"]} if "subject" in request else {})}

    # ---------------------------------------------------------------- sending

    async def send(self, out: Outgoing) -> Sent:
        body = build_message(out.request, sender=self.sender, stream=self.stream, cap=self.cap, key=out.delivery_key)
        if out.attempt > 1 and self.find_first:
            earlier = await self.find(out.delivery_key)
            if earlier is not None:
                message_id = earlier.get("MessageID")
                detail = f"already sent as {message_id} (found by its delivery key); not sent again"
                return Sent(200, detail, {"message_id": message_id, "already": True})
        request = self._client.build_request("POST", f"{self.base}/email", json=body)
        response = await send(self._client, request, self.limiter, what="send")
        answer = answer_of(response)
        code = error_code(answer)
        if response.is_success and not code:
            message_id = answer.get("MessageID")
            result = {"message_id": message_id, "submitted_at": answer.get("SubmittedAt"), "to": answer.get("To")}
            return Sent(response.status_code, f"accepted as {message_id}", result)
        raise self.failure(response, answer, code)

    @staticmethod
    def failure(response: Response, answer: Mapping[str, Any], code: int | None) -> Exception:
        """Retryable or Permanent for an answer that is not a success, with Postmark's ErrorCode and Message."""
        status = response.status_code
        said = " ".join(str(answer.get("Message") or response.text).split())[:300]
        reason = (
            f"send: HTTP {status}" + (f": ErrorCode {code}" if code is not None else "") + (f": {said}" * bool(said))
        )
        wait = parse_retry_after(response.headers.get("Retry-After"))
        if code in RETRIED_CODES:
            return Retryable(f"{reason} ({RETRIED_CODES[code]})", status_code=status, retry_after=wait)
        if is_transient(status):
            return Retryable(reason, status_code=status, retry_after=wait)
        if status == 401:
            return Permanent(
                f"{reason} (check server_token: the Server API token of the Postmark server)", status_code=401
            )
        if 300 <= status < 400:
            reason += " (redirects are not followed)"
        return Permanent(reason, status_code=status)

    async def find(self, key: str) -> Mapping[str, Any] | None:
        """The message sent earlier under this delivery key, if Postmark's search knows one. Only a message
        whose metadata shows the key counts (read from its details when the search result leaves it out),
        so a search that ignored the filter finds nothing rather than the wrong mail. A search that cannot be
        answered now (timeout, 429, 5xx) is retried; one Postmark refuses otherwise does not stop the send."""
        params = {"count": 1, "offset": 0, f"metadata_{METADATA_KEY}": key}
        messages = (await self._read("/messages/outbound", params)).get("Messages")
        for message in messages if isinstance(messages, list) else []:
            if not isinstance(message, Mapping):
                continue
            metadata = message.get("Metadata")
            if not isinstance(metadata, Mapping) and message.get("MessageID"):
                path = f"/messages/outbound/{quote(str(message['MessageID']), safe='')}/details"
                metadata = (await self._read(path, None)).get("Metadata")
            if isinstance(metadata, Mapping) and metadata.get(METADATA_KEY) == key:
                return message
        return None

    async def _read(self, path: str, params: Mapping[str, Any] | None) -> Mapping[str, Any]:
        request = self._client.build_request("GET", f"{self.base}{path}", params=params)
        response = await send(self._client, request, self.limiter, what="find earlier send")
        status = response.status_code
        if is_transient(status):
            wait = parse_retry_after(response.headers.get("Retry-After"))
            raise Retryable(f"find earlier send: HTTP {status}", status_code=status, retry_after=wait)
        if status == 401:
            raise Permanent("find earlier send: HTTP 401 (check server_token)", status_code=401)
        return answer_of(response) if response.is_success else {}

    async def aclose(self) -> None:
        await self._client.aclose()
