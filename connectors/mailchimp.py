"""The Mailchimp connector (``type: mailchimp``): upsert an audience member, then tag or untag it (Marketing API 3.0).

Settings: ``api_key`` (a secret; its suffix names the data center, ``…-us6`` → ``https://us6.api.mailchimp.com/3.0``,
or set ``base_url``), ``list_id`` (the audience; an action's ``list_id`` wins), ``status_if_new`` (``subscribed``,
or ``pending`` for double opt-in) and ``max_connections`` (10). Op ``upsert_member`` (the default) sends
``PUT /lists/{list_id}/members/{md5(lower(email))}`` with ``email_address``, ``status_if_new`` and the
``merge_fields``, then one ``POST …/tags`` that sets ``tags`` active and ``remove_tags`` inactive; op ``remove_tags``
only untags (an unknown member has nothing to untag). The member is addressed by the hash of the address, so
customer text never becomes a path segment, and both calls are idempotent: a retry after a timeout that hid a
success puts the same member and the same tags again. ``status_if_new`` only applies to a new member, so an
address that unsubscribed stays unsubscribed; Mailchimp's refusal of a forgotten or compliance-blocked address
counts as done (left alone), not as an error. Mailchimp limits connections (10 at once per user), not requests
per second: this type has no default ``rate_limit`` and holds at most ``max_connections`` requests open per
account instead. Facts from research notes §4.2 **[S]**; where they are unverified the connector is tolerant: a
bare 403 without a problem document (Mailchimp's throttle at high volume) is retried, any 2xx is success.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import weakref
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

from connectors.base import Connector, ConnectorDefaults, Field, Limiter, Outgoing, Permanent, Retryable, Sent
from connectors.subscribers import address, answer_of, as_list, chosen_op, subscriber_key
from toolkit import jsontext
from toolkit.client import Response, make_client, send
from toolkit.fields import suggest
from toolkit.status import classify_status

OPS = ("upsert_member", "remove_tags")
STATUSES_IF_NEW = ("subscribed", "pending", "unsubscribed", "transactional")
MAX_CONNECTIONS = 10  # Mailchimp: at most 10 simultaneous connections per user
LIST_ID = re.compile(r"[A-Za-z0-9]{1,64}")
# Mailchimp's titles for an address that may not be (re)added: it opted out for good, or was deleted on request.
LEFT_ALONE = ("member in compliance state", "forgotten email not subscribed")

# One set of connection slots per account and event loop: every connector on one account shares its 10.
_SLOTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]] = weakref.WeakKeyDictionary()


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: the MD5 of the lower-cased address."""
    return hashlib.md5(email.strip().lower().encode()).hexdigest()


def api_base(settings: Mapping[str, Any]) -> str:
    """``base_url``, else ``https://<dc>.api.mailchimp.com/3.0`` from the key's ``-<dc>`` suffix."""
    if settings.get("base_url"):
        return str(settings["base_url"]).rstrip("/")
    dc = str(settings.get("api_key") or "").rpartition("-")[2]
    return f"https://{dc}.api.mailchimp.com/3.0"


def account_key(settings: Mapping[str, Any]) -> str:
    digest = hashlib.sha256(str(settings.get("api_key") or "").encode()).hexdigest()[:16]
    return f"{api_base(settings)}|{digest}"


def connection_slots(account: str, size: int) -> asyncio.Semaphore:
    per_loop = _SLOTS.setdefault(asyncio.get_running_loop(), {})
    key = f"{account}|{size}"
    if key not in per_loop:
        per_loop[key] = asyncio.Semaphore(size)
    return per_loop[key]


def problem(response: Response) -> tuple[str, bool]:
    """The reason in a Mailchimp problem document (``title: detail``, field errors), and whether there was one."""
    try:
        body = response.json()
    except ValueError:
        return " ".join(response.text.split())[:200], False
    if not isinstance(body, dict):
        return " ".join(response.text.split())[:200], False
    parts = [": ".join(str(body[key]) for key in ("title", "detail") if body.get(key))]
    for item in body.get("errors") or []:
        if isinstance(item, dict) and item.get("message"):
            parts.append(f"{item.get('field') or '?'}: {item['message']}")
    return ("; ".join(p for p in parts if p) or " ".join(response.text.split()))[:300], True


