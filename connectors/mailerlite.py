"""The MailerLite connector (``type: mailerlite``): upsert a subscriber by e-mail, add it to groups, or take it out.

Settings: ``api_token`` (a secret, sent as ``Authorization: Bearer``), ``base_url`` (``https://connect.mailerlite.com/api``)
and ``api_version`` (sent as ``X-Version`` to pin MailerLite's API version). Op ``upsert_subscriber`` (the default)
sends ``POST /subscribers`` with ``email`` and ``fields`` (MailerLite's upsert by e-mail: 201 new, 200 updated),
then assigns each of ``groups`` with ``POST /subscribers/{id}/groups/{group_id}`` and unassigns each of
``remove_groups`` with ``DELETE``. Groups are never sent in the upsert body: the assign call is additive by
definition, so a subscriber keeps every group it was in, whatever MailerLite does with a ``groups`` list (the
docs call the upsert non-destructive; the connector does not rely on it). ``status`` is never sent either, so an
unsubscribed subscriber stays unsubscribed. Op ``remove_from_groups`` looks the subscriber up by e-mail
(``GET /subscribers/{email}``, the address as one percent-encoded segment) and unassigns; an unknown subscriber or
a group it is not in is nothing to do. Every step is idempotent, so a retry after a timeout repeats them without
duplicates. MailerLite allows 120 requests per minute per account and answers more with 429 and ``Retry-After``:
this type's default ``rate_limit``, shared by the connectors on one token. Sources: developers.mailerlite.com
(getting started: auth, 401 ``{"message":"Unauthenticated."}``, 120/min, 429 + Retry-After; subscribers; groups).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

from connectors.base import Connector, ConnectorDefaults, Field, Limiter, Outgoing, Permanent, Retryable, Sent
from connectors.subscribers import address, answer_of, as_list, chosen_op, subscriber_key
from toolkit import jsontext
from toolkit.client import Response, make_client, send
from toolkit.fields import suggest
from toolkit.status import classify_status
from toolkit.units import Rate

OPS = ("upsert_subscriber", "remove_from_groups")
ACCOUNT_RATE = Rate(120, 60.0)  # MailerLite: 120 requests per minute per account
DEFAULT_BASE = "https://connect.mailerlite.com/api"


def group_ids(value: Any, key: str) -> list[str]:
    ids = as_list(value)
    bad = [i for i in ids if not i.isdigit()]
    if bad:
        raise Permanent(f"{key}: expected MailerLite group ids (numbers), got {', '.join(map(repr, bad))}")
    return ids


def reason_of(response: Response) -> str:
    """MailerLite's ``message`` and the first validation error of each field, or the text."""
    try:
        body = response.json()
    except ValueError:
        return " ".join(response.text.split())[:300]
    if not isinstance(body, dict):
        return " ".join(response.text.split())[:300]
    parts = [str(body["message"])] if body.get("message") else []
    errors = body.get("errors")
    if isinstance(errors, Mapping):
        for field, messages in list(errors.items())[:5]:
            first = messages[0] if isinstance(messages, list) and messages else messages
            if str(first) not in parts:
                parts.append(f"{field}: {first}")
    return ("; ".join(parts) or " ".join(response.text.split()))[:300]


def account_key(settings: Mapping[str, Any]) -> str:
    digest = hashlib.sha256(str(settings.get("api_token") or "").encode()).hexdigest()[:16]
    return f"{str(settings.get('base_url') or DEFAULT_BASE).rstrip('/')}|{digest}"


