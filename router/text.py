"""Small text helpers that any layer may use: a did-you-mean, an epoch time in UTC, a one-line clip, and
printing text from strangers on a terminal without its control characters.

They sit at the bottom of the package so that the templates, the config checks, the command line and the
dashboard share one spelling of each without importing one another.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, TextIO

from toolkit.fields import suggest as suggest  # one did-you-mean, shared with the connectors' checks


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


# Control characters (C0, DEL, C1) and the Unicode marks that reorder a line's text on screen.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str, keep: str = "\n\t") -> str:
    """``text`` with every control character but those in ``keep`` written as an escape (``\\x1b``).

    What the command line prints comes partly from strangers (a forged webhook's trigger, a destination's
    error text): an escape sequence there must not move the cursor, recolour or retitle the terminal.
    """

    def escape(match: re.Match[str]) -> str:
        char = match.group()
        if char in keep:
            return char
        code = ord(char)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return _CONTROL.sub(escape, text)


class EscapedStream:
    """A text stream that writes what it is given through ``printable``; everything else is the wrapped one's."""

    def __init__(self, stream: TextIO, keep: str = "\n\t"):
        self.stream, self.keep = stream, keep

    def write(self, text: str) -> int:
        self.stream.write(printable(text, self.keep))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)
