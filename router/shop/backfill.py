"""Backfill: run rules over past objects listed from the API, as events with ``source: backfill``.

``backfill`` lists the objects whose state implies the trigger in a window (``router.derive``; an object
that shows no time for its state is taken on the server's window filter, since an operator looks at the
dry run first), and either counts, per rule, the deliveries routing them would render (the dry run: nothing
is stored), or stores one event per object. A backfill event carries the rules it was made for, and the
route stage runs only those (``router.routing.backfill_choice``); without named rules it runs them all
and stands for the business event like a reconcile event. Its dedupe key names the object, the trigger
and the rule set and lives as long as action keys do, so running the same backfill again stores nothing
twice; action dedupe keeps a rule that already ran for an object from running again either way.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from router.derive import DERIVATIONS
from router.events import Event
from router.routing.backfill_choice import SOURCE
from router.store.listed import ListedEvent

if TYPE_CHECKING:
    from router.config import Config
    from router.plugandpay import PlugAndPayClient
    from router.store.base import Store


def backfill_key(event: Event, rules: Sequence[str]) -> str:
    raw = f"{SOURCE}|{event.business_key}|{','.join(sorted(rules)) or '*'}"
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass
class BackfillReport:
    listed: int = 0
    in_state: int = 0
    stored: int = 0
    already: int = 0
    deliveries: Counter[str] = field(default_factory=Counter)  # dry run: per rule, what routing would render


Progress = Callable[[int, int], None]  # (objects listed so far, objects in the trigger's state so far)


@dataclass(frozen=True)
class Backfill:
    trigger: str
    since: float
    until: float
    rules: tuple[str, ...] = ()  # none: every rule of the trigger

    async def run(
        self,
        config: Config,
        api: PlugAndPayClient,
        store: Store | None,
        progress: Progress = lambda listed, found: None,
    ) -> BackfillReport:
        """List and count (``store`` None: the dry run), or list and store the events."""
        from router.shop.reconcile import full_includes, listed_event, listed_objects, tenant_id

        derivation = DERIVATIONS[self.trigger]
        tenant = await tenant_id(api)
        include = full_includes(derivation) if store is None else derivation.state_include
        note = {"rules": list(self.rules) or None}
        report = BackfillReport()
        async for count, objects in listed_objects(
            api, derivation, self.since, self.until, include=include, undated=True
        ):
            report.listed += count
            report.in_state += len(objects)
            events = [listed_event(self.trigger, obj, tenant, SOURCE, note, config.shop) for obj in objects]
            if store is None:
                self._count(config, events, objects, report)
            else:
                items = [ListedEvent(e, backfill_key(e, self.rules), business=not self.rules) for e in events]
                window = config.retention.action_keys
                accepted = await store.add_listed_events(items, dedupe_window=window, now=time.time())
                report.already += sum(1 for a in accepted if a.duplicate)
                report.stored += sum(1 for a in accepted if not a.duplicate)
            progress(report.listed, report.in_state)
        return report

    @staticmethod
    def _count(
        config: Config, events: list[Event], objects: list[Mapping[str, object]], report: BackfillReport
    ) -> None:
        from router.routing.route import plan

        for event, obj in zip(events, objects, strict=True):
            for delivery in plan(event, obj, config).deliveries:
                report.deliveries[delivery.rule] += 1
