"""``simulate``: show what the daemon would do with one event, without sending or storing anything.

The event comes from the command line (``TRIGGER ID``) or a webhook body (``--event``); the object comes
from the configured Plug&Pay API, fetched exactly as the route stage fetches it, or from a file
(``--data``, offline). Matching and rendering go through ``route.plan``, the function the daemon uses, with
``explain`` so every rule is listed: matched, or why not (the trigger, the scope or the condition that
failed, or the error the condition raised). Every rendered action is shown with its destination and body,
with the config's secrets masked. No connector is built and the store is never opened.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.base import Connector
from connectors.registry import connector_class
from router.config import Config, ConnectorConfig
from router.events import Event, PayloadError, normalise_json, webhook_body
from router.plugandpay import ApiError, PlugAndPayClient, resource_path
from router.render.rulebook import Outcome, product_ids
from router.routing import state_check
from router.routing.route import event_context, extra_includes, plan, with_aliases
from router.routing.undecided import missing_includes
from router.secrets import SECRET_NAME, masker
from router.store.base import NewDelivery


class SimulateError(Exception):
    """Bad input for a simulation (unreadable file, malformed event, API error); the message says which."""


@dataclass(frozen=True)
class RenderedAction:
    """One delivery the daemon would store, described for a person."""

    rule: str
    connector: str
    connector_type: str
    action_index: int
    item_key: str | None
    delivery_key: str
    status: str  # pending, or dead when it could not be rendered
    error: str | None
    destination: dict[str, Any]  # method and URL, recipient or operation: where it would go
    request: dict[str, Any] | None  # the rendered action as the connector would get it

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "connector": self.connector,
            "connector_type": self.connector_type,
            "action_index": self.action_index,
            "item_key": self.item_key,
            "delivery_key": self.delivery_key,
            "status": self.status,
            "error": self.error,
            "destination": self.destination,
            "request": self.request,
        }


@dataclass(frozen=True)
class Simulation:
    event: Event
    data: Mapping[str, Any]
    source: str  # where the data came from: "GET /v2/orders/1042?include=..." or a file name
    outcomes: list[Outcome]
    actions: list[RenderedAction] = field(default_factory=list)
    state_mismatch: str | None = None  # what disagrees with the trigger (the daemon would fail the event)

    @property
    def matched(self) -> list[str]:
        return [o.rule.name for o in self.outcomes if o.matched]

    @property
    def rendered(self) -> bool:
        """Whether every action rendered (``simulate`` exits 1 otherwise)."""
        return all(a.status != "dead" for a in self.actions)

    @property
    def products(self) -> list[dict[str, str]]:
        """The object's product ids (with each order line's label): what ``products:`` scopes match on."""
        labels: dict[str, str] = {}
        items = self.data.get("items") if self.event.triggerable_type == "order" else None
        for item in items if isinstance(items, list) else []:
            if isinstance(item, Mapping) and item.get("product_id") is not None:
                labels.setdefault(str(item["product_id"]), str(item.get("label") or ""))
        for ident in sorted(product_ids(self.event.triggerable_type, self.data), key=_numeric_first):
            labels.setdefault(ident, "")
        return [{"id": ident, "label": label} for ident, label in labels.items()]


def _numeric_first(ident: str) -> tuple[int, int | str]:
    return (0, int(ident)) if ident.isdigit() else (1, ident)


# ---------------------------------------------------------------- inputs


def read_json(path: str, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise SimulateError(f"cannot read the {what} file {path}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise SimulateError(f"{path}: the {what} file is not valid JSON: {exc}") from None


def event_from_body(body: Any, where: str = "the event") -> Event:
    """A webhook body as Plug&Pay sends it (trigger fields flat or nested under ``event``)."""
    try:
        return normalise_json(body)
    except PayloadError as exc:
        raise SimulateError(f"{where}: not a Plug&Pay webhook: {exc}") from None


def event_from_args(
    trigger: str,
    ident: str,
    *,
    kind: str | None = None,
    rule_id: str | int | None = None,
    tenant_id: str | int | None = None,
) -> Event:
    """The event a webhook for ``TRIGGER ID`` would carry; the object type follows from the trigger."""
    body = webhook_body(trigger, ident, kind=kind, rule_id=rule_id, tenant_id=tenant_id, flat=True, sent_at=False)
    return event_from_body(body, f"{trigger} {ident}")


def data_from_body(body: Any, where: str = "the data") -> dict[str, Any]:
    """The fetched object: the API's ``{"data": {...}}`` answer, or the object itself."""
    if isinstance(body, Mapping) and isinstance(body.get("data"), Mapping) and "id" not in body:
        body = body["data"]
    if not isinstance(body, Mapping):
        raise SimulateError(f"{where}: expected a JSON object (the order, subscription or seller)")
    return dict(body)


