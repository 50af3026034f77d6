"""Structured logging: structlog, JSON lines when stdout is not a terminal, secrets masked in every line.

The masker is the last line of defence: secrets are kept out of log calls to begin with, but any value
read from a secret ``${VAR}`` that still reaches a log line is replaced by ``***``. The set of secrets
follows config reloads. E-mail addresses are customer data that error texts carry (an SMTP refusal, a
destination's answer, a bad recipient): every address in a line keeps only its first letter and domain
(``b***@example.nl``). What libraries log through the standard ``logging`` module comes out the same way,
one structured line each.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any, TextIO

import structlog

from router.secrets import Masker, json_masker, masker
from toolkit import jsontext

_mask: Masker = masker(frozenset())


def set_secrets(secrets: frozenset[str]) -> None:
    global _mask
    # Lines are masked after rendering, so a secret is also looked for in its JSON-escaped spelling.
    _mask = json_masker(frozenset(secrets))


_ADDRESS = re.compile(r"([A-Za-z0-9])[A-Za-z0-9._%+\-]*@([A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,})")


def mask_addresses(line: str) -> str:
    """Every e-mail address in ``line`` as ``b***@example.nl``."""
    return _ADDRESS.sub(r"\1***@\2", line) if "@" in line else line


_second: list[Any] = [-1, ""]


def _timestamp(_: Any, __: str, event_dict: Any) -> Any:
    """ISO-8601 UTC with microseconds, like structlog's TimeStamper, formatting the date part once a second
    (there is a line per webhook, so this runs thousands of times a second)."""
    now = time.time()
    second = int(now)
    if second != _second[0]:
        _second[0], _second[1] = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
    event_dict["timestamp"] = f"{_second[1]}.{int((now - second) * 1_000_000):06d}Z"
    return event_dict


def _serialize(event_dict: Any, **kw: Any) -> str:
    """A log line's JSON through orjson (a line per stage of every event: the stdlib's encoder was the top
    frame of the daemon's profile); structlog's fallback turns what JSON cannot spell into text.

    Lines stay ASCII, as the standard library writes them: a line with other characters (a customer's name in
    an error) is written again with them escaped, so no stdout encoding can fail on it."""
    line = jsontext.dumps(event_dict, default=kw.get("default"))
    return line if line.isascii() else json.dumps(event_dict, default=kw.get("default"))


def _mask_rendered(_: Any, __: str, line: Any) -> Any:
    """The last processor: one pass over the finished line covers every value, nested ones included."""
    return mask_addresses(_mask(line))


class ToStructlog(logging.Handler):
    """Lines that libraries write through the standard ``logging`` (aiohttp, asyncio, asyncpg), as structlog
    lines: one JSON line each, masked like the rest, a traceback inside its ``exception`` field."""

    def emit(self, record: logging.LogRecord) -> None:
        fields: dict[str, Any] = {"logger": record.name}
        if record.exc_info and record.exc_info[1] is not None:
            fields["exc_info"] = record.exc_info
        method = record.levelname.lower() if record.levelno < logging.CRITICAL else "critical"
        log = structlog.get_logger(record.name)
        getattr(log, method if hasattr(log, method) else "warning")(record.getMessage(), **fields)


def configure(level: str = "info", *, json: bool | None = None, stream: TextIO | None = None) -> None:
    """Lines of ``level`` and above to ``stream`` (stdout: the daemon's; a command's own output keeps stdout)."""
    stream = stream or sys.stdout
    if json is None:
        json = not stream.isatty()
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_serialize)
        if json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,  # a shop's pipeline binds ``shop`` (router.pipelines)
            structlog.processors.add_log_level,
            _timestamp,
            structlog.processors.format_exc_info,
            renderer,
            _mask_rendered,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=True,
    )
    root = logging.getLogger()
    if not any(isinstance(handler, ToStructlog) for handler in root.handlers):
        root.addHandler(ToStructlog())  # also keeps logging's last resort (plain text on stderr) out
