"""An alert event's deliveries: one per channel, made by the route stage when it takes the alert event.

The alert loop stores an alert as an event (source ``alert``) that names its kind and items; routing it
renders the message for each channel of the config in force (``message.request_for``), seals the channel's
secrets as any action's (``render.secret_refs``), and stores one delivery per channel under the rule name
``alert:<kind>``, so the deliver stage sends it with the channel connector's retries like any delivery.
An alert about a destination is not sent through that destination, and a channel whose connector is gone
from the config gets a dead delivery that says so. Errors in an alert are masked as in the logs.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

from router.alerts.message import Alert, request_for
from router.config import Config
from router.logs import mask_addresses
from router.render.secret_refs import seal
from router.secrets import masker
from router.store.base import EventRecord, NewDelivery

SOURCE = "alert"
RULE_PREFIX = "alert:"
ABOUT_A_DESTINATION = ("destination_down", "destination_recovered")


def alert_of(payload: Any) -> Alert:
    data = payload if isinstance(payload, dict) else {}
    return Alert(
        kind=str(data.get("kind") or "alert"),
        items=[dict(item) for item in data.get("items") or () if isinstance(item, dict)],
        first_at=float(data.get("first_at") or 0.0),
        last_at=float(data.get("last_at") or 0.0),
        count=int(data.get("count") or 0),
        subject=str(data.get("subject") or ""),
        extra=dict(data["extra"]) if isinstance(data.get("extra"), dict) else {},
    )


def masked(alert: Alert, secrets: frozenset[str]) -> Alert:
    """The alert with every secret and e-mail address in its items masked as the logs mask them: an error
    text can quote a destination's answer, which may name a customer's address."""
    mask = masker(secrets)

    def clean(value: Any) -> Any:
        return mask_addresses(mask(value)) if isinstance(value, str) else value

    return replace(alert, items=[{key: clean(value) for key, value in item.items()} for item in alert.items])


def alert_deliveries(record: EventRecord, config: Config) -> list[NewDelivery]:
    alert = masked(alert_of(record.event.payload), config.secrets)
    found = []
    for index, channel in enumerate(config.alerts.channels):
        if alert.kind in ABOUT_A_DESTINATION and channel.connector == alert.subject.rsplit("/", 1)[-1]:
            continue  # never tell a destination that it is down (a shop's breakers are named shop/connector)
        key = hashlib.sha256(f"{record.event.dedupe_key}|{index}|{channel.connector}".encode()).hexdigest()
        common: dict[str, Any] = dict(
            rule=RULE_PREFIX + alert.kind,
            action_index=index,
            connector=channel.connector,
            action_key=key,
            delivery_key=f"ppr_alert_{key[:26]}",
        )
        target = config.connectors.get(channel.connector)
        if target is None:
            error = f"alert channel {channel.connector!r} is not in the config any more"
            found.append(NewDelivery(request=None, schedule=(), status="dead", error=error, **common))
            continue
        request = request_for(target.type, channel.fields, alert, config.alerts.dashboard_url)
        schedule = target.schedule if target.schedule is not None else config.delivery.schedule
        found.append(NewDelivery(request=seal(request, config.secret_vars), schedule=schedule, **common))
    return found
