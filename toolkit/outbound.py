"""What the work in progress asks of every outgoing HTTP request: headers to carry, and to hear what happened.

While a traced delivery attempt (or API fetch) runs, the router sets ``WATCH`` to a ``Watch`` for it: every
request made through ``toolkit.client`` (and the Plug&Pay client) then carries the watch's headers (a W3C
``traceparent``) and reports its method, URL and status back, so the trace shows which request answered what.
A ``ContextVar``, so concurrent attempts never see each other's watch, and connectors need not know of it.
Unset (tracing off), it costs a request one ``ContextVar.get``.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import Protocol


class Watch(Protocol):
    """The traced work an HTTP request is made for."""

    @property
    def headers(self) -> Mapping[str, str]:
        """Headers every request made for this work carries (``traceparent``)."""

    def sent(self, method: str, url: str, status: int | None) -> None:
        """A request was made: its method, URL and the answer's status (None: no answer came)."""


WATCH: ContextVar[Watch | None] = ContextVar("toolkit_outbound_watch", default=None)
