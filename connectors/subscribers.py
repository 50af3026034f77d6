"""What the mailing-list types (mailchimp, mailerlite, laposta) share: one subscriber address and the answers.

Each of them upserts a subscriber by e-mail address, so ``address`` holds the rendered ``email`` to exactly
one bare address (no display name, no second address, no path character) before it reaches a path, a hash
or a body; ``chosen_op`` reads the action's ``op``; ``subscriber_key`` is what a sent subscriber is remembered
by; ``as_list`` reads a key that may render to one value or a list; ``answer_of`` reads a successful
answer's JSON object, where any 2xx is success whatever its body.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from connectors.base import Permanent
from toolkit.client import Response

# One bare address: no name part, no list, nothing that could be a path or a query.
ADDRESS = re.compile(r"[^@\s<>,;:\"()\[\]\\/?#%]+@[\w-]+(?:\.[\w-]+)+")


def address(request: Mapping[str, Any]) -> str:
    email = str(request.get("email") or "").strip()
    if not ADDRESS.fullmatch(email):
        raise Permanent(f"email rendered to {email[:80]!r}, not one plain address")
    return email


def chosen_op(request: Mapping[str, Any], default: str, known: tuple[str, ...]) -> str:
    op = str(request.get("op") or default)
    if op not in known:
        raise Permanent(f"unknown op {op!r} (known: {', '.join(known)})")
    return op


def subscriber_key(kind: str, request: Mapping[str, Any]) -> str | None:
    """The type and the lower-cased address: one subscriber, however the template spelled the address."""
    email = str(request.get("email") or "").strip().lower()
    return f"{kind}:{email}" if email else None


def as_list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    items = value if isinstance(value, list | tuple) else [value]
    return [str(item).strip() for item in items if str(item).strip()]


def answer_of(response: Response) -> dict[str, Any]:
    """The JSON object of a successful answer; {} when it is empty or not a JSON object (any 2xx is success)."""
    try:
        body = response.json() if response.content else {}
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
