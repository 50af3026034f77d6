"""YAML that remembers where every value came from.

Config errors must name the file, line and key (``config.yaml:31: rules[2].actions[0].connector: ...``).
PyYAML's safe loader forgets positions once it builds Python objects, so this loader builds mappings
(``YMap``) and lists (``YList``) that keep the line of themselves and of each key or item, straight from
libyaml's parser events (fast enough for 10,000-rule files), and ``ConfigError`` / ``Problems`` carry
those positions to the user. Nothing here knows the config schema; the cases file of rule tests uses it too.
"""

from __future__ import annotations

import contextlib
import gc
import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from router.text import suggest


class YMap(dict[str, Any]):
    """A mapping that knows its own line and the line of each key, and which values are block scalars
    (``text: |``: their text starts on the next line)."""

    line: int
    lines: dict[str, int]
    blocks: frozenset[str] | set[str] = frozenset()


class YList(list[Any]):
    """A sequence that knows its own line and the line of each item."""

    line: int
    lines: list[int]


_Parser: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when PyYAML was built with it
_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
_IMPLICIT: dict[str, list[tuple[str, Any]]] = yaml.resolver.Resolver.yaml_implicit_resolvers
# Entries (mapping keys and list items) a file may add through aliases. An alias costs nothing here (it is the
# same object), but everything that walks the config afterwards expands it: nine levels of nine aliases
# ("billion laughs") would be 387 million entries.
MAX_ALIAS_ENTRIES = 1_000_000


