"""The Slack connector against the local incoming-webhook stand-in: the message and its metadata, Slack's
plain-text errors (dead at once for a gone channel), 429 with Retry-After, no dedupe on a retry, mentions
that stay text, and one delivery through the real daemon."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from connectors.base import Permanent, Retryable
from connectors.slack import SlackConnector
from connectors.testing import ContractTests
from router.demo.standins.chat import ChatServer
from tests.support import reserved_port, webhook_body
from tests.system.connectors.conftest import FIRSTNAME, LASTNAME, build, finished, outgoing, start_daemon

KEY = "ppr_5f0c2a9d81e34b7c9a0d6e1f2b3c4d5e"
SALE = {"text": "Nieuwe bestelling 2025-0042 van Bilal de Wit: € 121,00"}


@pytest.fixture
async def chat() -> AsyncIterator[ChatServer]:
    server = await ChatServer().start()
    yield server
    await server.stop()


def slack(chat: ChatServer, path: str, *, extra: str = "", timeout: float = 5.0, rate: str = "1000/s") -> Any:
    """A connector posting to ``path`` of the stand-in: the webhook URL as Slack shows it, the stand-in as base_url."""
    settings = f'webhook_url: "https://hooks.slack.com{path}", base_url: "{chat.url}", rate_limit: {rate}{extra}'
    return build(f"  chat: {{type: slack, {settings}}}", timeout=timeout).get("chat")


async def test_a_message_is_posted_as_json_with_the_delivery_key_as_metadata(chat):
    path = chat.add_slack()
    connector = slack(chat, path)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Bilal de Wit* kocht _Basis_"}}]

    sent = await connector.send(outgoing({**SALE, "blocks": json.dumps(blocks)}, key=KEY))

    (message,) = chat.sent_to(path)
    (hit,) = chat.hits
    assert (hit.path, hit.headers["Content-Type"]) == (path, "application/json")
    assert message.body == {
        "text": SALE["text"],
        "blocks": blocks,
        "metadata": {"event_type": "plugpay_router_delivery", "event_payload": {"delivery_key": KEY}},
    }
    assert (sent.status_code, sent.detail) == (200, "Slack: ok")
    await connector.aclose()


async def test_an_alert_s_plain_text_action_is_a_complete_message_and_metadata_can_be_left_off(chat):
    path = chat.add_slack()
    connector = slack(chat, path, extra=", metadata: false")
    await connector.send(outgoing({"text": "dead delivery 17 (crm): HTTP 422"}))
    assert chat.messages[0].body == {"text": "dead delivery 17 (crm): HTTP 422"}
    await connector.aclose()


async def test_a_retry_after_a_timeout_posts_the_message_again_because_slack_does_not_deduplicate(chat):
    path = chat.add_slack()
    connector = slack(chat, path, timeout=0.3)
    chat.stall = 1.0  # Slack posts the message, the answer never arrives in time
    with pytest.raises(Retryable, match="Slack: timeout"):
        await connector.send(outgoing(SALE, key=KEY))
    await connector.send(outgoing(SALE, key=KEY))

    first, second = chat.sent_to(path)
    assert first.text == second.text == SALE["text"]
    assert first.delivery_key == second.delivery_key == KEY  # a repeat can be told, not prevented
    await connector.aclose()


@pytest.mark.parametrize(
    ("state", "status", "error"),
    [("deleted", 404, "channel_not_found"), ("archived", 410, "channel_is_archived")],
)
async def test_a_channel_that_is_gone_is_dead_at_once_and_never_knocked_on_again(chat, state, status, error):
    path = chat.add_slack(state=state)
    connector = slack(chat, path)
    with pytest.raises(Permanent) as dead:
        await connector.send(outgoing(SALE))
    assert dead.value.status_code == status
    assert dead.value.message.startswith(f"Slack: HTTP {status}: {error} (")
    assert "update webhook_url" in dead.value.message or "unarchive" in dead.value.message

    with pytest.raises(Permanent, match="not called again until the config is reloaded"):
        await connector.send(outgoing(SALE, ident=2))
    assert len(chat.hits) == 1  # the second delivery never reached Slack
    await connector.aclose()


async def test_a_wrong_or_removed_webhook_url_is_permanent_and_never_shown(chat):
    path = chat.add_slack()
    wrong = path.rsplit("/", 1)[0] + "/not-the-secret"
    removed = "/services/T0GONE/B0GONE/abcdefabcdef"
    for url, status, error in ((wrong, 403, "invalid_token"), (removed, 404, "no_service")):
        connector = slack(chat, url)
        with pytest.raises(Permanent) as dead:
            await connector.send(outgoing(SALE))
        assert (dead.value.status_code, dead.value.message.split(" (")[0]) == (status, f"Slack: HTTP {status}: {error}")
        assert url.rsplit("/", 1)[1] not in dead.value.message
        await connector.aclose()
    assert chat.messages == []


async def test_a_429_retry_after_is_honoured_by_the_whole_connector(chat):
    path = chat.add_slack()
    connector = slack(chat, path)
    chat.fail("slack", 429, "rate_limited", {"Retry-After": "1"})
    with pytest.raises(Retryable) as slowed:
        await connector.send(outgoing(SALE))
    assert (slowed.value.status_code, slowed.value.retry_after) == (429, 1.0)

    await connector.send(outgoing({"text": "another sale"}, ident=2))  # another delivery waits its turn
    refused, accepted = chat.hits
    assert accepted.status == 200
    assert accepted.at - refused.at >= 1.0
    await connector.aclose()


async def test_the_default_rate_is_one_message_per_second_per_webhook(chat):
    path = chat.add_slack()
    connectors = build(
        f'  a: {{type: slack, webhook_url: "https://hooks.slack.com{path}", base_url: "{chat.url}"}}\n'
        f'  b: {{type: slack, webhook_url: "https://hooks.slack.com{path}", base_url: "{chat.url}"}}'
    )
    assert str(connectors.guards["a"].limiter.rate) == "1/1s"
    assert connectors.guards["a"].limiter is connectors.guards["b"].limiter  # one webhook, one limit
    names = ("a", "b", "a")
    connector = connectors.get
    await asyncio.gather(*(connector(n).send(outgoing({"text": f"sale {i}"}, ident=i)) for i, n in enumerate(names)))
    arrivals = sorted(m.at for m in chat.messages)
    assert len(arrivals) == 3 and all(h.status == 200 for h in chat.hits)  # the stand-in never had to say 429
    assert arrivals[2] - arrivals[0] >= 2.0  # 1.1 s apart: 1/s with a little slack for jitter
    await connectors.aclose()


async def test_a_server_error_is_retried_and_a_refused_payload_is_not(chat):
    path = chat.add_slack()
    connector = slack(chat, path)
    chat.fail("slack", 500, "rollup_error")
    with pytest.raises(Retryable, match=r"Slack: HTTP 500: rollup_error \(a hiccup at Slack\)"):
        await connector.send(outgoing(SALE))
    chat.refuse_metadata = True
    with pytest.raises(Permanent, match=r"invalid_payload .*set metadata: false"):
        await connector.send(outgoing(SALE))
    await connector.aclose()

    without = slack(chat, path, extra=", metadata: false")
    await without.send(outgoing(SALE))
    assert [m.text for m in chat.messages] == [SALE["text"]]
    await without.aclose()


async def test_customer_text_stays_text_and_pings_nobody(chat):
    path = chat.add_slack()
    connector = slack(chat, path)
    hostile = "<!channel> <@U024BE7LH> Eve <a@evil.example>\r\nX-Injected: yes ../../admin?x=1#frag & Zn"
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": f"van {hostile}"}}]

    await connector.send(outgoing({"text": f"Nieuwe bestelling van {hostile}", "blocks": blocks}))

    (hit,) = chat.hits
    (message,) = chat.messages
    assert hit.path == path and hit.query == {}
    assert not any(name.lower() == "x-injected" for name in hit.headers)
    assert message.pings == []
    assert message.text == "Nieuwe bestelling van &lt;!channel> &lt;@U024BE7LH> Eve <a@evil.example>\r\n" + (
        "X-Injected: yes ../../admin?x=1#frag & Zn"
    )
    await connector.aclose()

    loud = slack(chat, path, extra=", allow_mentions: true")
    await loud.send(outgoing({"text": "<!channel> the shop is down"}))
    assert chat.messages[-1].pings == ["!channel"]
    await loud.aclose()


async def test_an_unreachable_webhook_is_retried_without_showing_its_url():
    port = reserved_port()  # nothing listens there
    secret = "XyZsecretSecretSecret42"
    connectors = build(
        f'  chat: {{type: slack, webhook_url: "https://hooks.slack.com/services/T1/B1/{secret}", '
        f'base_url: "http://127.0.0.1:{port}"}}'
    )
    with pytest.raises(Retryable) as failed:
        await connectors.get("chat").send(outgoing(SALE))
    assert failed.value.message.startswith("Slack: connection error")
    assert secret not in failed.value.message
    await connectors.aclose()


async def test_a_paid_order_posts_one_slack_message_through_the_daemon(tmp_path, sandbox, chat):
    sandbox.state.fixtures["orders"]["1042"]["billing"]["contact"]["firstname"] = "<!everyone> Bilal"
    path = chat.add_slack()
    connectors = f'  sales: {{type: slack, webhook_url: "https://hooks.slack.com{path}", base_url: "{chat.url}"}}'
    rules = f"""  - name: sale-to-slack
    trigger: order_paid
    actions:
      - connector: sales
        text: "Nieuwe bestelling {{{{ order.invoice_number }}}} van {FIRSTNAME} {LASTNAME}"
"""
    daemon = start_daemon(tmp_path, sandbox.url, connectors, rules)
    try:
        await daemon.post(webhook_body("order_paid", 1042))
        (delivery,) = await finished(tmp_path)
        (message,) = await chat.wait_messages(1)
        assert delivery.status == "delivered"
        assert message.text == "Nieuwe bestelling 2025-0042 van &lt;!everyone> Bilal de Wit"
        assert message.pings == []
        assert message.delivery_key == delivery.delivery_key
        assert path.rsplit("/", 1)[1] not in daemon.log()
    finally:
        assert daemon.stop() == 0


class TestTheSlackConnectorKeepsTheContract(ContractTests):
    connector = SlackConnector

    def settings(self, base_url: str) -> dict[str, Any]:
        return {"webhook_url": "https://hooks.slack.com/services/T0/B0/kit-secret", "base_url": base_url}

    def action(self, customer_text: str) -> dict[str, Any]:
        return {"text": f"Nieuwe bestelling van {customer_text}"}

    def delivery_key_of(self, request: Any) -> str | None:
        return str(request.json()["metadata"]["event_payload"]["delivery_key"])
