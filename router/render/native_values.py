"""Typed action values: ``"{{ item.quantity | native }}"`` gives the JSON number 2, not the text "2".

Every templated action value renders to text by default, as it always has. A value that is exactly one
``{{ expression | native }}`` (nothing else around it but spaces) instead gives the expression's own value:
a number, true/false, null, a list or an object, as Jinja's native mode (``jinja2.nativetypes``, Ansible's
``jinja2_native``) returns it, but asked for per value, so existing configs do not change. Unlike Ansible's
native mode, text is never parsed: ``"{{ order.amount | native }}"`` stays the text ``"121.00"`` the API sent;
``| float | native`` makes it a number. The expression is evaluated in the same immutable sandbox, under the
same render limits, as every template. The result must be JSON (no dates, no objects of other types).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2 import nodes

NATIVE = "native"
_SHAPE = re.compile(r"^\s*\{\{-?(?P<expression>.*)\|\s*native\s*-?\}\}\s*$", re.DOTALL)
USAGE = 'native gives a typed value only as the last filter of a value that is exactly one "{{ ... | native }}"'
MAX_DEPTH = 64


@dataclass(frozen=True)
class NativeValue:
    """A compiled ``"{{ expression | native }}"``: ``expression`` is called with the context."""

    source: str
    expression: Callable[..., Any]
    where: str


def mentions_native(source: str) -> bool:
    """A cheap pre-check before parsing: only templates naming the filter can use it."""
    return NATIVE in source


def native_expression(env: jinja2.Environment, source: str) -> str | None:
    """The expression of a ``"{{ expression | native }}"`` value, or None when ``native`` is not used.

    Raises jinja2.TemplateSyntaxError when ``native`` is used anywhere else (inside text, before another
    filter, in a ``{% %}`` block), where it could not give a typed value.
    """
    tree = env.parse(source)
    uses = [f for f in tree.find_all(nodes.Filter) if f.name == NATIVE]
    if not uses:
        return None
    outputs = [n for n in tree.body if not (isinstance(n, nodes.Output) and _blank(n))]
    only = outputs[0] if len(outputs) == 1 else None
    parts = only.nodes if isinstance(only, nodes.Output) else []
    expressions = [n for n in parts if not isinstance(n, nodes.TemplateData)]
    top = expressions[0] if len(expressions) == 1 else None
    match = _SHAPE.match(source)
    if not (isinstance(top, nodes.Filter) and top.name == NATIVE and len(uses) == 1 and match):
        raise jinja2.TemplateSyntaxError(USAGE, uses[0].lineno)
    if top.args or top.kwargs or top.dyn_args or top.dyn_kwargs:
        raise jinja2.TemplateSyntaxError("native takes no arguments", top.lineno)
    return match.group("expression").strip()


def _blank(node: nodes.Output) -> bool:
    return all(isinstance(n, nodes.TemplateData) and not n.data.strip() for n in node.nodes)


def json_value(value: Any, depth: int = 0) -> Any:
    """``value`` as plain JSON data (tuples become lists); TypeError naming what is not JSON."""
    if depth > MAX_DEPTH:
        raise TypeError(f"native: nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()  # raises the UndefinedError naming the missing key
    if isinstance(value, float) and not math.isfinite(value):
        raise TypeError(f"native: {value} is not a JSON number")
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"native: object keys must be text, got {type(key).__name__} {key!r}")
            out[key] = json_value(item, depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [json_value(item, depth + 1) for item in value]
    raise TypeError(f"native: a {type(value).__name__} is not a JSON value (use | string, | float or | int first)")
