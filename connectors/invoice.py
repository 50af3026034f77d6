"""The invoice connector (``type: invoice``): POST the normalised invoice document of an order.

Settings: ``flavor: generic`` with ``url``, ``headers`` and an optional ``sign`` (as the http connector signs);
each delivery POSTs the document (``connectors.invoice_doc``) with ``Idempotency-Key: <delivery key>``, and
the answer is classified like any HTTP answer. ``flavor: moneybird`` is an alias of the ``moneybird``
connector type (``connectors.moneybird``): its settings are checked here, with the flavor's own, and
``resolve`` hands them to that type, which builds, rate limits and describes exactly as ``type: moneybird``.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Mapping
from typing import Any, ClassVar

from connectors.base import Connector, ConnectorDefaults, Field, Limiter, Outgoing, Sent
from connectors.invoice_doc import InvoiceAction
from connectors.moneybird import SETTINGS as MONEYBIRD_SETTINGS
from connectors.moneybird import MoneybirdConnector
from connectors.signer import check_sign, make_signer
from toolkit.client import make_client, send
from toolkit.status import classify_status

FLAVORS = ("moneybird", "generic")
NEEDS = {"moneybird": ("base_url", "token"), "generic": ("url",)}


class InvoiceConnector(InvoiceAction):
    type: ClassVar[str] = "invoice"
    settings_fields: ClassVar[Mapping[str, Field]] = {
        "flavor": Field("str", required=True, choices=FLAVORS),
        **MONEYBIRD_SETTINGS,
        "url": Field("str"),
        "headers": Field("map", default={}),
        "sign": Field("map", secret=True),
    }

    def __init__(
        self, name: str, settings: Mapping[str, Any], defaults: ConnectorDefaults, *, limiter: Limiter | None = None
    ):
        super().__init__(name, settings, defaults, limiter=limiter)
        self.currency = str(settings.get("currency") or "EUR")
        self.url = str(settings.get("url") or "")
        self.headers = {"User-Agent": defaults.user_agent, **(settings.get("headers") or {})}
        self.signer = make_signer(settings.get("sign"))
        self._client = make_client(float(settings.get("timeout") or defaults.timeout), limiter)

    @classmethod
    def resolve(cls, settings: Mapping[str, Any]) -> builtins.type[Connector]:
        return MoneybirdConnector if settings.get("flavor") == "moneybird" else cls

    @staticmethod
    def check_settings(settings: Mapping[str, Any]) -> list[tuple[str, str]]:
        flavor = settings.get("flavor")
        needs = NEEDS.get(str(flavor), ())
        problems = [(key, f"is required by flavor {flavor}") for key in needs if not settings.get(key)]
        for key in ("base_url", "url"):
            if settings.get(key) and not str(settings[key]).startswith(("http://", "https://")):
                problems.append((key, "must be an http:// or https:// URL"))
        if flavor == "moneybird":
            for key in ("url", "headers", "sign"):
                if settings.get(key):
                    problems.append((key, "is only used by flavor generic"))
        if settings.get("sign") is not None:
            problems += [(f"sign.{key}", message) for key, message in check_sign(settings["sign"])]
        return problems

    async def send(self, out: Outgoing) -> Sent:
        doc = self.document(out)
        body = json.dumps(doc.as_json(), separators=(",", ":"), ensure_ascii=False).encode()
        headers = {**self.headers, "Content-Type": "application/json", "Idempotency-Key": out.delivery_key}
        if self.signer is not None:
            headers.update(self.signer.headers(out.delivery_key, body))
        request = self._client.build_request("POST", self.url, content=body, headers=headers)
        response = await send(self._client, request, self.limiter)
        return classify_status(response.status_code, response.text[:2000], response.headers.get("Retry-After"))

    async def aclose(self) -> None:
        await self._client.aclose()
