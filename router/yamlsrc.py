"""YAML that remembers where every value came from.

Config errors must name the file, line and key (``config.yaml:31: rules[2].actions[0].connector: ...``).
PyYAML's safe loader forgets positions once it builds Python objects, so this loader builds ``Node``
mappings and lists that keep the line of themselves and of each key or item, and ``ConfigError`` /
``Problems`` carry those positions to the user. Nothing here knows the config schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml


class YMap(dict[str, Any]):
    """A mapping that knows its own line and the line of each key."""

    line: int
    lines: dict[str, int]


class YList(list[Any]):
    """A sequence that knows its own line and the line of each item."""

    line: int
    lines: list[int]


class _Loader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> YMap:
    loader.flatten_mapping(node)
    result = YMap()
    result.line = node.start_mark.line + 1
    result.lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            key = str(key)
        result[key] = loader.construct_object(value_node, deep=True)
        result.lines[key] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> YList:
    result = YList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.lines = [child.start_mark.line + 1 for child in node.value]
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


@dataclass
class Problem:
    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(Exception):
    """One or more problems in a config or cases file; ``str()`` lists them one per line."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass
class Problems:
    """Collects every problem of one file so ``check`` can report them all at once."""

    file: str
    items: list[Problem] = field(default_factory=list)

    def add(self, line: int, path: str, message: str) -> None:
        self.items.append(Problem(self.file, line, path, message))

    def raise_if_any(self) -> None:
        if self.items:
            raise ConfigError(sorted(self.items, key=lambda p: p.line))


def load(text: str, file: str) -> Any:
    """Parse YAML text; a syntax error becomes a ConfigError at the right line."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise ConfigError([Problem(file, line, "", f"invalid YAML: {exc.problem or exc}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(file, 1, "", f"invalid YAML: {exc}")]) from None


def line_of(container: Any, key: str | int, default: int = 1) -> int:
    """The line of ``container[key]``, or of the container itself, or ``default``."""
    if isinstance(container, YMap) and isinstance(key, str):
        return container.lines.get(key, container.line)
    if isinstance(container, YList) and isinstance(key, int) and key < len(container.lines):
        return container.lines[key]
    return getattr(container, "line", default)