class _Builder:
    """Builds plain values, YMap and YList straight from the parser's events, with the safe schema's rules.

    Skipping PyYAML's node tree and generic constructor is what keeps a 10,000-rule file fast: one pass,
    one Python object per value. Plain scalars resolve as the safe loader resolves them (``yes`` is true,
    ``2025-03-14`` a date), anchors and aliases give the same object, and ``<<`` merge keys work, with
    explicit keys winning. A key given twice in one mapping is reported, not silently overwritten.
    ``entries`` counts mapping entries and list items as if every alias were written out; an alias whose
    expansion would take the file past MAX_ALIAS_ENTRIES entries is refused.
    """

    def __init__(self, parser: Any, file: str, text: str = "") -> None:
        self.parser = parser
        self.file = file
        self.text = text
        self.constructor = yaml.constructor.SafeConstructor()
        self.anchors: dict[str, Any] = {}
        self.sizes: dict[str, int] = {}  # entries of each anchored value, its own aliases expanded
        self.entries = 0
        self.aliased = 0
        self.duplicates: list[Problem] = []

    def document(self) -> Any:
        get = self.parser.get_event
        get()  # stream start
        if self.parser.check_event(yaml.StreamEndEvent):
            return None
        get()  # document start
        value = self.value(get())
        get()  # document end
        if not self.parser.check_event(yaml.StreamEndEvent):
            event = get()
            raise yaml.composer.ComposerError(
                None, None, "expected a single document, but found another one (---)", event.start_mark
            )
        return value

    def value(self, event: Any) -> Any:
        cls = event.__class__
        if cls is yaml.ScalarEvent:
            value = self.scalar(event)
        elif cls is yaml.MappingStartEvent:
            return self.mapping(event)
        elif cls is yaml.SequenceStartEvent:
            return self.sequence(event)
        elif cls is yaml.AliasEvent:
            if event.anchor not in self.anchors:
                raise yaml.composer.ComposerError(
                    None, None, f"found undefined alias {event.anchor!r}", event.start_mark
                )
            size = self.sizes.get(event.anchor, 0)
            self.entries += size
            self.aliased += size
            if self.aliased > MAX_ALIAS_ENTRIES:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"aliases expand to more than {MAX_ALIAS_ENTRIES:,} entries (an alias bomb?)",
                    event.start_mark,
                )
            return self.anchors[event.anchor]
        else:
            raise yaml.composer.ComposerError(None, None, f"unexpected {cls.__name__}", event.start_mark)
        if event.anchor is not None:
            self.anchors[event.anchor] = value
        return value

    def scalar(self, event: Any) -> Any:
        tag = event.tag
        if tag is None or tag == "!":
            if not event.implicit[0]:
                return event.value  # quoted: always text
            value = event.value
            for candidate, pattern in _IMPLICIT.get(value[:1], ()):
                if pattern.match(value):
                    tag = candidate
                    break
            else:
                return value
        if tag == _STR:
            return event.value
        construct = self.constructor.yaml_constructors.get(tag)
        if construct is None or tag == _MERGE:
            raise yaml.constructor.ConstructorError(None, None, f"unsupported tag {tag!r}", event.start_mark)
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        return construct(self.constructor, node)

    def _check_tag(self, event: Any, default: str) -> None:
        if event.tag not in (None, "!", default):
            raise yaml.constructor.ConstructorError(None, None, f"unsupported tag {event.tag!r}", event.start_mark)

    def mapping(self, event: Any) -> YMap:
        self._check_tag(event, _MAP)
        result = YMap()
        result.line = event.start_mark.line + 1
        lines: dict[str, int] = {}
        result.lines = lines
        start = self.entries
        if event.anchor is not None:
            self.anchors[event.anchor] = result
        merges: list[Any] = []
        get, value = self.parser.get_event, self.value
        while True:
            key_event = get()
            cls = key_event.__class__
            if cls is yaml.MappingEndEvent:
                break
            line = key_event.start_mark.line + 1
            if cls is yaml.ScalarEvent and key_event.tag is None and key_event.value == "<<" and key_event.implicit[0]:
                merges.append((value(get()), key_event.start_mark))
                continue
            key = value(key_event)
            if isinstance(key, YMap | YList):
                self.duplicates.append(Problem(self.file, line, "", unquoted_template(self.text, line)))
            if not isinstance(key, str):
                key = str(key)
            if key in lines:
                self.duplicates.append(
                    Problem(self.file, line, key, f"duplicate key (first at line {lines[key]}); keep only one")
                )
            value_event = get()
            if value_event.__class__ is yaml.ScalarEvent and value_event.style in ("|", ">"):
                result.blocks = {*result.blocks, key}
            result[key] = value(value_event)
            lines[key] = line
        if merges:
            self._merge(result, merges)
        self.entries += len(result)
        if event.anchor is not None:
            self.sizes[event.anchor] = self.entries - start
        return result

    def _merge(self, result: YMap, merges: list[Any]) -> None:
        """``<<: *base`` or ``<<: [*a, *b]``: keys not given explicitly come from the merged mappings."""
        for merged, mark in merges:
            sources = merged if isinstance(merged, list) else [merged]
            for source in sources:
                if not isinstance(source, YMap):
                    raise yaml.constructor.ConstructorError(
                        None, None, "a merge key (<<) needs a mapping or a list of mappings", mark
                    )
                for key, item in source.items():
                    if key not in result:
                        result[key] = item
                        result.lines[key] = source.lines.get(key, source.line)

    def sequence(self, event: Any) -> YList:
        self._check_tag(event, _SEQ)
        result = YList()
        result.line = event.start_mark.line + 1
        lines: list[int] = []
        result.lines = lines
        start = self.entries
        if event.anchor is not None:
            self.anchors[event.anchor] = result
        get, value, append, add_line = self.parser.get_event, self.value, result.append, lines.append
        while True:
            item = get()
            if item.__class__ is yaml.SequenceEndEvent:
                break
            add_line(item.start_mark.line + 1)
            append(value(item))
        self.entries += len(result)
        if event.anchor is not None:
            self.sizes[event.anchor] = self.entries - start
        return result


@dataclass
class Problem:
    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        if self.line < 1:  # about the whole file (it cannot be read): no line to point at
            return f"{self.path}: {self.message}" if self.path else self.message
        where = f"{self.file}:{self.line}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"

    def masked(self, mask: Callable[[str], str]) -> Problem:
        """The same problem with ``mask`` applied to its message (file, line and key path are never secret)."""
        return Problem(self.file, self.line, self.path, mask(self.message))


class ConfigError(Exception):
    """One or more problems in a config or cases file; ``str()`` lists them one per line."""

    def __init__(self, problems: list[Problem], warnings: list[Problem] | None = None):
        self.problems = problems
        self.warnings = warnings or []  # shown with the errors: a warning often explains an error
        super().__init__("\n".join(str(p) for p in problems))

    def masked(self, mask: Callable[[str], str]) -> ConfigError:
        """The same problems with ``mask`` applied to every message."""
        return ConfigError([p.masked(mask) for p in self.problems], [w.masked(mask) for w in self.warnings])


