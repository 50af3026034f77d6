"""Inbound edges: V1 form webhooks only on the secret ``server.v1_path``, trigger aliases from the config, and
``doctor`` against the sandbox (passing with the right token, failing with a wrong one, saying what to do)."""

from __future__ import annotations

import asyncio
import json

from tests.conftest import run_cli
from tests.support import WEBHOOK_KEY, signed_headers, stored, webhook_body

V1_PATH = "/webhooks/plugandpay/v1/Xq3vR9_kLm2PzT7wYb4NcD8fGh1JsA6e"
V1_FORM = b"webhook_event=order_payment_completed&id=1043&email=anna%40example.nl&status=paid"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def test_v1_on_the_secret_path_is_accepted_refetched_and_on_the_v2_path_refused(
    sandbox, sink, daemon_factory, tmp_path
):
    daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url)
    text = daemon.config_path.read_text()
    daemon.config_path.write_text(text.replace("max_body_bytes: 4096}", f"max_body_bytes: 4096, v1_path: {V1_PATH}}}"))
    daemon.start()
    on_v2 = await daemon.post(V1_FORM, FORM)
    assert on_v2.status_code == 415
    assert on_v2.json()["error"].startswith("form posts (legacy V1 webhooks) are not accepted on the signed")
    daemon.webhook_url = daemon.url + "/webhooks/plugandpay/v1/guessed"
    assert (await daemon.post(V1_FORM, FORM)).status_code == 404
    daemon.webhook_url = daemon.url + V1_PATH
    assert (await daemon.post(V1_FORM, FORM)).status_code == 202  # no signature: the path is the secret
    [request] = await sink.wait_for(1, path="/welcome")
    assert request.json()["email"] == "anna@example.nl"  # from the API (order 1043), not from the form
    assert any(r["path"] == "/v2/orders/1043" for r in sandbox.state.requests)
    events, _ = await stored(tmp_path / "router.db")
    assert [(e.event.source, e.event.trigger, e.status) for e in events] == [("v1", "order_paid", "routed")]


async def test_one_order_posted_with_its_id_spelled_three_ways_is_delivered_once(
    sandbox, sink, daemon_factory, tmp_path
):
    daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url)
    text = daemon.config_path.read_text()
    daemon.config_path.write_text(text.replace("max_body_bytes: 4096}", f"max_body_bytes: 4096, v1_path: {V1_PATH}}}"))
    daemon.start()
    daemon.webhook_url = daemon.url + V1_PATH
    answers = [await daemon.post(f"webhook_event=order_paid&id={ident}".encode(), FORM) for ident in ("1043", "01043")]
    answers.append(await daemon.post(b"webhook_event=order_paid&order_id=001043", FORM))
    assert [a.status_code for a in answers] == [202, 200, 200]  # the same webhook: stored once
    assert len({a.json()["event_id"] for a in answers}) == 1
    await sink.wait_for(1, path="/welcome")
    events, deliveries = await stored(tmp_path / "router.db")
    assert [e.event.triggerable_id for e in events] == ["1043"] and len(deliveries) == 1


def test_check_refuses_a_short_v1_token(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("server: {v1_path: /webhooks/plugandpay/v1/secret123}\nrules: []\n")
    result = run_cli("check", "-c", str(config))
    assert result.returncode == 1
    assert "server.v1_path: V1 webhooks are unsigned, so the last path segment must be a secret token" in (
        result.stderr
    )


async def test_a_config_alias_routes_a_new_trigger_spelling(sandbox, sink, daemon_factory):
    rule = """  - name: partner-welcome
    trigger: affiliate_accepted
    actions: [{connector: sink, path: /partner, json: {email: "{{ affiliate.email }}"}}]
"""
    daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url, extra_rules=rule)
    text = daemon.config_path.read_text()
    aliases = "  trigger_aliases: {affiliate_seller_approved: affiliate_accepted}\n"
    daemon.config_path.write_text(text.replace("  retry: [0.2s, 0.5s]\n", "  retry: [0.2s, 0.5s]\n" + aliases))
    daemon.start()
    body = json.dumps(
        {"event": {"trigger_type": "affiliate_seller_approved", "triggerable_type": "seller", "triggerable_id": 14}}
    ).encode()
    assert (await daemon.post(body)).status_code == 202
    [request] = await sink.wait_for(1, path="/partner")
    assert request.json() == {"email": "jan@partner.nl"}


async def test_doctor_passes_against_the_sandbox_and_fails_with_a_wrong_token(sandbox, sink, daemon_factory):
    daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url).start()
    assert (await daemon.post(webhook_body("order_paid", 1042))).status_code == 202
    await sink.wait_for(1, path="/welcome")
    config = str(daemon.config_path)

    # In a thread: the sandbox answers from this test's event loop.
    passing = await asyncio.to_thread(run_cli, "doctor", "-c", config, "--url", daemon.webhook_url)
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert "ok    API token: tenant 'Sandbox Shop' (id 42)" in passing.stdout
    assert "ok    GET /v2/orders/1042?include=billing,items,payment,discounts,taxes,tags" in passing.stdout
    assert f"ok    {daemon.webhook_url}: signed self-test answered 200" in passing.stdout
    assert passing.stdout.rstrip().endswith("all checks passed")
    events = [e for e in daemon.log_events() if e.get("event") == "webhook accepted"]
    assert len(events) == 1  # the self-test stored nothing

    failing = await asyncio.to_thread(
        lambda: run_cli("doctor", "-c", config, env={"PLUGANDPAY_API_TOKEN": "not-the-token"})
    )
    assert failing.returncode == 1
    assert "FAIL  API token: Plug&Pay API answered 401 on GET /v2/auth/tenants/me" in failing.stdout
    assert "-> create a personal access token in Plug&Pay (Settings > Developers)" in failing.stdout


async def test_doctor_fails_on_a_refused_include_and_on_refused_webhooks(sandbox, sink, daemon_factory):
    rule = "  - {name: c, trigger: order_paid, checkouts: [12], actions: [{connector: sink, path: /c, json: {}}]}\n"
    daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url, extra_rules=rule).start()
    assert (await daemon.post(webhook_body("order_paid", 1042))).status_code == 202
    await sink.wait_for(2)
    sandbox.state.reject_includes = {"checkout"}
    body = webhook_body("order_paid", 1043)
    assert (await daemon.post(body, signed_headers(body, WEBHOOK_KEY + "-old"))).status_code == 401
    result = await asyncio.to_thread(run_cli, "doctor", "-c", str(daemon.config_path))
    assert result.returncode == 1
    assert "FAIL  GET /v2/orders/1042: the API refused include checkout" in result.stdout
    assert "FAIL  quarantine: 1 webhook(s) kept after failing verification" in result.stdout
    assert "2 check(s) failed" in result.stdout