class MailerLiteConnector(Connector):
    type: ClassVar[str] = "mailerlite"
    settings_fields: ClassVar[Mapping[str, Field]] = {
        "api_token": Field("str", required=True, secret=True),
        "base_url": Field("str", default=DEFAULT_BASE),
        "api_version": Field("any"),  # a date; YAML reads an unquoted 2038-01-19 as one
        "timeout": Field("duration"),
    }
    action_keys: ClassVar[frozenset[str]] = frozenset({"op", "email", "fields", "groups", "remove_groups"})
    required_action_keys: ClassVar[frozenset[str]] = frozenset({"email"})
    text_keys: ClassVar[frozenset[str]] = frozenset({"op", "email"})

    def __init__(
        self, name: str, settings: Mapping[str, Any], defaults: ConnectorDefaults, *, limiter: Limiter | None = None
    ):
        super().__init__(name, settings, defaults, limiter=limiter)
        self.base = str(settings.get("base_url") or DEFAULT_BASE).rstrip("/")
        headers = {
            "Authorization": f"Bearer {settings['api_token']}",
            "Accept": "application/json",
            "User-Agent": defaults.user_agent,
        }
        if settings.get("api_version"):
            headers["X-Version"] = str(settings["api_version"])
        self._client = make_client(float(settings.get("timeout") or defaults.timeout), limiter, headers=headers)

    # ------------------------------------------------------------------ class hooks

    @staticmethod
    def check_settings(settings: Mapping[str, Any]) -> list[tuple[str, str]]:
        problems = []
        if not str(settings.get("base_url") or DEFAULT_BASE).startswith(("http://", "https://")):
            problems.append(
                ("base_url", "must be an http:// or https:// URL (default https://connect.mailerlite.com/api)")
            )
        version = settings.get("api_version")
        if version is not None and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(version)):
            problems.append(("api_version", f"expected a date such as 2038-01-19 (sent as X-Version), got {version!r}"))
        return problems

    @staticmethod
    def check_action(action: Mapping[str, Any]) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        op = action.get("op")
        if isinstance(op, str) and "{" not in op and op not in OPS:
            problems.append(("op", f"unknown op {op!r}{suggest(op, OPS)} (known: {', '.join(OPS)})"))
        elif op == "remove_from_groups":
            extra = sorted(set(action) - {"op", "email", "remove_groups"})
            if extra:
                problems.append((extra[0], f"remove_from_groups does not use {', '.join(extra)}"))
            if "remove_groups" not in action:
                problems.append(("op", "remove_from_groups needs 'remove_groups'"))
        fields = action.get("fields")
        if fields is not None and not isinstance(fields, Mapping):
            problems.append(("fields", "expected a mapping of field key (name, last_name, ...) to value"))
        for key in ("groups", "remove_groups"):
            value = action.get(key)
            for item in as_list(value) if not (isinstance(value, str) and "{" in value) else []:
                if "{" not in item and not item.isdigit():
                    problems.append((key, f"expected MailerLite group ids (numbers), got {item!r}"))
        return problems

    @classmethod
    def check_rendered(cls, request: Mapping[str, Any], settings: Mapping[str, Any]) -> list[str]:
        """What ``send`` would refuse: an unknown op, not one address, group ids that are not numbers."""
        problems = []
        if str(request.get("op") or "upsert_subscriber") not in OPS:
            problems.append(f"op: rendered {request.get('op')!r}, not one of {', '.join(OPS)}")
        for check in (
            lambda: address(request),
            lambda: group_ids(request.get("groups"), "groups"),
            lambda: group_ids(request.get("remove_groups"), "remove_groups"),
        ):
            try:
                check()
            except Permanent as exc:
                problems.append(exc.message)
        if request.get("fields") is not None and not isinstance(request["fields"], Mapping):
            problems.append("fields: must render to a mapping of field key to value")
        return problems

    @classmethod
    def default_rate(cls, settings: Mapping[str, Any]) -> Rate:
        return ACCOUNT_RATE

    @classmethod
    def rate_destination(cls, name: str, settings: Mapping[str, Any]) -> str:
        return f"mailerlite:{account_key(settings)}"

    @classmethod
    def describe(cls, request: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
        parts = [f"MailerLite subscriber {request.get('email')}"]
        if as_list(request.get("groups")):
            parts.append(f"groups {', '.join(as_list(request.get('groups')))}")
        if as_list(request.get("remove_groups")):
            parts.append(f"out of groups {', '.join(as_list(request.get('remove_groups')))}")
        return "; ".join(parts)

    @classmethod
    def destination(cls, request: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
        return {"op": request.get("op") or "upsert_subscriber"}

    @classmethod
    def receipt_key(cls, request: Mapping[str, Any]) -> str | None:
        return subscriber_key("mailerlite", request)

    # ------------------------------------------------------------------ sending

    async def send(self, out: Outgoing) -> Sent:
        request = out.request
        op = chosen_op(request, "upsert_subscriber", OPS)
        email = address(request)
        add = group_ids(request.get("groups"), "groups")
        remove = group_ids(request.get("remove_groups"), "remove_groups")
        if op == "remove_from_groups":
            return await self._remove_only(email, remove)
        subscriber = await self._upsert(email, request.get("fields"))
        ident = str(subscriber.get("id") or "")
        if (add or remove) and not ident:
            raise Permanent("upsert subscriber: the answer has no subscriber id")
        for group in add:
            what = f"group {group}"
            self._expect(await self._call("POST", f"{self._path(ident)}/groups/{group}", what=what), what)
        for group in remove:
            await self._unassign(ident, group)
        status = str(subscriber.get("status") or "")
        done = [f"subscriber {email}: {status or 'upserted'}"]
        done += [f"in groups {', '.join(add)}"] if add else []
        done += [f"out of groups {', '.join(remove)}"] if remove else []
        result = {"op": op, "subscriber_id": ident or None, "status": status or None, "groups": add}
        return Sent(200, "; ".join(done), {**result, "groups_removed": remove})

    async def _upsert(self, email: str, fields: Any) -> dict[str, Any]:
        if fields is not None and not isinstance(fields, Mapping):
            raise Permanent("fields: expected a mapping of field key to value")
        body: dict[str, Any] = {"email": email}
        kept = {str(k): v for k, v in (fields or {}).items() if v not in (None, "")}  # empty: left as it is
        if kept:
            body["fields"] = kept
        response = await self._call("POST", "/subscribers", body, what="upsert subscriber")
        self._expect(response, "upsert subscriber")
        data = answer_of(response).get("data")
        return data if isinstance(data, dict) else {}

    async def _remove_only(self, email: str, groups: list[str]) -> Sent:
        response = await self._call("GET", self._path(email), what="find subscriber")
        if response.status_code == 404:
            return Sent(404, f"no subscriber {email}: nothing to take out", {"op": "remove_from_groups"})
        self._expect(response, "find subscriber")
        data = answer_of(response).get("data")
        ident = str(data.get("id") or "") if isinstance(data, dict) else ""
        if not ident:
            raise Permanent("find subscriber: the answer has no subscriber id")
        for group in groups:
            await self._unassign(ident, group)
        result = {"op": "remove_from_groups", "subscriber_id": ident, "groups_removed": groups}
        return Sent(200, f"subscriber {email}: out of groups {', '.join(groups)}", result)

    async def _unassign(self, ident: str, group: str) -> None:
        what = f"group {group}"
        response = await self._call("DELETE", f"{self._path(ident)}/groups/{group}", what=what)
        if response.status_code != 404:  # not in the group (or no such group): nothing to take out
            self._expect(response, what)

    @staticmethod
    def _path(ident: str) -> str:
        return f"/subscribers/{quote(ident, safe='')}"

    async def _call(self, method: str, path: str, body: Any = None, *, what: str) -> Response:
        content = None if body is None else jsontext.dumps_bytes(body)
        headers = {"Content-Type": "application/json"} if content is not None else None
        built = self._client.build_request(method, self.base + path, content=content, headers=headers)
        return await send(self._client, built, self.limiter, what=what)

    @staticmethod
    def _expect(response: Response, what: str) -> None:
        """Return on 2xx; otherwise Retryable / Permanent naming the step and MailerLite's reason."""
        if response.is_success:
            return
        try:
            classify_status(response.status_code, reason_of(response), response.headers.get("Retry-After"))
        except (Retryable, Permanent) as exc:
            exc.message = f"{what}: {exc.message}"
            exc.args = (exc.message,)
            raise

    async def aclose(self) -> None:
        await self._client.aclose()
