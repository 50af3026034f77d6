"""The in-memory connector (``type: memory``): the test twin of a real destination.

It keeps every request it is given in ``sent`` (per connector name, process-wide), can be told to fail the
first N attempts, and costs nothing, so unit tests and benchmarks can exercise the deliver stage without a
server. Real destinations are simulated by real servers in the integration tests.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any, ClassVar

from connectors.base import ConnectorDefaults, Field, Limiter, Outgoing, Permanent, Retryable, Sent

# connector name -> every Outgoing it accepted, in order
SENT: dict[str, list[Outgoing]] = defaultdict(list)


class MemoryConnector:
    type: ClassVar[str] = "memory"
    settings_fields: ClassVar[Mapping[str, Field]] = {
        "fail_first": Field("int", default=0, help="answer Retryable to the first N attempts"),
        "permanent": Field("bool", default=False, help="answer Permanent to every attempt"),
    }
    action_keys: ClassVar[frozenset[str]] = frozenset({"payload", "text", "to", "subject", "json"})
    required_action_keys: ClassVar[frozenset[str]] = frozenset()

    def __init__(
        self, name: str, settings: Mapping[str, Any], defaults: ConnectorDefaults, *, limiter: Limiter | None = None
    ):
        self.name = name
        self.limiter = limiter
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

    async def aclose(self) -> None:
        return None
