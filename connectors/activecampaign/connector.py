"""The ActiveCampaign connector (``type: activecampaign``, also MailBlue): contacts, tags and lists over API v3.

Settings: ``base_url`` (the account's API URL from Settings > Developer, with or without ``/api/3``) and
``api_token`` (sent as ``Api-Token``). Each action names an ``op``:

- ``sync_contact``: create or update the contact by ``email`` (``first_name``, ``last_name``, ``phone``,
  custom ``fields`` by id or personalization tag), then add its ``tags`` (by name), then subscribe it to
  ``lists`` (by id);
- ``add_tag`` / ``remove_tag``: ``email`` + ``tags``; ``subscribe`` / ``unsubscribe``: ``email`` + ``lists``.

A multi-step op is one delivery; each step is idempotent (sync is an upsert by email, a tag or list
membership that exists already is left alone), so a retry after a failure half way simply runs it again.
Tag names resolve to ids by exact match over ``GET /tags?search=`` (a contains search), are created
when missing and cached. The account allows 5 requests/s: that is this type's default ``rate_limit``, and
it counts every request of every delivery. The HTTP calls themselves live in ``ActiveCampaignApi``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from connectors.activecampaign.api import ActiveCampaignApi
from connectors.base import Connector, ConnectorDefaults, Field, Limiter, Outgoing, Permanent, Sent
from toolkit.fields import suggest
from toolkit.units import Rate

OPS = ("sync_contact", "add_tag", "remove_tag", "subscribe", "unsubscribe")
NEEDS = {"add_tag": "tags", "remove_tag": "tags", "subscribe": "lists", "unsubscribe": "lists"}
ACCOUNT_RATE = Rate(5, 1.0)  # ActiveCampaign allows 5 requests/s per account
CONTACT_KEYS = {"first_name": "firstName", "last_name": "lastName", "phone": "phone"}


def as_list(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def list_ids(value: Any) -> list[str]:
    ids = [str(v).strip() for v in as_list(value)]
    bad = [i for i in ids if not i.isdigit()]
    if bad:
        raise Permanent(f"lists: expected list ids (numbers), got {', '.join(map(repr, bad))}")
    return ids


def _templated(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


class ActiveCampaignConnector(Connector):
    type: ClassVar[str] = "activecampaign"
    settings_fields: ClassVar[Mapping[str, Field]] = {
        "base_url": Field("str", required=True),
        "api_token": Field("str", required=True, secret=True),
        "timeout": Field("duration"),
    }
    action_keys: ClassVar[frozenset[str]] = frozenset(
        {"op", "email", "first_name", "last_name", "phone", "fields", "tags", "lists"}
    )
    required_action_keys: ClassVar[frozenset[str]] = frozenset({"op", "email"})
    text_keys: ClassVar[frozenset[str]] = frozenset({"op", "email", "first_name", "last_name", "phone"})

    def __init__(
        self, name: str, settings: Mapping[str, Any], defaults: ConnectorDefaults, *, limiter: Limiter | None = None
    ):
        super().__init__(name, settings, defaults, limiter=limiter)
        self.api = ActiveCampaignApi(
            str(settings["base_url"]),
            str(settings["api_token"]),
            timeout=float(settings.get("timeout") or defaults.timeout),
            user_agent=defaults.user_agent,
            limiter=limiter,
        )

    @classmethod
    def default_rate(cls, settings: Mapping[str, Any]) -> Rate:
        return ACCOUNT_RATE

    @classmethod
    def rate_destination(cls, name: str, settings: Mapping[str, Any]) -> str:
        return f"activecampaign:{str(settings['base_url']).rstrip('/')}"

    @classmethod
    def describe(cls, request: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
        op = request.get("op")
        tags = [str(t) for t in as_list(request.get("tags"))]
        lists = [str(i) for i in as_list(request.get("lists"))]
        parts = [f"ActiveCampaign contact {request.get('email')}"]
        if tags:
            removed = " removed" if op == "remove_tag" else ""
            parts.append(f"tag{'s' if len(tags) > 1 else ''} {', '.join(tags)}{removed}")
        if lists:
            gone = " (unsubscribed)" if op == "unsubscribe" else ""
            parts.append(f"list{'s' if len(lists) > 1 else ''} {', '.join(lists)}{gone}")
        return "; ".join(parts)

    @staticmethod
    def check_settings(settings: Mapping[str, Any]) -> list[tuple[str, str]]:
        if not str(settings.get("base_url", "")).startswith(("http://", "https://")):
            return [("base_url", "must be an http:// or https:// URL (the API URL from Settings > Developer)")]
        return []

    @staticmethod
    def check_action(action: Mapping[str, Any]) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        op = action.get("op")
        if isinstance(op, str) and not _templated(op):
            if op not in OPS:
                problems.append(("op", f"unknown op {op!r}{suggest(op, OPS)} (known: {', '.join(OPS)})"))
            elif op in NEEDS and NEEDS[op] not in action:
                problems.append(("op", f"{op} needs '{NEEDS[op]}'"))
            elif op != "sync_contact":
                extra = sorted(set(action) - {"op", "email", NEEDS[op]})
                if extra:
                    problems.append((extra[0], f"{op} does not use {', '.join(extra)} (sync_contact does)"))
        fields = action.get("fields")
        if fields is not None and not isinstance(fields, Mapping):
            problems.append(("fields", "expected a mapping of field id or personalization tag to value"))
        lists = action.get("lists")
        for item in as_list(lists) if not _templated(lists) else []:
            if not _templated(item) and not str(item).strip().isdigit():
                problems.append(("lists", f"expected list ids (numbers), got {item!r}"))
        return problems

    @classmethod
    def check_rendered(cls, request: Mapping[str, Any], settings: Mapping[str, Any]) -> list[str]:
        """What ``send`` would refuse: an unknown op, an email that is not an address, list ids that are not numbers."""
        problems = []
        op = str(request.get("op") or "")
        if op not in OPS:
            problems.append(f"op: rendered {op!r}, not one of {', '.join(OPS)}")
        email = str(request.get("email") or "").strip()
        if "@" not in email:
            problems.append(f"email: rendered {email!r}, not an address")
        try:
            list_ids(request.get("lists"))
        except Permanent as exc:
            problems.append(f"{exc.message} (the number in the list's URL in ActiveCampaign)")
        return problems

    async def send(self, out: Outgoing) -> Sent:
        request = out.request
        op = str(request.get("op") or "")
        email = str(request.get("email") or "").strip()
        if op not in OPS:
            raise Permanent(f"unknown op {op!r} (known: {', '.join(OPS)})")
        if "@" not in email:
            raise Permanent(f"email rendered to {email!r}, not an address")
        tags = [str(t).strip() for t in as_list(request.get("tags")) if str(t).strip()]
        lists = list_ids(request.get("lists"))
        if op == "remove_tag":
            return await self._remove_tags(email, tags)
        if op == "unsubscribe":
            return await self._unsubscribe(email, lists)
        contact = await self._sync(email, request if op == "sync_contact" else {})
        done = ["synced"]
        tagged = tags if op in ("sync_contact", "add_tag") else []
        listed = lists if op in ("sync_contact", "subscribe") else []
        if tagged:
            for tag in tags:
                await self.api.add_tag(contact, tag)
            done.append(f"tagged {', '.join(tags)}")
        if listed:
            for list_id in lists:
                await self.api.set_list_status(contact, list_id, subscribed=True)
            done.append(f"subscribed to list {', '.join(lists)}")
        result = {"contact_id": contact, "op": op, "tags": tagged, "lists": listed}
        return Sent(200, f"contact {contact}: {'; '.join(done)}", result)

    async def _sync(self, email: str, request: Mapping[str, Any]) -> str:
        contact: dict[str, Any] = {"email": email}
        for key, api_key in CONTACT_KEYS.items():
            if request.get(key) not in (None, ""):
                contact[api_key] = str(request[key])
        fields = request.get("fields") or {}
        if not isinstance(fields, Mapping):
            raise Permanent("fields: expected a mapping of field id or personalization tag to value")
        if fields:
            contact["fieldValues"] = [
                {"field": await self.api.field_id(str(key)), "value": "" if value is None else str(value)}
                for key, value in fields.items()
            ]
        return await self.api.sync_contact(contact)

    async def _remove_tags(self, email: str, tags: list[str]) -> Sent:
        contact = await self.api.find_contact(email)
        if contact is None:
            return Sent(200, f"no contact {email}: nothing to untag", {"contact_id": None, "op": "remove_tag"})
        removed = await self.api.remove_tags(contact, tags)
        result = {"contact_id": contact, "op": "remove_tag", "tags_removed": list(removed)}
        return Sent(200, f"contact {contact}: removed {', '.join(removed) or 'no tags (none were set)'}", result)

    async def _unsubscribe(self, email: str, lists: list[str]) -> Sent:
        contact = await self.api.find_contact(email)
        if contact is None:
            return Sent(200, f"no contact {email}: nothing to unsubscribe", {"contact_id": None, "op": "unsubscribe"})
        for list_id in lists:
            await self.api.set_list_status(contact, list_id, subscribed=False)
        result = {"contact_id": contact, "op": "unsubscribe", "lists": lists}
        return Sent(200, f"contact {contact}: unsubscribed from list {', '.join(lists)}", result)

    async def aclose(self) -> None:
        await self.api.aclose()
