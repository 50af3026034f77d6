"""The email connector (``type: email``): one rendered mail per delivery, over SMTP with aiosmtplib.

Settings give the server (``host``, ``port``, ``starttls`` / ``ssl``, ``username`` / ``password``), the
sender (``from``) and ``max_recipients`` (default 10); each action gives ``to``, ``cc``, ``bcc`` and
``reply_to`` as lists of ``{name, email}`` recipients (``connectors.recipients``: customer text can name a
recipient but never add one), ``subject``, ``text`` and/or ``html`` (both → multipart/alternative) and extra
``headers`` (checked like HTTP headers: no line breaks). The ``Message-ID`` is derived from the delivery key,
so every attempt and replay of one delivery carries the same id and mail systems (and people) can recognise
a duplicate. SMTP answers follow the SMTP rule: connection problems and 4xx replies are retryable, 5xx
replies are permanent with the server's reply as the reason. A message that some recipients accepted counts
as sent: retrying would mail the others twice.
"""

from __future__ import annotations

import datetime as dt
import email.utils
from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any, ClassVar

import aiosmtplib

from connectors.base import Connector, ConnectorDefaults, Field, Limiter, Outgoing, Permanent, Retryable, Sent, excerpt
from connectors.recipients import RECIPIENT_KEYS, check_shape, recipients
from toolkit.headers import checked_headers

DEFAULT_MAX_RECIPIENTS = 10

# Headers the connector writes itself; an action's ``headers`` may not replace them.
OWN_HEADERS = frozenset(
    h.lower()
    for h in (
        "From",
        "To",
        "Cc",
        "Bcc",
        "Reply-To",
        "Subject",
        "Message-ID",
        "Date",
        "MIME-Version",
        "Content-Type",
        "Content-Transfer-Encoding",
    )
)


def bare(address: str) -> str:
    return email.utils.parseaddr(address)[1]


def message_id(delivery_key: str, sender: str) -> str:
    domain = bare(sender).rpartition("@")[2] or "plugpay-router"
    return f"<{delivery_key}@{domain}>"


def shown_recipients(value: Any) -> str:
    """Rendered recipients as a header would show them (``Bilal de Wit <bilal@example.nl>``), for ``simulate``."""
    try:
        return ", ".join(str(r.address) for r in recipients(value, "to"))
    except Permanent as exc:
        return f"(invalid: {exc.message})"


def smtp_reply(code: int, message: str) -> str:
    return f"SMTP {code} {' '.join(str(message).split())}"