async def fetch(config: Config, event: Event) -> tuple[dict[str, Any], str]:
    """Fetch the event's object with the configured API, exactly as the route stage does (an include the API
    refuses is left out, and the rules that need it show as unknown)."""
    extra = extra_includes(event, config)
    try:
        path, params = resource_path(event.triggerable_type, event.triggerable_id, extra)
    except ApiError as exc:
        raise SimulateError(str(exc)) from None
    api = PlugAndPayClient(config.plugandpay.api_url, config.plugandpay.api_token, timeout=config.plugandpay.timeout)
    try:
        data, refused = await api.fetch_optional(event.triggerable_type, event.triggerable_id, extra)
    except ApiError as exc:
        raise SimulateError(f"cannot fetch the {event.triggerable_type}: {exc}") from None
    finally:
        await api.aclose()
    source = f"GET {path}?include={params['include']}"
    if refused:
        source += f" (the API refused include {', '.join(refused)}: fetched without it)"
    return data, source


# ---------------------------------------------------------------- the simulation


def simulate(
    config: Config, event: Event, data: Mapping[str, Any], source: str, now: dt.datetime | None = None
) -> Simulation:
    """What the daemon would do with this event and data: every rule's outcome and every delivery."""
    event = with_aliases(event, config)
    missing = missing_includes(extra_includes(event, config), (), data)
    result = plan(event, data, config, now, explain=True, missing=missing)
    actions = [_describe(config, delivery) for delivery in result.deliveries]
    seen = (
        state_check.mismatch(event.trigger, data)
        if state_check.enabled(config.plugandpay.confirm_state, event.trigger)
        else None
    )
    return Simulation(event, data, source, result.outcomes, actions, seen)


def _describe(config: Config, delivery: NewDelivery) -> RenderedAction:
    connector = config.connectors.get(delivery.connector)
    request = delivery.request
    return RenderedAction(
        rule=delivery.rule,
        connector=delivery.connector,
        connector_type=connector.type if connector is not None else "?",
        action_index=delivery.action_index,
        item_key=delivery.item_key,
        delivery_key=delivery.delivery_key,
        status=delivery.status,
        error=delivery.error,
        destination=destination(connector, request) if request is not None else {},
        request=request,
    )


def destination(connector: ConnectorConfig | None, request: Mapping[str, Any]) -> dict[str, Any]:
    """Where a rendered action would go, as its connector type says (method and URL for HTTP, else the
    recipient and operation), with credentials written literally into a header hidden."""
    if connector is None:
        return Connector.destination(request, {})
    found = connector_class(connector.type, connector.settings).destination(request, connector.settings)
    if found.get("headers"):
        found["headers"] = {str(name): _mask_header(str(name), str(value)) for name, value in found["headers"].items()}
    return found


