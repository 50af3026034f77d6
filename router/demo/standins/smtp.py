"""An SMTP catcher: aiosmtpd's SMTP protocol served on the caller's event loop, keeping every message it accepts.

Accepted messages are parsed and queued, so a caller awaits ``next_message()`` instead of polling, and can be
written to a folder as ``.eml`` files. With ``credentials`` set it offers AUTH (PLAIN, LOGIN) over the plain
connection, refuses other logins with 535 and answers MAIL without a login with 530, so a connector's username and
password really are checked. It does so without aiosmtpd's ``auth_required`` (which warns, rightly for a real
server, that AUTH without TLS is unsafe) and without its deprecated ``Session.login_data`` (which warns on every
login), so ``plugpay-router standins`` prints only what the stand-ins receive. Replies can be scripted:
``data_replies`` answers the next DATA commands (``"451 ..."``, ``"550 ..."``), and ``refuse`` maps a recipient
to the reply its RCPT TO gets.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword, Session

AUTH_NEEDED = "530 5.7.0 Authentication required"


class _Session(Session):
    """aiosmtpd's session without the legacy ``login_data`` property, which logs a deprecation on every login."""

    @property
    def login_data(self) -> Any:
        return self._login_data

    @login_data.setter
    def login_data(self, value: Any) -> None:
        self._login_data = value


class _CatcherSMTP(SMTP):
    """aiosmtpd's SMTP that requires a login before MAIL itself when ``login_required``, instead of through
    ``auth_required`` (which logs a warning for every connection when TLS is not required too)."""

    def __init__(self, handler: Any, *, login_required: bool, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.login_required = login_required

    def _create_session(self) -> Session:
        return _Session(self.loop)

    async def check_auth_needed(self, caller_method: str) -> bool:
        if self.login_required and not (self.session is not None and self.session.authenticated):
            await self.push(AUTH_NEEDED)
            return True
        return False


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def message_id(self) -> str:
        return str(self.message.get("Message-ID") or "")


@dataclass
class SmtpServer:
    host: str = "127.0.0.1"
    credentials: tuple[str, str] | None = None  # require AUTH with exactly this username and password
    save_to: Path | None = None  # write each accepted message there as NNN.eml
    data_replies: list[str] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    port: int = 0
    _queue: asyncio.Queue[Received] = field(default_factory=asyncio.Queue)
    _server: asyncio.Server | None = None

    async def start(self, port: int = 0) -> SmtpServer:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, self.host, port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        if self.save_to is not None:
            self.save_to.mkdir(parents=True, exist_ok=True)
        return self

    def _protocol(self) -> SMTP:
        return _CatcherSMTP(
            self,
            login_required=self.credentials is not None,
            hostname="smtp.localhost",
            ident="plugpay-router SMTP catcher",
            auth_require_tls=False,  # AUTH over the plain connection: the point of a local catcher
            authenticator=self._authenticate if self.credentials is not None else None,
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def next_message(self, timeout: float = 10.0) -> Received:
        return await asyncio.wait_for(self._queue.get(), timeout)

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and self.credentials is not None
            and (data.login.decode(errors="replace"), data.password.decode(errors="replace")) == self.credentials
        )
        return AuthResult(success=ok, handled=False)  # not handled: a wrong login gets 535, as from a real server

    # aiosmtpd handler hooks

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_replies:
            return self.data_replies.pop(0)
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        item = Received(envelope.mail_from, list(envelope.rcpt_tos), parsed)
        self.received.append(item)
        if self.save_to is not None:
            (self.save_to / f"{len(self.received):03d}.eml").write_bytes(envelope.content)
        self._queue.put_nowait(item)
        return "250 Message accepted for delivery"
