"""What the commands print: times in UTC, aligned tables, and a progress counter for long store operations."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """Left-aligned columns separated by two spaces; ``None`` cells print as ``-``."""
    cells = [[str(c) for c in headers], *[["-" if c is None else str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells)


class Progress:
    """``done/total`` on one rewritten line, only when stderr is a terminal."""

    def __init__(self, what: str, total: int | None = None):
        self.what, self.total, self.done = what, total, 0
        self.shown = sys.stderr.isatty()

    def add(self, count: int) -> None:
        self.done += count
        if self.shown:
            of = f"/{self.total}" if self.total is not None else ""
            print(f"\r{self.what} {self.done}{of}", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.shown:
            print(file=sys.stderr)


def shown_of(shown: int, total: int) -> None:
    """Say on stderr when a list shows fewer rows than match, and how to see more."""
    if total > shown:
        print(f"{shown} of {total} shown; --limit {total} shows all", file=sys.stderr)