@dataclass
class Problems:
    """Collects every problem of one file so ``check`` can report them all at once."""

    file: str
    items: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    # Key paths whose value came from an unset ``${VAR}``: the variable is the one cause of whatever else
    # is wrong there (an empty port is no number), so nothing more is said about them.
    unset: set[str] = field(default_factory=set)
    # Offline loading: the unset variables as (line, key path, name), said as notes instead of errors.
    missing: list[tuple[int, str, str]] = field(default_factory=list)

    def add(self, line: int, path: str, message: str) -> None:
        if path in self.unset:
            return
        self.items.append(Problem(self.file, line, path, message))

    def warn(self, line: int, path: str, message: str) -> None:
        """Not an error: the file loads, but ``check`` shows it."""
        self.warnings.append(Problem(self.file, line, path, message))

    def unknown_keys(self, node: YMap, path: str, known: Collection[str]) -> None:
        """Report every key of ``node`` that is not in ``known``, with the nearest known name."""
        for key in node:
            if key not in known:
                self.add(line_of(node, key), key_path(path, key), f"unknown key{suggest(key, known)}")

    def raise_if_any(self) -> None:
        if self.items:
            raise ConfigError(sorted(self.items, key=lambda p: p.line), sorted(self.warnings, key=lambda p: p.line))


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Hold off the cyclic garbage collector while building a large tree of new objects.

    Parsing a 10,000-rule file allocates millions of objects, none of them garbage; without this the
    collector walks the growing heap again and again and loading takes five times longer.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load(text: str, file: str) -> Any:
    """Parse YAML text; a syntax error becomes a ConfigError at the right line."""
    with paused_gc():
        return _load(text, file)


def _load(text: str, file: str) -> Any:
    parser = _Parser(text)
    builder = _Builder(parser, file, text)
    try:
        value = builder.document()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise ConfigError([Problem(file, line, "", yaml_message(str(exc.problem or exc), text, line))]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(file, 1, "", f"invalid YAML: {exc}")]) from None
    finally:
        parser.dispose()
    if builder.duplicates:
        raise ConfigError(builder.duplicates)
    return value


def line_of(container: Any, key: str | int, default: int = 1) -> int:
    """The line of ``container[key]``, or of the container itself, or ``default``."""
    if isinstance(container, YMap) and isinstance(key, str):
        return container.lines.get(key, container.line)
    if isinstance(container, YList) and isinstance(key, int) and key < len(container.lines):
        return container.lines[key]
    return getattr(container, "line", default)


_TEMPLATE = re.compile(r"((?:^|[:\[,-])\s*)(\{\{.*?\}\})")
_KEY_TEMPLATE = re.compile(r"^((?:-\s+)?[\w.-]+:\s+)(\{\{.*)$")


def unquoted_template(text: str, line: int) -> str:
    """The message for a ``{{ ... }}`` that YAML read as a mapping, with the line as it should be written."""
    lines = text.splitlines()
    source = lines[line - 1].strip() if 0 < line <= len(lines) else ""
    whole = _KEY_TEMPLATE.match(source)
    if whole:
        value = whole.group(2).rstrip()
        quote = "'" if '"' in value else '"'
        fixed = f"{whole.group(1)}{quote}{value}{quote}"
    else:
        fixed = _TEMPLATE.sub(lambda m: f'{m.group(1)}"{m.group(2)}"', source)
    example = fixed if fixed != source else 'subject: "{{ order.id }}"'
    return (
        "a value starting with {{ must be in quotes (YAML reads an unquoted {{ ... }} as a mapping);"
        f" write: {example}"
    )


def yaml_message(problem: str, text: str, line: int) -> str:
    """libyaml's complaint, turned into what to do for the mistakes people make most."""
    lines = text.splitlines()
    source = lines[line - 1] if 0 < line <= len(lines) else ""
    if "'\\t'" in problem or "\t" in source[: len(source) - len(source.lstrip())]:
        return "tabs are not allowed in YAML, use spaces"
    if _TEMPLATE.search(source.strip()):
        return unquoted_template(text, line)
    return f"invalid YAML: {problem}"


def text_line(container: Any, key: str | int) -> int:
    """The line where the text of ``container[key]`` starts: the key's line, or the next for a block scalar."""
    block = isinstance(container, YMap) and key in container.blocks
    return line_of(container, key) + (1 if block else 0)


def read_source(path: str, what: str) -> str:
    """The text of a YAML file the user gave us; a ConfigError naming it when it cannot be read."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            [Problem(path, 0, "", f"cannot read the {what}: cannot open {path}: {exc.strerror or exc}")]
        ) from None
    except UnicodeDecodeError:
        raise ConfigError([Problem(path, 1, "", f"the {what} is not UTF-8 text")]) from None


def key_path(path: str, key: str | int) -> str:
    """The key path of ``key`` inside ``path``: ``rules[2]``, ``server.listen``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)
