"""Promises a mutation run showed unprotected, held in process: the log masker on a real log call, and an API
connector that must not follow a redirect (against the ActiveCampaign stand-in, the redirect target a sink).
"""

from __future__ import annotations

import json

import pytest
import structlog

from connectors.base import Permanent
from router import logs
from router.demo.standins.activecampaign import TOKEN, ActiveCampaignServer
from router.demo.standins.sink import HttpSink
from tests.connectors.conftest import build, outgoing

API_TOKEN = "pp-api-token-3e8d1a"
QUOTED = 'smtp-pa"ss\\word'  # JSON writes it as smtp-pa\"ss\\\\word: that spelling must be caught too


def test_a_secret_carried_by_a_log_call_is_printed_as_stars(capsys: pytest.CaptureFixture[str]) -> None:
    # Configured here, not in a fixture: the logger writes to the stdout of the moment, capsys's during the test.
    logs.configure("info", json=True)
    logs.set_secrets(frozenset({API_TOKEN, QUOTED}))
    try:
        log = structlog.get_logger("router.route")
        # What an API or a destination may quote back: the token in an error text, nested values, a credential.
        log.warning("event fetch failed, will retry", reason=f"Plug&Pay API answered 401: bad token {API_TOKEN}")
        log.error("delivery dead", request={"headers": {"Authorization": f"Bearer {API_TOKEN}"}}, password=QUOTED)
    finally:
        logs.set_secrets(frozenset())
        structlog.reset_defaults()
    out = capsys.readouterr().out
    first, second = (json.loads(line) for line in out.splitlines())
    assert first["reason"] == "Plug&Pay API answered 401: bad token ***"
    assert second["request"] == {"headers": {"Authorization": "Bearer ***"}} and second["password"] == "***"
    for secret in (API_TOKEN, QUOTED, json.dumps(QUOTED)[1:-1]):
        assert secret not in out


async def test_an_api_connector_does_not_follow_a_redirect_and_the_target_gets_nothing() -> None:
    ac = await ActiveCampaignServer(rate=1000).start()
    target = await HttpSink().start()
    connectors = build(f'  crm: {{type: activecampaign, base_url: "{ac.url}", api_token: "{TOKEN}"}}')
    try:
        ac.fail("/api/3/contact/sync", 302, {"Location": f"{target.url}/moved"})
        connector = connectors.get("crm")
        assert connector is not None
        with pytest.raises(Permanent, match=r"HTTP 302.*\(redirects are not followed\)") as failed:
            await connector.send(outgoing({"op": "sync_contact", "email": "anna@example.nl", "tags": ["klant"]}))
        assert failed.value.status_code == 302  # permanent: the delivery is dead at once, with this reason
        assert target.requests == []
        assert [h.path for h in ac.hits] == ["/api/3/contact/sync"]  # and it went no further
    finally:
        await connectors.aclose()
        await target.stop()
        await ac.stop()
