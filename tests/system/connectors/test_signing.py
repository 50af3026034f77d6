"""Signed http deliveries: Standard Webhooks (spec test vector, and verified by the reference library) and HMAC."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from connectors.signer import decode_whsec, standard_webhooks_signature
from router.config import ConfigError, parse_config
from tests.system.connectors.conftest import build, outgoing

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_standard_webhooks_test_vector():
    signature = standard_webhooks_signature(
        decode_whsec(SECRET), "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


async def test_standard_webhooks_signature_verifies_with_the_reference_library(sink):
    connectors = build(
        f'  lms: {{type: http, base_url: "{sink.url}", sign: {{scheme: standard-webhooks, secret: "{SECRET}"}}}}'
    )
    key = "ppr_1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f"
    await connectors.get("lms").send(outgoing({"path": "/enrol", "json": {"email": "bilal@example.nl"}}, key=key))
    [request] = await sink.wait_for(1)

    assert request.headers["webhook-id"] == key
    assert Webhook(SECRET).verify(request.body, request.headers) == {"email": "bilal@example.nl"}
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(request.body.replace(b"bilal", b"eve"), request.headers)


async def test_hmac_sha256_signs_the_exact_body_in_the_named_header(sink):
    connectors = build(
        f'  hook: {{type: http, base_url: "{sink.url}",'
        f' sign: {{scheme: hmac-sha256, header: X-Hub-Signature-256, prefix: "sha256=", secret: s3cret}}}}'
    )
    await connectors.get("hook").send(outgoing({"path": "/", "form": {"a": "1", "b": "twee drie"}}))
    [request] = await sink.wait_for(1)
    expected = hmac.new(b"s3cret", request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Hub-Signature-256"] == f"sha256={expected}"


def test_bad_signing_settings_are_config_errors_with_their_line():
    text = """version: 1
connectors:
  lms:
    type: http
    sign:
      scheme: standard-webhooks
      secret: "whsec_not base64!"
  hook:
    type: http
    sign: {scheme: hmac-sha1, secret: x}
plugandpay: {allow_unsigned: true}
"""
    with pytest.raises(ConfigError) as failed:
        parse_config(text, "config.yaml", env={})
    assert [str(p) for p in failed.value.problems] == [
        "config.yaml:7: connectors.lms.sign.secret: a standard-webhooks secret is 'whsec_' followed by base64",
        "config.yaml:10: connectors.hook.sign.scheme: expected one of standard-webhooks, hmac-sha256, got 'hmac-sha1'",
    ]


def test_a_literal_signing_secret_is_masked_like_any_secret():
    config = parse_config(
        f"version: 1\nplugandpay: {{allow_unsigned: true}}\n"
        f"connectors:\n  lms: {{type: http, sign: {{scheme: standard-webhooks, secret: {SECRET}}}}}\n",
        "config.yaml",
        env={},
    )
    assert SECRET in config.secrets
