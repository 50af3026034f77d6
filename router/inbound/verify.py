"""Webhook key verification: HMAC-SHA256 over the raw request body.

Plug&Pay's signature scheme is not publicly documented (docs/semantics.md, "The signature"); the one
concrete receiver found reads header ``X-Signature`` as the lowercase hex HMAC-SHA256 of the raw body
keyed with the shop's webhook key. The header name is configurable, and the value is accepted as hex
(any case) or base64, with or without a ``sha256=`` prefix. Comparison is constant-time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac


def sign(key: str, body: bytes, encoding: str = "hex") -> str:
    """The signature value Plug&Pay is believed to send (used by ``trigger`` and the tests)."""
    digest = hmac.new(key.encode(), body, hashlib.sha256).digest()
    if encoding == "base64":
        return base64.b64encode(digest).decode()
    return digest.hex()


def _decode(value: str) -> bytes | None:
    value = value.strip()
    if value.lower().startswith("sha256="):
        value = value[7:].strip()
    if len(value) == 64:
        try:
            return bytes.fromhex(value)
        except ValueError:
            pass
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 32 else None


def verify(key: str, body: bytes, value: str | None) -> bool:
    """True when ``value`` is a valid signature of ``body`` under ``key``."""
    if not value:
        return False
    given = _decode(value)
    expected = hmac.new(key.encode(), body, hashlib.sha256).digest()
    # Compare even when decoding failed, so timing does not tell a malformed value from a wrong one.
    return hmac.compare_digest(given or b"\0" * 32, expected) and given is not None


def admits(key: str | None, allow_unsigned: bool, body: bytes, value: str | None) -> bool:
    """The one verification decision, for a webhook as it arrives and for one released from the quarantine.

    Fails closed: without a key only an explicit ``allow_unsigned`` admits a body (``check`` refuses a key-less
    config without it, but a config built in code must not open the door either).
    """
    if not key:
        return allow_unsigned
    return verify(key, body, value)
