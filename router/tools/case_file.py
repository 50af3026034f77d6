"""The cases file of rule tests (``plugpay-router test -c FILE CASES.yaml``), read and checked against a config.

A cases file is a YAML list; each case gives an event (a webhook body, or the short form ``{trigger, id,
rule_id}``), the object the API would return (``data`` inline or ``data_file``), and what to expect: the exact
set of ``matched`` rules, substrings of the ``reasons`` other rules did not match, and the rendered
``actions`` in order, each compared on the fields it lists. Mistakes in the cases file are reported like
config errors, all at once, with file:line and a did-you-mean for misspelt keys and rule names.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from router.config import Config
from router.config.source import ConfigError, Problems, YList, YMap, line_of, read_source
from router.config.source import load as load_yaml
from router.events import Event
from router.text import suggest
from router.tools.simulate import SimulateError, data_from_body, event_from_args, event_from_body

CASE_KEYS = ("name", "event", "data", "data_file", "now", "matched", "reasons", "actions")
SHORT_EVENT_KEYS = ("trigger", "id", "type", "rule_id", "tenant_id")
ACTION_KEYS = ("rule", "connector", "item", "status", "error", "request")
STATUSES = ("pending", "dead")


@dataclass(frozen=True)
class ExpectedAction:
    line: int
    fields: dict[str, Any]  # rule, connector, item, status, request: compared (request partially)
    error: str | None = None  # a substring of the render error


@dataclass(frozen=True)
class Case:
    name: str
    where: str
    event: Event
    data: dict[str, Any]
    now: dt.datetime | None = None
    matched: tuple[str, ...] | None = None
    reasons: dict[str, str] = field(default_factory=dict)
    actions: tuple[ExpectedAction, ...] | None = None


def load_cases(path: str, config: Config) -> list[Case]:
    text = read_source(path, "cases file")
    return _Loader(Problems(path), Path(path).parent, config).load(text)


def _plain(value: Any) -> Any:
    """YAML values as JSON-like Python (YMap/YList are dict/list subclasses carrying positions)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@dataclass
