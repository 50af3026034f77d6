"""Jinja2 in the sandbox: compile the templated fields of actions and ``when`` conditions, and render them.

Templates come from the shop's YAML file, so they render in ``SandboxedEnvironment`` with
``StrictUndefined``: a missing key is an error that names the rule and the template's file:line instead of
an empty string in a customer's mail. Everything is compiled once, when the config loads, so ``check``
finds syntax errors and rendering an event only evaluates. The environment is the immutable sandbox
(a template cannot change the data later rules see), bounded in time and size by ``router.render.limits``;
``path`` and ``url`` templates encode every value as one path segment (``router.render.url_path``).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.parser import Parser
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedEnvironment

from router.render import limits as render_limits
from router.render import native_values, url_path
from router.render.native_values import NativeValue
from router.render.template_errors import KeyUndefined, error_where
from router.text import suggest


class RenderError(Exception):
    """A template or condition failed for one event; the message names where."""


def _number(value: Any) -> Decimal:
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValueError(f"not an amount: {value!r}") from None
    if isinstance(value, bool) or not number.is_finite():
        raise ValueError(f"not an amount: {value!r}")
    return number


MONEY_STYLES = ("nl", "en")


def money(value: Any, style: str = "nl", currency: str = "€") -> str:
    """An amount as shops write it: ``121.0 → '€ 121,00'`` (nl, the default) or ``'€121.00'`` (en).

    Amounts from the API are decimal strings (``"1234.5"``); thousands are grouped (``€ 1.234,50`` /
    ``€1,234.50``), cents are rounded half up, and ``currency=''`` leaves the symbol out.
    """
    if style not in MONEY_STYLES:
        raise ValueError(f"money: style must be 'nl' or 'en', got {style!r}")
    amount = _number(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    sign = "-" if amount < 0 else ""
    whole, cents = f"{abs(amount):.2f}".split(".")
    groups = f"{int(whole):,}"
    if style == "en":
        return f"{sign}{currency}{groups}.{cents}"
    number = f"{groups.replace(',', '.')},{cents}"
    return f"{sign}{currency} {number}" if currency else f"{sign}{number}"


def _names(text: str) -> tuple[str, ...]:
    return tuple(text.split())


MONTHS = {
    "nl": _names("januari februari maart april mei juni juli augustus september oktober november december"),
    "en": _names("January February March April May June July August September October November December"),
}
DAYS = {
    "nl": _names("maandag dinsdag woensdag donderdag vrijdag zaterdag zondag"),
    "en": _names("Monday Tuesday Wednesday Thursday Friday Saturday Sunday"),
}
DATE_FORMATS = {"short": "%d-%m-%Y", "long": "%-d %B %Y", "iso": "%Y-%m-%d", "datetime": "%d-%m-%Y %H:%M"}
_NAMED = re.compile(r"%(-d|[BbAa])")


def _parse_time(value: Any) -> dt.datetime | dt.date:
    if isinstance(value, dt.datetime | dt.date):
        return value
    if value is None or isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"not a date: {value!r}")
    text = str(value).strip()
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text)
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a date: {value!r}") from None


def date(value: Any, fmt: str = "short", lang: str = "nl", tz: str | None = None) -> str:
    """Format an ISO date or timestamp from the API (``2025-03-14T09:13:38.000000Z``).

    ``fmt`` is a strftime pattern or a name: ``short`` (``14-03-2025``, the default), ``long``
    (``14 maart 2025``; ``lang='en'`` gives ``14 March 2025``), ``iso``, ``datetime``. Month and day names
    (``%B %b %A %a``) follow ``lang``; ``tz`` (``'Europe/Amsterdam'``) converts timestamps, which the API
    sends in UTC.
    """
    if lang not in MONTHS:
        raise ValueError(f"date: lang must be 'nl' or 'en', got {lang!r}")
    moment = _parse_time(value)
    if tz is not None and isinstance(moment, dt.datetime):
        aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
        try:
            moment = aware.astimezone(zoneinfo.ZoneInfo(tz))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"date: unknown time zone {tz!r}") from None
    pattern = DATE_FORMATS.get(fmt, fmt)

    def named(match: re.Match[str]) -> str:
        code = match.group(1)
        if code == "-d":
            return str(moment.day)
        name = MONTHS[lang][moment.month - 1] if code in "Bb" else DAYS[lang][moment.weekday()]
        return name if code in "BA" else name[:3]

    return moment.strftime(_NAMED.sub(named, pattern))


def tojson(value: Any, indent: int | None = None) -> str:
    """Plain JSON (Jinja's own ``tojson`` HTML-escapes, which corrupts JSON bodies)."""
    return json.dumps(value, ensure_ascii=False, indent=indent, default=str)


class _Environment(ImmutableSandboxedEnvironment):
    """Dot access on API data means its keys: ``order.items`` is the order lines, not ``dict.items``.

    Immutable: ``data.update(...)`` or ``order.items.append(...)`` is refused, so one rule's condition or
    template can never change what later rules see.
    """

    def getattr(self, obj: Any, attribute: str) -> Any:
        render_limits.tick()
        if isinstance(obj, Mapping):
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def getitem(self, obj: Any, argument: Any) -> Any:
        render_limits.tick()
        return super().getitem(obj, argument)

    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        render_limits.check_call(obj, args, kwargs)
        return super().call(context, obj, *args, **kwargs)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        render_limits.check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        return render_limits.bounded_loops(super()._parse(source, name, filename), self)

    def make_globals(self, d: Mapping[str, Any] | None) -> Any:
        # A plain dict instead of Jinja's ChainMap over the environment's globals: every render copies the
        # globals into a fresh context, and copying a ChainMap costs more than evaluating most conditions.
        # The environment's globals never change after start-up, so nothing is lost.
        return {**self.globals, **(d or {})}


def make_environment(
    *, path: bool = False, loader: jinja2.BaseLoader | None = None, autoescape: Any = False
) -> SandboxedEnvironment:
    """The template environment; ``path=True`` encodes every ``{{ }}`` output as one URL path segment.

    ``loader`` serves template files (``router.render.template_files``); they are read when the config loads and
    never re-checked afterwards (``auto_reload`` off): a reload (SIGHUP) builds a new environment.
    ``autoescape`` is Jinja's (a bool, or a function of the template's name).
    """
    env = _Environment(
        undefined=KeyUndefined,
        autoescape=autoescape,
        keep_trailing_newline=True,
        finalize=url_path.segment if path else None,
        loader=loader,
        auto_reload=False,
        cache_size=-1,
    )
    env.filters.update(money=money, date=date, tojson=tojson, safe_path=url_path.safe_path)
    render_limits.install(env)
    return env


ENV = make_environment()
PATH_ENV = make_environment(path=True)
PATH_KEYS = frozenset({"path", "url"})  # action keys that are URLs or URL paths


@dataclass(frozen=True)
class Template:
    """A compiled template string with its source position."""

    source: str
    compiled: jinja2.Template
    where: str  # "config.yaml:31"


@dataclass(frozen=True)
class Condition:
    """A ``when`` condition: checked when the config loads, compiled to code on first use (then shared)."""

    source: str
    where: str

    @property
    def compiled(self) -> Any:
        return _compiled_expression(self.source)

    def evaluate(self, context: Mapping[str, Any], rule: Any = None) -> bool:
        """The condition's truth for one event; ``rule`` is the ``rule`` variable (one copy of the context)."""
        try:
            with render_limits.budget():
                return bool(self.compiled(context) if rule is None else self.compiled(context, rule=rule))
        except Exception as exc:
            raise RenderError(f"{self.where}: when {self.source!r}: {describe_error(exc)}") from None


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text


# Configs repeat the same template text across many rules (one rule per product, same mail): compiling
# each distinct source once keeps loading 10,000 rules fast. Compiled templates are immutable and shared.
@functools.lru_cache(maxsize=100_000)
def _compiled_template(source: str, path: bool = False) -> jinja2.Template:
    return (PATH_ENV if path else ENV).from_string(source)


@functools.lru_cache(maxsize=100_000)
def _compiled_expression(source: str) -> Any:
    return ENV.compile_expression(source, undefined_to_none=False)


@functools.lru_cache(maxsize=100_000)
def _check_expression(source: str) -> None:
    """Raise every error compiling ``source`` would raise (syntax, unknown filter or test) without compiling.

    Parsing is a fifth of the cost of generating and compiling code, and configs can hold thousands of
    distinct conditions; the code is generated on first use instead, once per distinct text.
    """
    parser = Parser(ENV, source, state="variable")
    expression = parser.parse_expression()
    if not parser.stream.eos:
        raise jinja2.TemplateSyntaxError("chunk after expression", parser.stream.current.lineno)
    for node in (expression, *expression.find_all((nodes.Filter, nodes.Test))):
        if not isinstance(node, nodes.Filter | nodes.Test):
            continue
        kind, known = ("filter", ENV.filters) if isinstance(node, nodes.Filter) else ("test", ENV.tests)
        if node.name not in known:
            raise jinja2.TemplateAssertionError(f"No {kind} named {node.name!r}.", node.lineno)


@dataclass(frozen=True)
class Expression:
    """A bare expression (``for_each``): checked at load, compiled on first call."""

    source: str

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with render_limits.budget():
            return _compiled_expression(self.source)(*args, **kwargs)


def compile_template(source: str, where: str, *, path: bool = False) -> Template:
    """Raises jinja2.TemplateSyntaxError for bad syntax or an unknown filter or test; ``path``: see PATH_ENV."""
    return Template(source, _compiled_template(source, path), where)


def compile_condition(source: str, where: str) -> Condition:
    """A ``when`` condition; raises jinja2.TemplateSyntaxError like ``compile_template``."""
    _check_expression(source)
    return Condition(source, where)


def compile_expression(source: str) -> Expression:
    """A bare expression (``for_each``): call it with the context; raises like ``compile_condition``."""
    _check_expression(source)
    return Expression(source)


_UNKNOWN_NAME = re.compile(r"No (filter|test) named '([^']*)'")


def syntax_message(exc: jinja2.TemplateSyntaxError) -> str:
    """Jinja's message, with the nearest known name when a filter or test is misspelt."""
    message = exc.message or str(exc)
    found = _UNKNOWN_NAME.search(message)
    if found:
        known = ENV.filters if found.group(1) == "filter" else ENV.tests
        message += suggest(found.group(2), known)
    return message


def compile_tree(value: Any, where_of: Any, *, url: bool = False) -> Any:
    """Compile every templated string inside ``value``; ``where_of(path)`` gives file:line for errors.

    The result mirrors ``value`` with ``Template`` objects in place of templated strings; ``url``
    compiles them as URL paths (every value one encoded segment, see ``router.render.url_path``).
    """
    return _compile(value, (), where_of, url)


def _compile(value: Any, path: tuple[Any, ...], where_of: Any, url: bool) -> Any:
    if isinstance(value, str):
        if not is_template(value):
            return value
        if native_values.mentions_native(value):
            native = compile_native(value, where_of(path), url=url)
            if native is not None:
                return native
        return compile_template(value, where_of(path), path=url)
    if isinstance(value, Mapping):
        return {k: _compile(v, (*path, k), where_of, url) for k, v in value.items()}
    if isinstance(value, list):
        return [_compile(v, (*path, i), where_of, url) for i, v in enumerate(value)]
    return value


def compile_native(source: str, where: str, *, url: bool = False) -> NativeValue | None:
    """A ``"{{ expression | native }}"`` value (``router.render.native_values``), or None when it is not one."""
    expression = native_values.native_expression(ENV, source)
    if expression is None:
        return None
    if url:
        raise jinja2.TemplateSyntaxError("native cannot be used in a path or url (they are always text)", 1)
    return NativeValue(source, compile_expression(expression), where)


def render_tree(value: Any, context: Mapping[str, Any]) -> Any:
    """Render a compiled tree; raises RenderError naming the failing template's file:line."""
    if isinstance(value, Template):
        try:
            with render_limits.budget():
                return render_limits.render(value.compiled, context)
        except Exception as exc:
            raise RenderError(f"{error_where(value.compiled, value.where, exc)}: {describe_error(exc)}") from None
    if isinstance(value, NativeValue):
        try:
            return native_values.json_value(value.expression(**context))
        except Exception as exc:
            raise RenderError(f"{value.where}: {describe_error(exc)}") from None
    if isinstance(value, dict):
        return {k: render_tree(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [render_tree(v, context) for v in value]
    return value


def evaluate(source: Any, context: Mapping[str, Any]) -> Any:
    """Evaluate a compiled expression (used by ``for_each``)."""
    return source(**context)


def describe_error(exc: Exception) -> str:
    """A one-line description of an error raised while rendering or evaluating."""
    if isinstance(exc, jinja2.UndefinedError):
        return f"undefined value: {exc.message}"
    if isinstance(exc, jinja2.exceptions.SecurityError):
        return f"not allowed in the sandbox: {exc}"
    if isinstance(exc, render_limits.RenderTimeout):
        return str(exc)
    if isinstance(exc, render_limits.RenderTooLarge):
        return f"too large: {exc}"
    return f"{type(exc).__name__}: {exc}"
