"""Who an admin request is, and the store as that login may see it.

``admin.token`` sees and does everything, for every shop. A token of ``admin.users`` (``identify``) is
limited to the user's shops: ``Scoped`` reads the store through that limit, so every list, count and page
holds only rows of those shops (each filter is narrowed to them: ``shops``), and an event or
delivery of another shop is not found at all (404, the same answer as for an id that does not exist). What
is about the whole router (``/metrics``, the quarantine) is refused to such a login with 403.

A user's dashboard sessions end when its token changes or the user is removed: at each reload the daemon
notes which users' tokens changed (``changed_users``), and ``AdminStatus.user_changed_at`` tells the sessions.
"""

from __future__ import annotations

import dataclasses
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from router.config.model import AdminConfig
from router.store.base import Counts, DeliveryFilter, DeliveryRecord, EventFilter, EventRecord, Store
from router.tools.trace import Trace, trace_object

F = TypeVar("F", EventFilter, DeliveryFilter)
MAX_LISTED = 1000  # the pending events looked at for the age of a login's oldest pending one


@dataclass(frozen=True)
class Access:
    """A login: ``admin.token`` (``user`` None, every shop) or an ``admin.users`` entry (its name and shops)."""

    user: str | None = None
    shops: tuple[str, ...] | None = None  # None: every shop

    @property
    def scoped(self) -> bool:
        return self.shops is not None

    def sees(self, shop: str) -> bool:
        return self.shops is None or shop in self.shops


EVERYTHING = Access()


def identify(admin: AdminConfig, given: str) -> Access | None:
    """The login whose token ``given`` is, or None. Every token is compared, each in constant time, so the
    time taken says nothing about which one (nearly) matched."""
    given_bytes = given.encode("utf-8", "surrogateescape")
    found: Access | None = None
    if admin.token and hmac.compare_digest(given_bytes, admin.token.encode()):
        found = EVERYTHING
    for user in admin.users:
        if hmac.compare_digest(given_bytes, user.token.encode()) and found is None:
            found = Access(user.name, user.shops)
    return found


def user_access(admin: AdminConfig, name: str | None) -> Access | None:
    """The login of a session: ``admin.token``'s (``name`` None), or the user's as the config now says (its
    shops may have changed since it logged in); None when the user is gone."""
    if name is None:
        return EVERYTHING
    for user in admin.users:
        if user.name == name:
            return Access(user.name, user.shops)
    return None


def user_tokens(admin: AdminConfig) -> dict[str, str]:
    return {user.name: user.token for user in admin.users}


def changed_users(before: AdminConfig, after: AdminConfig) -> list[str]:
    """The users of ``before`` whose token ``after`` changed, or who are not in ``after``: their sessions end."""
    tokens = user_tokens(after)
    return [name for name, token in user_tokens(before).items() if tokens.get(name) != token]


class Scoped:
    """The store's readers as one login may use them: unchanged for ``admin.token``, limited to a user's shops
    otherwise (a filter naming another shop matches nothing)."""

    def __init__(self, store: Store, access: Access) -> None:
        self.store, self.access = store, access

    def _mine(self, flt: F) -> F:
        """``flt`` narrowed to this login's shops (one naming another shop matches nothing)."""
        shops = self.access.shops
        if shops is None:
            return flt
        return dataclasses.replace(flt, shop=None, shops=tuple(s for s in shops if flt.shop in (None, s)))

    async def list_events(self, flt: EventFilter, *, limit: int) -> list[EventRecord]:
        return await self.store.list_events(self._mine(flt), limit=limit)

    async def count_events(self, flt: EventFilter, *, cap: int | None = None) -> int:
        return await self.store.count_events(self._mine(flt), cap=cap)

    async def list_deliveries(self, flt: DeliveryFilter, *, limit: int) -> list[DeliveryRecord]:
        return await self.store.list_deliveries(self._mine(flt), limit=limit)

    async def count_deliveries(self, flt: DeliveryFilter, *, cap: int | None = None) -> int:
        return await self.store.count_deliveries(self._mine(flt), cap=cap)

    async def delivery_ids(self, flt: DeliveryFilter) -> list[int]:
        return await self.store.delivery_ids(self._mine(flt))

    async def event(self, event_id: int) -> EventRecord | None:
        """The event, or None when there is none or it belongs to a shop this login does not see."""
        record = await self.store.get_event(event_id)
        return record if record is not None and self.access.sees(record.event.shop) else None

    async def delivery(self, delivery_id: int) -> DeliveryRecord | None:
        """The delivery, or None when there is none or it belongs to a shop this login does not see."""
        record = await self.store.get_delivery(delivery_id)
        return record if record is not None and self.access.sees(record.shop) else None

    async def visible_dead(self, ids: list[int]) -> list[int]:
        """Those of ``ids`` that are dead deliveries of this login's shops (all of them for ``admin.token``)."""
        if not self.access.scoped:
            return ids
        mine = set(await self.delivery_ids(DeliveryFilter(status="dead")))
        return [i for i in ids if i in mine]

    async def trace_object(self, kind: str, ident: str) -> Trace:
        return await trace_object(self.store, kind, ident, shops=self.access.shops)

    async def backlog(self) -> Counts:
        """Pending events, pending and dead deliveries, and when the oldest pending item came."""
        if not self.access.scoped:
            return await self.store.backlog()
        pending = await self.count_events(EventFilter(status="pending"))
        deliveries = await self.count_deliveries(DeliveryFilter(status="pending"))
        dead = await self.count_deliveries(DeliveryFilter(status="dead"))
        oldest = await self._oldest_pending() if pending or deliveries else None
        return Counts({"pending": pending}, {"pending": deliveries, "dead": dead}, oldest)

    async def _oldest_pending(self) -> float | None:
        """When this login's oldest pending event was received or pending delivery made. Of more than
        ``MAX_LISTED`` pending events, the oldest of the newest ones counts (a backlog that large is one)."""
        found: list[float] = []
        events = await self.list_events(EventFilter(status="pending"), limit=MAX_LISTED)
        found += [r.received_at for r in events]
        ids = await self.delivery_ids(DeliveryFilter(status="pending"))
        if ids and (first := await self.store.get_delivery(ids[0])) is not None:
            found.append(first.created_at)
        return min(found) if found else None

    async def latest_event(self) -> int:
        latest = await self.list_events(EventFilter(), limit=1)
        return latest[0].id if latest else 0

    def breakers(self, states: Mapping[str, str]) -> dict[str, str]:
        """The circuit breakers of this login's shops (a shop's are named ``shop/connector``)."""
        if self.access.shops is None:
            return dict(states)
        prefixes = tuple(f"{shop}/" for shop in self.access.shops)
        return {name: state for name, state in states.items() if name.startswith(prefixes)}
