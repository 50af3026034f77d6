"""Compact JSON text on the hot path: orjson where it can spell the value, the standard library for the rest.

Every event is JSON several times over (its log lines, the rows it writes and reads back, the request it
sends); orjson does that in a fraction of the standard library's time. Its text is what
``json.dumps(value, separators=(",", ":"), ensure_ascii=False)`` writes, with two differences this module
accepts on purpose: NaN and the infinities, which JSON cannot spell, become ``null`` (the standard library
writes an invalid ``NaN``), and reading refuses them too, so ``loads`` falls back to the standard library
for such text (and for integers beyond 64 bits, which orjson refuses both ways). Used by the connectors and,
since the router sits on top of them, by its store rows and log lines.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson

# Integer keys become strings, and dates and dataclasses go to ``default``, as with the standard library.
_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def dumps_bytes(value: Any, *, default: Callable[[Any], Any] | None = None) -> bytes:
    """``value`` as compact UTF-8 JSON; ``default`` turns what JSON cannot spell into something it can."""
    try:
        return orjson.dumps(value, default=default, option=_OPTIONS)
    except orjson.JSONEncodeError:  # an integer beyond 64 bits, a key orjson will not turn into text
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=default).encode()


def dumps(value: Any, *, default: Callable[[Any], Any] | None = None) -> str:
    """``value`` as compact JSON text (``dumps_bytes`` decoded)."""
    return dumps_bytes(value, default=default).decode()


def loads(text: str | bytes) -> Any:
    """The value of JSON ``text``; raises ``ValueError`` (``json.JSONDecodeError``) when it is not JSON."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # NaN, integers beyond 64 bits: the standard library reads them
        return json.loads(text)
