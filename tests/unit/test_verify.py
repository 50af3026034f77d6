"""Webhook key verification: HMAC-SHA256 of the raw body, hex or base64, optional sha256= prefix."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from router.inbound.verify import sign, verify

KEY = "whk_secret"
BODY = b'{"event":{"trigger_type":"order_paid","triggerable_id":1}}'
DIGEST = hmac.new(KEY.encode(), BODY, hashlib.sha256).digest()


@pytest.mark.parametrize(
    "value",
    [
        DIGEST.hex(),
        DIGEST.hex().upper(),
        f"sha256={DIGEST.hex()}",
        base64.b64encode(DIGEST).decode(),
        "sha256=" + base64.b64encode(DIGEST).decode(),
        base64.b64encode(DIGEST).decode().rstrip("="),
    ],
)
def test_accepted_encodings(value):
    assert verify(KEY, BODY, value)


@pytest.mark.parametrize("value", [None, "", "abc", DIGEST.hex()[:-2] + "00", sign("other-key", BODY), "sha256="])
def test_rejected_values(value):
    assert not verify(KEY, BODY, value)


def test_signature_covers_every_byte_of_the_body():
    assert not verify(KEY, BODY + b" ", sign(KEY, BODY))


def test_sign_matches_verify_in_both_encodings():
    assert verify(KEY, BODY, sign(KEY, BODY, "hex"))
    assert verify(KEY, BODY, sign(KEY, BODY, "base64"))
