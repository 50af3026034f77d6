"""The in-memory connector (``type: memory``): the test twin of a real destination, not a production type.

It keeps every request it is given in ``SENT`` (per connector name, process-wide), can be told to fail the
first N attempts, and costs nothing, so tests and benchmarks can exercise the rule language and the deliver
stage without a server. ``register()`` adds it to ``connectors.CONNECTOR_TYPES`` (the tests' conftest does,
bench code calls it). Run as ``python -m tests.memory_connector ARGS`` it is the command line
(``python -m router ARGS``) with this type registered, for CLI tests whose configs use it.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Mapping
from typing import Any, ClassVar

from connectors.base import Connector, ConnectorDefaults, Field, Limiter, Outgoing, Permanent, Retryable, Sent
from connectors.registry import CONNECTOR_TYPES

# connector name -> every Outgoing it accepted, in order
SENT: dict[str, list[Outgoing]] = defaultdict(list)


class MemoryConnector(Connector):
    type: ClassVar[str] = "memory"
    settings_fields: ClassVar[Mapping[str, Field]] = {
        "fail_first": Field("int", default=0),  # answer Retryable to the first N attempts
        "permanent": Field("bool", default=False),  # answer Permanent to every attempt
    }
    action_keys: ClassVar[frozenset[str]] = frozenset({"payload", "text", "to", "subject", "json"})

    def __init__(
        self, name: str, settings: Mapping[str, Any], defaults: ConnectorDefaults, *, limiter: Limiter | None = None
    ):
        super().__init__(name, settings, defaults, limiter=limiter)
        self.fail_first = int(settings.get("fail_first") or 0)
        self.permanent = bool(settings.get("permanent"))
        self.calls = 0

    @property
    def sent(self) -> list[Outgoing]:
        return SENT[self.name]

    async def send(self, out: Outgoing) -> Sent:
        if self.limiter is not None:
            await self.limiter.acquire()
        self.calls += 1
        if self.permanent:
            raise Permanent("memory connector set to fail permanently")
        if self.calls <= self.fail_first:
            raise Retryable(f"memory connector failing attempt {self.calls} of {self.fail_first}")
        SENT[self.name].append(out)
        return Sent(None, "stored in memory")


def register() -> None:
    CONNECTOR_TYPES[MemoryConnector.type] = MemoryConnector


if __name__ == "__main__":
    from router.cli import main

    register()
    sys.exit(main())
