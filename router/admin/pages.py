"""The dashboard's Jinja2 environment: its templates folder, autoescape on, and the filters and globals the
templates use (times, ages, the colour of an event's row, a rendered request with its secrets masked)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jinja2

from router.store.base import DeliveryHealth, EventRecord
from router.text import clip, when
from router.tools.trace import mask_request

TEMPLATES = Path(__file__).with_name("templates")


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, trim_blocks=True, lstrip_blocks=True
    )
    env.filters.update(when=when, clip=clip, ago=ago, request_json=_request_json)
    env.globals.update(tone=tone)
    return env


def tone(record: EventRecord, health: DeliveryHealth | None) -> str:
    """The colour an event's row and badge take: its own state, or for a routed event the worst state of its
    deliveries (a routed event with a dead delivery is not green); ``quiet`` when it made none."""
    if record.status != "routed":
        return str(record.status)
    worst = health.worst if health else "none"
    return {"dead": "dead", "pending": "pending", "delivered": "routed"}.get(worst, "quiet")


def ago(ts: float | None) -> str:
    if ts is None:
        return "-"
    seconds = max(0, int(time.time() - ts))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def _request_json(request: Any) -> str:
    return json.dumps(mask_request(request), indent=2, ensure_ascii=False)
