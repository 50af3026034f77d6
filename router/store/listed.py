"""Events the router made itself from the API's lists (reconcile, backfill), and the business dedupe key.

A webhook is deduplicated by its ``dedupe_key`` (the business event as announced by one Plug&Pay rule). An
event found by the reconcile loop stands for *every* webhook of its business event that never came, so when
it is stored the store also keeps its ``business_dedupe_key``; a webhook arriving later inside the dedupe
window finds that key and is answered as a duplicate of the found event. A backfill that runs only some
rules keeps no business key: the webhook, should one still come, must run the other rules.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from router.events import Event


@dataclass(frozen=True)
class ListedEvent:
    """An event to store unless one like it is there: ``dedupe_key`` names it; ``business`` makes it stand
    for its whole business event (no other event of the same business key may exist, and a later webhook of
    that business key is a duplicate of it)."""

    event: Event
    dedupe_key: str
    business: bool = True


def business_dedupe_key(event: Event) -> str:
    """The dedupe table's key for "this business event is covered": apart from every webhook dedupe key."""
    return "business:" + hashlib.sha256(event.business_key.encode()).hexdigest()
