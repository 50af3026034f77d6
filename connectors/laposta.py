"""The Laposta connector (``type: laposta``): add a member to a list or update it, never re-subscribing anyone.

Settings: ``api_key`` (a secret, sent as the Basic-auth user name with an empty password), ``list_id`` (an action's
``list_id`` wins), ``base_url`` (``https://api.laposta.nl/v2``) and ``ip`` (the sign-up address Laposta requires,
default ``127.0.0.1``; an action's ``ip`` wins). One request per delivery: ``POST /member``, form-encoded as Laposta
documents it, with ``list_id``, ``ip``, ``email``, ``source_url``, ``custom_fields[<name>]`` (a list becomes
``custom_fields[<name>][]``, for multiple-choice fields), ``options[upsert]=true`` (an existing member is updated
instead of refused) and ``options[suppress_reactivation]=true`` (an unsubscribed member stays unsubscribed).
Upsert by e-mail is the natural dedupe: a retry after a timeout updates the member the first try made. A ``400``
with Laposta's code 204 (the address exists) means the member is there and Laposta left it as it was, which is
what a retry or an unsubscribed address must come to: it counts as done. Errors are
``{"error": {"type", "message", "code", "parameter"}}`` (codes 201 empty, 202 syntax, 203 unknown, 204 exists,
205-209 not a number/boolean/date/e-mail/URL, 999 other): permanent, with the message and parameter as the
reason. Sources: api.laposta.nl/doc (base URL, Basic auth with the key as user name, rate limiting with a
notice of when to try again), Laposta's PHP library (form bodies, ``options[upsert]``, 429 + Retry-After in its
retry example) and DMT's Laposta client (the error object and codes) **[S]**. Not documented, so tolerated: the
answer to an upsert of an unsubscribed member with ``suppress_reactivation`` (a 2xx or the 204 error both count
as done) and the request limit (a secondary source says 30 per minute on a free account: this type's default
``rate_limit``; raise it with ``rate_limit:`` for a paid account).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlencode

from connectors.base import Connector, ConnectorDefaults, Field, Limiter, Outgoing, Permanent, Retryable, Sent
from connectors.subscribers import address, answer_of, subscriber_key
from toolkit.client import Response, make_client, send
from toolkit.status import classify_status
from toolkit.units import Rate

DEFAULT_BASE = "https://api.laposta.nl/v2"
DEFAULT_RATE = Rate(30, 60.0)  # [U] "30 per minute on a free account" (secondary source); Laposta names no number
FIELD_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
EXISTS = 204  # Laposta's error code: the parameter (here: the e-mail address) already exists
OPTIONS = {"options[upsert]": "true", "options[suppress_reactivation]": "true"}


def custom_fields(value: Any) -> list[tuple[str, str]]:
    """``custom_fields`` as form pairs; Permanent when it is not a mapping of field names to values."""
    if value is None or value == "":
        return []
    if not isinstance(value, Mapping):
        raise Permanent("custom_fields: expected a mapping of Laposta field name (custom_name) to value")
    pairs: list[tuple[str, str]] = []
    for name, item in value.items():
        if not FIELD_NAME.fullmatch(str(name)):
            raise Permanent(f"custom_fields: {str(name)[:40]!r} is not a Laposta field name (letters, digits, _ or -)")
        if isinstance(item, list | tuple):
            pairs += [(f"custom_fields[{name}][]", str(choice)) for choice in item]
        elif item not in (None, ""):  # empty leaves the field as it is
            pairs.append((f"custom_fields[{name}]", str(item)))
    return pairs


def form(request: Mapping[str, Any], settings: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The form fields of the ``POST /member`` that adds or updates the member of ``request``."""
    list_id = str(request.get("list_id") or settings.get("list_id") or "").strip()
    if not list_id:
        raise Permanent("no list_id: set the connector's or the action's list_id")
    pairs = [
        ("list_id", list_id),
        ("ip", str(request.get("ip") or settings.get("ip") or "127.0.0.1")),
        ("email", address(request)),
    ]
    if request.get("source_url"):
        pairs.append(("source_url", str(request["source_url"])))
    return pairs + custom_fields(request.get("custom_fields")) + list(OPTIONS.items())


def error_of(response: Response) -> tuple[str, int | None]:
    """Laposta's error message (with the parameter it concerns) and its code; the text when it is no error object."""
    try:
        body = response.json()
    except ValueError:
        return " ".join(response.text.split())[:300], None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return " ".join(response.text.split())[:300], None
    message = str(error.get("message") or error.get("type") or "error")
    if error.get("parameter"):
        message += f" (parameter {error['parameter']}"
        message += f", code {error['code']})" if error.get("code") is not None else ")"
    code = str(error.get("code"))
    return message[:300], int(code) if code.isdigit() else None


