"""End to end through the real daemon: webhook in, API fetch, rendered HTTP delivery out."""

from __future__ import annotations

from tests.support import API_TOKEN, webhook_body


async def test_signed_webhook_is_fetched_rendered_and_delivered(sandbox, sink, daemon_factory):
    daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url).start()
    response = await daemon.post(webhook_body("order_payment_completed", 1042))
    assert response.status_code == 202
    event_id = response.json()["event_id"]

    [request] = await sink.wait_for(1, path="/welcome")
    assert request.json() == {"email": "bilal@example.nl", "invoice": "2025-0042"}
    assert request.headers["Idempotency-Key"].startswith("ppr_")
    fetch = sandbox.state.requests[0]
    assert fetch["path"] == "/v2/orders/1042"
    assert fetch["authorization"] == f"Bearer {API_TOKEN}"
    assert fetch["user_agent"] == "CustomApiCall/2"
    assert "items" in fetch["query"]["include"].split(",")
    assert isinstance(event_id, int)
    assert daemon.stop() == 0
