"""The quarantine methods of the Store protocol, against SQLite and PostgreSQL alike: entries are kept with
their body and header names, bounded by count, bytes and age (oldest dropped first), listed oldest first,
and removed once released."""

from __future__ import annotations

from router.store.base import QuarantineBounds, Quarantined, Store

T = 1_000_000.0
ROOMY = QuarantineBounds(max_entries=100, max_bytes=1_000_000, before=0.0)


def entry(at: float, body: bytes = b'{"event": {}}') -> Quarantined:
    return Quarantined(
        received_at=at,
        remote="203.0.113.7",
        path="/webhooks/plugandpay",
        content_type="application/json",
        header_names=["Content-Type", "X-Signature"],
        signatures={"X-Signature": "ab" * 32},
        body=body,
    )


async def test_a_kept_webhook_reads_back_with_its_body_headers_and_signature(store: Store) -> None:
    body = b'{"event": {"trigger_type": "order_paid"}}\xff'  # any bytes, as received
    kept = await store.quarantine_add(entry(T, body), ROOMY)
    [record] = await store.quarantine_list()
    assert (record.id, record.body, record.remote, record.received_at) == (kept, body, "203.0.113.7", T)
    assert record.header_names == ["Content-Type", "X-Signature"] and record.signatures == {"X-Signature": "ab" * 32}
    stats = await store.quarantine_stats()
    assert (stats.entries, stats.bytes, stats.newest_at) == (1, entry(T, body).size, T)


async def test_the_bounds_keep_the_oldest_half_and_roll_the_newer_half(store: Store) -> None:
    size = entry(T).size
    by_count = QuarantineBounds(max_entries=4, max_bytes=1_000_000, before=0.0)
    ids = [await store.quarantine_add(entry(T + i), by_count) for i in range(7)]
    # The two refused first stay however many follow; the newest two take the other half.
    assert [r.id for r in await store.quarantine_list()] == [ids[0], ids[1], ids[5], ids[6]]
    by_bytes = QuarantineBounds(max_entries=100, max_bytes=2 * size, before=0.0)
    newest = await store.quarantine_add(entry(T + 10), by_bytes)
    assert [r.id for r in await store.quarantine_list()] == [ids[0], newest]
    by_age = QuarantineBounds(max_entries=100, max_bytes=1_000_000, before=T + 5)
    last = await store.quarantine_add(entry(T + 20), by_age)  # age drops the reserved ones too
    assert [r.id for r in await store.quarantine_list()] == [newest, last]
    assert (await store.quarantine_stats()).bytes == 2 * size


async def test_released_entries_are_removed_and_listing_pages_oldest_first(store: Store) -> None:
    ids = [await store.quarantine_add(entry(T + i), ROOMY) for i in range(5)]
    assert [r.id for r in await store.quarantine_list(after_id=ids[1], limit=2)] == ids[2:4]
    assert await store.quarantine_remove([ids[0], ids[3]]) == 2
    assert await store.quarantine_remove([ids[0]]) == 0
    assert [r.id for r in await store.quarantine_list()] == [ids[1], ids[2], ids[4]]
