"""One setting of a connector or a guard, described so ``check`` can validate it without building anything.

A ``Field`` says what kind of value a setting takes, whether it is required, its default, its allowed
choices and whether it is a secret (masked everywhere). Connector types and the rate limiter and circuit
breaker (``toolkit.protection``) describe their settings with it; ``router.config`` reads them. ``suggest``
is the one did-you-mean for a name that is not one of the known ones, in config checks and action checks.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


def suggest(name: str, known: Iterable[str], cutoff: float = 0.6) -> str:
    """`` (did you mean 'x'?)`` for the nearest known name, or nothing."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=cutoff)
    return f" (did you mean '{close[0]}'?)" if close else ""


@dataclass(frozen=True)
class Field:
    """One connector setting. ``kind`` is str, int, number, bool, duration, durations, rate, map, list, ids or any."""

    kind: str = "str"
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()
    secret: bool = False