def account_key(settings: Mapping[str, Any]) -> str:
    digest = hashlib.sha256(str(settings.get("api_key") or "").encode()).hexdigest()[:16]
    return f"{str(settings.get('base_url') or DEFAULT_BASE).rstrip('/')}|{digest}"


class LapostaConnector(Connector):
    type: ClassVar[str] = "laposta"
    settings_fields: ClassVar[Mapping[str, Field]] = {
        "api_key": Field("str", required=True, secret=True),
        "list_id": Field("str"),
        "base_url": Field("str", default=DEFAULT_BASE),
        "ip": Field("str", default="127.0.0.1"),
        "timeout": Field("duration"),
    }
    action_keys: ClassVar[frozenset[str]] = frozenset({"email", "list_id", "custom_fields", "ip", "source_url"})
    required_action_keys: ClassVar[frozenset[str]] = frozenset({"email"})
    text_keys: ClassVar[frozenset[str]] = frozenset({"email", "list_id", "ip", "source_url"})

    def __init__(
        self, name: str, settings: Mapping[str, Any], defaults: ConnectorDefaults, *, limiter: Limiter | None = None
    ):
        super().__init__(name, settings, defaults, limiter=limiter)
        self.settings = dict(settings)
        self.url = str(settings.get("base_url") or DEFAULT_BASE).rstrip("/") + "/member"
        headers = {
            "Authorization": "Basic " + _basic(str(settings["api_key"])),
            "Accept": "application/json",
            "User-Agent": defaults.user_agent,
        }
        self._client = make_client(float(settings.get("timeout") or defaults.timeout), limiter, headers=headers)

    @staticmethod
    def check_settings(settings: Mapping[str, Any]) -> list[tuple[str, str]]:
        if not str(settings.get("base_url") or DEFAULT_BASE).startswith(("http://", "https://")):
            return [("base_url", "must be an http:// or https:// URL (default https://api.laposta.nl/v2)")]
        return []

    @staticmethod
    def check_action(action: Mapping[str, Any]) -> list[tuple[str, str]]:
        fields = action.get("custom_fields")
        if fields is not None and not isinstance(fields, Mapping):
            return [("custom_fields", "expected a mapping of Laposta field name (custom_name) to value")]
        bad = [str(name) for name in fields or {} if "{" not in str(name) and not FIELD_NAME.fullmatch(str(name))]
        if bad:
            return [("custom_fields", f"{bad[0]!r} is not a Laposta field name (letters, digits, _ or -)")]
        return []

    @classmethod
    def check_rendered(cls, request: Mapping[str, Any], settings: Mapping[str, Any]) -> list[str]:
        """What ``send`` would refuse: no list, not one address, custom fields that are not a mapping of names."""
        try:
            form(request, settings)
        except Permanent as exc:
            return [exc.message]
        return []

    @classmethod
    def default_rate(cls, settings: Mapping[str, Any]) -> Rate:
        return DEFAULT_RATE

    @classmethod
    def rate_destination(cls, name: str, settings: Mapping[str, Any]) -> str:
        return f"laposta:{account_key(settings)}"

    @classmethod
    def describe(cls, request: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
        where = request.get("list_id") or settings.get("list_id") or "?"
        return f"Laposta member {request.get('email')} of list {where}"

    @classmethod
    def destination(cls, request: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
        return {"list_id": request.get("list_id") or settings.get("list_id")}

    @classmethod
    def receipt_key(cls, request: Mapping[str, Any]) -> str | None:
        return subscriber_key("laposta", request)

    async def send(self, out: Outgoing) -> Sent:
        pairs = form(out.request, self.settings)
        email = dict(pairs)["email"]
        built = self._client.build_request(
            "POST",
            self.url,
            content=urlencode(pairs).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        response = await send(self._client, built, self.limiter, what="add member")
        if response.is_success:
            member = answer_of(response).get("member")
            member = member if isinstance(member, dict) else {}
            state = str(member.get("state") or "")
            detail = f"member {email}: {state or 'added or updated'}"
            if state and state != "active":
                detail += " (left as it is: never re-subscribed)"
            return Sent(response.status_code, detail, {"member_id": member.get("member_id"), "state": state or None})
        message, code = error_of(response)
        if response.status_code == 400 and code == EXISTS:
            result = {"member_id": _member_id(response), "state": "unchanged"}
            return Sent(400, f"member {email}: on the list already, left as it is ({message})", result)
        try:
            classify_status(response.status_code, message, response.headers.get("Retry-After"))
        except (Retryable, Permanent) as exc:
            exc.message = f"add member: {exc.message}"
            exc.args = (exc.message,)
            raise
        raise Permanent(f"add member: unexpected answer HTTP {response.status_code}")

    async def aclose(self) -> None:
        await self._client.aclose()


def _basic(key: str) -> str:
    return base64.b64encode(f"{key}:".encode()).decode()


def _member_id(response: Response) -> Any:
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        return None
    return error.get("member_id") if isinstance(error, dict) else None
