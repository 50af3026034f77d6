"""Connector types by name: the built-in ones, and those other packages register as plugins.

A package adds a connector type through the entry-point group ``plugpay_router.connectors``
(``ntfy = "plugpay_ntfy:NtfyConnector"`` in its ``pyproject.toml``); the router loads the group when a config
is first loaded and again on every reload (``load_plugins``), so a newly installed plugin is found by a
SIGHUP. A plugin that fails to import, is not a ``Connector`` subclass, or would shadow a built-in type is
not registered: it is kept as a ``Plugin`` with the reason, and a config that uses its type gets an error
naming the package, never a crash. Importing this module imports every built-in type (aiosmtplib with the
email one); nothing that only opens the store or reads JSON needs it.

``connector_class`` is the type that serves one configured connector: the registered type, or the one it
is an alias for (``type: invoice`` with ``flavor: moneybird`` is the ``moneybird`` type).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from connectors.activecampaign import ActiveCampaignConnector
from connectors.base import Connector
from connectors.discord import DiscordConnector
from connectors.eboekhouden import EboekhoudenConnector
from connectors.email import EmailConnector
from connectors.http import HttpConnector
from connectors.invoice import InvoiceConnector
from connectors.laposta import LapostaConnector
from connectors.mailchimp import MailchimpConnector
from connectors.mailerlite import MailerLiteConnector
from connectors.moneybird import MoneybirdConnector
from connectors.postmark import PostmarkConnector
from connectors.slack import SlackConnector

ENTRY_POINT_GROUP = "plugpay_router.connectors"

BUILT_IN: dict[str, type[Connector]] = {
    ActiveCampaignConnector.type: ActiveCampaignConnector,
    EmailConnector.type: EmailConnector,
    HttpConnector.type: HttpConnector,
    InvoiceConnector.type: InvoiceConnector,
    MoneybirdConnector.type: MoneybirdConnector,
    SlackConnector.type: SlackConnector,
    DiscordConnector.type: DiscordConnector,
    MailchimpConnector.type: MailchimpConnector,
    MailerLiteConnector.type: MailerLiteConnector,
    LapostaConnector.type: LapostaConnector,
    EboekhoudenConnector.type: EboekhoudenConnector,
    PostmarkConnector.type: PostmarkConnector,
}
# Every usable type: the built-ins, the plugins that loaded (and, in tests, types registered by hand).
CONNECTOR_TYPES: dict[str, type[Connector]] = dict(BUILT_IN)


@dataclass(frozen=True)
class Plugin:
    """One entry point of the group: the type it names, where it points, its package, and why it did not
    load (None when it did)."""

    type: str
    value: str  # "module:Class"
    package: str
    error: str | None = None

    def __str__(self) -> str:
        where = f"connector type {self.type!r} from plugin package {self.package!r} ({self.value})"
        return where if self.error is None else f"{where} failed to load: {self.error}"


_plugins: dict[str, Plugin] = {}
_loaded = False


def load_plugins() -> list[Plugin]:
    """Read the entry-point group again and register what loads; the plugins, loaded or not, by type."""
    global _loaded
    for name in [name for name, plugin in _plugins.items() if plugin.error is None]:
        CONNECTOR_TYPES.pop(name, None)  # an uninstalled plugin's type goes with it
    _plugins.clear()
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        package = entry.dist.name if entry.dist is not None else "?"
        error, found = _load(entry)
        _plugins[entry.name] = Plugin(entry.name, entry.value, package, error)
        if found is not None:
            CONNECTOR_TYPES[entry.name] = found
    _loaded = True
    return list(_plugins.values())


def _load(entry: metadata.EntryPoint) -> tuple[str | None, type[Connector] | None]:
    """(why the entry point cannot be used, or None; the class when it can)."""
    if entry.name in BUILT_IN:
        return f"would shadow the built-in type {entry.name!r}", None
    try:
        found = entry.load()
    except Exception as exc:  # any import-time failure of somebody else's package
        return f"{type(exc).__name__}: {exc}", None
    if not (isinstance(found, type) and issubclass(found, Connector)):
        return "is not a subclass of connectors.base.Connector", None
    if getattr(found, "type", None) != entry.name:
        return f"the class says type {getattr(found, 'type', None)!r}, not {entry.name!r}", None
    return None, found


def plugins() -> list[Plugin]:
    """The plugins of the group, loading them the first time."""
    if not _loaded:
        load_plugins()
    return list(_plugins.values())


def plugin(kind: str) -> Plugin | None:
    return next((p for p in plugins() if p.type == kind), None)


def connector_class(kind: str, settings: Mapping[str, Any]) -> type[Connector]:
    """The class that builds and describes a connector of type ``kind`` with these (checked) settings."""
    return CONNECTOR_TYPES[kind].resolve(settings)
