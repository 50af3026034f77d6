"""Secrets written into an action (``Authorization: "Bearer ${LMS_TOKEN}"``) are stored masked, not in clear.

``${VAR}`` is replaced when the config loads, so an action's rendered request would hold the secret's value,
and the store keeps every rendered request. Instead, the config-owned text of an action (its constant values
and the literal text of its templates) gets a marker in place of each secret value before rendering
(``marked``); after rendering, ``seal`` turns each marker into ``***`` and notes where it was, under the
reserved top-level key ``_secrets``: ``[{"path": ["headers", "Authorization"], "at": 7, "var": "LMS_TOKEN"}]``.
At send time ``restore`` puts the current value of each named variable back at exactly those places, so a
rotated token is used after a reload, and a variable the config no longer has fails the attempt (retryable)
instead of sending the mask.

Customer data is rendered into the same request, so nothing is ever looked up by text at send time: a
customer who types ``${LMS_TOKEN}`` into a name gets that text sent literally. The markers carry a random
per-process nonce, so customer text cannot imitate one either; a secret value that customer text happens to
contain is masked for good (sent as ``***``). Secret values are recognised by their text, as everywhere the
router masks (``router.secrets``): values shorter than 4 characters are not secrets there, nor here.
"""

from __future__ import annotations

import copy
import functools
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import jinja2

from connectors.base import Permanent, Retryable
from router.render import templates
from router.render.rulebook import Action
from router.render.templates import RenderError, Template

RESERVED = "_secrets"
MASK = "***"
_NONCE = secrets.token_hex(16)
_MARKER = re.compile(rf"ppr_secret_{_NONCE}_(\d+)_")


@dataclass(frozen=True, eq=False)  # one per distinct set of variables (cached), hashed by identity
class _Secrets:
    """One config's secret variables: the marker for each value and a pattern finding any of the values."""

    names: tuple[str, ...]  # marker i stands for names[i]
    markers: dict[str, str]  # value -> its marker
    pattern: re.Pattern[str]  # any secret value, longest first


@functools.lru_cache(maxsize=8)
def _secrets_of(items: tuple[tuple[str, str], ...]) -> _Secrets:
    names: list[str] = []
    markers: dict[str, str] = {}
    for name, value in items:  # sorted by name: of two variables with one value, the first names it
        if value not in markers:
            markers[value] = f"ppr_secret_{_NONCE}_{len(names)}_"
            names.append(name)
    ordered = sorted(markers, key=len, reverse=True)
    return _Secrets(tuple(names), markers, re.compile("|".join(re.escape(v) for v in ordered)))


def _lookup(secret_vars: Mapping[str, str]) -> _Secrets | None:
    return _secrets_of(tuple(sorted(secret_vars.items()))) if secret_vars else None


@dataclass(frozen=True)
class _Unmarkable:
    """Stands for a template whose secret cannot be marked; rendering passes it on and ``seal`` reports it."""

    message: str


def marked(action: Action, secret_vars: Mapping[str, str]) -> Action:
    """``action`` with a marker in place of every secret value in its config-owned text (itself when none).

    Never raises: a template that cannot take a marker fails when its request is sealed, as a render error of
    that one delivery.
    """
    found = _lookup(secret_vars)
    if found is None:
        return action
    fields = _mark(action.fields, found)
    return action if fields is action.fields else replace(action, fields=fields)


