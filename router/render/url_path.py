"""Template values in URL paths: each ``{{ }}`` becomes exactly one percent-encoded path segment.

An action's ``path`` (and ``url``) is compiled with ``segment`` as Jinja's ``finalize``, so a customer's
``../../admin?x=1#`` renders as ``..%2F..%2Fadmin%3Fx%3D1%23`` and stays in its place. A value that is
exactly ``.`` or ``..`` is refused rather than encoded: ``%2E%2E`` means ``..`` to URL normalisers (the
HTTP client's and most servers'), so no encoding of it is safe. ``| safe_path`` is the opt-out for a value
that is meant to span segments (``a/b``): its segments are still encoded one by one, and ``.`` / ``..``
segments, ``?`` and ``#`` are refused.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

DOT_SEGMENTS = (".", "..")


class SafePath(str):
    """Output of ``safe_path``: already encoded, segment by segment."""


def segment(value: Any) -> str:
    """Jinja ``finalize`` for path templates: the value as one encoded segment."""
    if isinstance(value, SafePath):
        return value
    text = str(value)
    if text in DOT_SEGMENTS:
        raise ValueError(f"{text!r} cannot be a path segment")
    return quote(text, safe="")


def safe_path(value: Any) -> SafePath:
    """A value that may contain ``/``: every segment encoded, dot segments, ``?`` and ``#`` refused."""
    text = str(value)
    if "?" in text or "#" in text:
        raise ValueError(f"safe_path: {text!r} has '?' or '#' (put query parameters in query:)")
    parts = text.split("/")
    if any(part in DOT_SEGMENTS for part in parts):
        raise ValueError(f"safe_path: {text!r} has a '.' or '..' segment")
    return SafePath("/".join(quote(part, safe="") for part in parts))
