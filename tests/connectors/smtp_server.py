"""A real SMTP server for the email tests: aiosmtpd's Controller (its own thread and loop) on a free port.

Accepted messages are parsed and handed to the test's event loop, so a test awaits ``next_message()``
instead of polling. Replies can be scripted: ``data_replies`` answers the next DATA commands (``"451 ..."``,
``"550 ..."``), and ``refuse`` maps a recipient to the reply its RCPT TO gets.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.support import free_port


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class SmtpServer:
    data_replies: list[str] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    port: int = 0
    _queue: asyncio.Queue[Received] = field(default_factory=asyncio.Queue)
    _loop: asyncio.AbstractEventLoop | None = None
    _controller: Controller | None = None

    def start(self) -> SmtpServer:
        self._loop = asyncio.get_running_loop()
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()

    async def next_message(self, timeout: float = 10.0) -> Received:
        return await asyncio.wait_for(self._queue.get(), timeout)

    # aiosmtpd handler hooks (run in the server's thread)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_replies:
            return self.data_replies.pop(0)
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        item = Received(envelope.mail_from, list(envelope.rcpt_tos), parsed)  # type: ignore[arg-type]
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._deliver, item)
        return "250 Message accepted for delivery"

    def _deliver(self, item: Received) -> None:
        self.received.append(item)
        self._queue.put_nowait(item)
