"""``check --render``: render every rule on real-shaped data before go-live, and say what would go wrong.

``check`` alone proves the file is well formed; a misspelt key (``first_name`` for ``firstname``) only
shows when a webhook arrives. Here every rule renders on sample objects: the sandbox's fixtures (the
default), recorded objects from a folder (``--data DIR``: the sandbox's fixture files ``orders.json`` /
``subscriptions.json`` / ``sellers.json``, ``{"1042": {...}}``, and/or one file per object,
``orders/1042.json``, holding the object or the API's ``{"data": {...}}`` answer), or the shop's own API
(``--live``: read-only GETs of the newest objects); ``router.cli.render_samples`` fetches them.

A rule renders on the samples it matches, or on every sample of its trigger's kind when it matches none
(its actions must still render). Rendering is the daemon's own (``router.routing.route``); the data is wrapped so a
missing key is reported where it was looked for, with the keys that are there (``no key 'first_name' in
order.billing.contact (keys: ...); did you mean 'firstname'?``), and each rendered action goes through its
connector's ``check_rendered``. Nothing is sent and nothing is stored.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.registry import connector_class
from router.config import Config
from router.config.rules_section import UNKNOWN_TRIGGER
from router.config.source import Problem
from router.events import TRIGGER_OBJECT
from router.render.limits import budget, time_limit
from router.render.rulebook import Rule, evaluate
from router.render.template_errors import did_you_mean
from router.routing.route import _render_action as render_action  # the daemon's renderer, not a second one
from router.routing.route import base_context
from router.tools.simulate import event_from_args

# The sandbox's fixture files by the kind of object a trigger is about.
FIXTURE_KINDS = {"order": "orders", "subscription": "subscriptions", "affiliate": "sellers"}
_WHERE = re.compile(r"^(?P<where>\S+:\d+): (?P<message>.*)$", re.DOTALL)
_UNDEFINED_NAME = re.compile(r"'(\w+)' is undefined")


# ---------------------------------------------------------------- traced data


class TracedDict(dict[str, Any]):
    """A fetched mapping that knows where it sits (``order.billing.contact``), for the missing-key message."""

    def __init__(self, data: Mapping[str, Any], path: str):
        super().__init__(data)
        self.data_path = path

    def __getitem__(self, key: str) -> Any:
        return traced(super().__getitem__(key), f"{self.data_path}.{key}")

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else default  # noqa: SIM401 (self.get is this method)

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


def trigger_of(kind: str) -> str:
    """A trigger about this kind of object (the event a sample is fetched and rendered for)."""
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


def never_firing(config: Config) -> list[Problem]:
    """The warnings about rules whose trigger is neither a Plug&Pay trigger nor an alias of one, as errors.

    ``check`` only warns (a new wire spelling may be on its way); ``check --render`` and ``test`` are where
    an author asks whether the rules work, and a rule on ``order_payed`` never will.
    """
    return [
        Problem(w.file, w.line, w.path, f"can never fire: {w.message}")
        for w in config.warnings
        if w.path.endswith(".trigger") and UNKNOWN_TRIGGER in w.message
    ]
