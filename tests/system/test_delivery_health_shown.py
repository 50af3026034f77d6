"""The events list tells the truth: each event with how its deliveries stand (delivered, pending, dead), coloured
by the worst of them, on the dashboard and in the ``events`` command alike."""

from __future__ import annotations

import json
import re

import httpx

from tests.conftest import run_cli
from tests.dashboard_support import add_failed_event, login, shop_with_history


def row_of(page: str, event_id: int) -> str:
    found = re.search(rf'<tr class="tone-[a-z]+" data-event="{event_id}".*?</tr>', page, re.S)
    assert found is not None, f"no row for event {event_id}"
    return found.group(0)


async def test_events_list_colours_an_event_by_its_worst_delivery(daemon_factory, sandbox, sink, tmp_path):
    shop = await shop_with_history(daemon_factory, sandbox, sink, tmp_path)
    failed = await add_failed_event(shop)
    async with httpx.AsyncClient(timeout=10) as client:
        await login(client, shop.admin_url)
        page = (await client.get(f"{shop.admin_url}/ui/events")).text

    dead = row_of(page, shop.dead_event)
    assert 'data-tone="dead"' in dead
    assert '<span class="state dead">routed</span>' in dead  # routed, but not green: a delivery is dead
    assert '<span class="n dead">1 dead</span>' in dead and "delivered</span>" not in dead

    delivered = row_of(page, shop.delivered_event)
    assert 'data-tone="routed"' in delivered and '<span class="state routed">routed</span>' in delivered
    assert '<span class="n delivered">1 delivered</span>' in delivered and "dead</span>" not in delivered

    assert 'data-tone="failed"' in row_of(page, failed)


async def test_events_command_shows_delivered_pending_and_dead_per_event(daemon_factory, sandbox, sink, tmp_path):
    shop = await shop_with_history(daemon_factory, sandbox, sink, tmp_path)
    store = f"sqlite:///{tmp_path / 'router.db'}"
    listed = run_cli("events", "--store", store)
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert "deliveries" in header.split()
    by_id = {int(row.split()[0]): row for row in rows}
    assert "1 dead" in by_id[shop.dead_event] and "delivered" not in by_id[shop.dead_event]
    assert "1 delivered" in by_id[shop.delivered_event] and "dead" not in by_id[shop.delivered_event]

    body = {e["id"]: e for e in json.loads(run_cli("events", "--store", store, "--json").stdout)}
    assert body[shop.dead_event]["delivery_health"] == {"delivered": 0, "pending": 0, "dead": 1, "superseded": 0}
    assert body[shop.delivered_event]["delivery_health"]["delivered"] == 1
    assert body[shop.delivered_event]["deliveries"] == 1  # the total, as before