class _Loader:
    problems: Problems
    base: Path
    config: Config

    def load(self, text: str) -> list[Case]:
        root = load_yaml(text, self.problems.file)
        if not isinstance(root, YList):
            line = getattr(root, "line", 1)
            self.problems.add(line, "", "a cases file is a YAML list of cases (each starts with '- name: ...')")
            self.problems.raise_if_any()
        cases = []
        names: dict[str, int] = {}
        for index, body in enumerate(root):
            path = f"[{index}]"
            if not isinstance(body, YMap):
                self.problems.add(line_of(root, index), path, "expected a case: a mapping with name, event, data")
                continue
            name = body.get("name")
            if isinstance(name, str) and name.strip() in names:
                first = names[name.strip()]
                self.problems.add(line_of(body, "name"), f"{path}.name", f"duplicate case name (first at line {first})")
            elif isinstance(name, str):
                names[name.strip()] = line_of(body, "name")
            case = self._case(body, path)
            if case is not None:
                cases.append(case)
        self.problems.raise_if_any()
        return cases

    def _unknown(self, node: YMap, path: str, known: Sequence[str]) -> None:
        for key in node:
            if key not in known:
                self.problems.add(
                    line_of(node, key),
                    f"{path}.{key}",
                    f"unknown key{suggest(key, known)} (known: {', '.join(known)})",
                )

    def _rule_name(self, node: Any, key: Any, path: str, name: Any) -> bool:
        known = [rule.name for rule in self.config.rules.rules]
        if not isinstance(name, str) or name not in known:
            hint = suggest(str(name), known) if isinstance(name, str) else ""
            self.problems.add(line_of(node, key), path, f"no rule named {name!r} in the config{hint}")
            return False
        return True

    def _case(self, body: YMap, path: str) -> Case | None:
        self._unknown(body, path, CASE_KEYS)
        before = len(self.problems.items)
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            self.problems.add(line_of(body, "name"), f"{path}.name", "is required: a name for the case")
        event = self._event(body, path)
        data = self._data(body, path)
        now = self._now(body, path)
        matched = self._matched(body, path)
        reasons = self._reasons(body, path)
        actions = self._actions(body, path)
        if len(self.problems.items) > before or event is None or data is None:
            return None
        return Case(
            name=str(name).strip(),
            where=f"{self.problems.file}:{body.line}",
            event=event,
            data=data,
            now=now,
            matched=matched,
            reasons=reasons,
            actions=actions,
        )

    def _event(self, body: YMap, path: str) -> Any:
        node = body.get("event")
        where = f"{path}.event"
        if not isinstance(node, YMap):
            self.problems.add(
                line_of(body, "event"),
                where,
                "is required: a webhook body, or {trigger: order_paid, id: 1042, rule_id: 318}",
            )
            return None
        try:
            if "trigger_type" in node or "event" in node:
                return event_from_body(_plain(node), "event")
            self._unknown(node, where, SHORT_EVENT_KEYS)
            if node.get("trigger") is None or node.get("id") is None:
                missing = "trigger" if node.get("trigger") is None else "id"
                self.problems.add(node.line, f"{where}.{missing}", "is required (or give a full webhook body)")
                return None
            return event_from_args(
                str(node["trigger"]),
                str(node["id"]),
                kind=None if node.get("type") is None else str(node["type"]),
                rule_id=node.get("rule_id"),
                tenant_id=node.get("tenant_id"),
            )
        except SimulateError as exc:
            self.problems.add(node.line, where, str(exc))
            return None

    def _data(self, body: YMap, path: str) -> dict[str, Any] | None:
        inline, file = body.get("data"), body.get("data_file")
        if inline is not None and file is not None:
            self.problems.add(
                line_of(body, "data_file"), f"{path}.data_file", "give either data or data_file, not both"
            )
            return None
        if inline is None and file is None:
            self.problems.add(
                body.line, f"{path}.data", "is required: the object the API returns (data: {...} or data_file: FILE)"
            )
            return None
        if file is not None:
            return self._data_file(body, path, file)
        try:
            return data_from_body(_plain(inline), "data")
        except SimulateError as exc:
            self.problems.add(line_of(body, "data"), f"{path}.data", str(exc))
            return None

    def _data_file(self, body: YMap, path: str, file: Any) -> dict[str, Any] | None:
        target = self.base / str(file)
        where = (line_of(body, "data_file"), f"{path}.data_file")
        try:
            text = target.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.problems.add(*where, f"cannot read {target}: {getattr(exc, 'strerror', None) or exc}")
            return None
        try:
            is_yaml = target.suffix in (".yaml", ".yml")
            loaded = _plain(load_yaml(text, str(target))) if is_yaml else json.loads(text)
            return data_from_body(loaded, str(target))
        except ConfigError as exc:
            self.problems.add(*where, str(exc))
        except ValueError as exc:
            self.problems.add(*where, f"{target} is not valid JSON: {exc}")
        except SimulateError as exc:
            self.problems.add(*where, str(exc))
        return None

    def _now(self, body: YMap, path: str) -> dt.datetime | None:
        value = body.get("now")
        if value is None:
            return None
        if isinstance(value, dt.datetime):
            moment = value
        else:
            try:
                moment = dt.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
            except ValueError:
                self.problems.add(line_of(body, "now"), f"{path}.now", f"not an ISO 8601 time: {value!r}")
                return None
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)

    def _matched(self, body: YMap, path: str) -> tuple[str, ...] | None:
        node = body.get("matched")
        if "matched" not in body:
            return None
        if node is None:
            return ()
        if not isinstance(node, YList):
            self.problems.add(
                line_of(body, "matched"), f"{path}.matched", "expected a list of rule names ([] for none)"
            )
            return None
        for index, name in enumerate(node):
            self._rule_name(node, index, f"{path}.matched[{index}]", name)
        return tuple(str(name) for name in node)

    def _reasons(self, body: YMap, path: str) -> dict[str, str]:
        node = body.get("reasons")
        if node is None:
            return {}
        if not isinstance(node, YMap):
            self.problems.add(
                line_of(body, "reasons"), f"{path}.reasons", "expected a mapping: rule name → part of the reason"
            )
            return {}
        for name, text in node.items():
            self._rule_name(node, name, f"{path}.reasons.{name}", name)
            if not isinstance(text, str):
                self.problems.add(line_of(node, name), f"{path}.reasons.{name}", "expected text")
        return {str(k): str(v) for k, v in node.items()}

    def _actions(self, body: YMap, path: str) -> tuple[ExpectedAction, ...] | None:
        if "actions" not in body:
            return None
        node = body.get("actions")
        if node is None:
            return ()
        if not isinstance(node, YList):
            self.problems.add(line_of(body, "actions"), f"{path}.actions", "expected a list of expected actions")
            return None
        found = []
        for index, item in enumerate(node):
            apath = f"{path}.actions[{index}]"
            if not isinstance(item, YMap):
                self.problems.add(line_of(node, index), apath, "expected a mapping (rule, connector, request, ...)")
                continue
            self._unknown(item, apath, ACTION_KEYS)
            if "rule" in item:
                self._rule_name(item, "rule", f"{apath}.rule", item["rule"])
            if "connector" in item and item["connector"] not in self.config.connectors:
                known = list(self.config.connectors)
                self.problems.add(
                    line_of(item, "connector"),
                    f"{apath}.connector",
                    f"no connector named {item['connector']!r} in the config{suggest(str(item['connector']), known)}",
                )
            if "status" in item and item["status"] not in STATUSES:
                self.problems.add(line_of(item, "status"), f"{apath}.status", "expected pending or dead")
            fields = {key: _plain(item[key]) for key in ("rule", "connector", "status", "request") if key in item}
            if "item" in item:
                fields["item"] = str(item["item"])
            error = None if item.get("error") is None else str(item["error"])
            found.append(ExpectedAction(item.line, fields, error))
        return tuple(found)
