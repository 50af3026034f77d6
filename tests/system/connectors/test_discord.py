"""The Discord connector against the local webhook stand-in: the message (confirmed with ``wait=true``), embeds,
mentions that ping nobody, Discord's JSON errors (a deleted webhook is dead at once and left alone), 429 with
``retry_after`` in body and header, pacing by the rate-limit headers, no dedupe on a retry, and the daemon."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from connectors.base import Permanent, Retryable
from connectors.discord import DiscordConnector
from connectors.testing import ContractTests
from router.demo.standins.chat import ChatServer
from tests.support import webhook_body
from tests.system.connectors.conftest import FIRSTNAME, LASTNAME, build, finished, outgoing, start_daemon

SALE = {"text": "Nieuwe bestelling 2025-0042 van Bilal de Wit: € 121,00"}
EMBED = {"title": "Bestelling 2025-0042", "description": "Online cursus Basis", "color": 5814783}


@pytest.fixture
async def chat() -> AsyncIterator[ChatServer]:
    server = await ChatServer().start()
    yield server
    await server.stop()


def discord(chat: ChatServer, path: str, *, extra: str = "", timeout: float = 5.0, rate: str = "1000/s") -> Any:
    """A connector posting to ``path`` of the stand-in: the URL as Discord shows it, the stand-in as base_url."""
    settings = f'webhook_url: "https://discord.com{path}", base_url: "{chat.url}", rate_limit: {rate}{extra}'
    return build(f"  chat: {{type: discord, {settings}}}", timeout=timeout).get("chat")


async def test_a_message_is_confirmed_by_discord_and_its_id_kept(chat):
    path = chat.add_discord()
    connector = discord(chat, path, extra=", username: Cursusshop")

    sent = await connector.send(outgoing({**SALE, "embeds": [EMBED]}))

    (hit,) = chat.hits
    (message,) = chat.sent_to(path)
    assert (hit.path, hit.query, hit.headers["Content-Type"]) == (path, {"wait": "true"}, "application/json")
    assert message.body == {
        "content": SALE["text"],
        "embeds": [EMBED],
        "username": "Cursusshop",
        "allowed_mentions": {"parse": []},
    }
    assert sent.status_code == 200 and sent.result is not None
    assert sent.detail == f"Discord message {sent.result['message_id']}"
    assert sent.result["channel_id"] == "1250000000000000000"
    await connector.aclose()


async def test_an_alert_s_plain_text_action_is_a_complete_message_and_204_counts_as_sent(chat):
    path = chat.add_discord()
    connector = discord(chat, path + "?wait=false")
    sent = await connector.send(outgoing({"text": "dead delivery 17 (crm): HTTP 422"}))
    assert (sent.status_code, sent.detail) == (204, "Discord: accepted")
    assert chat.messages[0].text == "dead delivery 17 (crm): HTTP 422"
    await connector.aclose()


async def test_embeds_from_a_template_and_text_over_2000_characters_is_cut_not_refused(chat):
    path = chat.add_discord()
    connector = discord(chat, path)
    await connector.send(outgoing({"text": "x" * 2500, "embeds": json.dumps([EMBED])}))
    (message,) = chat.messages
    assert len(message.text) == 2000 and message.text.endswith("x…")
    assert message.body["embeds"] == [EMBED]

    with pytest.raises(Permanent, match="at most 10 embeds per message, got 11"):
        await connector.send(outgoing({"embeds": [EMBED] * 11}))
    with pytest.raises(Permanent, match="nothing to send"):
        await connector.send(outgoing({"text": "  "}))
    assert len(chat.hits) == 1  # refused before anything was sent
    await connector.aclose()


async def test_a_retry_after_a_timeout_posts_the_message_again_because_discord_does_not_deduplicate(chat):
    path = chat.add_discord()
    connector = discord(chat, path, timeout=0.3)
    chat.stall = 1.0  # Discord saves the message, the answer never arrives in time
    with pytest.raises(Retryable, match="Discord: timeout"):
        await connector.send(outgoing(SALE))
    await connector.send(outgoing(SALE))
    assert [m.text for m in chat.sent_to(path)] == [SALE["text"], SALE["text"]]
    await connector.aclose()


async def test_a_deleted_webhook_is_dead_at_once_and_never_called_again(chat):
    path = chat.add_discord(state="deleted")
    connector = discord(chat, path)
    with pytest.raises(Permanent) as dead:
        await connector.send(outgoing(SALE))
    assert dead.value.status_code == 404
    assert dead.value.message == (
        "Discord: HTTP 404: Unknown Webhook (code 10015); "
        "the webhook was deleted: make a new one and update webhook_url"
    )
    with pytest.raises(Permanent, match="not called again until the config is reloaded"):
        await connector.send(outgoing(SALE, ident=2))
    assert len(chat.hits) == 1  # Discord restricts callers that keep using a deleted webhook
    await connector.aclose()


async def test_a_wrong_token_is_permanent_and_never_shown(chat):
    path = chat.add_discord()
    wrong = path.rsplit("/", 1)[0] + "/wrong-token-wrong-token"
    connector = discord(chat, wrong)
    with pytest.raises(Permanent) as dead:
        await connector.send(outgoing(SALE))
    assert dead.value.status_code == 401
    assert dead.value.message.startswith("Discord: HTTP 401: Invalid Webhook Token (code 50027); the webhook URL's")
    assert "wrong-token" not in dead.value.message
    with pytest.raises(Permanent):
        await connector.send(outgoing(SALE, ident=2))
    assert len(chat.hits) == 1  # 401s count toward Discord's ban of an IP: not repeated
    await connector.aclose()


async def test_a_429_waits_for_retry_after_from_the_body_and_pauses_the_connector(chat):
    path = chat.add_discord()
    connector = discord(chat, path)
    chat.fail("discord", 429, {"message": "You are being rate limited.", "retry_after": 0.8, "global": False})
    with pytest.raises(Retryable) as slowed:
        await connector.send(outgoing(SALE))
    assert (slowed.value.status_code, slowed.value.retry_after) == (429, 0.8)
    assert slowed.value.message == "Discord: HTTP 429: You are being rate limited."

    await connector.send(outgoing({"text": "another sale"}, ident=2))  # another delivery waits its turn
    refused, accepted = chat.hits
    assert accepted.status == 200 and accepted.at - refused.at >= 0.8
    await connector.aclose()


async def test_a_429_honours_the_longer_of_the_header_and_the_body(chat):
    path = chat.add_discord()
    connector = discord(chat, path)
    body = {"message": "The resource is being rate limited.", "retry_after": 1336.57, "global": False}
    chat.fail("discord", 429, body, {"Retry-After": "1337", "X-RateLimit-Scope": "shared"})
    with pytest.raises(Retryable) as slowed:
        await connector.send(outgoing(SALE))
    assert slowed.value.retry_after == 1337.0
    assert slowed.value.message == "Discord: HTTP 429: The resource is being rate limited. (scope shared)"
    await connector.aclose()


async def test_an_empty_bucket_holds_the_next_message_until_discord_refills_it(chat):
    chat.discord_rate = (2, 1.0)  # a small bucket: its headers say when it is empty
    path = chat.add_discord()
    connector = discord(chat, path)
    for ident in range(3):
        await connector.send(outgoing({"text": f"sale {ident}"}, ident=ident))
    first, _, third = chat.hits
    assert [h.status for h in chat.hits] == [200, 200, 200]  # never a 429
    assert third.at - first.at >= 0.9
    await connector.aclose()


async def test_refused_fields_are_named_and_server_errors_are_retried(chat):
    path = chat.add_discord()
    connector = discord(chat, path)
    too_long = {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 256 or fewer in length."}]}
    invalid = {"code": 50035, "errors": {"embeds": {"0": {"title": too_long}}}, "message": "Invalid Form Body"}
    chat.fail("discord", 400, invalid)
    with pytest.raises(Permanent) as refused:
        await connector.send(outgoing({"embeds": [EMBED]}))
    assert refused.value.message == (
        "Discord: HTTP 400: Invalid Form Body (code 50035); embeds.0.title: Must be 256 or fewer in length.; "
        "Discord refused a field"
    )
    chat.fail("discord", 502, {"message": "502: Bad Gateway", "code": 0})
    with pytest.raises(Retryable, match="HTTP 502"):
        await connector.send(outgoing(SALE))
    await connector.aclose()


async def test_customer_text_stays_text_and_pings_nobody(chat):
    path = chat.add_discord()
    connector = discord(chat, path)
    hostile = "@everyone <@80351110224678912> Eve <a@evil.example>\r\nX-Injected: yes ../../admin?x=1#frag"
    await connector.send(outgoing({"text": f"Nieuwe bestelling van {hostile}", "username": hostile[:40]}))

    (hit,) = chat.hits
    (message,) = chat.messages
    assert hit.path == path and hit.query == {"wait": "true"}
    assert not any(name.lower() == "x-injected" for name in hit.headers)
    assert message.text == f"Nieuwe bestelling van {hostile}"
    assert message.pings == []
    await connector.aclose()

    loud = discord(chat, path, extra=", allow_mentions: true")
    await loud.send(outgoing({"text": "@everyone the shop is down"}))
    assert chat.messages[-1].pings == ["@everyone"]
    await loud.aclose()


async def test_a_paid_order_posts_one_discord_message_and_a_deleted_webhook_is_dead(tmp_path, sandbox, chat):
    sandbox.state.fixtures["orders"]["1042"]["billing"]["contact"]["firstname"] = "@everyone Bilal"
    path, deleted = chat.add_discord(), chat.add_discord(state="deleted")
    connectors = (
        f'  sales: {{type: discord, webhook_url: "https://discord.com{path}", base_url: "{chat.url}"}}\n'
        f'  old: {{type: discord, webhook_url: "https://discord.com{deleted}", base_url: "{chat.url}"}}'
    )
    text = f"Nieuwe bestelling {{{{ order.invoice_number }}}} van {FIRSTNAME} {LASTNAME}"
    rules = f"""  - name: sale-to-discord
    trigger: order_paid
    actions:
      - {{connector: sales, text: "{text}", embeds: [{{title: "{{{{ order.invoice_number }}}}"}}]}}
      - {{connector: old, text: "{text}"}}
