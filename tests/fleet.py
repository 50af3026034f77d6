"""Several daemons on one store, for tests and the benchmark: their config and a load spread over them.

``fleet_config`` is a daemon config whose single rule sends each paid order to a sink with the order id
in the body, so every delivery can be traced back to its webhook. ``spread`` posts one signed webhook
per order id, round-robin over the instances like a load balancer; a webhook that an instance does not
accept (connection refused, 5xx) goes to the next one, as Plug&Pay retries, until one accepts it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field

import aiohttp

from tests.support import WEBHOOK_KEY, signed_headers, webhook_body, welcome_rule


def fleet_config(
    *,
    port: int,
    api_url: str,
    sink_url: str,
    store_url: str,
    lease: str = "4s",
    concurrency: int = 4,
    schedule: str = "[0.2s, 0.5s, 1s]",
) -> str:
    return f"""version: 1
server: {{listen: "127.0.0.1:{port}", path: /webhooks/plugandpay}}
plugandpay:
  api_url: {api_url}
  api_token: "${{PLUGANDPAY_API_TOKEN}}"
  webhook_key: "{WEBHOOK_KEY}"
  timeout: 2s
  lease: {lease}
  retry: [0.2s, 0.5s]
store: {{url: "{store_url}"}}
delivery: {{schedule: {schedule}, timeout: 2s, lease: {lease}, concurrency: {concurrency}}}
connectors:
  sink: {{type: http, base_url: "{sink_url}"}}
{welcome_rule({"order": "order.id", "email": "order.billing.contact.email"})}"""


@dataclass
class Spread:
    accepted: dict[int, int] = field(default_factory=dict)  # order id → index of the instance that took it
    refused: int = 0  # tries that an instance did not accept (each was retried elsewhere)


async def spread(urls: list[str], ids: Iterable[int], *, concurrency: int = 16, result: Spread | None = None) -> Spread:
    """Post a signed ``order_paid`` webhook for each order id until some instance accepts it."""
    result = result if result is not None else Spread()
    pending = list(ids)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def post(ident: int) -> None:
            data = webhook_body("order_paid", ident)
            headers = signed_headers(data)
            for attempt in range(200):
                index = (ident + attempt) % len(urls)
                try:
                    async with session.post(urls[index], data=data, headers=headers) as response:
                        await response.read()
                        if 200 <= response.status < 300:
                            result.accepted[ident] = index
                            return
                        if response.status < 500:
                            raise AssertionError(f"webhook {ident} refused with {response.status}")
                except (aiohttp.ClientError, OSError, TimeoutError):
                    pass
                result.refused += 1
                await asyncio.sleep(min(0.01 * attempt, 0.5))  # pacing retries, as Plug&Pay does
            raise AssertionError(f"no instance accepted webhook {ident}")

        async def worker() -> None:
            while pending:
                await post(pending.pop(0))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return result


__all__ = ["WEBHOOK_KEY", "Spread", "fleet_config", "spread"]
