"""The Connector base class: how the deliver stage hands one rendered action to a destination.

A connector type is a class with a ``type`` name, a declarative description of its settings and action
keys (so ``check`` can validate a config without building anything), and ``send``, which either returns a
``Sent`` or raises ``Retryable`` (try again later: connection errors, timeouts, 408/425/429/5xx) or
``Permanent`` (never succeeds as is: other 4xx, bad input). Waiting between attempts is not the
connector's business: the deliver stage keeps every wait in the store. ``toolkit.status`` is the one
place that turns an HTTP status into that decision. A connector gets a ``Limiter`` (its rate limit) and
takes one slot per request it makes; ``Throttled`` means "no slot soon", and the delivery waits in the
store without spending an attempt. Everything that differs between connector types is a class hook with a
default: config checks and defaults, checks of a rendered action (``check --render``), the default rate
limit and the destination it counts for, and how a rendered action is described (``simulate``, the demo),
so no code outside ``connectors`` asks for a type name.
"""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from toolkit.fields import Field
from toolkit.outcomes import DeliveryError, Limiter, Permanent, Retryable, Sent, Throttled
from toolkit.units import Rate


@dataclass(frozen=True)
class Outgoing:
    """One attempt at one delivery, as the connector sees it."""

    delivery_id: int
    delivery_key: str  # stable across attempts and replays: send it so destinations can deduplicate
    event_id: int
    request: Mapping[str, Any]  # the rendered action (connector-specific keys)
    attempt: int = 1


DESTINATION_KEYS = ("op", "to", "cc", "bcc", "subject", "method", "url")


def excerpt(text: Any, limit: int = 70) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class Connector(ABC):
    """One connector type. Subclasses set the class attributes, implement ``send`` and override the hooks
    whose default does not fit; the hooks are class-level so ``check`` and ``simulate`` use them without
    building anything."""

    type: ClassVar[str]
    settings_fields: ClassVar[Mapping[str, Field]]
    action_keys: ClassVar[frozenset[str]]
    required_action_keys: ClassVar[frozenset[str]] = frozenset()
    text_keys: ClassVar[frozenset[str]] = frozenset()  # action keys whose value must be text (or a template)

    def __init__(
        self, name: str, settings: Mapping[str, Any], defaults: ConnectorDefaults, *, limiter: Limiter | None = None
    ) -> None:
        self.name = name
        self.limiter = limiter

    @classmethod
    def resolve(cls, settings: Mapping[str, Any]) -> builtins.type[Connector]:
        """The type that serves these settings: itself, unless this type is an alias for another."""
        return cls

    @staticmethod
    def check_settings(settings: Mapping[str, Any]) -> list[tuple[str, str]]:
        """Checks of the (already typed) settings beyond their fields: ``[(dotted key, message)]``."""
        return []

    @staticmethod
    def check_action(action: Mapping[str, Any]) -> list[tuple[str, str]]:
        """Checks of one action's keys beyond allowed/required: ``[(key, message)]``."""
        return []

    @classmethod
    def check_rendered(cls, request: Mapping[str, Any], settings: Mapping[str, Any]) -> list[str]:
        """Checks of one rendered action against the settings (``check --render``): what would make the
        destination refuse it or do something else than meant. Messages say what to change."""
        return []

    @classmethod
    def action_defaults(cls) -> Mapping[str, Any]:
        """Action keys filled in when the YAML leaves them out (templates, compiled as if written)."""
        return {}

    @classmethod
    def default_rate(cls, settings: Mapping[str, Any]) -> Rate | None:
        """The rate limit when the config sets none (None: unlimited)."""
        return None

    @classmethod
    def rate_destination(cls, name: str, settings: Mapping[str, Any]) -> str:
        """The destination a rate limit counts for: connectors naming the same one share a limiter."""
        return f"connector:{name}"

    @classmethod
    def describe(cls, request: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
        """One line saying what a rendered action asks for."""
        return ", ".join(f"{key}={excerpt(value, 30)}" for key, value in request.items())

    @classmethod
    def destination(cls, request: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
        """Where a rendered action would go, as ``simulate`` shows it: the recipient and operation."""
        return {key: request[key] for key in DESTINATION_KEYS if key in request}

    @classmethod
    def stored_request(cls, request: Mapping[str, Any]) -> Mapping[str, Any]:
        """The rendered action as it is stored and resent: all of it, unless the type needs less (privacy:
        what is not needed to send is not kept)."""
        return request

    @classmethod
    def receipt_key(cls, request: Mapping[str, Any]) -> str | None:
        """The key a destination that ignores the delivery key files this request under (the demo's report
        matches what arrived by it), or None."""
        return None

    @abstractmethod
    async def send(self, out: Outgoing) -> Sent:
        """Deliver one attempt: ``Sent``, or raise ``Retryable`` / ``Permanent`` / ``Throttled``."""

    async def aclose(self) -> None:
        """Release connections; the connector is not used afterwards."""
        return None


@dataclass(frozen=True)
class ConnectorDefaults:
    """Daemon-wide settings a connector falls back on."""

    timeout: float = 15.0
    user_agent: str = "plugpay-router"
    extra: Mapping[str, Any] = field(default_factory=dict)


# The public contract of a connector type: the class, what it is given and what it returns or raises.
__all__ = [
    "DESTINATION_KEYS",
    "Connector",
    "ConnectorDefaults",
    "DeliveryError",
    "Field",
    "Limiter",
    "Outgoing",
    "Permanent",
    "Retryable",
    "Sent",
    "Throttled",
    "excerpt",
]
