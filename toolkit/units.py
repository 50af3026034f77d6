"""Human units: durations (``5s``, ``30m``, ``2h``, ``7d``), rates (``5/s``, ``150/5m``) and points in time.

Kept apart from config.py because the delivery schedule, retention, timeouts and connector rate limits
all read them, the CLI and the admin API take times as dates or ages, and the CLI prints them back.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)?\s*(ms|s|m|h|d)\s*$")


def parse_duration(value: object) -> float:
    """Seconds in ``value``: a number (seconds) or a string such as ``"5m"``. Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as '30s', got {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * _UNITS[match.group(2) or "s"]
    raise ValueError(f"expected a duration such as '30s', '5m', '2h' or '7d', got {value!r}")


@dataclass(frozen=True)
class Rate:
    """``count`` events per ``per`` seconds."""

    count: float
    per: float

    def __str__(self) -> str:
        return f"{self.count:g}/{format_duration(self.per)}"


def parse_rate(value: object) -> Rate:
    """A rate such as ``"5/s"`` or ``"150/5m"``. Raises ValueError."""
    if isinstance(value, str):
        match = _RATE.match(value)
        if match:
            count = float(match.group(1))
            per = float(match.group(2) or 1) * _UNITS[match.group(3)]
            if count > 0 and per > 0:
                return Rate(count, per)
    raise ValueError(f"expected a rate such as '5/s' or '150/5m', got {value!r}")


def format_duration(seconds: float) -> str:
    """The shortest exact spelling of ``seconds`` (``300 → '5m'``)."""
    for unit in ("d", "h", "m", "s"):
        size = _UNITS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def parse_timestamp(value: str, now: float) -> float:
    """Epoch seconds from ``1735689600``, ``2025-01-01``, ``2025-01-01T10:00:00Z`` or an age (``2h`` = two
    hours before ``now``). Naive times are UTC. Raises ValueError."""
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    match = _DURATION.match(text)
    if match and match.group(2):
        return now - float(match.group(1)) * _UNITS[match.group(2)]
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"expected a time (2025-01-01, 2025-01-01T10:00:00Z, epoch seconds) or an age (2h), got {value!r}"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()