class MailchimpConnector(Connector):
    type: ClassVar[str] = "mailchimp"
    settings_fields: ClassVar[Mapping[str, Field]] = {
        "api_key": Field("str", required=True, secret=True),
        "list_id": Field("str"),
        "base_url": Field("str"),
        "status_if_new": Field("str", default="subscribed", choices=STATUSES_IF_NEW),
        "max_connections": Field("int", default=MAX_CONNECTIONS),
        "timeout": Field("duration"),
    }
    action_keys: ClassVar[frozenset[str]] = frozenset(
        {"op", "email", "list_id", "merge_fields", "status_if_new", "tags", "remove_tags"}
    )
    required_action_keys: ClassVar[frozenset[str]] = frozenset({"email"})
    text_keys: ClassVar[frozenset[str]] = frozenset({"op", "email", "list_id", "status_if_new"})

    def __init__(
        self, name: str, settings: Mapping[str, Any], defaults: ConnectorDefaults, *, limiter: Limiter | None = None
    ):
        super().__init__(name, settings, defaults, limiter=limiter)
        self.base = api_base(settings)
        self.list_id = str(settings.get("list_id") or "")
        self.status_if_new = str(settings.get("status_if_new") or "subscribed")
        self.account = account_key(settings)
        self.max_connections = max(1, min(int(settings.get("max_connections") or MAX_CONNECTIONS), MAX_CONNECTIONS))
        basic = base64.b64encode(f"plugpay-router:{settings['api_key']}".encode()).decode()
        headers = {"Authorization": f"Basic {basic}", "Accept": "application/json", "User-Agent": defaults.user_agent}
        self._client = make_client(float(settings.get("timeout") or defaults.timeout), limiter, headers=headers)

    # ------------------------------------------------------------------ class hooks

    @staticmethod
    def check_settings(settings: Mapping[str, Any]) -> list[tuple[str, str]]:
        problems = []
        key = str(settings.get("api_key") or "")
        if not settings.get("base_url") and "${" not in key and not re.fullmatch(r".+-[a-z]+[0-9]+", key):
            problems.append(("api_key", "must end in its data center (…-us6), or set base_url"))
        base = settings.get("base_url")
        if base and not str(base).startswith(("http://", "https://")):
            problems.append(("base_url", "must be an http:// or https:// URL"))
        list_id = settings.get("list_id")
        if list_id and "${" not in str(list_id) and not LIST_ID.fullmatch(str(list_id)):
            problems.append(("list_id", f"expected an audience id such as 'a1b2c3d4e5', got {list_id!r}"))
        if not 1 <= int(settings.get("max_connections") or MAX_CONNECTIONS) <= MAX_CONNECTIONS:
            problems.append(("max_connections", f"must be 1 to {MAX_CONNECTIONS} (Mailchimp's limit per user)"))
        return problems

    @staticmethod
    def check_action(action: Mapping[str, Any]) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        op = action.get("op")
        if isinstance(op, str) and "{" not in op and op not in OPS:
            problems.append(("op", f"unknown op {op!r}{suggest(op, OPS)} (known: {', '.join(OPS)})"))
        elif op == "remove_tags":
            extra = sorted(set(action) - {"op", "email", "list_id", "remove_tags"})
            if extra:
                problems.append((extra[0], f"remove_tags does not use {', '.join(extra)} (upsert_member does)"))
            if "remove_tags" not in action:
                problems.append(("op", "remove_tags needs 'remove_tags'"))
        merge = action.get("merge_fields")
        if merge is not None and not isinstance(merge, Mapping):
            problems.append(("merge_fields", "expected a mapping of merge tag (FNAME, LNAME, ...) to value"))
        status = action.get("status_if_new")
        if isinstance(status, str) and "{" not in status and status not in STATUSES_IF_NEW:
            problems.append(("status_if_new", f"expected one of {', '.join(STATUSES_IF_NEW)}, got {status!r}"))
        return problems

    @classmethod
    def check_rendered(cls, request: Mapping[str, Any], settings: Mapping[str, Any]) -> list[str]:
        """What ``send`` would refuse: an unknown op, not one address, no audience, a bad status or merge fields."""
        problems = []
        if str(request.get("op") or "upsert_member") not in OPS:
            problems.append(f"op: rendered {request.get('op')!r}, not one of {', '.join(OPS)}")
        try:
            address(request)
        except Permanent as exc:
            problems.append(exc.message)
        list_id = str(request.get("list_id") or settings.get("list_id") or "")
        if not LIST_ID.fullmatch(list_id):
            problems.append(f"list_id: {list_id!r} is not an audience id (set the connector's or the action's list_id)")
        status = str(request.get("status_if_new") or settings.get("status_if_new") or "subscribed")
        if status not in STATUSES_IF_NEW:
            problems.append(f"status_if_new: rendered {status!r}, not one of {', '.join(STATUSES_IF_NEW)}")
        if request.get("merge_fields") is not None and not isinstance(request["merge_fields"], Mapping):
            problems.append("merge_fields: must render to a mapping of merge tag to value")
        return problems

    @classmethod
    def rate_destination(cls, name: str, settings: Mapping[str, Any]) -> str:
        return f"mailchimp:{account_key(settings)}"

    @classmethod
    def describe(cls, request: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
        where = request.get("list_id") or settings.get("list_id") or "?"
        parts = [f"Mailchimp member {request.get('email')} of audience {where}"]
        if as_list(request.get("tags")):
            parts.append(f"tags {', '.join(as_list(request.get('tags')))}")
        if as_list(request.get("remove_tags")):
            parts.append(f"tags {', '.join(as_list(request.get('remove_tags')))} removed")
        return "; ".join(parts)

    @classmethod
    def destination(cls, request: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
        where = request.get("list_id") or settings.get("list_id")
        return {"op": request.get("op") or "upsert_member", "list_id": where}

    @classmethod
    def receipt_key(cls, request: Mapping[str, Any]) -> str | None:
        return subscriber_key("mailchimp", request)

    # ------------------------------------------------------------------ sending

    async def send(self, out: Outgoing) -> Sent:
        request = out.request
        op = chosen_op(request, "upsert_member", OPS)
        email = address(request)
        list_id = str(request.get("list_id") or self.list_id)
        if not LIST_ID.fullmatch(list_id):
            raise Permanent(f"list_id {list_id!r} is not an audience id")
        member_path = f"/lists/{quote(list_id, safe='')}/members/{subscriber_hash(email)}"
        add, remove = as_list(request.get("tags")), as_list(request.get("remove_tags"))
        if op == "remove_tags":
            found = await self._tags(member_path, [], remove, missing_ok=True)
            if not found:
                return Sent(404, f"no member {email}: nothing to untag", {"op": op, "member_id": None})
            return Sent(204, f"member {email}: removed tags {', '.join(remove)}", {"op": op, "tags_removed": remove})
        member = await self._upsert(member_path, email, request)
        if member is None:
            alone = {"op": op, "member_id": subscriber_hash(email), "status": "left alone"}
            return Sent(200, f"member {email}: Mailchimp will not (re)add this address; left alone", alone)
        status = str(member.get("status") or "")
        done = [f"member {email}: {status or 'upserted'}"]
        if status in ("unsubscribed", "cleaned"):
            done.append("left as it is (status_if_new only applies to a new member)")
        if add or remove:
            await self._tags(member_path, add, remove, missing_ok=False)
            done += [f"tagged {', '.join(add)}"] if add else []
            done += [f"removed tags {', '.join(remove)}"] if remove else []
        result: dict[str, Any] = {"op": op, "member_id": member.get("id") or subscriber_hash(email)}
        result.update(status=status or None, tags=add, tags_removed=remove)
        return Sent(200, "; ".join(done), result)

    async def _upsert(self, path: str, email: str, request: Mapping[str, Any]) -> dict[str, Any] | None:
        merge = request.get("merge_fields") or {}
        if not isinstance(merge, Mapping):
            raise Permanent("merge_fields: expected a mapping of merge tag to value")
        status = str(request.get("status_if_new") or self.status_if_new)
        if status not in STATUSES_IF_NEW:
            raise Permanent(f"status_if_new {status!r} is not one of {', '.join(STATUSES_IF_NEW)}")
        body: dict[str, Any] = {"email_address": email, "status_if_new": status}
        kept = {str(k): v for k, v in merge.items() if v not in (None, "")}  # empty leaves the field as it is
        if kept:
            body["merge_fields"] = kept
        response = await self._call("PUT", path, body, "upsert member")
        if response.is_success:
            return answer_of(response)
        reason, _ = problem(response)
        if response.status_code == 400 and reason.lower().startswith(LEFT_ALONE):
            return None
        self._fail(response, "upsert member")
        return None  # not reached: _fail raises

    async def _tags(self, path: str, add: list[str], remove: list[str], *, missing_ok: bool) -> bool:
        """Set tags active / inactive; False when the member does not exist and ``missing_ok``."""
        tags = [{"name": t, "status": "active"} for t in add] + [{"name": t, "status": "inactive"} for t in remove]
        response = await self._call("POST", path + "/tags", {"tags": tags}, "tags")
        if response.is_success:
            return True
        if response.status_code == 404 and missing_ok:
            return False
        self._fail(response, "tags")
        return False

    async def _call(self, method: str, path: str, body: Any, what: str) -> Response:
        built = self._client.build_request(method, self.base + path, content=jsontext.dumps_bytes(body))
        built.headers["Content-Type"] = "application/json"
        async with connection_slots(self.account, self.max_connections):
            return await send(self._client, built, self.limiter, what=what)

    @staticmethod
    def _fail(response: Response, what: str) -> None:
        """Raise Retryable / Permanent for a non-2xx answer, naming the step and Mailchimp's reason."""
        reason, documented = problem(response)
        if response.status_code == 403 and not documented:
            raise Retryable(f"{what}: HTTP 403 without a problem document (Mailchimp's throttle)", status_code=403)
        try:
            classify_status(response.status_code, reason, response.headers.get("Retry-After"))
        except (Retryable, Permanent) as exc:
            exc.message = f"{what}: {exc.message}"
            exc.args = (exc.message,)
            raise
        raise Permanent(f"{what}: unexpected answer HTTP {response.status_code}", status_code=response.status_code)

    async def aclose(self) -> None:
        await self._client.aclose()
