"""The generic HTTP connector (``type: http``): one templated request per delivery.

Settings give the destination (``base_url``, default ``headers``, ``timeout``); each action gives the
request (``method``, ``path`` or ``url``, ``query``, ``headers`` and one of ``json`` / ``form`` / ``body``).
Every request carries ``Idempotency-Key: <delivery key>``, the same on every attempt and replay, so the
destination can drop duplicates. With ``sign:`` the exact body bytes are signed (Standard Webhooks or a
plain HMAC header, see ``connectors.signer``). One pooled client per connector (``toolkit.client``),
rate limited per request; redirects are not followed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import unquote, urlencode

from yarl import URL

from connectors.base import Connector, ConnectorDefaults, Field, Limiter, Outgoing, Permanent, Sent
from connectors.signer import check_sign, make_signer
from toolkit import jsontext
from toolkit.client import Request, make_client, send
from toolkit.status import classify_status

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def encode_body(request: Mapping[str, Any]) -> tuple[bytes | None, str | None]:
    """The exact bytes to send and their content type, from one of ``json`` / ``form`` / ``body``."""
    if "json" in request:
        return jsontext.dumps_bytes(request["json"]), "application/json"
    if "form" in request:
        form = request["form"]
        if not isinstance(form, Mapping):
            raise Permanent("'form' must render to a mapping")
        return urlencode({k: "" if v is None else str(v) for k, v in form.items()}).encode(), (
            "application/x-www-form-urlencoded"
        )
    if "body" in request:
        body = request["body"]
        text = body if isinstance(body, str) else json.dumps(body)
        return text.encode(), "text/plain; charset=utf-8"
    return None, None


def method_of(request: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
    return str(request.get("method") or settings.get("method") or "POST").upper()


def url_of(request: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
    """The action's ``url``, else the connector's ``base_url`` joined with the action's ``path``."""
    if request.get("url"):
        return str(request["url"])
    base = str(settings.get("base_url") or "").rstrip("/")
    path = str(request.get("path") or "")
    return base + (path if not path or path.startswith("/") else "/" + path)


def _check_segments(path: str, shown: str) -> None:
    # %2E%2E is '..' to URL normalisers (the client's and most servers'): refuse it in any spelling.
    if any(unquote(part) in (".", "..") for part in path.split("/")):
        raise Permanent(f"{shown!r} has a '.' or '..' path segment")


