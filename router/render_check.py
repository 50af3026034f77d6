"""``check --render``: render every rule on real-shaped data before go-live, and say what would go wrong.

``check`` alone proves the file is well formed; a misspelt key (``first_name`` for ``firstname``) only
shows when a webhook arrives. Here every rule renders on sample objects: the sandbox's fixtures (the
default), recorded objects from a folder (``--data DIR``: the sandbox's fixture files ``orders.json`` /
``subscriptions.json`` / ``sellers.json``, ``{"1042": {...}}``, and/or one file per object,
``orders/1042.json``, holding the object or the API's ``{"data": {...}}`` answer), or the shop's own API
(``--live``: read-only GETs of the newest objects). Files are served by the sandbox in this process, so
every object is fetched exactly as the daemon fetches it (same client, same includes).

A rule renders on the samples it matches, or on every sample of its trigger's kind when it matches none
(its actions must still render). Rendering is the daemon's own (``router.route``); the data is wrapped so a
missing key is reported where it was looked for, with the keys that are there (``no key 'first_name' in
order.billing.contact (keys: ...); did you mean 'firstname'?``), and each rendered action goes through its
connector's ``check_rendered``. Nothing is sent and nothing is stored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from connectors import connector_class
from router.config import Config
from router.demo.sandbox import RELATIONS, Sandbox, SandboxServer, load_fixtures
from router.events import TRIGGER_OBJECT
from router.plugandpay import RESOURCES, ApiError, PlugAndPayClient
from router.render_limits import budget, time_limit
from router.route import _render_action as render_action  # the daemon's renderer, not a second one
from router.route import base_context, extra_includes
from router.rules import Rule, evaluate
from router.simulate import SimulateError, data_from_body, event_from_args
from router.template_errors import did_you_mean

# The sandbox's fixture files by the kind of object a trigger is about.
FIXTURE_KINDS = {"order": "orders", "subscription": "subscriptions", "affiliate": "sellers"}
LIVE_LIMIT = 3
_WHERE = re.compile(r"^(?P<where>\S+:\d+): (?P<message>.*)$", re.DOTALL)
_UNDEFINED_NAME = re.compile(r"'(\w+)' is undefined")


class RenderCheckError(Exception):
    """The samples could not be read or fetched; the message says which and why."""


# ---------------------------------------------------------------- traced data


class TracedDict(dict[str, Any]):
    """A fetched mapping that knows where it sits (``order.billing.contact``), for the missing-key message."""

    def __init__(self, data: Mapping[str, Any], path: str):
        super().__init__(data)
        self.data_path = path

    def __getitem__(self, key: str) -> Any:
        return traced(super().__getitem__(key), f"{self.data_path}.{key}")

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return self[key] if key in self else default

    def values(self) -> Any:
        return [self[key] for key in self]

    def items(self) -> Any:
        return [(key, self[key]) for key in self]


class TracedList(list[Any]):
    def __init__(self, data: list[Any], path: str):
        super().__init__(data)
        self.data_path = path

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return TracedList(super().__getitem__(index), self.data_path)
        return traced(super().__getitem__(index), f"{self.data_path}[{index}]")

    def __iter__(self) -> Iterator[Any]:
        for index, value in enumerate(super().__iter__()):
            yield traced(value, f"{self.data_path}[{index}]")


def traced(value: Any, path: str) -> Any:
    if isinstance(value, dict) and not isinstance(value, TracedDict):
        return TracedDict(value, path)
    if isinstance(value, list) and not isinstance(value, TracedList):
        return TracedList(value, path)
    return value


# ---------------------------------------------------------------- samples


@dataclass(frozen=True)
class Sample:
    kind: str  # order, subscription or affiliate
    ident: str
    data: Mapping[str, Any]

    @property
    def label(self) -> str:
        return f"{'seller' if self.kind == 'affiliate' else self.kind} {self.ident}"


def read_data_dir(folder: str) -> dict[str, dict[str, dict[str, Any]]]:
    """Fixtures from ``folder``: ``orders.json`` (``{"1042": {...}}``) and/or ``orders/1042.json`` files."""
    root = Path(folder)
    if not root.is_dir():
        raise RenderCheckError(f"--data {folder}: not a folder (expected orders.json or orders/1042.json inside)")
    try:
        fixtures = load_fixtures(root)
    except (OSError, ValueError, AttributeError) as exc:
        raise RenderCheckError(f"--data {folder}: a fixture file is not a JSON object of id -> object: {exc}") from None
    for name in RELATIONS:
        for path in sorted((root / name).glob("*.json")) if (root / name).is_dir() else []:
            try:
                body = json.loads(path.read_text(encoding="utf-8"))
                fixtures[name][path.stem] = {"id": path.stem, **data_from_body(body, str(path))}
            except (OSError, ValueError) as exc:
                raise RenderCheckError(f"{path}: not a JSON file: {exc}") from None
            except SimulateError as exc:
                raise RenderCheckError(str(exc)) from None
    if not any(fixtures.values()):
        raise RenderCheckError(
            f"--data {folder}: no objects found (expected orders.json, subscriptions.json, sellers.json"
            " or folders orders/, subscriptions/, sellers/ with one JSON file per object)"
        )
    return fixtures


async def fetch_samples(
    config: Config, kinds: set[str], fixtures: dict[str, dict[str, dict[str, Any]]] | None, limit: int = LIVE_LIMIT
) -> list[Sample]:
    """Every sample of ``kinds``, fetched the way the daemon fetches: from a local sandbox serving
    ``fixtures``, or (None) from the configured API, newest ``limit`` objects of each kind."""
    server = await SandboxServer(Sandbox(fixtures)).start() if fixtures is not None else None
    base = server.url if server is not None else config.plugandpay.api_url
    token = None if server is not None else config.plugandpay.api_token
    client = PlugAndPayClient(base, token, timeout=config.plugandpay.timeout)
    samples = []
    try:
        for kind in sorted(kinds):
            if fixtures is not None:
                idents = list(fixtures.get(FIXTURE_KINDS[kind], {}))
            else:
                idents = await newest_ids(client, kind, limit)
            for ident in idents:
                event = event_from_args(_trigger_of(kind), ident)
                try:
                    data = await client.fetch(kind, ident, extra_includes(event, config))
                except ApiError as exc:
                    raise RenderCheckError(f"cannot fetch {kind} {ident}: {exc}") from None
                samples.append(Sample(kind, ident, data))
    finally:
        await client.aclose()
        if server is not None:
            await server.stop()
    return samples


async def newest_ids(client: PlugAndPayClient, kind: str, limit: int) -> list[str]:
    """The ids of the first ``limit`` objects the API lists (one read-only GET)."""
    path = RESOURCES[kind][0].removesuffix("/{id}")
    timeout = aiohttp.ClientTimeout(total=client.timeout)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout, headers=client.headers) as session,
            session.get(client.base_url + path, params={"limit": str(limit)}, allow_redirects=False) as response,
        ):
            if response.status != 200:
                raise RenderCheckError(f"--live: GET {path} answered {response.status}: check plugandpay.api_token")
            body = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise RenderCheckError(f"--live: GET {path} failed: {type(exc).__name__} {exc}") from None
    rows = body.get("data") if isinstance(body, dict) else None
    return [str(row["id"]) for row in rows or [] if isinstance(row, dict) and "id" in row][:limit]


def _trigger_of(kind: str) -> str:
    return next(trigger for trigger, object_kind in TRIGGER_OBJECT.items() if object_kind == kind)


def kinds_needed(config: Config) -> set[str]:
    return {TRIGGER_OBJECT[t] for rule in config.rules.rules for t in rule.triggers if t in TRIGGER_OBJECT}


# ---------------------------------------------------------------- rendering


@dataclass
class Report:
    """What rendering found: problems by (where, message) with the samples they showed on, and notes."""

    samples: list[Sample]
    actions: int = 0
    problems: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, where: str, message: str, sample: Sample) -> None:
        seen = self.problems.setdefault((where, message), [])
        if sample.label not in seen:
            seen.append(sample.label)

    def lines(self) -> list[str]:
        return [f"{where}: {message} (on {', '.join(on)})" for (where, message), on in self.problems.items()]


def render_all(config: Config, samples: list[Sample]) -> Report:
    report = Report(samples)
    for rule in config.rules.rules:
        for trigger in rule.triggers:
            kind = TRIGGER_OBJECT.get(trigger)
            mine = [s for s in samples if s.kind == kind]
            if kind is None or not mine:
                report.notes.append(f"rule {rule.name!r}: no sample data for trigger {trigger}; not rendered")
                continue
            _render_rule(config, rule, trigger, mine, report)
    return report


def _render_rule(config: Config, rule: Rule, trigger: str, samples: list[Sample], report: Report) -> None:
    contexts = []
    for sample in samples:
        event = event_from_args(trigger, sample.ident)
        context = base_context(event, traced(sample.data, "data"))
        context[sample.kind] = traced(sample.data, sample.kind)
        with time_limit(config.delivery.render_timeout):
            outcome = evaluate(rule, event, sample.data, context)
        if outcome.error:
            _report(report, rule, outcome.error.removeprefix(f"rule {rule.name!r}: "), context, sample)
        contexts.append((outcome.matched, event, context, sample))
    chosen = [c for c in contexts if c[0]] or contexts
    for _, event, context, sample in chosen:
        rule_context = {**context, "rule": rule.context}
        target = config.connectors
        for action in rule.actions:
            with time_limit(config.delivery.render_timeout), budget():
                deliveries = render_action(event, rule, action, rule_context, config)
            settings = target[action.connector].settings
            kind = connector_class(target[action.connector].type, settings)
            for delivery in deliveries:
                report.actions += 1
                if delivery.request is None:
                    error = (delivery.error or "").removeprefix(f"render: rule {rule.name!r}: ")
                    _report(report, rule, error, context, sample)
                    continue
                for message in kind.check_rendered(delivery.request, settings):
                    report.add(action.where, f"rule {rule.name!r}: {action.connector}: {message}", sample)


def _report(report: Report, rule: Rule, error: str, context: Mapping[str, Any], sample: Sample) -> None:
    found = _WHERE.match(error)
    where, message = (found.group("where"), found.group("message")) if found else (rule.where, error)
    name = _UNDEFINED_NAME.search(message)
    if name and name.group(1) not in context:
        hint = did_you_mean(name.group(1), {**context, "item": None})
        message += f"; {hint}" if hint else f" (known: {', '.join(sorted(context))})"
    report.add(where, f"rule {rule.name!r}: {message}", sample)
