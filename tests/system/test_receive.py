"""The webhook endpoint over real HTTP: verification, validation, dedupe, and what gets stored."""

from __future__ import annotations

import json
import sqlite3

from tests.support import WEBHOOK_KEY, signed_headers, stored, webhook_body


async def test_bad_requests_get_json_errors_and_nothing_is_stored(sandbox, sink, daemon_factory, tmp_path):
    daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url).start()
    body = webhook_body()
    cases = [
        (body, {"Content-Type": "application/json"}, 401, "missing signature"),
        (body, {"Content-Type": "application/json", "X-Signature": "00" * 32}, 401, "invalid signature"),
        (b"{not json", signed_headers(b"{not json"), 400, "malformed JSON"),
        (
            b'{"event": {"triggerable_id": 1}}',
            signed_headers(b'{"event": {"triggerable_id": 1}}'),
            400,
            "missing field 'trigger_type'",
        ),
        (b"\xff\xfe", signed_headers(b"\xff\xfe"), 400, "not valid UTF-8"),
        (b"x" * 5000, signed_headers(b"x" * 5000), 413, "larger than 4096 bytes"),
        (body, {**signed_headers(body), "Content-Type": "text/plain"}, 415, "unsupported content type"),
    ]
    for data, headers, status, message in cases:
        response = await daemon.post(data, headers)
        assert response.status_code == status, (message, response.text)
        assert message in response.json()["error"]
    events, deliveries = await stored(tmp_path / "router.db")
    assert events == [] and deliveries == []
    assert sink.requests == []
    # The log names the headers a rejected request carried, never their values.
    line = await daemon.wait_log("webhook signature invalid")
    assert "X-Signature" in line["headers_seen"]
    assert "00" * 32 not in daemon.log()


async def test_duplicate_webhook_answers_200_with_the_original_id_and_delivers_once(
    sandbox, sink, daemon_factory, tmp_path
):
    daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url).start()
    first = await daemon.post(webhook_body("order_payment_completed", 1042, nested=True))
    again = await daemon.post(webhook_body("order_paid", "1042", nested=False))  # same webhook, other shape
    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json() == {"event_id": first.json()["event_id"], "duplicate": True}
    await sink.wait_for(1, path="/welcome")
    await daemon.wait_log("event routed", event_id=first.json()["event_id"])
    events, deliveries = await stored(tmp_path / "router.db")
    assert len(events) == 1 and len(deliveries) == 1
    assert len(sink.requests) == 1


async def test_flat_payload_is_accepted_and_a_v1_form_post_on_the_v2_path_is_refused(sandbox, sink, daemon_factory):
    # V1 form posts are accepted on server.v1_path only: tests/system/test_edge_inbound.py
    daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url, key=None).start()
    flat = await daemon.post(
        webhook_body("order_paid", 1042, nested=False, rule_id=1), {"Content-Type": "application/json"}
    )
    form = b"webhook_event=order_payment_completed&id=1043&email=anna%40example.nl&status=paid"
    v1 = await daemon.post(form, {"Content-Type": "application/x-www-form-urlencoded"})
    assert (flat.status_code, v1.status_code) == (202, 415)
    assert "set server.v1_path to a secret path" in v1.json()["error"]
    requests = await sink.wait_for(1, path="/welcome")
    assert [r.json()["email"] for r in requests] == ["bilal@example.nl"]


async def test_store_that_cannot_commit_answers_503_and_recovers(sandbox, sink, daemon_factory, tmp_path):
    daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url).start()
    assert (await daemon.post(webhook_body(ident=1042))).status_code == 202
    # Another process holds the database's write lock: the daemon cannot commit in time.
    blocker = sqlite3.connect(tmp_path / "router.db", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        # The writer waits up to 5 s for the lock before it gives up: allow for a loaded machine.
        response = await daemon.post(webhook_body(ident=1043), timeout=30.0)
        assert response.status_code == 503
        assert "retry later" in response.json()["error"]
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert (await daemon.post(webhook_body(ident=1043))).status_code == 202
    events, _ = await stored(tmp_path / "router.db")
    assert sorted(e.event.triggerable_id for e in events) == ["1042", "1043"]


async def test_signature_header_and_base64_encoding_are_configurable(sandbox, sink, daemon_factory, tmp_path):
    from router.inbound.verify import sign
    from tests.support import base_config, reserved_port

    port = reserved_port()
    text = base_config(api_url=sandbox.url, sink_url=sink.url, db=tmp_path / "router.db", port=port)
    text = text.replace("  retry:", "  signature: {header: X-Plugandpay-Signature, encoding: base64}\n  retry:")
    daemon = daemon_factory(text)
    daemon.port, daemon.url = port, f"http://127.0.0.1:{port}"
    daemon.webhook_url = f"{daemon.url}/webhooks/plugandpay"
    daemon.start()
    body = webhook_body()
    wrong_header = await daemon.post(body, signed_headers(body))
    right = await daemon.post(
        body,
        {"Content-Type": "application/json", "X-Plugandpay-Signature": "sha256=" + sign(WEBHOOK_KEY, body, "base64")},
    )
    assert wrong_header.status_code == 401
    assert right.status_code == 202
    assert json.loads(right.text)["event_id"] == 1
