"""Jinja2 in the sandbox: compile the templated fields of actions and ``when`` conditions, and render them.

Templates come from the shop's YAML file, so they render in ``SandboxedEnvironment`` with
``StrictUndefined``: a missing key is an error that names the rule and the template's file:line instead of
an empty string in a customer's mail. Everything is compiled once, when the config loads, so ``check``
finds syntax errors and rendering an event only evaluates.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment


class RenderError(Exception):
    """A template or condition failed for one event; the message names where."""


def _number(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValueError(f"not an amount: {value!r}") from None


def money(value: Any, style: str = "nl", currency: str = "€") -> str:
    """``121.0 → '€ 121,00'`` (nl) or ``'€121.00'`` (en)."""
    amount = _number(value).quantize(Decimal("0.01"))
    sign = "-" if amount < 0 else ""
    whole, cents = f"{abs(amount):.2f}".split(".")
    groups = f"{int(whole):,}"
    if style == "en":
        return f"{sign}{currency}{groups}.{cents}"
    return f"{sign}{currency} {groups.replace(',', '.')},{cents}"


def _parse_time(value: Any) -> dt.datetime | dt.date:
    if isinstance(value, dt.datetime | dt.date):
        return value
    text = str(value).strip()
    if len(text) == 10:
        return dt.date.fromisoformat(text)
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def date(value: Any, fmt: str = "%d-%m-%Y") -> str:
    """Format an ISO date or timestamp from the API (``2025-03-14T09:13:38.000000Z``)."""
    return _parse_time(value).strftime(fmt)


def tojson(value: Any, indent: int | None = None) -> str:
    """Plain JSON (Jinja's own ``tojson`` HTML-escapes, which corrupts JSON bodies)."""
    return json.dumps(value, ensure_ascii=False, indent=indent, default=str)


class _Environment(SandboxedEnvironment):
    """Dot access on API data means its keys: ``order.items`` is the order lines, not ``dict.items``."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Mapping):
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)


def make_environment() -> SandboxedEnvironment:
    env = _Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.filters.update(money=money, date=date, tojson=tojson)
    return env


ENV = make_environment()


@dataclass(frozen=True)
class Template:
    """A compiled template string with its source position."""

    source: str
    compiled: jinja2.Template
    where: str  # "config.yaml:31"


@dataclass(frozen=True)
class Condition:
    source: str
    compiled: Any  # jinja2's TemplateExpression
    where: str

    def evaluate(self, context: Mapping[str, Any]) -> bool:
        try:
            return bool(self.compiled(**context))
        except Exception as exc:
            raise RenderError(f"{self.where}: when {self.source!r}: {_describe(exc)}") from None


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text


def compile_template(source: str, where: str) -> Template:
    """Raises jinja2.TemplateSyntaxError for bad syntax."""
    return Template(source, ENV.from_string(source), where)


def compile_condition(source: str, where: str) -> Condition:
    return Condition(source, ENV.compile_expression(source, undefined_to_none=False), where)


def compile_tree(value: Any, where_of: Any) -> Any:
    """Compile every templated string inside ``value``; ``where_of(path)`` gives file:line for errors.

    The result mirrors ``value`` with ``Template`` objects in place of templated strings.
    """
    return _compile(value, (), where_of)


def _compile(value: Any, path: tuple[Any, ...], where_of: Any) -> Any:
    if isinstance(value, str):
        return compile_template(value, where_of(path)) if is_template(value) else value
    if isinstance(value, Mapping):
        return {k: _compile(v, (*path, k), where_of) for k, v in value.items()}
    if isinstance(value, list):
        return [_compile(v, (*path, i), where_of) for i, v in enumerate(value)]
    return value


def render_tree(value: Any, context: Mapping[str, Any]) -> Any:
    """Render a compiled tree; raises RenderError naming the failing template's file:line."""
    if isinstance(value, Template):
        try:
            return value.compiled.render(context)
        except Exception as exc:
            raise RenderError(f"{value.where}: {_describe(exc)}") from None
    if isinstance(value, dict):
        return {k: render_tree(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [render_tree(v, context) for v in value]
    return value


def evaluate(source: Any, context: Mapping[str, Any]) -> Any:
    """Evaluate a compiled expression (used by ``for_each``)."""
    return source(**context)


def _describe(exc: Exception) -> str:
    if isinstance(exc, jinja2.UndefinedError):
        return f"undefined value: {exc.message}"
    if isinstance(exc, jinja2.exceptions.SecurityError):
        return f"not allowed in the sandbox: {exc}"
    return f"{type(exc).__name__}: {exc}"
