"""Small text helpers that any layer may use: a did-you-mean, an epoch time in UTC, a one-line clip.

They sit at the bottom of the package so that the templates, the config checks, the command line and the
dashboard share one spelling of each without importing one another.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Iterable


def suggest(name: str, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the nearest known name, or nothing."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def when(ts: float | None) -> str:
    """An epoch time as ``YYYY-MM-DD HH:MM:SS`` in UTC; ``-`` for none."""
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


ERROR_WIDTH = 60


def clip(text: str, width: int = ERROR_WIDTH, *, wide: bool = False) -> str:
    """``text`` on one line, cut at the last word boundary before ``width`` with an ellipsis (whole when ``wide``)."""
    flat = " ".join(text.split())
    if wide or len(flat) <= width:
        return flat
    cut = flat[: width - 1]
    space = cut.rfind(" ")
    if space > width // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:") + "…"
