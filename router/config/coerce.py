"""One YAML value checked against its setting's ``Field`` spec and turned into the typed value.

Each function raises ``ValueError`` with the message the user reads after the file:line and key path, so
the builder can collect every problem instead of stopping at the first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from connectors.base import Field
from router.config.model import ServerConfig
from router.text import suggest
from toolkit.units import parse_duration, parse_rate


def typed_text(text: str, kind: str) -> Any:
    """Text in a number or true/false setting, as ``${VAR}`` makes it (``port: "${SMTP_PORT:-587}"``).

    Environment variables are always text, so a setting typed int, number or bool also takes the text of
    one; anything else is returned unchanged and fails the type check with the usual message.
    """
    stripped = text.strip()
    if kind == "int" and re.fullmatch(r"[+-]?[0-9]+", stripped):
        return int(stripped)
    if kind == "number" and re.fullmatch(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)", stripped):
        return float(stripped)
    if kind == "bool" and stripped.lower() in ("true", "false"):
        return stripped.lower() == "true"
    return text


def coerce(spec: Field, value: Any) -> Any:
    """Check one value against a Field; returns the typed value or raises ValueError."""
    kind = spec.kind
    if kind == "str":
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError(f"expected text, got {type(value).__name__}")
        value = str(value)
        if spec.choices and value not in spec.choices:
            raise ValueError(f"expected one of {', '.join(spec.choices)}, got {value!r}{suggest(value, spec.choices)}")
        return value
    if isinstance(value, str) and kind in ("int", "bool", "number"):
        value = typed_text(value, kind)
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected a whole number, got {value!r}")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {value!r}")
        return value
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"expected a number, got {value!r}")
        return float(value)
    if kind == "duration":
        return parse_duration(value)
    if kind == "durations":
        if not isinstance(value, list) or not value:
            raise ValueError("expected a non-empty list of durations such as [5s, 5m, 30m]")
        return tuple(parse_duration(v) for v in value)
    if kind == "rate":
        return parse_rate(value)
    if kind == "map":
        if not isinstance(value, Mapping):
            raise ValueError(f"expected a mapping, got {type(value).__name__}")
        return {str(k): "" if v is None else str(v) for k, v in value.items()}
    if kind == "list":
        if not isinstance(value, list):
            raise ValueError(f"expected a list, got {type(value).__name__}")
        return list(value)
    if kind == "ids":
        items = value if isinstance(value, list) else [value]
        out = set()
        for item in items:
            if isinstance(item, bool) or not isinstance(item, int | str) or not str(item).strip():
                raise ValueError(f"expected ids (numbers), got {item!r}")
            out.add(str(item).strip())
        return frozenset(out)
    return value


def parse_listen(value: Any) -> tuple[str, int]:
    """``host:port`` (``[::1]:8080``; ``:8080`` takes the default host) as ``(host, port)``."""
    text = str(value)
    host, _, port = text.rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected host:port such as '0.0.0.0:8080', got {text!r}")
    return (host.strip("[]") or ServerConfig.host), int(port)
