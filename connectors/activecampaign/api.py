"""A thin ActiveCampaign API v3 client: the calls the activecampaign connector makes, each idempotent.

Every call goes through the connector's rate-limited HTTP client (``toolkit.client``) and raises
``Retryable`` / ``Permanent`` naming the step (``contact/sync: HTTP 422: ...``). Ids come back from
ActiveCampaign as strings and are kept as strings. Tag and custom-field lookups are cached for the life
of the connector; a lock per tag name keeps two concurrent deliveries from creating the same tag twice.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any
from urllib.parse import quote

from connectors.base import Limiter, Permanent
from toolkit.client import error_text, expect_success, make_client, send

PAGE = 100


class ActiveCampaignApi:
    def __init__(self, base_url: str, token: str, *, timeout: float, user_agent: str, limiter: Limiter | None):
        base = base_url.rstrip("/")
        self.base = base if base.endswith("/api/3") else base + "/api/3"
        self.limiter = limiter
        self._client = make_client(
            timeout, limiter, headers={"Api-Token": token, "Accept": "application/json", "User-Agent": user_agent}
        )
        self._tags: dict[str, str] = {}
        self._tag_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._fields: dict[str, str] | None = None

    async def call(self, method: str, path: str, what: str, *, json: Any = None, params: Any = None) -> Any:
        request = self._client.build_request(method, self.base + path, json=json, params=params)
        response = await send(self._client, request, self.limiter, what=what)
        expect_success(response, what)
        return response.json() if response.content else {}

    # ---------------------------------------------------------------- contacts

    async def sync_contact(self, contact: dict[str, Any]) -> str:
        body = await self.call("POST", "/contact/sync", "contact/sync", json={"contact": contact})
        ident = (body.get("contact") or {}).get("id")
        if ident is None:
            raise Permanent("contact/sync: the answer has no contact id")
        return str(ident)

    async def find_contact(self, email: str) -> str | None:
        body = await self.call("GET", "/contacts", "find contact", params={"email": email})
        for contact in body.get("contacts") or []:
            if str(contact.get("email", "")).lower() == email.lower():
                return str(contact["id"])
        return None

    # ---------------------------------------------------------------- tags

    async def tag_id(self, name: str, *, create: bool) -> str | None:
        """The id of the tag named exactly ``name``; created when missing if ``create``."""
        if name in self._tags:
            return self._tags[name]
        async with self._tag_locks[name]:
            if name in self._tags:
                return self._tags[name]
            found = await self._search_tag(name)
            if found is None and create:
                found = await self._create_tag(name)
            if found is not None:
                self._tags[name] = found
            return found

    async def _search_tag(self, name: str) -> str | None:
        offset = 0
        while True:
            params = {"search": name, "limit": PAGE, "offset": offset}
            body = await self.call("GET", "/tags", f"find tag {name!r}", params=params)
            page = body.get("tags") or []
            exact = [t for t in page if t.get("tag") == name]
            if exact:
                contact_tags = [t for t in exact if t.get("tagType", "contact") == "contact"]
                return str((contact_tags or exact)[0]["id"])
            if len(page) < PAGE:
                return None
            offset += PAGE

    async def _create_tag(self, name: str) -> str:
        payload = {"tag": {"tag": name, "tagType": "contact", "description": ""}}
        request = self._client.build_request("POST", self.base + "/tags", json=payload)
        what = f"create tag {name!r}"
        response = await send(self._client, request, self.limiter, what=what)
        if response.status_code == 422 and "duplicate" in response.text.lower():
            # Created meanwhile (by another router, or a person): look it up again.
            found = await self._search_tag(name)
            if found is not None:
                return found
        expect_success(response, what)
        return str(response.json()["tag"]["id"])

    async def add_tag(self, contact: str, name: str) -> None:
        tag = await self.tag_id(name, create=True)
        payload = {"contactTag": {"contact": contact, "tag": tag}}
        request = self._client.build_request("POST", self.base + "/contactTags", json=payload)
        what = f"tag {name!r}"
        response = await send(self._client, request, self.limiter, what=what)
        if response.status_code == 422 and "duplicate" in error_text(response).lower():
            return  # already tagged
        if response.status_code in (404, 422):
            self._tags.pop(name, None)  # the cached tag may have been deleted: look it up afresh next time
        expect_success(response, what)

    async def remove_tags(self, contact: str, names: list[str]) -> list[str]:
        body = await self.call("GET", f"/contacts/{quote(contact, safe='')}/contactTags", "read contact tags")
        on_contact = {str(ct.get("tag")): str(ct.get("id")) for ct in body.get("contactTags") or []}
        removed = []
        for name in names:
            tag = await self.tag_id(name, create=False)
            link = on_contact.get(tag or "")
            if link is None:
                continue
            request = self._client.build_request("DELETE", f"{self.base}/contactTags/{quote(link, safe='')}")
            response = await send(self._client, request, self.limiter, what=f"untag {name!r}")
            if response.status_code != 404:  # gone already is what we wanted
                expect_success(response, f"untag {name!r}")
            removed.append(name)
        return removed

    # ---------------------------------------------------------------- lists and fields

    async def set_list_status(self, contact: str, list_id: str, *, subscribed: bool) -> None:
        payload = {"contactList": {"list": list_id, "contact": contact, "status": 1 if subscribed else 2}}
        verb = "subscribe to" if subscribed else "unsubscribe from"
        await self.call("POST", "/contactLists", f"{verb} list {list_id}", json=payload)

    async def field_id(self, key: str) -> str:
        """A custom field id from an id or a personalization tag (``COURSE``, ``%COURSE%``)."""
        if key.strip().isdigit():
            return key.strip()
        if self._fields is None:
            self._fields = await self._load_fields()
        tag = key.strip().strip("%").upper()
        if tag not in self._fields:
            self._fields = None  # maybe created since: read them again next time
            raise Permanent(f"fields: no custom field with personalization tag %{tag}%")
        return self._fields[tag]

    async def _load_fields(self) -> dict[str, str]:
        found: dict[str, str] = {}
        offset = 0
        while True:
            body = await self.call("GET", "/fields", "read custom fields", params={"limit": PAGE, "offset": offset})
            page = body.get("fields") or []
            for field in page:
                if field.get("perstag"):
                    found[str(field["perstag"]).upper()] = str(field["id"])
            if len(page) < PAGE:
                return found
            offset += PAGE

    async def aclose(self) -> None:
        await self._client.aclose()
