"""Structured logging: structlog, JSON lines when stdout is not a terminal, secrets masked in every line.

The masker is the last line of defence: secrets are kept out of log calls to begin with, but any value
read from a secret ``${VAR}`` that still reaches a log line is replaced by ``***``. The set of secrets
follows config reloads.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from router.config import Masker, masker

_mask: Masker = masker(frozenset())


def set_secrets(secrets: frozenset[str]) -> None:
    global _mask
    _mask = masker(secrets)


def mask(text: str) -> str:
    return _mask(text)


def _mask_values(value: Any) -> Any:
    if isinstance(value, str):
        return _mask(value)
    if isinstance(value, list | tuple):
        return [_mask_values(v) for v in value]
    if isinstance(value, dict):
        return {k: _mask_values(v) for k, v in value.items()}
    return value


def _mask_processor(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in event_dict.items():
        event_dict[key] = _mask_values(value)
    return event_dict


def configure(level: str = "info", *, json: bool | None = None) -> None:
    if json is None:
        json = not sys.stdout.isatty()
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _mask_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
