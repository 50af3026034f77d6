"""The Connector protocol: how the deliver stage hands one rendered action to a destination.

A connector type is a class with a ``type`` name, a declarative description of its settings and action
keys (so ``check`` can validate a config without building anything), and ``send``, which either returns a
``Sent`` or raises ``Retryable`` (try again later: connection errors, timeouts, 408/425/429/5xx) or
``Permanent`` (never succeeds as is: other 4xx, bad input). Waiting between attempts is not the
connector's business: the deliver stage keeps every wait in the store. ``connectors.status`` is the one
place that turns an HTTP status into that decision. A connector gets a ``Limiter`` (its rate limit) and
takes one slot per request it makes; ``Throttled`` means "no slot soon", and the delivery waits in the
store without spending an attempt. Optional class hooks (``check_action``, ``check_settings``,
``action_defaults``, ``default_rate``) let ``check`` validate and complete a config per connector type.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable


@dataclass(frozen=True)
class Field:
    """One connector setting. ``kind`` is str, int, number, bool, duration, durations, rate, map, list, ids or any."""

    kind: str = "str"
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()
    secret: bool = False
    help: str = ""


@dataclass(frozen=True)
class Outgoing:
    """One attempt at one delivery, as the connector sees it."""

    delivery_id: int
    delivery_key: str  # stable across attempts and replays: send it so destinations can deduplicate
    event_id: int
    request: Mapping[str, Any]  # the rendered action (connector-specific keys)
    attempt: int = 1


@dataclass(frozen=True)
class Sent:
    """A successful send: the destination's status (if any) and a short description."""

    status_code: int | None = None
    detail: str = ""


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
    """The rate limit in front of one destination (``connectors.protection.RateLimiter``)."""

    async def acquire(self) -> None:
        """Wait for a request slot; raises ``Throttled`` when the wait would be too long to spend in memory."""

    def pause(self, seconds: float) -> None:
        """The destination asked for a break (429 + Retry-After): grant nothing for ``seconds``."""


@runtime_checkable
class Connector(Protocol):
    type: ClassVar[str]
    settings_fields: ClassVar[Mapping[str, Field]]
    action_keys: ClassVar[frozenset[str]]
    required_action_keys: ClassVar[frozenset[str]]

    name: str

    def __init__(
        self, name: str, settings: Mapping[str, Any], defaults: ConnectorDefaults, *, limiter: Limiter | None = None
    ) -> None: ...

    async def send(self, out: Outgoing) -> Sent: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class ConnectorDefaults:
    """Daemon-wide settings a connector falls back on."""

    timeout: float = 15.0
    user_agent: str = "plugpay-router"
    extra: Mapping[str, Any] = field(default_factory=dict)


def check_action(cls: type, action: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Connector-specific checks of one action's keys beyond allowed/required: ``[(key, message)]``."""
    checker = getattr(cls, "check_action", None)
    return list(checker(action)) if checker else []


def check_settings(cls: type, settings: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Connector-specific checks of its (already typed) settings: ``[(dotted key, message)]``."""
    checker = getattr(cls, "check_settings", None)
    return list(checker(settings)) if checker else []


def action_defaults(cls: type) -> Mapping[str, Any]:
    """Action keys a connector type fills in when the YAML leaves them out (templates, compiled as if written)."""
    return dict(getattr(cls, "action_defaults", {}))


def default_rate(cls: type, settings: Mapping[str, Any]) -> Any:
    """The connector type's own rate limit (a ``connectors.units.Rate``) when the config sets none."""
    rate = getattr(cls, "default_rate", None)
    return rate(settings) if callable(rate) else rate
