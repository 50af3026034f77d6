"""Signing outgoing HTTP requests so the receiver can tell they came from us, over the exact bytes sent.

Two schemes, chosen with ``sign: {scheme: ...}`` on an http (or generic invoice) connector:

- ``standard-webhooks`` (standardwebhooks.com): ``webhook-id`` = the delivery key (stable across attempts,
  the receiver's idempotency key), ``webhook-timestamp`` = unix seconds of this attempt, and
  ``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` keyed with the base64-decoded part
  of the ``whsec_...`` secret.
- ``hmac-sha256``: one header (``header``, default ``X-Signature``) holding ``prefix`` + the hex
  HMAC-SHA256 of the body, keyed with the secret's UTF-8 bytes (the GitHub / Plug&Pay style).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

SCHEMES = ("standard-webhooks", "hmac-sha256")
WHSEC = "whsec_"


def decode_whsec(secret: str) -> bytes:
    """The key bytes of a Standard Webhooks secret (``whsec_`` + base64, padding optional)."""
    raw = secret[len(WHSEC) :] if secret.startswith(WHSEC) else secret
    try:
        key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a standard-webhooks secret is 'whsec_' followed by base64") from None
    if not key:
        raise ValueError("the secret is empty")
    return key


def standard_webhooks_signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


@dataclass(frozen=True)
class Signer:
    scheme: str
    key: bytes
    header: str = "X-Signature"
    prefix: str = ""
    clock: Callable[[], float] = time.time

    def headers(self, delivery_key: str, body: bytes | None) -> dict[str, str]:
        body = body or b""
        if self.scheme == "standard-webhooks":
            timestamp = int(self.clock())
            return {
                "webhook-id": delivery_key,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": standard_webhooks_signature(self.key, delivery_key, timestamp, body),
            }
        return {self.header: self.prefix + hmac.new(self.key, body, hashlib.sha256).hexdigest()}


def check_sign(sign: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Problems with a ``sign:`` mapping, as ``[(key under sign, message)]``."""
    problems = []
    for key in sign:
        if key not in ("scheme", "secret", "header", "prefix"):
            problems.append((key, "unknown key (use scheme, secret, header, prefix)"))
    scheme = sign.get("scheme")
    if scheme not in SCHEMES:
        problems.append(("scheme", f"expected one of {', '.join(SCHEMES)}, got {scheme!r}"))
    secret = sign.get("secret")
    if not secret:
        problems.append(("secret", "is required"))
    elif scheme == "standard-webhooks":
        try:
            decode_whsec(str(secret))
        except ValueError as exc:
            problems.append(("secret", str(exc)))
    if scheme == "standard-webhooks" and ("header" in sign or "prefix" in sign):
        problems.append(("header", "standard-webhooks uses its own webhook-* headers"))
    return problems


def make_signer(sign: Mapping[str, Any] | None) -> Signer | None:
    """A Signer from a validated ``sign:`` mapping (None when unset)."""
    if not sign:
        return None
    scheme = str(sign["scheme"])
    secret = str(sign["secret"])
    if scheme == "standard-webhooks":
        return Signer(scheme, decode_whsec(secret))
    return Signer(
        scheme, secret.encode(), header=str(sign.get("header") or "X-Signature"), prefix=str(sign.get("prefix") or "")
    )
