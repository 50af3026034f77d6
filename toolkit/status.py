"""HTTP status classification: the one place that decides what an answer means for a retry.

As docs/semantics.md, "Delivery semantics", says: 2xx succeeds; connection errors, timeouts, 408, 425, 429 and 5xx
are transient (try again later, honouring ``Retry-After``); redirects are never followed and, like 410 and
every other 4xx, are permanent.
The connectors and the Plug&Pay API client both decide through here.
"""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

from toolkit.outcomes import Permanent, Retryable, Sent

TRANSIENT_STATUSES = frozenset({408, 425, 429})
ANSWER_EXCERPT = 200  # how much of a successful answer an attempt keeps (``Sent.result``)


def is_transient(status: int) -> bool:
    """True when an answer with this status may succeed if asked again later."""
    return status in TRANSIENT_STATUSES or status >= 500


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date); None when absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def classify_status(status: int, body: str, retry_after: str | None = None) -> Sent:
    """Turn an HTTP response into Sent, or raise Retryable / Permanent (see the module docstring)."""
    excerpt = " ".join(body.split())[:300]
    if 200 <= status < 300:
        return Sent(status, excerpt, {"status": status, "answer": body[:ANSWER_EXCERPT]})
    message = f"HTTP {status}" + (f": {excerpt}" if excerpt else "")
    if is_transient(status):
        raise Retryable(message, status_code=status, retry_after=parse_retry_after(retry_after))
    if 300 <= status < 400:
        raise Permanent(f"{message} (redirects are not followed)", status_code=status)
    raise Permanent(message, status_code=status)
