"""The demo's world: the Plug&Pay sandbox and a local stand-in for every destination of the example config.

``DemoTargets.start`` runs them on 127.0.0.1 (free ports, or fixed ones from ``port_base`` on, in the
order of ``PORT_ORDER``) in the caller's event loop: the Plug&Pay API
simulator with its fixtures, an SMTP catcher that checks the SMTP login and saves every mail, an HTTP sink
for the course platform (bearer token and Standard Webhooks signature checked) and Slack, and the
ActiveCampaign and Moneybird simulators. Every credential is a fresh random value that the stand-in
requires, so a delivery only counts when the router really authenticated. ``environment`` gives the
variables that point ``config.example.yaml`` at them (addresses and secrets, nothing else), and
``arrivals`` what each destination received, keyed by delivery key (or invoice reference).
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from router.demo.sandbox import Sandbox, SandboxServer, load_fixtures
from router.demo.standins.activecampaign import ActiveCampaignServer
from router.demo.standins.chat import ChatServer
from router.demo.standins.eboekhouden import EboekhoudenServer
from router.demo.standins.laposta import LapostaServer
from router.demo.standins.mailchimp import MailchimpServer
from router.demo.standins.mailerlite import MailerLiteServer
from router.demo.standins.moneybird import MoneybirdServer
from router.demo.standins.postmark import PostmarkServer
from router.demo.standins.sink import HttpSink
from router.demo.standins.smtp import SmtpServer

HOST = "127.0.0.1"
# port_base + 0, 1, ...; new stand-ins go at the end, so the ports of the others do not move
PORT_ORDER = (
    "api",
    "smtp",
    "sink",
    "activecampaign",
    "moneybird",
    "mailchimp",
    "mailerlite",
    "laposta",
    "eboekhouden",
    "postmark",
    "chat",
)
LMS_PREFIX = "/lms"
SLACK_PREFIX = "/slack"


def _token(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(8)}"


@dataclass(frozen=True)
class DemoSecrets:
    """Fresh credentials for one demo run; every stand-in insists on its own."""

    api_token: str = field(default_factory=lambda: _token("demo-api"))
    webhook_key: str = field(default_factory=lambda: _token("demo-webhook-key"))
    smtp_username: str = "shop@example.nl"
    smtp_password: str = field(default_factory=lambda: _token("demo-smtp"))
    ac_token: str = field(default_factory=lambda: _token("demo-ac"))
    lms_token: str = field(default_factory=lambda: _token("demo-lms"))
    lms_secret: str = field(default_factory=lambda: "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode())
    mb_token: str = field(default_factory=lambda: _token("demo-mb"))
    slack_path: str = field(default_factory=lambda: f"/services/T0DEMO/B0DEMO/{secrets.token_hex(12)}")
    mc_key: str = field(default_factory=lambda: _token("demo-mc") + "-us6")  # Mailchimp keys end in the data center
    ml_token: str = field(default_factory=lambda: _token("demo-ml"))
    lp_key: str = field(default_factory=lambda: _token("demo-lp"))
    eb_token: str = field(default_factory=lambda: _token("demo-eb"))
    pm_token: str = field(default_factory=lambda: _token("demo-pm"))


@dataclass
class DemoTargets:
    folder: Path
    keys: DemoSecrets
    api: SandboxServer
    smtp: SmtpServer
    sink: HttpSink
    ac: ActiveCampaignServer
    mb: MoneybirdServer
    mc: MailchimpServer
    ml: MailerLiteServer
    lp: LapostaServer
    eb: EboekhoudenServer
    pm: PostmarkServer
    chat: ChatServer
    slack_hook: str  # the Slack and Discord webhook paths the chat stand-in made for this run
    discord_hook: str

    @classmethod
    async def start(
        cls, folder: Path, keys: DemoSecrets | None = None, *, port_base: int | None = None, host: str = HOST
    ) -> DemoTargets:
        keys = keys or DemoSecrets()

        def port(name: str) -> int:
            return 0 if port_base is None else port_base + PORT_ORDER.index(name)

        api = await SandboxServer(Sandbox(load_fixtures(), token=keys.api_token)).start(host, port("api"))
        smtp = await SmtpServer(
            host=host, credentials=(keys.smtp_username, keys.smtp_password), save_to=folder / "mail"
        ).start(port("smtp"))
        sink = await HttpSink(
            host=host,
            text_replies={SLACK_PREFIX: "ok"},
            verify={LMS_PREFIX: keys.lms_secret},
            bearer={LMS_PREFIX: keys.lms_token},
        ).start(port("sink"))
        ac = await ActiveCampaignServer(token=keys.ac_token).start(host, port("activecampaign"))
        mb = await MoneybirdServer(token=keys.mb_token).start(host, port("moneybird"))
        mc = await MailchimpServer(api_key=keys.mc_key).start(host, port("mailchimp"))
        ml = await MailerLiteServer(token=keys.ml_token).start(host, port("mailerlite"))
        lp = await LapostaServer(api_key=keys.lp_key).start(host, port("laposta"))
        eb = await EboekhoudenServer(tokens={keys.eb_token}).start(host, port("eboekhouden"))
        pm = await PostmarkServer(token=keys.pm_token).start(host, port("postmark"))
        chat = await ChatServer().start(host, port("chat"))
        slack_hook, discord_hook = chat.add_slack(), chat.add_discord()
        return cls(folder, keys, api, smtp, sink, ac, mb, mc, ml, lp, eb, pm, chat, slack_hook, discord_hook)

    async def stop(self) -> None:
        for server in (self.smtp, self.sink, self.ac, self.mb, self.mc, self.ml, self.lp, self.eb, self.pm, self.chat):
            await server.stop()
        await self.api.stop()

    @property
    def sandbox_url(self) -> str:
        return self.api.url

    @property
    def slack_url(self) -> str:
        return self.sink.url + SLACK_PREFIX + self.keys.slack_path

    def environment(self, listen: str, store_url: str) -> dict[str, str]:
        """The variables of the demo's config (config.example.yaml and its tour), pointing it at these stand-ins."""
        return {
            "ROUTER_LISTEN": listen,
            "ROUTER_STORE_URL": store_url,
            **self.standin_environment(),
            **self.tour_environment(),
        }

    def standin_environment(self) -> dict[str, str]:
        """The stand-ins' addresses and credentials, as config.example.yaml's variables name them."""
        k = self.keys
        smtp_host = self.smtp.host
        return {
            "PLUGANDPAY_API_URL": self.sandbox_url,
            "PLUGANDPAY_API_TOKEN": k.api_token,
            "PLUGANDPAY_WEBHOOK_KEY": k.webhook_key,
            "SMTP_HOST": smtp_host,
            "SMTP_PORT": str(self.smtp.port),
            "SMTP_STARTTLS": "false",
            "SMTP_USERNAME": k.smtp_username,
            "SMTP_PASSWORD": k.smtp_password,
            "AC_URL": self.ac.url,
            "AC_API_TOKEN": k.ac_token,
            "LMS_URL": self.sink.url + LMS_PREFIX,
            "LMS_TOKEN": k.lms_token,
            "LMS_WEBHOOK_SECRET": k.lms_secret,
            "MONEYBIRD_URL": self.mb.base_url,
            "MONEYBIRD_TOKEN": k.mb_token,
            "SLACK_WEBHOOK_SECRET": self.slack_url,
        }

    def tour_environment(self) -> dict[str, str]:
        """The variables of the demo's tour of the other connector types (router/examples/demo.tour.yaml)."""
        k = self.keys
        return {
            "MAILCHIMP_URL": self.mc.base_url,
            "MAILCHIMP_API_KEY": k.mc_key,
            "MAILERLITE_URL": self.ml.base_url,
            "MAILERLITE_API_TOKEN": k.ml_token,
            "LAPOSTA_URL": self.lp.base_url,
            "LAPOSTA_API_KEY": k.lp_key,
            "EBOEKHOUDEN_URL": self.eb.url,
            "EBOEKHOUDEN_API_TOKEN": k.eb_token,
            "POSTMARK_URL": self.pm.url,
            "POSTMARK_SERVER_TOKEN": k.pm_token,
            "CHAT_BASE_URL": self.chat.url,
            "SLACK_HOOK_SECRET": "https://hooks.slack.com" + self.slack_hook,
            "DISCORD_HOOK_SECRET": "https://discord.com" + self.discord_hook,
        }

    def arrivals(self) -> dict[str, str]:
        """What the destinations received: delivery key (or ``invoice:<reference>``) → a short description."""
        found: dict[str, str] = {}
        for mail in self.smtp.received:
            key = mail.message_id.strip("<>").partition("@")[0]
            subject = " ".join(str(mail.message.get("Subject") or "").split())
            found[key] = f'mail to {", ".join(mail.rcpt_tos)}: "{subject}"'
        for request in self.sink.requests:
            if request.path.startswith(SLACK_PREFIX):
                text = " ".join(str(_json_text(request.body)).split())
                found[request.key] = f'Slack message: "{text}"'
            else:
                checked = " (token and signature verified)" if request.signed else ""
                found[request.key] = f"{request.method} {request.path}{checked}"
        for server in (self.mc, self.ml, self.lp, self.pm, self.chat):
            found.update(server.arrivals())
        found.update(self.eb.arrivals())
        for invoice in self.mb.invoices.values():
            contact = self.mb.contacts.get(str(invoice.get("contact_id")), {})
            who = (
                contact.get("company_name")
                or " ".join(str(contact.get(k) or "") for k in ("firstname", "lastname")).strip()
            )
            lines = len(invoice.get("details_attributes") or [])
            found[f"invoice:{invoice.get('reference')}"] = (
                f"Moneybird {invoice.get('state')} sales invoice {invoice.get('reference')} for {who}, {lines} lines"
            )
        return found


def _json_text(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return body.decode(errors="replace")
    return str(data.get("text", data)) if isinstance(data, dict) else str(data)
