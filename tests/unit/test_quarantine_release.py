"""The quarantine in process (``router.inbound.quarantine``) on a SQLite store file: ``release`` admits only
what verifies under the current settings, stores a webhook sent before the dedupe window as stale, and with
``allow_unsigned`` admits nothing unless told so on purpose; keeping a new entry drops those past
``quarantine.max_age``."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from unittest import mock

import pytest
from aiohttp.test_utils import make_mocked_request

from router.config import Config, parse_config
from router.events import webhook_body as body_of
from router.inbound.quarantine import Quarantine, UnsignedRelease, release
from router.store.base import QuarantineBounds, Quarantined
from router.store.sqlite import SqliteStore
from tests.support import WEBHOOK_KEY, signed_headers, webhook_body

ROOMY = QuarantineBounds(max_entries=100, max_bytes=1_000_000, before=0.0)
HOUR = 3600.0


def config(signing: str = f'webhook_key: "{WEBHOOK_KEY}"') -> Config:
    return parse_config(
        f"""version: 1
plugandpay: {{api_url: "http://127.0.0.1:9", api_token: "pp-token-1234", {signing}}}
store: {{url: "sqlite:///unused.db"}}
quarantine: {{max_age: 1h}}
retention: {{dedupe_window: 1d}}
""",
        "quarantine.yaml",
        {},
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "store.db")
    await opened.open()
    yield opened
    await opened.close()


def kept(body: bytes, *, key: str = WEBHOOK_KEY, at: float | None = None) -> Quarantined:
    """A refused webhook as the receiver keeps it, signed with ``key``."""
    headers = signed_headers(body, key)
    return Quarantined(
        received_at=time.time() if at is None else at,
        remote="203.0.113.7",
        path="/webhooks/plugandpay",
        content_type="application/json",
        header_names=sorted(headers),
        signatures={"X-Signature": headers["X-Signature"]},
        body=body,
    )


async def test_release_admits_what_verifies_now_and_keeps_what_was_signed_with_another_key(store) -> None:
    right = await store.quarantine_add(kept(webhook_body("order_paid", 1042)), ROOMY)
    forged = await store.quarantine_add(kept(webhook_body("order_paid", 1043), key="a-forger-s-own-key-77"), ROOMY)
    released = await release(store, config())
    assert [entry for entry, _, _ in released.admitted] == [right]
    assert released.still_failing == [forged]
    assert [r.id for r in await store.quarantine_list()] == [forged], "what fails verification stays"
    [event] = await store.list_events()
    assert event.event.triggerable_id == "1042" and event.status == "pending"


async def test_a_released_webhook_sent_before_the_dedupe_window_is_stored_stale_not_routed(store) -> None:
    old = json.dumps(body_of("order_paid", 1042, tenant_id=42, sent_at="2020-01-06T09:13:41.000000Z")).encode()
    await store.quarantine_add(kept(old), ROOMY)
    await store.quarantine_add(kept(webhook_body("order_paid", 1043)), ROOMY)
    released = await release(store, config())
    assert len(released.admitted) == 2 and await store.quarantine_list() == []
    status = {e.event.triggerable_id: e.status for e in await store.list_events()}
    assert status == {"1042": "stale", "1043": "pending"}


async def test_release_with_allow_unsigned_admits_nothing_unless_asked_on_purpose(store) -> None:
    await store.quarantine_add(kept(webhook_body("order_paid", 1042), key="a-forger-s-own-key-77"), ROOMY)
    unsigned = config("allow_unsigned: true")
    with pytest.raises(UnsignedRelease, match="--unsigned"):
        await release(store, unsigned)
    assert len(await store.quarantine_list()) == 1 and await store.list_events() == []
    released = await release(store, unsigned, unsigned=True)
    assert len(released.admitted) == 1 and await store.quarantine_list() == []


async def test_keeping_a_webhook_drops_the_entries_older_than_max_age(store) -> None:
    now = time.time()
    expired = await store.quarantine_add(kept(webhook_body(ident=1), at=now - HOUR - 60), ROOMY)
    recent = await store.quarantine_add(kept(webhook_body(ident=2), at=now - HOUR + 60), ROOMY)
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: {"peername": ("203.0.113.7", 5000)}.get(
        name, default
    )
    body = webhook_body(ident=3)
    request = make_mocked_request(
        "POST", "/webhooks/plugandpay", headers=signed_headers(body, "wrong-key-000000"), transport=transport
    )
    cfg = config()
    new = await Quarantine(store, lambda: cfg).keep(request, body)
    assert new is not None
    assert expired not in [r.id for r in await store.quarantine_list()]
    assert [r.id for r in await store.quarantine_list()] == [recent, new]
