"""One setting of a connector or a guard, described so ``check`` can validate it without building anything.

A ``Field`` says what kind of value a setting takes, whether it is required, its default, its allowed
choices and whether it is a secret (masked everywhere). Connector types and the rate limiter and circuit
breaker (``toolkit.protection``) describe their settings with it; ``router.config`` reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Field:
    """One connector setting. ``kind`` is str, int, number, bool, duration, durations, rate, map, list, ids or any."""

    kind: str = "str"
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()
    secret: bool = False
