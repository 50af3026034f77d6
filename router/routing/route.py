"""The route stage: resolve an event's object from the Plug&Pay API, match rules, render deliveries.

``plan`` is pure (event + fetched data + config → deliveries and rule outcomes) so ``simulate`` and the
rule tests use exactly what the daemon does. ``Router.handle`` wraps it with the API fetch and the store:
a transient API failure reschedules the event, a 404 fails it with the reason, and success commits all
deliveries and the event's new state in one transaction. Each action gets an ``action_key`` that names
the business event (or the webhook, for ``source_rules`` rules), the rule, the action and the
``for_each`` element; the store keeps one delivery per key, which is how action dedupe works.
The daemon runs ``plan`` on the event loop for at most a few milliseconds and otherwise on the render
worker's thread (``router.routing.render_thread``), so a slow template never holds up the webhook listener; each
render is bounded by ``delivery.render_timeout`` (``router.render.limits``). Traced (``router.tracing``), an
event's routing is a ``route`` span, a child of its stored receive span, with the API ``fetch`` and one ``render``
span per matched rule under it; its deliveries keep the route span's traceparent for their attempts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import orjson
import structlog

from connectors.registry import connector_class
from router.alerts.deliveries import SOURCE as ALERT_SOURCE
from router.alerts.deliveries import alert_deliveries
from router.config import Config
from router.delivery.retry import api_schedule
from router.events import TRIGGERS, Event, canonical_trigger, note_unknown_trigger
from router.plugandpay import ApiRejected, ApiUnavailable, NotFound, PlugAndPayClient
from router.render.limits import budget, time_limit
from router.render.rulebook import Action, Outcome, Rule, product_ids
from router.render.secret_refs import marked, seal
from router.render.templates import RenderError, describe_error, render_tree
from router.routing import state_check
from router.routing.backfill_choice import only_named
from router.routing.render_thread import LoopFirst, RenderWorker
from router.routing.undecided import missing_includes, note_undecided, unknown_outcomes
from router.store.base import EventRecord, NewDelivery, RouteResult, Store
from router.tracing import describe, names
from router.tracing import spans as tracing

log = structlog.get_logger("router.route")


@dataclass(frozen=True)
class Plan:
    deliveries: list[NewDelivery]
    outcomes: list[Outcome]


def event_context(event: Event) -> dict[str, Any]:
    return {
        "trigger": event.trigger,
        "raw_trigger": event.raw_trigger,
        "triggerable_type": event.triggerable_type,
        "triggerable_id": event.triggerable_id,
        "tenant_id": event.tenant_id,
        "rule_id": event.rule_id,
        "sent_at": event.sent_at,
        "source": event.source,
    }


def base_context(event: Event, data: Mapping[str, Any], now: dt.datetime | None = None) -> dict[str, Any]:
    context: dict[str, Any] = {
        "event": event_context(event),
        "data": data,
        "now": now or dt.datetime.now(dt.UTC),
    }
    if event.known_type:
        context[event.triggerable_type] = data
    return context


def action_key(event: Event, rule: Rule, action: Action, item_key: str | None) -> str:
    scope = event.business_key + (f"|rule:{event.rule_id or ''}" if rule.per_webhook else "")
    raw = f"{scope}|{rule.name}|{action.index}|{item_key or ''}"
    return hashlib.sha256(raw.encode()).hexdigest()


def delivery_key(key: str) -> str:
    return f"ppr_{key[:32]}"


def _item_key(item: Any, index: int) -> str:
    if isinstance(item, Mapping) and item.get("id") is not None:
        return f"id:{item['id']}"
    return f"index:{index}"


def plan(
    event: Event,
    data: Mapping[str, Any],
    config: Config,
    now: dt.datetime | None = None,
    *,
    explain: bool = False,
    missing: frozenset[str] = frozenset(),
    trace: str | None = None,
) -> Plan:
    """Match the rules and render every action of every matching rule. Sends and stores nothing.

    With ``explain`` the outcomes cover every rule (with the reason for each miss); otherwise every rule of
    the event's trigger (``RuleSet.outcomes``: the indexed candidates, and why the others are out of scope);
    the matched rules and the deliveries are the same either way. ``missing`` names
    includes that were needed but not given: the rules whose scope needs them are ``unknown`` and do not run.
    Every condition, and every action with its ``for_each`` and all its items, gets
    ``delivery.render_timeout`` to render; past it, that rule or action fails with "render timed out".
    Each matched rule renders in a ``render`` span, a child of ``trace`` (the route span's traceparent: a plan
    may run on the render thread, where this task's current span is not known).
    """
    with time_limit(config.delivery.render_timeout):
        context = base_context(event, data, now)
        rules = config.rules
        choose = rules.explain if explain else rules.outcomes
        outcomes = choose(event, data, context, missing)
        outcomes = only_named(event, outcomes)  # a backfill event runs only the rules it was made for
        deliveries: list[NewDelivery] = []
        for outcome in outcomes:
            if not outcome.matched:
                continue
            rule = outcome.rule
            rule_context = {**context, "rule": rule.context}
            with tracing.span("render", parent=trace) as span:
                span.set(names.RULE, rule.name)
                made = len(deliveries)
                for action in rule.actions:
                    with budget():
                        deliveries.extend(_render_action(event, rule, action, rule_context, config))
                if span.recording:
                    describe.rendered(span, deliveries[made:])
    return Plan(deliveries, outcomes)


# How much longer than delivery.render_timeout the router waits for a whole plan before giving up on it.
# Renders stop themselves at their deadline (router.render.limits); this only catches a step that cannot.
PLAN_WAIT_FACTOR = 30

_WORKER = RenderWorker()  # one render thread for the process, shared by every Router (and each reload's)


def extra_includes(event: Event, config: Config) -> tuple[str, ...]:
    """Includes beyond the defaults: the order's checkout, only when some rule of the trigger needs it."""
    if event.triggerable_type == "order" and config.rules.needs_checkout(event.trigger):
        return ("checkout",)
    return ()


def with_aliases(event: Event, config: Config) -> Event:
    """The event with ``plugandpay.trigger_aliases`` applied (also to events stored before the alias was set)."""
    aliases = config.plugandpay.trigger_aliases
    if not aliases or event.trigger in TRIGGERS:
        return event
    trigger = canonical_trigger(event.raw_trigger, aliases)
    return event if trigger == event.trigger else replace(event, trigger=trigger)


def _marked(action: Action, config: Config) -> Action:
    """The action with its secrets marked, so they leave the rendered request as *** (``router.render.secret_refs``).

    Worked out once per action and config (marking walks the action's fields: with 10,000 rules it was half
    of planning); the cached entry holds the action itself, so its ``id`` cannot be reused while cached."""
    hit = config.marked_actions.get(id(action))
    if hit is None or hit[0] is not action:
        hit = config.marked_actions[id(action)] = (action, marked(action, config.secret_vars))
    return hit[1]


def _render_action(
    event: Event, rule: Rule, action: Action, context: dict[str, Any], config: Config
) -> list[NewDelivery]:
    schedule = config.schedule_for(rule, action)
    target = config.connectors[action.connector]
    stored_form = connector_class(target.type, target.settings).stored_request
    action = _marked(action, config)

    def make(item_key: str | None, build: Callable[[], Any]) -> NewDelivery:
        key = action_key(event, rule, action, item_key)
        common = dict(
            rule=rule.name,
            action_index=action.index,
            connector=action.connector,
            action_key=key,
            delivery_key=delivery_key(key),
            schedule=schedule,
            item_key=item_key,
        )
        try:
            request = seal(dict(stored_form(build())), config.secret_vars)
            return NewDelivery(request=request, **common)  # type: ignore[arg-type]
        except RenderError as exc:
            error = f"render: rule {rule.name!r}: {exc}"
            return NewDelivery(request=None, status="dead", error=error, **common)  # type: ignore[arg-type]

    if action.for_each is None:
        return [make(None, lambda: render_tree(action.fields, context))]
    try:
        items = action.for_each(**context)
        if isinstance(items, Mapping) or not hasattr(items, "__iter__") or isinstance(items, str):
            raise TypeError(f"for_each {action.for_each_source!r} is not a list")
        items = list(items)
    except Exception as exc:
        message = f"{action.for_each_where or action.where}: for_each {action.for_each_source!r}: {describe_error(exc)}"

        def fail() -> Any:
            raise RenderError(message)

        return [make("for_each", fail)]
    return [
        make(_item_key(item, index), partial(_render_item, action, context, item)) for index, item in enumerate(items)
    ]


def _render_item(action: Action, context: dict[str, Any], item: Any) -> Any:
    return render_tree(action.fields, {**context, "item": item})


def canonical_json(data: Mapping[str, Any]) -> bytes:
    """``data`` as compact JSON with sorted keys, the input of the fetched object's hash (orjson: a tenth of
    the stdlib's time on a large order; the stdlib for what orjson refuses, such as integers over 64 bits)."""
    try:
        return orjson.dumps(data, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str)
    except TypeError:
        return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()


SUMMARY_FIELDS = ("id", "status", "mode", "source", "invoice_number", "invoice_status", "is_first", "amount_with_tax")


def fetched_record(kind: str, data: Mapping[str, Any], *, keep_all: bool) -> dict[str, Any]:
    """What the event keeps of the fetched object: a summary and a hash (no customer data), or all of it
    when ``retention.keep_payloads`` is set."""
    if keep_all:
        return {"type": kind, "data": dict(data)}
    canonical = canonical_json(data)
    summary = {key: data[key] for key in SUMMARY_FIELDS if key in data and not isinstance(data[key], dict | list)}
    products = sorted(product_ids(kind, data))
    if products:
        summary["products"] = products
    return {"type": kind, "sha256": hashlib.sha256(canonical).hexdigest(), "summary": summary}


class Router:
    """Routes one claimed event. ``current()`` gives the current config and API client (reloads swap them)."""

    def __init__(
        self,
        store: Store,
        current: Callable[[], tuple[Config, PlugAndPayClient]],
        owner: str,
        on_routed: Callable[[], None],
        observe: Callable[[str], None] | None = None,
        observe_unknown: Callable[[str, int], None] | None = None,
        refuse: Callable[[Event], Awaitable[str | None]] | None = None,
    ):
        self.observe_unknown = observe_unknown or (lambda reason, count: None)
        self.store = store
        self.current = current
        self.owner = owner
        self.on_routed = on_routed
        self.observe = observe or (lambda outcome: None)
        self.refuse = refuse  # why an event must not be routed (another shop's tenant), asked before the fetch
        self._renders = LoopFirst(_WORKER)  # quick plans on the event loop, the others on the render thread

    async def handle(self, record: EventRecord) -> None:
        # A child of the receive span when the webhook's was stored; events made here (reconcile, backfill,
        # alerts) or before tracing was on have none: their route span starts a trace.
        with tracing.span("route", parent=record.trace, kind="consumer") as span:
            if span.recording:
                describe.processing(span, record)
            await self._route(record, span.traceparent)

    def _seen(self, outcome: str, failure: str | None = None) -> None:
        """Count the route's outcome, and say it on the route span (a failed event's reason as its error)."""
        self.observe(outcome)
        span = tracing.current()
        span.set(names.OUTCOME, outcome)
        if failure is not None:
            span.fail(failure, outcome)

    async def _route(self, record: EventRecord, trace: str | None) -> None:
        config, api = self.current()
        if record.event.source == ALERT_SOURCE:  # made by the alert loop: its deliveries are the channels
            channels = RouteResult(alert_deliveries(record, config), [], config.version, trace=trace)
            await self.store.complete_route(record.id, self.owner, channels, time.time())
            self.on_routed()
            return
        event = with_aliases(record.event, config)
        bound = log.bind(
            event_id=record.id,
            trigger=event.trigger,
            triggerable=f"{event.triggerable_type}:{event.triggerable_id}",
        )
        note_unknown_trigger(event, log)
        if not config.rules.for_trigger(event.trigger):
            await self.store.complete_route(record.id, self.owner, RouteResult([], [], config.version), time.time())
            self._seen("routed")
            # The receive line already recorded the event; one more info line per unrouted event is noise.
            bound.debug("event routed", matched=0, deliveries=0, note="no rule listens to this trigger")
            return
        extra = extra_includes(event, config)
        try:
            foreign = await self.refuse(event) if self.refuse is not None else None
            if foreign is not None:
                raise ApiRejected(f"not routed: {foreign}")
            with tracing.span("fetch", kind="client") as fetch, fetch.outbound(propagate=False):
                data, refused = await api.fetch_optional(event.triggerable_type, event.triggerable_id, extra)
        except (NotFound, ApiRejected) as exc:
            await self.store.fail_event(record.id, self.owner, str(exc), time.time())
            self._seen("failed", str(exc))
            bound.warning("event failed", reason=str(exc))
            return
        except ApiUnavailable as exc:
            delay = api_schedule(config.plugandpay.retry).delay(record.attempts + 1, exc.retry_after)
            assert delay is not None  # the API schedule repeats its last step: an event waits out any outage
            await self.store.retry_event(record.id, self.owner, time.time() + delay, str(exc))
            self._seen("retry")
            bound.warning(
                "event fetch failed, will retry",
                reason=str(exc),
                retry_in=round(delay, 1),
                attempt=record.attempts + 1,
            )
            return
        if await self._state_disagrees(record, event, data, config, bound):
            return
        missing = missing_includes(extra, refused, data)
        wait = config.delivery.render_timeout * PLAN_WAIT_FACTOR
        try:
            result = await self._renders.run(partial(plan, event, data, config, missing=missing, trace=trace), wait)
        except TimeoutError:
            reason = f"render timed out: routing took longer than {wait:g}s"
            await self.store.fail_event(record.id, self.owner, reason, time.time())
            self._seen("failed", reason)
            bound.warning("event failed", reason=reason)
            return
        unknown = unknown_outcomes(result.outcomes)
        if unknown:
            self.observe_unknown(unknown[0].reason, len(unknown))
            note_undecided(unknown, refused)
        outcomes = [o.as_dict() for o in result.outcomes]
        kept = fetched_record(event.triggerable_type, data, keep_all=config.retention.keep_payloads)
        routed = RouteResult(result.deliveries, outcomes, config.version, kept, trace)
        inserted = await self.store.complete_route(record.id, self.owner, routed, time.time())
        if inserted is None:
            bound.warning("event lease lost before the route was stored; the instance holding it routes it")
            return
        self._seen("routed")
        matched = [o.rule.name for o in result.outcomes if o.matched]
        tracing.current().set(names.RULES_MATCHED, len(matched))
        tracing.current().set(names.DELIVERIES, inserted)
        for outcome in result.outcomes:
            if outcome.reason.startswith("error:"):
                bound.warning("rule condition failed", rule=outcome.rule.name, reason=outcome.reason)
        for delivery in result.deliveries:
            if delivery.status == "dead":
                bound.warning("action could not be rendered", rule=delivery.rule, error=delivery.error)
        bound.info(
            "event routed",
            matched=matched,
            deliveries=inserted,
            deduplicated=len(result.deliveries) - inserted,
        )
        if inserted:
            self.on_routed()

    async def _state_disagrees(
        self, record: EventRecord, event: Event, data: Mapping[str, Any], config: Config, bound: Any
    ) -> bool:
        """Check the fetched state against the trigger (``router.routing.state_check``); on a mismatch,
        schedule a re-check or fail the event, and return True (no action may run)."""
        if not state_check.enabled(config.plugandpay.confirm_state, event.trigger):
            return False
        seen = state_check.mismatch(event.trigger, data)
        if seen is None:
            return False
        delays = config.plugandpay.state_recheck
        done = state_check.rechecks_done(record.last_error)
        if done < len(delays):
            error = state_check.recheck_error(done + 1, len(delays), event.trigger, seen)
            await self.store.retry_event(record.id, self.owner, time.time() + delays[done], error)
            self._seen("retry")
            bound.info("state not yet visible, will fetch again", seen=seen, retry_in=delays[done], recheck=done + 1)
            return True
        reason = state_check.failure(event.trigger, seen, done)
        await self.store.fail_event(record.id, self.owner, reason, time.time())
        self._seen("failed", reason)
        bound.warning("event failed", reason=reason)
        return True
