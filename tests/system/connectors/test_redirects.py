"""A promise a mutation run showed unprotected: an API connector must not follow a redirect (against the
ActiveCampaign stand-in, the redirect target a sink)."""

from __future__ import annotations

import pytest

from connectors.base import Permanent
from router.demo.standins.activecampaign import TOKEN, ActiveCampaignServer
from router.demo.standins.sink import HttpSink
from tests.system.connectors.conftest import build, outgoing


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
