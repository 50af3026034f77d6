"""The ``rules:`` section compiled: triggers, scopes, conditions and every action's templates.

Templates and ``when`` / ``for_each`` expressions are compiled once here, so a syntax error is a config
problem at its own line (a template spanning lines points at the line inside it), and the daemon only
renders. Each action is checked against its connector type's keys. Problems are collected, never raised.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jinja2

from connectors.base import Field
from connectors.registry import CONNECTOR_TYPES
from router.config.coerce import coerce
from router.config.model import ConnectorConfig
from router.config.pitfalls import check_ids, check_text, scope_warnings
from router.config.source import Problem, Problems, YList, YMap, line_of, text_line
from router.events import TRIGGERS, canonical_trigger
from router.render import templates
from router.render.rulebook import Action, Rule
from router.render.template_files import FILE_KEYS, TemplateFileError, TemplateFolder
from router.text import suggest

RULE_KEYS = (
    "name",
    "description",
    "trigger",
    "products",
    "checkouts",
    "upsells",
    "source_rules",
    "first_only",
    "when",
    "schedule",
    "actions",
)
SCOPE_KEYS = ("products", "checkouts", "upsells", "source_rules")
ACTION_COMMON = ("connector", "for_each")

# The words of the warning about a trigger that is no Plug&Pay trigger (``check --render`` and ``test``
# make it an error: such a rule can never fire).
UNKNOWN_TRIGGER = "is not a known Plug&Pay trigger"


@dataclass
class RuleCompiler:
    problems: Problems
    connectors: Mapping[str, ConnectorConfig]
    aliases: Mapping[str, str] = field(default_factory=dict)  # plugandpay.trigger_aliases
    folder: TemplateFolder | None = None  # the config's template files, opened on first use

    def rules(self, root: YMap) -> list[Rule]:
        node = root.get("rules")
        if node is None:
            return []
        if not isinstance(node, YList):
            self.problems.add(line_of(root, "rules"), "rules", "expected a list of rules")
            return []
        rules: list[Rule] = []
        names: dict[str, int] = {}
        for index, body in enumerate(node):
            path = f"rules[{index}]"
            if not isinstance(body, YMap):
                self.problems.add(line_of(node, index), path, "expected a mapping")
                continue
            rule = self._rule(body, path, index)
            if rule is None:
                continue
            if rule.name in names:
                self.problems.add(
                    line_of(body, "name"),
                    f"{path}.name",
                    f"duplicate rule name {rule.name!r} (first at line {names[rule.name]})",
                )
            names[rule.name] = line_of(body, "name")
            rules.append(rule)
        return rules

    def _where(self, line: int) -> str:
        return f"{self.problems.file}:{line}"

    def _rule(self, body: YMap, path: str, index: int) -> Rule | None:
        self.problems.unknown_keys(body, path, RULE_KEYS)
        ok = True
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            self.problems.add(line_of(body, "name"), f"{path}.name", "is required (a unique name for the rule)")
            ok = False
        triggers = self._triggers(body, path)
        scopes: dict[str, frozenset[str] | None] = {}
        for key in SCOPE_KEYS:
            scopes[key] = None
            if body.get(key) is not None:
                try:
                    ids = coerce(Field("ids"), body[key])
                    check_ids(key, ids)
                    scopes[key] = ids
                except ValueError as exc:
                    self.problems.add(line_of(body, key), f"{path}.{key}", str(exc))
                    continue
                if not scopes[key]:
                    self.problems.add(
                        line_of(body, key), f"{path}.{key}", "is empty: list at least one id, or remove the key"
                    )
        description = body.get("description")
        if description is not None and not isinstance(description, str):
            self.problems.add(line_of(body, "description"), f"{path}.description", "expected text")
            description = None
        first_only = body.get("first_only", False)
        if not isinstance(first_only, bool):
            self.problems.add(line_of(body, "first_only"), f"{path}.first_only", "expected true or false")
            first_only = False
        when = None
        if body.get("when") is not None:
            try:
                when = templates.compile_condition(str(body["when"]), self._where(line_of(body, "when")))
            except jinja2.TemplateSyntaxError as exc:
                self.problems.add(
                    line_of(body, "when"), f"{path}.when", f"invalid expression: {templates.syntax_message(exc)}"
                )
        schedule = None
        if body.get("schedule") is not None:
            try:
                schedule = coerce(Field("durations"), body["schedule"])
            except ValueError as exc:
                self.problems.add(line_of(body, "schedule"), f"{path}.schedule", str(exc))
        actions = self._actions(body, path)
        if not ok or triggers is None:
            return None
        for key, message in scope_warnings(triggers, {k: v for k, v in scopes.items() if v is not None}):
            self.problems.warn(line_of(body, key), f"{path}.{key}", message)
        return Rule(
            name=str(name).strip(),
            triggers=triggers,
            actions=tuple(actions),
            when=when,
            first_only=first_only,
            schedule=schedule,
            position=index,
            where=self._where(body.line),
            description=description,
            **scopes,
        )

    def _triggers(self, body: YMap, path: str) -> tuple[str, ...] | None:
        raw = body.get("trigger")
        items = raw if isinstance(raw, list) else [raw]
        if raw is None or not items or not all(isinstance(t, str) and t.strip() for t in items):
            self.problems.add(
                line_of(body, "trigger"),
                f"{path}.trigger",
                "is required: a trigger name such as order_paid, or a list of them",
            )
            return None
        triggers = tuple(dict.fromkeys(canonical_trigger(str(t), self.aliases) for t in items))
        for trigger in triggers:
            if trigger not in TRIGGERS:
                self.problems.warn(
                    line_of(body, "trigger"),
                    f"{path}.trigger",
                    f"{trigger!r} {UNKNOWN_TRIGGER}; it matches only webhooks whose trigger_type is"
                    f" exactly {trigger!r}{suggest(trigger, TRIGGERS)} (known: {', '.join(TRIGGERS)})",
                )
        return triggers

    def _actions(self, body: YMap, path: str) -> list[Action]:
        node = body.get("actions")
        if not isinstance(node, YList) or not node:
            self.problems.add(line_of(body, "actions"), f"{path}.actions", "is required: a list of actions")
            return []
        actions = []
        for index, action in enumerate(node):
            apath = f"{path}.actions[{index}]"
            if not isinstance(action, YMap):
                self.problems.add(line_of(node, index), apath, "expected a mapping with a 'connector'")
                continue
            built = self._action(action, apath, index)
            if built is not None:
                actions.append(built)
        return actions

    def _action(self, node: YMap, path: str, index: int) -> Action | None:
        name = node.get("connector")
        if not isinstance(name, str) or name not in self.connectors:
            known = ", ".join(self.connectors) or "none configured"
            message = (
                "is required"
                if name is None
                else (f"unknown connector {name!r}{suggest(str(name), self.connectors)} (known: {known})")
            )
            self.problems.add(line_of(node, "connector"), f"{path}.connector", message)
            return None
        cls = CONNECTOR_TYPES[self.connectors[name].type]
        file_keys = {f: key for f, key in FILE_KEYS.items() if key in cls.action_keys}
        allowed = (*ACTION_COMMON, *sorted(cls.action_keys), *file_keys)
        self.problems.unknown_keys(node, path, allowed)
        given = set(node) | {file_keys[f] for f in node if f in file_keys}
        for key in sorted(cls.required_action_keys - given):
            self.problems.add(node.line, f"{path}.{key}", f"is required by connector type {cls.type}")
        fields = {k: v for k, v in node.items() if k not in ACTION_COMMON and k in cls.action_keys}
        for key, message in check_text(cls.text_keys, fields):
            self.problems.add(line_of(node, key), f"{path}.{key}", message)
        files = self._files(node, path, file_keys)
        for file_key, key in file_keys.items():  # a file that failed to load is reported once, not as missing too
            if file_key in node:
                fields.setdefault(key, files[key].source if key in files else str(node[file_key]))
        for key, value in cls.action_defaults().items():
            fields.setdefault(key, value)
        for key, message in cls.check_action(fields):
            self.problems.add(line_of(node, key), f"{path}.{key}", message)
        for_each = None
        source = node.get("for_each")
        if source is not None:
            try:
                for_each = templates.compile_expression(str(source))
            except jinja2.TemplateSyntaxError as exc:
                self.problems.add(
                    line_of(node, "for_each"),
                    f"{path}.for_each",
                    f"invalid expression: {templates.syntax_message(exc)}",
                )
        compiled = self._compile({k: v for k, v in fields.items() if k not in files}, node, path)
        compiled.update(files)
        return Action(
            connector=name,
            index=index,
            fields=compiled,
            for_each=for_each,
            for_each_source=None if source is None else str(source),
            where=self._where(node.line),
            for_each_where=self._where(line_of(node, "for_each")) if source is not None else "",
        )

    def _files(self, node: YMap, path: str, file_keys: Mapping[str, str]) -> dict[str, templates.Template]:
        """The ``*_file`` keys of an action, loaded and compiled: action key -> template."""
        loaded: dict[str, templates.Template] = {}
        for file_key, key in file_keys.items():
            if file_key not in node:
                continue
            if key in node:
                self.problems.add(line_of(node, file_key), f"{path}.{file_key}", f"use {key} or {file_key}, not both")
                continue
            if self.folder is None:
                self.folder = TemplateFolder.of_config(self.problems.file)
            try:
                loaded[key] = self.folder.load(node[file_key])
            except TemplateFileError as exc:
                file, line = (exc.file, exc.line) if exc.file else (self.problems.file, line_of(node, file_key))
                self.problems.items.append(Problem(file, line, f"{path}.{file_key}", exc.message))
        return loaded

    def _compile(self, fields: dict[str, Any], node: YMap, path: str) -> Any:
        def where_of(sub: tuple[Any, ...]) -> str:
            container: Any = node
            for part in sub[:-1]:
                container = container[part]
            return self._where(text_line(container, sub[-1]) if sub else node.line)

        def compile_each(value: Any, sub: tuple[Any, ...]) -> Any:
            try:
                url = sub[0] in templates.PATH_KEYS  # every value in a URL is one encoded path segment
                return templates.compile_tree(value, lambda rest: where_of((*sub, *rest)), url=url)
            except jinja2.TemplateSyntaxError as exc:
                key_path = path + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in sub)
                line = int(where_of(sub).rsplit(":", 1)[1]) + max(0, (exc.lineno or 1) - 1)
                self.problems.add(line, key_path, f"template error: {templates.syntax_message(exc)}")
                return None

        return {key: compile_each(value, (key,)) for key, value in fields.items()}
