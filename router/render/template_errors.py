"""What a template error says: the missing key with the keys that are there, and the line that failed.

``KeyUndefined`` is the templates' ``StrictUndefined`` with a better message for the most common mistake,
a misspelt key, when the data knows where it sits in the fetched object (``check --render`` wraps it, see
``router.tools.render_check``): ``no key 'first_name' in order.billing.contact (keys: email, firstname,
lastname); did you mean 'firstname'?``. Otherwise (the daemon, which does not pay for the wrapping) it is
Jinja's own text, ``'dict object' has no attribute 'first_name'``.
``failing_line`` finds the template line an exception came from (the template file for ``*_file`` values and
includes), so a render error names ``config.yaml:47`` inside a multi-line text, not the value's first line.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import jinja2

MAX_KEYS_SHOWN = 12


def key_list(obj: Mapping[str, Any]) -> str:
    keys = sorted(str(k) for k in obj)
    shown = ", ".join(keys[:MAX_KEYS_SHOWN])
    return shown + (", ..." if len(keys) > MAX_KEYS_SHOWN else "")


def did_you_mean(name: str, known: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(name, [str(k) for k in known], n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""


def missing_key_message(obj: Mapping[str, Any], name: str, path: str) -> str:
    """``no key 'x' in order.billing.contact (keys: ...); did you mean 'y'?``"""
    hint = did_you_mean(name, obj)
    return f"no key '{name}' in {path} (keys: {key_list(obj) or 'none'})" + (f"; {hint}" if hint else "")


class KeyUndefined(jinja2.StrictUndefined):
    """StrictUndefined whose message names the nearest existing key (and, for traced data, where it is)."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        message: str = super()._undefined_message
        obj, name = self._undefined_obj, self._undefined_name
        if self._undefined_hint is not None or not isinstance(obj, Mapping) or not isinstance(name, str):
            return message
        path = getattr(obj, "data_path", None)
        return missing_key_message(obj, name, path) if path else message


def failing_line(exc: BaseException) -> tuple[jinja2.Template, int] | None:
    """The innermost template (and its line) in ``exc``'s traceback, or None when no template raised it."""
    found = None
    tb: TracebackType | None = exc.__traceback__
    while tb is not None:
        template = tb.tb_frame.f_globals.get("__jinja_template__")
        if isinstance(template, jinja2.Template):
            found = (template, template.get_corresponding_lineno(tb.tb_lineno))
        tb = tb.tb_next
    return found


def shown_path(filename: str) -> str:
    """A template file's name as the user knows it: relative to the working folder when it is inside it."""
    relative = os.path.relpath(filename)
    return filename if relative.startswith("..") else relative


def error_where(compiled: jinja2.Template, where: str, exc: BaseException) -> str:
    """``file:line`` of the failure: inside ``where``'s value for an inline template, else the file's own."""
    found = failing_line(exc)
    if found is None:
        return where
    template, line = found
    if template is compiled and template.filename in (None, "<template>"):
        file, _, first = where.rpartition(":")
        return f"{file}:{int(first) + line - 1}" if first.isdigit() else where
    if template.filename and template.filename != "<template>":
        return f"{shown_path(template.filename)}:{line}"
    return where
