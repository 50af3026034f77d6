"""The settings of each section of the config file, as ``Field`` specs: the keys ``check`` knows and their kinds.

``build`` validates every section against these (defaults live in ``model``); ``partial`` reads the store
and retention sections with the same specs, so a store command and the daemon agree on what a key means.
"""

from __future__ import annotations

from connectors.base import Field

SERVER_FIELDS = {
    "listen": Field("any"),
    "path": Field("str"),
    "max_body_bytes": Field("int"),
    "header_timeout": Field("duration"),
    "body_timeout": Field("duration"),
    "keepalive_timeout": Field("duration"),
    "max_connections": Field("int"),
    "max_connections_per_address": Field("int"),
    "v1_path": Field("str"),
}
ADMIN_FIELDS = {
    "token": Field("str", secret=True),
    "listen": Field("any"),
    "hosts": Field("list"),
    "public_url": Field("str"),
    "trusted_proxies": Field("list"),
    "users": Field("list", secret=True),  # [{name, token, shops}]: each user's token is a secret
}
SIGNATURE_FIELDS = {"header": Field("str"), "encoding": Field("str", choices=("hex", "base64"))}
PLUGANDPAY_FIELDS = {
    "api_url": Field("str"),
    "api_token": Field("str", secret=True),
    "webhook_key": Field("str", secret=True),
    "allow_unsigned": Field("bool"),
    "signature": Field("any"),  # validated against SIGNATURE_FIELDS
    "timeout": Field("duration"),
    "concurrency": Field("int"),
    "retry": Field("durations"),
    "lease": Field("duration"),
    "max_response_bytes": Field("int"),
    "trigger_aliases": Field("map"),
    "confirm_state": Field("any"),  # true / false, or {trigger: true/false}
    "state_recheck": Field("durations"),
    "rate_limit": Field("rate"),
    "shop_rules": Field("str", choices=("universal", "per_product")),
}
QUARANTINE_FIELDS = {
    "max_entries": Field("int"),
    "max_bytes": Field("int"),
    "max_age": Field("duration"),
    "per_ip": Field("rate"),
}
RECONCILE_FIELDS = {
    "enabled": Field("bool"),
    "every": Field("duration"),
    "lookback": Field("duration"),
    "grace": Field("duration"),
    "triggers": Field("list"),
}
STORE_FIELDS = {"url": Field("str")}
DELIVERY_FIELDS = {
    "schedule": Field("durations"),
    "timeout": Field("duration"),
    "concurrency": Field("int"),
    "lease": Field("duration"),
    "render_timeout": Field("duration"),
}
RETENTION_FIELDS = {
    "events": Field("duration"),
    "dedupe_window": Field("duration"),
    "keep_payloads": Field("bool"),
    "interval": Field("duration"),
    "action_keys": Field("duration"),
}
CONNECTOR_COMMON = {
    "type": Field("str", required=True),
    "schedule": Field("durations"),
    "rate_limit": Field("rate"),
    "breaker": Field("any"),  # validated against toolkit.protection.BREAKER_FIELDS
}
SECTIONS = (
    "version",
    "server",
    "admin",
    "plugandpay",
    "store",
    "delivery",
    "retention",
    "quarantine",
    "reconcile",
    "alerts",
    "tracing",
    "connectors",
    "rules",
    "shops",
)