class EmailConnector(Connector):
    type: ClassVar[str] = "email"
    settings_fields: ClassVar[Mapping[str, Field]] = {
        "host": Field("str", required=True),
        "port": Field("int"),  # default 465 with ssl, 587 with starttls, else 25
        "starttls": Field("bool"),  # true: require STARTTLS; false: never; unset: when the server offers it
        "ssl": Field("bool", default=False),
        "username": Field("str"),
        "password": Field("str", secret=True),
        "from": Field("str", required=True),
        "timeout": Field("duration"),
        "max_recipients": Field("int", default=DEFAULT_MAX_RECIPIENTS),
    }
    action_keys: ClassVar[frozenset[str]] = frozenset(
        {"to", "cc", "bcc", "reply_to", "subject", "text", "html", "headers"}
    )
    required_action_keys: ClassVar[frozenset[str]] = frozenset({"to", "subject"})
    text_keys: ClassVar[frozenset[str]] = frozenset({"subject", "text", "html"})

    def __init__(
        self, name: str, settings: Mapping[str, Any], defaults: ConnectorDefaults, *, limiter: Limiter | None = None
    ):
        super().__init__(name, settings, defaults, limiter=limiter)
        self.host = str(settings["host"])
        self.ssl = bool(settings.get("ssl"))
        self.starttls: bool | None = settings.get("starttls")
        self.port = settings.get("port") or (465 if self.ssl else 587 if self.starttls else 25)
        self.username = settings.get("username")
        self.password = settings.get("password")
        self.sender = str(settings["from"])
        self.timeout = float(settings.get("timeout") or defaults.timeout)
        self.max_recipients = int(settings.get("max_recipients") or DEFAULT_MAX_RECIPIENTS)

    @staticmethod
    def check_settings(settings: Mapping[str, Any]) -> list[tuple[str, str]]:
        problems = []
        if settings.get("ssl") and settings.get("starttls"):
            problems.append(("starttls", "use either ssl (implicit TLS) or starttls, not both"))
        if bool(settings.get("username")) != bool(settings.get("password")):
            problems.append(("password", "username and password go together"))
        if not bare(str(settings.get("from") or "")):
            problems.append(("from", "expected an address such as 'Shop <shop@example.nl>'"))
        if settings.get("max_recipients") is not None and int(settings["max_recipients"]) < 1:
            problems.append(("max_recipients", "must be at least 1"))
        return problems

    @staticmethod
    def check_action(action: Mapping[str, Any]) -> list[tuple[str, str]]:
        problems = [problem for key in RECIPIENT_KEYS if key in action for problem in check_shape(action[key], key)]
        if "text" not in action and "html" not in action:
            problems.append(("text", "an email needs a text or an html body (or both)"))
        headers = action.get("headers")
        if headers is not None and not isinstance(headers, Mapping):
            problems.append(("headers", "expected a mapping of header names to values"))
        elif headers:
            for key in headers:
                if str(key).lower() in OWN_HEADERS:
                    problems.append(("headers", f"{key} is set by the connector (use the action key instead)"))
        return problems

    @classmethod
    def check_rendered(cls, request: Mapping[str, Any], settings: Mapping[str, Any]) -> list[str]:
        """Every recipient one address, within ``max_recipients``; a subject that is not empty."""
        problems = []
        counts: dict[str, int] = {}
        for key in RECIPIENT_KEYS:
            try:
                counts[key] = len(recipients(request.get(key), key))
            except Permanent as exc:
                problems.append(exc.message)
        # As sending counts them: to, cc and bcc together; reply_to (no one receives it) on its own.
        count = sum(n for key, n in counts.items() if key != "reply_to")
        if not problems and count == 0:
            problems.append("to: rendered no recipient (is the address field empty in this data?)")
        cap = int(settings.get("max_recipients") or DEFAULT_MAX_RECIPIENTS)
        if max(count, counts.get("reply_to", 0)) > cap:
            problems.append(f"{max(count, counts.get('reply_to', 0))} recipients, more than max_recipients ({cap})")
        if not str(request.get("subject") or "").strip():
            problems.append("subject: rendered empty")
        return problems

    @classmethod
    def rate_destination(cls, name: str, settings: Mapping[str, Any]) -> str:
        return f"email:{settings['host']}" if settings.get("host") else super().rate_destination(name, settings)

    @classmethod
    def describe(cls, request: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
        return f'mail to {shown_recipients(request.get("to"))}: "{excerpt(request.get("subject"), 50)}"'

    @classmethod
    def destination(cls, request: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
        """The recipients as the headers will show them, and the subject."""
        found = {key: shown_recipients(request[key]) for key in ("to", "cc", "bcc") if request.get(key)}
        return {**found, **({"subject": request["subject"]} if "subject" in request else {})}

    def build(self, out: Outgoing) -> tuple[EmailMessage, list[str]]:
        """The message and its envelope recipients (``bcc`` included, but not as a header)."""
        request = out.request
        to, cc, bcc = (recipients(request.get(key), key) for key in ("to", "cc", "bcc"))
        reply_to = recipients(request.get("reply_to"), "reply_to")
        if not to:
            raise Permanent(f"no recipient: 'to' rendered to {request.get('to')!r}")
        count = len(to) + len(cc) + len(bcc)
        if count > self.max_recipients or len(reply_to) > self.max_recipients:
            raise Permanent(
                f"{max(count, len(reply_to))} recipients, more than max_recipients ({self.max_recipients})"
                " allows for one message"
            )
        extra = checked_headers(request.get("headers") or {}, mail=True)
        subject = checked_headers({"Subject": request.get("subject") or ""}, mail=True)["Subject"]
        msg = EmailMessage()
        try:
            msg["From"] = self.sender
            msg["To"] = [r.address for r in to]
            if cc:
                msg["Cc"] = [r.address for r in cc]
            if reply_to:
                msg["Reply-To"] = [r.address for r in reply_to]
            msg["Subject"] = subject
            msg["Date"] = email.utils.format_datetime(dt.datetime.now(dt.UTC))
            msg["Message-ID"] = message_id(out.delivery_key, self.sender)
            for key, value in extra.items():
                msg[key] = value
            text, html = request.get("text"), request.get("html")
            if text is not None:
                msg.set_content(str(text))
                if html is not None:
                    msg.add_alternative(str(html), subtype="html")
            else:
                msg.set_content(str(html or ""), subtype="html")
        except (ValueError, TypeError) as exc:
            raise Permanent(f"cannot build the message: {exc}") from None
        envelope = list(dict.fromkeys(r.email for r in (*to, *cc, *bcc)))  # one RCPT per address
        return msg, envelope

    async def send(self, out: Outgoing) -> Sent:
        msg, recipients = self.build(out)
        if self.limiter is not None:
            await self.limiter.acquire()
        try:
            refused, reply = await aiosmtplib.send(
                msg,
                sender=bare(self.sender),
                recipients=recipients,
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self.password,
                use_tls=self.ssl,
                start_tls=self.starttls,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            replies = "; ".join(f"{r.recipient}: {smtp_reply(r.code, r.message)}" for r in exc.recipients)
            if all(r.code >= 500 for r in exc.recipients):
                raise Permanent(f"every recipient refused: {replies}", status_code=exc.recipients[0].code) from None
            raise Retryable(f"recipients refused: {replies}", status_code=exc.recipients[0].code) from None
        except aiosmtplib.SMTPResponseException as exc:
            if 400 <= exc.code < 500:
                raise Retryable(smtp_reply(exc.code, exc.message), status_code=exc.code) from None
            if exc.code >= 500:
                raise Permanent(smtp_reply(exc.code, exc.message), status_code=exc.code) from None
            raise Retryable(smtp_reply(exc.code, exc.message)) from None
        except (aiosmtplib.SMTPException, OSError) as exc:  # connect, timeout, disconnect, TLS
            raise Retryable(f"SMTP {self.host}:{self.port}: {type(exc).__name__}: {exc}") from None
        detail = " ".join(str(reply).split())[:200]
        if refused:
            detail += "; refused: " + "; ".join(f"{r}: {smtp_reply(e.code, e.message)}" for r, e in refused.items())
        result = {"message_id": msg["Message-ID"], "reply": detail, "recipients": len(recipients) - len(refused)}
        return Sent(250, detail, result)
