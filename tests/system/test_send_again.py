"""A delivered delivery is never sent again by accident: the admin API answers 409 unless the request confirms,
the dashboard asks on a page of its own, and the ``replay`` command needs ``--again``. Replaying a dead
delivery stays one call, one click, one command."""

from __future__ import annotations

import re

import httpx

from tests.conftest import run_cli
from tests.dashboard_support import ADMIN_TOKEN, Shop, csrf_of, login, shop_with_history

BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def delivery_of(client: httpx.AsyncClient, shop: Shop, event_id: int) -> int:
    answer = await client.get(f"{shop.admin_url}/api/deliveries", params={"event_id": event_id}, headers=BEARER)
    [delivery] = answer.json()["deliveries"]
    return int(delivery["id"])


async def test_api_sends_a_delivered_delivery_again_only_when_the_request_confirms(
    daemon_factory, sandbox, sink, tmp_path
):
    shop = await shop_with_history(daemon_factory, sandbox, sink, tmp_path)
    async with httpx.AsyncClient(timeout=10, headers=BEARER) as client:
        delivered = await delivery_of(client, shop, shop.delivered_event)
        dead = await delivery_of(client, shop, shop.dead_event)
        one = f"{shop.admin_url}/api/deliveries/{delivered}/replay"

        refused = await client.post(one)
        assert refused.status_code == 409
        assert "delivered already" in refused.json()["error"] and '{"confirm": true}' in refused.json()["error"]
        assert (await client.post(one, json={"confirm": "yes"})).status_code == 409  # only a real true confirms
        bulk = await client.post(f"{shop.admin_url}/api/replay", json={"status": "delivered"})
        assert bulk.status_code == 409 and '{"confirm": true}' in bulk.json()["error"]
        assert len(sink.requests) == 2  # nothing was sent again

        # A dead one is one call, with no body at all.
        assert (await client.post(f"{shop.admin_url}/api/deliveries/{dead}/replay")).json() == {"replayed": 1}
        await sink.wait_for(3)
        confirmed = await client.post(one, json={"confirm": True})
        assert confirmed.status_code == 202 and confirmed.json() == {"replayed": 1}
        again = await sink.wait_for(4)
        assert again[-1].key == again[0].key  # the same request, with the same delivery key


async def test_bulk_replay_of_delivered_deliveries_needs_confirm(daemon_factory, sandbox, sink, tmp_path):
    shop = await shop_with_history(daemon_factory, sandbox, sink, tmp_path)
    async with httpx.AsyncClient(timeout=10, headers=BEARER) as client:
        body = {"status": "delivered", "connector": "sink"}
        assert (await client.post(f"{shop.admin_url}/api/replay", json=body)).status_code == 409
        confirmed = await client.post(f"{shop.admin_url}/api/replay", json={**body, "confirm": True})
        assert confirmed.status_code == 202 and confirmed.json() == {"replayed": 1}
    await sink.wait_for(3)


async def test_dashboard_asks_before_sending_a_delivered_delivery_again(daemon_factory, sandbox, sink, tmp_path):
    shop = await shop_with_history(daemon_factory, sandbox, sink, tmp_path)
    async with httpx.AsyncClient(timeout=10) as client:
        await login(client, shop.admin_url)
        page = (await client.get(f"{shop.admin_url}/ui/events/{shop.delivered_event}")).text
        # No one-click replay for a delivered delivery: a secondary "Send again" that leads to a question.
        assert "/replay" not in page
        button = re.search(r'<form method="get" action="(/ui/deliveries/(\d+)/again)".*?</form>', page, re.S)
        assert button is not None and "Send again" in button.group(0) and 'class="secondary' in button.group(0)
        delivery = button.group(2)
        replay = f"{shop.admin_url}/ui/deliveries/{delivery}/replay"

        # A POST without the confirmation (a forged or replayed form) only leads to the question.
        back = f"/ui/events/{shop.delivered_event}"
        bounced = await client.post(replay, data={"csrf": csrf_of(page), "back": back})
        assert bounced.status_code == 303 and f"/ui/deliveries/{delivery}/again" in bounced.headers["Location"]
        assert len(sink.requests) == 2

        question = await client.get(f"{shop.admin_url}{button.group(1)}", params={"back": back})
        assert question.status_code == 200 and "was delivered" in question.text
        assert 'name="confirm" value="yes"' in question.text and f'href="{back}"' in question.text  # or cancel
        sent = await client.post(replay, data={"csrf": csrf_of(question.text), "back": back, "confirm": "yes"})
        assert sent.status_code == 303 and sent.headers["Location"].startswith(back)
        assert "sent+again" in sent.headers["Location"]
        await sink.wait_for(3)

        # A dead one is still one click: its button posts straight to the replay.
        dead = (await client.get(f"{shop.admin_url}/ui/events/{shop.dead_event}")).text
        found = re.search(r'action="/ui/deliveries/(\d+)/replay"', dead)
        assert found is not None and 'class="replay"' in dead
        await client.post(
            f"{shop.admin_url}/ui/deliveries/{found.group(1)}/replay", data={"csrf": csrf_of(dead), "back": "/ui"}
        )
        await sink.wait_for(4)


async def test_replay_command_sends_a_delivered_delivery_again_only_with_again(daemon_factory, sandbox, sink, tmp_path):
    shop = await shop_with_history(daemon_factory, sandbox, sink, tmp_path)
    store = f"sqlite:///{tmp_path / 'router.db'}"
    async with httpx.AsyncClient(timeout=10, headers=BEARER) as client:
        delivered = await delivery_of(client, shop, shop.delivered_event)
        dead = await delivery_of(client, shop, shop.dead_event)

    refused = run_cli("replay", "--store", store, str(delivered))
    assert refused.returncode == 1 and "--again" in refused.stderr
    by_event = run_cli("replay", "--store", store, "--event", str(shop.delivered_event))
    assert by_event.returncode == 1 and "--again" in by_event.stderr and "requeued 0" in by_event.stdout
    assert len(sink.requests) == 2

    assert run_cli("replay", "--store", store, str(dead)).returncode == 0  # a dead one: one command
    await sink.wait_for(3)
    again = run_cli("replay", "--store", store, str(delivered), "--again")
    assert again.returncode == 0 and "requeued 1 delivery" in again.stdout
    await sink.wait_for(4)