def parse_now(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise SimulateError(f"--now: not an ISO 8601 time: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def run_command(config: Config, args: Any) -> tuple[str, bool]:
    """The ``simulate`` command: its arguments in, its output (text or JSON) and whether every action
    rendered out."""
    if args.event and (args.trigger or args.id):
        raise SimulateError("give either TRIGGER ID or --event EVENT.json, not both")
    if args.event:
        event = event_from_body(read_json(args.event, "event"), args.event)
    elif args.trigger and args.id:
        event = event_from_args(args.trigger, args.id, kind=args.type, rule_id=args.rule_id, tenant_id=args.tenant_id)
    else:
        raise SimulateError("give TRIGGER ID (for example: order_paid 1042) or --event EVENT.json")
    now = parse_now(args.now)
    if args.data:
        data, source = data_from_body(read_json(args.data, "data"), args.data), f"file {args.data}"
    else:
        data, source = asyncio.run(fetch(config, event))
    sim = simulate(config, event, data, source, now)
    if args.json:
        return json.dumps(as_json(sim, config.secrets), indent=2, ensure_ascii=False, default=str), sim.rendered
    return as_text(sim, config.secrets), sim.rendered


def _mask_header(name: str, value: str) -> str:
    """Credentials written into a header literally (not through ${VAR}) are hidden too."""
    if not SECRET_NAME.search(name):
        return value
    scheme, _, rest = value.partition(" ")
    return f"{scheme} ***" if rest and scheme.lower() in ("bearer", "basic", "token") else "***"


# ---------------------------------------------------------------- output


def mask_tree(value: Any, mask: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, Mapping):
        return {k: mask_tree(v, mask) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_tree(v, mask) for v in value]
    return value


def as_json(sim: Simulation, secrets: frozenset[str]) -> dict[str, Any]:
    """The simulation for machines; secrets masked."""
    out = {
        "event": event_context(sim.event),
        "data_source": sim.source,
        "products": sim.products,
        "matched": sim.matched,
        "rules": [o.as_dict() for o in sim.outcomes],
        "actions": [a.as_dict() for a in sim.actions],
        "state_mismatch": sim.state_mismatch,
        "sent": False,
        "stored": False,
    }
    masked: dict[str, Any] = mask_tree(out, masker(secrets))
    return masked


def as_text(sim: Simulation, secrets: frozenset[str]) -> str:
    """The simulation for people; secrets masked."""
    mask = masker(secrets)
    e = sim.event
    lines = [f"Event: {e.trigger} {e.triggerable_type} {e.triggerable_id}"]
    extra = [f"{label} {value}" for label, value in (("Plug&Pay rule", e.rule_id), ("tenant", e.tenant_id)) if value]
    if e.raw_trigger.strip().lower() != e.trigger:
        extra.insert(0, f"sent as {e.raw_trigger}")
    if extra:
        lines[0] += f" ({', '.join(extra)})"
    lines.append(f"Data:  {sim.source}")
    if sim.state_mismatch:
        lines.append(f"State: MISMATCH: {sim.state_mismatch}; the daemon would re-check, then fail the event")
    if sim.products:
        shown = ", ".join(f"{p['id']} ({p['label']})" if p["label"] else p["id"] for p in sim.products)
        lines.append(f"Products (ids for products: / upsells:): {shown}")
    lines.append("")
    unknown = sum(1 for o in sim.outcomes if o.unknown)
    lines.append(
        f"Rules: {len(sim.matched)} of {len(sim.outcomes)} matched"
        + (f"; {unknown} not decided (SKIP: they would not run)" if unknown else "")
    )
    width = max((len(o.rule.name) for o in sim.outcomes), default=0)
    for outcome in sim.outcomes:
        mark = "MATCH" if outcome.matched else ("ERROR" if outcome.error else ("SKIP " if outcome.unknown else "no   "))
        line = f"  {mark}  {outcome.rule.name.ljust(width)}"
        if not outcome.matched:
            line += f"  {outcome.reason}"
        lines.append(line.rstrip())
    lines.append("")
    lines.append(f"Actions: {len(sim.actions)}")
    for number, action in enumerate(sim.actions, 1):
        item = f" [item {action.item_key}]" if action.item_key else ""
        lines.append(f"  {number}. {action.rule} -> {action.connector} ({action.connector_type}){item}")
        if action.status == "dead":
            lines.append(f"     NOT RENDERED: {action.error}")
            continue
        where = action.destination
        if "url" in where and "method" in where:
            lines.append(f"     {where['method']} {where['url']}")
        for key in ("op", "to", "cc", "bcc", "subject"):
            if key in where:
                lines.append(f"     {key}: {where[key]}")
        if where.get("headers"):
            lines.append(f"     headers: {json.dumps(where['headers'], ensure_ascii=False)}")
        body = json.dumps(action.request, indent=2, ensure_ascii=False, default=str)
        lines.extend(f"     {part}" for part in body.splitlines())
        lines.append(f"     delivery key: {action.delivery_key}")
    lines.append("")
    if not sim.rendered:
        dead = sum(a.status == "dead" for a in sim.actions)
        lines.append(f"{dead} action{'s' if dead != 1 else ''} did not render: fix the templates (see NOT RENDERED).")
    lines.append("Nothing was sent and nothing was stored.")
    return mask("\n".join(lines))