class HttpConnector(Connector):
    type: ClassVar[str] = "http"
    settings_fields: ClassVar[Mapping[str, Field]] = {
        "base_url": Field("str"),
        "headers": Field("map", default={}),
        "timeout": Field("duration"),
        "method": Field("str", default="POST", choices=METHODS),
        "sign": Field("map", secret=True),
    }
    action_keys: ClassVar[frozenset[str]] = frozenset(
        {"method", "path", "url", "query", "headers", "json", "form", "body"}
    )
    text_keys: ClassVar[frozenset[str]] = frozenset({"method", "path", "url", "body"})

    def __init__(
        self, name: str, settings: Mapping[str, Any], defaults: ConnectorDefaults, *, limiter: Limiter | None = None
    ):
        super().__init__(name, settings, defaults, limiter=limiter)
        self.base_url = str(settings.get("base_url") or "").rstrip("/")
        self.headers = {str(k): str(v) for k, v in (settings.get("headers") or {}).items()}
        self.method = str(settings.get("method") or "POST")
        self.timeout = float(settings.get("timeout") or defaults.timeout)
        self.user_agent = defaults.user_agent
        self.signer = make_signer(settings.get("sign"))
        self._client = make_client(self.timeout, limiter)

    @staticmethod
    def check_settings(settings: Mapping[str, Any]) -> list[tuple[str, str]]:
        sign = settings.get("sign")
        return [(f"sign.{key}", message) for key, message in check_sign(sign)] if sign is not None else []

    @staticmethod
    def check_action(action: Mapping[str, Any]) -> list[tuple[str, str]]:
        problems = []
        bodies = [k for k in ("json", "form", "body") if k in action]
        if len(bodies) > 1:
            problems.append((bodies[1], f"use only one of json, form and body (got {', '.join(bodies)})"))
        method = action.get("method")
        if isinstance(method, str) and "{" not in method and method.upper() not in METHODS:
            problems.append(("method", f"unknown method {method!r} (use one of {', '.join(METHODS)})"))
        return problems

    @classmethod
    def check_rendered(cls, request: Mapping[str, Any], settings: Mapping[str, Any]) -> list[str]:
        """The body encodes, the query is a mapping and there is somewhere to send to."""
        problems = []
        try:
            encode_body(request)
        except Permanent as exc:
            problems.append(exc.message)
        if request.get("query") is not None and not isinstance(request["query"], Mapping):
            problems.append("'query' must render to a mapping of parameter names to values")
        if not request.get("url") and not settings.get("base_url"):
            problems.append("no url: set the connector's base_url or the action's url")
        return problems

    @classmethod
    def rate_destination(cls, name: str, settings: Mapping[str, Any]) -> str:
        base = str(settings.get("base_url") or "").rstrip("/")
        return f"http:{base}" if base else super().rate_destination(name, settings)

    @classmethod
    def describe(cls, request: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
        where = request.get("url") or request.get("path") or "(the connector's base_url)"
        return f"{method_of(request, settings)} {where}"

    @classmethod
    def destination(cls, request: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
        """Method and URL; the query and the headers (from the settings and the action) when there are any."""
        found: dict[str, Any] = {"method": method_of(request, settings), "url": url_of(request, settings)}
        if request.get("query"):
            found["query"] = request["query"]
        headers = {**(settings.get("headers") or {}), **(request.get("headers") or {})}
        if headers:
            found["headers"] = {str(name): str(value) for name, value in headers.items()}
        return found

    def url_for(self, request: Mapping[str, Any]) -> str:
        """The URL to send to; Permanent when the rendered path or url could leave its place.

        Template values in ``path`` / ``url`` are already one encoded segment each (``router.render.url_path``);
        this is the last check before sending: no ``?`` / ``#`` in a path (parameters go in ``query:``),
        no ``.`` / ``..`` segment, and the URL as the HTTP client resolves it stays under base_url's path.
        """
        query = request.get("query")
        if query is not None and not isinstance(query, Mapping):
            raise Permanent("'query' must render to a mapping of parameter names to values")
        if request.get("url"):
            url = str(request["url"])
            try:
                parsed = URL(url)
            except ValueError:
                raise Permanent(f"url {url!r} is not a valid URL") from None
            if parsed.scheme not in ("http", "https") or not parsed.host:
                raise Permanent(f"url {url!r} is not an http:// or https:// URL")
            _check_segments(parsed.raw_path, url)
            return url
        if not self.base_url:
            raise Permanent("no url: set the connector's base_url or the action's url")
        path = str(request.get("path") or "")
        if "?" in path or "#" in path:
            raise Permanent(f"path {path!r} has '?' or '#': use query: for query parameters")
        url = self.base_url + (path if not path or path.startswith("/") else "/" + path)
        base = URL(self.base_url).raw_path.rstrip("/")
        resolved = URL(url).raw_path
        if resolved != base and not resolved.startswith(base + "/"):
            raise Permanent(f"path {path!r} resolves to {resolved!r}, outside base_url's path {base or '/'!r}")
        _check_segments(path, path)
        return url

    def build(self, out: Outgoing) -> Request:
        request = out.request
        content, content_type = encode_body(request)
        headers = {"User-Agent": self.user_agent, **self.headers}
        headers.update({str(k): str(v) for k, v in (request.get("headers") or {}).items()})
        headers["Idempotency-Key"] = out.delivery_key
        if self.signer is not None:
            headers.update(self.signer.headers(out.delivery_key, content))
        if content_type and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = content_type
        query = request.get("query") or None
        method = method_of(request, {"method": self.method})
        return self._client.build_request(method, self.url_for(request), params=query, headers=headers, content=content)

    async def send(self, out: Outgoing) -> Sent:
        response = await send(self._client, self.build(out), self.limiter)
        return classify_status(response.status_code, response.text[:2000], response.headers.get("Retry-After"))

    async def aclose(self) -> None:
        await self._client.aclose()
