"""What one request to a destination came to: sent, try again later, never, or not now.

``Sent`` is a success; ``Retryable`` (connection errors, timeouts, 408/425/429/5xx) and ``Permanent`` (other
4xx, bad input) are the two ways it failed, both ``DeliveryError``; ``Throttled`` means the rate limit had
no slot soon, which is nobody's failure. ``Limiter`` is the rate limit one destination's requests take a
slot from. The router's own API client and every connector speak these, so they live below both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Sent:
    """A successful send: the destination's status (if any), a short description, and ``result``: what the
    destination made of it where the connector knows (a contact id, an invoice id, a message id), a small
    JSON-able mapping the deliver stage stores with the attempt."""

    status_code: int | None = None
    detail: str = ""
    result: Mapping[str, Any] | None = None


class DeliveryError(Exception):
    def __init__(self, message: str, *, status_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.status_code = status_code


class Retryable(DeliveryError):
    """Try again later; ``retry_after`` (seconds) is the destination's own wish, when it gave one."""

    def __init__(self, message: str, *, status_code: int | None = None, retry_after: float | None = None):
        super().__init__(message, status_code=status_code)
        self.retry_after = retry_after


class Permanent(DeliveryError):
    """This request will never succeed as it is: mark the delivery dead with this reason."""


class Throttled(Exception):
    """Not now, and not the destination's fault: the rate limit (or a Retry-After pause) has no slot within
    the time a send may wait in memory. The delivery goes back to the store for ``wait`` seconds without
    spending an attempt; a multi-step operation resumes safely because its steps are idempotent."""

    def __init__(self, wait: float):
        super().__init__(f"rate limited for {wait:.1f}s")
        self.wait = wait


class Limiter(Protocol):
    """The rate limit in front of one destination (``toolkit.protection.RateLimiter``)."""

    async def acquire(self) -> None:
        """Wait for a request slot; raises ``Throttled`` when the wait would be too long to spend in memory."""

    def pause(self, seconds: float) -> None:
        """The destination asked for a break (429 + Retry-After): grant nothing for ``seconds``."""
