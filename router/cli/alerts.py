"""``alerts test -c FILE``: send one test alert through every channel of ``alerts:``, and show each answer.

Each channel's connector is built from the config as the daemon builds it and sends the test alert at once
(no store, no retry), so a wrong address, token or path shows here, not when something has gone wrong.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time

from connectors.base import ConnectorDefaults, DeliveryError, Outgoing, Throttled
from connectors.registry import connector_class
from router.alerts.message import Alert, request_for
from router.cli.errors import UserError
from router.config import Config, load_config
from router.secrets import json_masker


def cmd_alerts_test(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    if not config.alerts.enabled:
        raise UserError(f"{args.config} has no alerts.channels: nothing to test")
    results = asyncio.run(send_test(config))
    for line in results:
        print(line)
    return 0 if all(line.startswith("ok") for line in results) else 1


async def send_test(config: Config) -> list[str]:
    now = time.time()
    alert = Alert("test", ({"note": "sent by plugpay-router alerts test"},), now, now, 1)
    defaults = ConnectorDefaults(timeout=config.delivery.timeout, user_agent="plugpay-router/alerts-test")
    found = []
    for index, channel in enumerate(config.alerts.channels):
        target = config.connectors[channel.connector]
        request = request_for(target.type, channel.fields, alert, config.alerts.dashboard_url)
        connector = connector_class(target.type, target.settings)(target.name, target.settings, defaults)
        where = f"channels[{index}] {channel.connector} ({target.type})"
        try:
            sent = await connector.send(Outgoing(0, f"alert-test-{secrets.token_hex(8)}", 0, request))
            code = f"HTTP {sent.status_code}" if sent.status_code else "accepted"
            found.append(f"ok      {where}: {code} {sent.detail}".rstrip())
        except (DeliveryError, Throttled) as exc:
            found.append(f"failed  {where}: {exc}")
        finally:
            await connector.aclose()
    return [(config.secrets and _masked(line, config)) or line for line in found]


def _masked(line: str, config: Config) -> str:

    return json_masker(config.secrets)(line)
