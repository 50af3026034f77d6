"""The ActiveCampaign connector against a local API simulator: step order, tags, retries, 429 and the 5 req/s limit."""

from __future__ import annotations

import asyncio

import pytest

from connectors.base import Permanent, Retryable
from router.demo.standins.activecampaign import TOKEN
from tests.system.connectors.conftest import build, outgoing


def crm(ac, token: str = TOKEN, *, fast: bool = True):
    """The connector; ``fast`` lifts the 5 req/s limit on both sides for tests that are not about it."""
    rate = ", rate_limit: 1000/s" if fast else ""
    if fast:
        ac.rate = 1000
    connectors = build(f'  crm: {{type: activecampaign, base_url: "{ac.url}", api_token: "{token}"{rate}}}')
    return connectors, connectors.get("crm")


SYNC = {
    "op": "sync_contact",
    "email": "Bilal@Example.nl",
    "first_name": "Bilal",
    "last_name": "de Wit",
    "phone": "+31612345678",
    "fields": {"%COURSE%": "Basis", "7": "2025-03-14"},
    "tags": ["cursus", "cursus-77"],
    "lists": [3],
}


async def test_sync_contact_then_tags_then_lists_in_order(ac):
    ac.add_tag("cursus-77-gevorderd")  # contains "cursus-77": the search finds it, the exact match must not
    existing = ac.add_tag("cursus")
    ac.fields.append({"id": "12", "title": "Cursus", "perstag": "COURSE"})
    _, connector = crm(ac)

    sent = await connector.send(outgoing(SYNC))

    steps = [(h.method, h.path) for h in ac.hits if h.path != "/api/3/fields"]
    assert steps == [
        ("POST", "/api/3/contact/sync"),
        ("GET", "/api/3/tags"),
        ("POST", "/api/3/contactTags"),
        ("GET", "/api/3/tags"),
        ("POST", "/api/3/tags"),
        ("POST", "/api/3/contactTags"),
        ("POST", "/api/3/contactLists"),
    ]
    assert all(h.status < 400 for h in ac.hits)  # the Api-Token was accepted every time
    contact = ac.contacts["bilal@example.nl"]
    assert (contact["firstName"], contact["lastName"], contact["phone"]) == ("Bilal", "de Wit", "+31612345678")
    assert contact["fieldValues"] == {"12": "Basis", "7": "2025-03-14"}
    created = next(t["id"] for t in ac.tags.values() if t["tag"] == "cursus-77")
    assert {ct["tag"] for ct in ac.contact_tags.values()} == {existing, created}
    assert ac.contact_lists == {(contact["id"], "3"): 1}
    assert sent.detail == f"contact {contact['id']}: synced; tagged cursus, cursus-77; subscribed to list 3"


async def test_a_retry_after_a_failure_half_way_resumes_without_duplicates(ac):
    ac.fail("/api/3/contactLists", 500)
    _, connector = crm(ac)
    request = {**SYNC, "fields": {}}
    with pytest.raises(Retryable, match="subscribe to list 3: HTTP 500"):
        await connector.send(outgoing(request))
    await connector.send(outgoing(request))

    assert len(ac.contacts) == 1
    assert sorted(t["tag"] for t in ac.tags.values()) == ["cursus", "cursus-77"]  # each created once
    assert len(ac.contact_tags) == 2
    assert list(ac.contact_lists.values()) == [1]


async def test_tag_ids_are_cached_across_deliveries(ac):
    ac.add_tag("klant")
    _, connector = crm(ac)
    for email in ("a@example.nl", "b@example.nl"):
        await connector.send(outgoing({"op": "add_tag", "email": email, "tags": "klant"}))
    assert len(ac.calls("GET", "/api/3/tags")) == 1
    assert len(ac.contact_tags) == 2


async def test_remove_tag_and_unsubscribe(ac):
    _, connector = crm(ac)
    await connector.send(outgoing({**SYNC, "fields": {}}))
    contact = ac.contacts["bilal@example.nl"]["id"]

    await connector.send(outgoing({"op": "remove_tag", "email": "bilal@example.nl", "tags": ["cursus-77", "nooit"]}))
    await connector.send(outgoing({"op": "unsubscribe", "email": "bilal@example.nl", "lists": "3"}))
    missing = await connector.send(outgoing({"op": "unsubscribe", "email": "nobody@example.nl", "lists": [3]}))

    assert [ac.tags[ct["tag"]]["tag"] for ct in ac.contact_tags.values()] == ["cursus"]
    assert ac.contact_lists == {(contact, "3"): 2}
    assert "nothing to unsubscribe" in missing.detail
    assert "nooit" not in [t["tag"] for t in ac.tags.values()]  # removing never creates a tag


async def test_a_wrong_token_is_permanent(ac):
    _, connector = crm(ac, token="wrong")
    with pytest.raises(Permanent, match="HTTP 403: Forbidden"):
        await connector.send(outgoing(SYNC))


async def test_429_retry_after_is_honoured_by_the_whole_connector(ac):
    ac.fail("/api/3/contact/sync", 429, {"Retry-After": "1"})
    _, connector = crm(ac)
    request = {"op": "sync_contact", "email": "a@example.nl"}
    with pytest.raises(Retryable) as failed:
        await connector.send(outgoing(request))
    assert failed.value.status_code == 429
    assert failed.value.retry_after == 1.0

    await connector.send(outgoing({"op": "sync_contact", "email": "b@example.nl"}))  # another delivery
    rejected, accepted = ac.hits
    assert accepted.status == 201
    assert accepted.at - rejected.at >= 1.0


async def test_six_quick_deliveries_never_exceed_five_requests_in_any_second(ac):
    ac.add_tag("klant")
    connectors, connector = crm(ac, fast=False)
    assert str(connectors.guards["crm"].limiter.rate) == "5/1s"  # the type's default: no rate_limit configured
    requests = [{"op": "sync_contact", "email": f"k{i}@example.nl", "tags": ["klant"]} for i in range(6)]

    await asyncio.gather(*(connector.send(outgoing(r, ident=i)) for i, r in enumerate(requests)))

    arrivals = sorted(h.at for h in ac.hits)
    assert len(arrivals) == 13  # 6 syncs, 1 tag lookup (then cached), 6 taggings
    assert all(h.status < 400 for h in ac.hits)  # the simulator never had to answer 429
    assert all(later - first >= 1.0 for first, later in zip(arrivals, arrivals[5:], strict=False))
    assert len(ac.contact_tags) == 6


async def test_two_connectors_on_one_account_share_its_five_requests_per_second(ac):
    connectors = build(
        f'  crm: {{type: activecampaign, base_url: "{ac.url}", api_token: "{TOKEN}"}}\n'
        f'  crm_tags: {{type: activecampaign, base_url: "{ac.url}/", api_token: "{TOKEN}"}}'
    )
    assert connectors.guards["crm"].limiter is connectors.guards["crm_tags"].limiter
    assert connectors.guards["crm"].breaker is not connectors.guards["crm_tags"].breaker
    sends = [
        connectors.get(name).send(outgoing({"op": "sync_contact", "email": f"{name}{i}@example.nl"}, ident=i))
        for i in range(4)
        for name in ("crm", "crm_tags")
    ]
    await asyncio.gather(*sends)
    arrivals = sorted(h.at for h in ac.hits)
    assert len(arrivals) == 8 and all(h.status < 400 for h in ac.hits)
    assert all(later - first >= 1.0 for first, later in zip(arrivals, arrivals[5:], strict=False))