def _mark(value: Any, found: _Secrets) -> Any:
    if isinstance(value, str):
        return found.pattern.sub(lambda m: found.markers[m.group()], value)
    if isinstance(value, Template):
        return _mark_template(value, found) if found.pattern.search(value.source) else value
    if isinstance(value, dict):
        out = {k: _mark(v, found) for k, v in value.items()}
        return value if all(out[k] is value[k] for k in value) else out
    if isinstance(value, list):
        items = [_mark(v, found) for v in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    return value


@functools.lru_cache(maxsize=4096)
def _mark_template(value: Template, found: _Secrets) -> Template | _Unmarkable:
    source = found.pattern.sub(lambda m: found.markers[m.group()], value.source)
    try:
        # Only literal text may hold a secret: in template code (``{{ 'abc' | upper }}``) its value could be
        # taken apart or changed, and the place to put it back would be lost.
        code = [text for _, kind, text in templates.ENV.lex(source) if kind not in ("data", "comment")]
        in_code = sorted({found.names[int(i)] for text in code for i in _MARKER.findall(text)})
        if not in_code:
            return templates.compile_template(source, value.where)
    except jinja2.TemplateError:
        in_code = sorted({found.names[int(i)] for i in _MARKER.findall(source)})
    names = ", ".join("${" + name + "}" for name in in_code)
    return _Unmarkable(f"{value.where}: {names} is used inside template code; write it in the literal text")


def seal(request: Any, secret_vars: Mapping[str, str]) -> Any:
    """The rendered ``request`` with ``***`` for each secret and, under ``_secrets``, where each one was."""
    found = _lookup(secret_vars)
    if found is None or not isinstance(request, dict):
        return request
    if RESERVED in request:
        raise RenderError(f"{RESERVED!r} is reserved and cannot be an action key")
    refs: list[dict[str, Any]] = []
    sealed = _seal(request, (), found, refs)
    if refs:
        sealed[RESERVED] = refs
    return sealed


def _seal(value: Any, path: tuple[Any, ...], found: _Secrets, refs: list[dict[str, Any]]) -> Any:
    if isinstance(value, str):
        return _seal_text(value, path, found, refs)
    if isinstance(value, _Unmarkable):
        raise RenderError(value.message)
    if isinstance(value, dict):
        return {k: _seal(v, (*path, k), found, refs) for k, v in value.items()}
    if isinstance(value, list):
        return [_seal(v, (*path, i), found, refs) for i, v in enumerate(value)]
    return value


def _seal_text(text: str, path: tuple[Any, ...], found: _Secrets, refs: list[dict[str, Any]]) -> str:
    out: list[str] = []
    size = 0
    start = 0
    for match in _MARKER.finditer(text):
        # Text between markers is customer data or literal text: a secret value in it is masked for good.
        piece = found.pattern.sub(MASK, text[start : match.start()])
        size += len(piece)
        refs.append({"path": list(path), "at": size, "var": found.names[int(match.group(1))]})
        out += [piece, MASK]
        size += len(MASK)
        start = match.end()
    out.append(found.pattern.sub(MASK, text[start:]))
    sealed = "".join(out)
    if _NONCE in sealed.lower():
        # A filter changed the marker (``| upper``), so the place of the secret is lost.
        raise RenderError(f"{_where(path)}: a secret variable's value is changed by a template filter")
    return sealed


def restore(request: Any, secret_vars: Mapping[str, str]) -> Any:
    """The request to send: each ``***`` noted under ``_secrets`` replaced by its variable's current value.

    Raises ``Retryable`` naming a variable the current config does not set (fix the config and reload), and
    ``Permanent`` when the notes do not fit the stored request.
    """
    if not isinstance(request, dict) or RESERVED not in request:
        return request
    out = copy.deepcopy(request)
    refs = out.pop(RESERVED)
    if not isinstance(refs, list):
        raise Permanent(f"stored request: {RESERVED!r} is not a list")
    # Right to left within each text, so an earlier offset stays valid after a later one is filled in.
    for ref in sorted(refs, key=lambda r: r.get("at", 0) if isinstance(r, dict) else 0, reverse=True):
        var, at, path = _parse_ref(ref)
        value = secret_vars.get(var)
        if value is None:
            raise Retryable(f"secret variable {var} is not set in the current config; set it and reload")
        parent, key = _parent(out, path)
        text = parent[key]
        if not isinstance(text, str) or text[at : at + len(MASK)] != MASK:
            raise Permanent(f"stored request: no masked secret at {_where(path)} offset {at}")
        parent[key] = text[:at] + value + text[at + len(MASK) :]
    return out


def _parse_ref(ref: Any) -> tuple[str, int, list[Any]]:
    if (
        isinstance(ref, dict)
        and isinstance(ref.get("var"), str)
        and isinstance(ref.get("at"), int)
        and isinstance(ref.get("path"), list)
        and ref["path"]
    ):
        return ref["var"], ref["at"], ref["path"]
    raise Permanent(f"stored request: malformed {RESERVED!r} entry")


def _parent(request: dict[str, Any], path: list[Any]) -> tuple[Any, Any]:
    """The container holding the value at ``path``, and its key there (JSON made every mapping key text)."""
    node: Any = request
    for depth, step in enumerate(path):
        if isinstance(node, dict):
            key = step if step in node else next((k for k in node if str(k) == str(step)), None)
        elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
            key = step
        else:
            key = None
        if key is None or (isinstance(node, dict) and key not in node):
            raise Permanent(f"stored request: nothing at {_where(path)}")
        if depth == len(path) - 1:
            return node, key
        node = node[key]
    raise Permanent("stored request: empty secret path")


def _where(path: Any) -> str:
    return ".".join(str(step) for step in path)