"""
    daemon = start_daemon(tmp_path, sandbox.url, connectors, rules)
    try:
        await daemon.post(webhook_body("order_paid", 1042))
        deliveries = {d.connector: d for d in await finished(tmp_path, 2)}
        (message,) = chat.messages
        assert deliveries["sales"].status == "delivered"
        assert message.text == "Nieuwe bestelling 2025-0042 van @everyone Bilal de Wit"
        assert message.body["embeds"] == [{"title": "2025-0042"}]
        assert message.pings == []
        dead = deliveries["old"]
        assert (dead.status, dead.attempts) == ("dead", 1)
        assert "Discord: HTTP 404: Unknown Webhook (code 10015)" in (dead.last_error or "")
        for secret in (path.rsplit("/", 1)[1], deleted.rsplit("/", 1)[1]):
            assert secret not in daemon.log()
    finally:
        assert daemon.stop() == 0


class TestTheDiscordConnectorKeepsTheContract(ContractTests):
    connector = DiscordConnector

    def settings(self, base_url: str) -> dict[str, Any]:
        return {"webhook_url": "https://discord.com/api/webhooks/1234567890/kit-token-kit-token", "base_url": base_url}

    def action(self, customer_text: str) -> dict[str, Any]:
        return {"text": f"Nieuwe bestelling van {customer_text}"}

    def delivery_key_of(self, request: Any) -> str | None:
        return None  # Discord's webhooks take no idempotency key and keep no metadata (documented)
