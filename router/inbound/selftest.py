"""The self-test webhook of ``doctor --url``: a signed body the receiver answers 200 without storing anything.

It proves that the public URL reaches this router (through any proxy) and that the signature settings
agree, without creating an event or running an action.
"""

from __future__ import annotations

import json

SELFTEST_FIELD = "plugpay_router_selftest"
_PREFIX = b'{"' + SELFTEST_FIELD.encode() + b'"'


def selftest_body(nonce: str) -> bytes:
    return json.dumps({SELFTEST_FIELD: nonce}).encode()


def is_selftest(body: bytes) -> bool:
    """Whether a (verified) body is the self-test; a cheap prefix test, it never parses."""
    return body.startswith(_PREFIX)
