"""The claim loop over real store records (``router.claims.ClaimLoop`` built as the daemon builds it, without
an ``ident``): an item is known by its record's id, so a record claimed again while its first handler still
runs (a new object with the same id, as a store hands it out after the lease ran out) is not handled twice,
and lease renewals name the ids in flight."""

from __future__ import annotations

import asyncio
from typing import Any

from router.claims import ClaimLoop
from router.store.base import DeliveryRecord, EventRecord
from tests.rules_support import event

SAFETY = 10.0  # seconds: only ever reached when the behaviour under test is broken


def event_record(ident: int, attempts: int) -> EventRecord:
    return EventRecord(id=ident, event=event(), status="routing", received_at=1000.0, attempts=attempts)


def delivery_record(ident: int, attempts: int) -> DeliveryRecord:
    return DeliveryRecord(
        id=ident,
        event_id=1,
        rule="welcome",
        action_index=0,
        connector="sink",
        action_key="k",
        delivery_key="ppr_k",
        request={"path": "/welcome"},
        schedule=(1.0,),
        status="sending",
        attempts=attempts,
        next_attempt_at=1000.0,
        created_at=1000.0,
        updated_at=1000.0,
    )


async def claimed_twice(make: Any) -> tuple[list[int], list[list[int]]]:
    """Item 7 claimed, then claimed again (a fresh record) with item 8 while 7's handler still runs:
    (the ids handled, the ids of each lease renewal)."""
    release = asyncio.Event()
    claims = [[make(7, 1)], [make(7, 2), make(8, 1)]]
    handled: list[int] = []
    renewed: list[list[int]] = []
    claimed_all = asyncio.Event()

    async def claim(limit: int) -> list[Any]:
        if not claims:
            claimed_all.set()
            return []
        return claims.pop(0)

    async def handle(record: Any) -> None:
        handled.append(record.id)
        await release.wait()

    async def renew(ids: list[Any]) -> None:
        renewed.append(sorted(ids))

    async def next_due() -> float | None:
        return 0.0  # always due: the loop claims again at once

    loop: ClaimLoop[Any] = ClaimLoop(
        "route", claim, handle, next_due, concurrency=4, idle=0.01, renew=renew, renew_every=0.01
    )
    task = asyncio.create_task(loop.run())

    async def settled() -> None:
        await claimed_all.wait()
        while not renewed:
            await asyncio.sleep(0.01)

    waiter = asyncio.create_task(settled())
    done, _ = await asyncio.wait({task, waiter}, timeout=SAFETY, return_when=asyncio.FIRST_COMPLETED)
    assert waiter in done, f"the claim loop stopped: {task.exception() if task.done() else 'timed out'}"
    release.set()
    await loop.stop(grace=1.0)
    await asyncio.wait_for(task, SAFETY)
    return handled, renewed


async def test_an_event_record_claimed_again_while_in_flight_is_handled_once() -> None:
    handled, renewed = await claimed_twice(event_record)
    assert sorted(handled) == [7, 8]
    assert renewed[-1] == [7, 8]


async def test_a_delivery_record_claimed_again_while_in_flight_is_handled_once() -> None:
    handled, renewed = await claimed_twice(delivery_record)
    assert sorted(handled) == [7, 8]
    assert renewed[-1] == [7, 8]
