"""``plugpay-router demo --keep-running``: what to try by hand, and a line for every delivery that finishes.

After the demo's table, everything stays up. ``Live.print_try_it`` prints the addresses (webhook URL and key,
sandbox, stand-ins, log), a ready ``plugpay-router trigger`` line, and writes ``demo.env`` so that commands in
another terminal (``simulate``, ``deliveries``) load the example config with the demo's addresses and store.
``Live.follow`` then polls the store and reports each further event's deliveries as they finish, and events
that failed or matched no rule, until SIGINT or SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from router.config import Config
from router.demo.report import Row, Screen, build_rows, connector_kinds
from router.demo.targets import DemoTargets
from router.store import Store
from router.store.base import DeliveryFilter

POLL = 0.5  # seconds between looks at the store while following


def write_env(path: Path, env: dict[str, str]) -> None:
    """``export NAME=value`` lines, for ``. demo.env`` in another shell."""
    lines = [f"export {name}={shlex.quote(value)}" for name, value in sorted(env.items())]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@dataclass
class Live:
    store: Store
    config: Config
    targets: DemoTargets
    screen: Screen
    seen: set[int] = field(default_factory=set)  # deliveries already reported

    def print_try_it(self, url: str, config_path: Path, env: dict[str, str]) -> None:
        folder, say, t = self.targets.folder, self.screen.say, self.targets
        write_env(folder / "demo.env", env)
        key, token = env["PLUGANDPAY_WEBHOOK_KEY"], env["PLUGANDPAY_API_TOKEN"]
        say()
        say("Everything keeps running. Try it by hand (Ctrl-C stops it all):")
        say(f"  webhook URL       {url}   (webhook key {key})")
        say(f"  Plug&Pay sandbox  {t.sandbox_url}/v2/orders/1043?include=items   (Bearer {token})")
        say(f"  SMTP catcher      127.0.0.1:{t.smtp.port}, every mail saved in {folder / 'mail'}")
        say(f"  HTTP sink         {t.sink.url}   (course platform under /lms, Slack under /slack)")
        say(f"  ActiveCampaign    {t.ac.url}/api/3      Moneybird  {t.mb.base_url}")
        say(f"  daemon log        {folder / 'router.log'}")
        say()
        say("Send another webhook (order 1043 is a masterclass with a one-click upsell):")
        say(f"  plugpay-router trigger order_paid 1043 --url {url} --key {key}")
        say("Look inside, from another terminal:")
        say(f"  . {folder / 'demo.env'}")
        say(f"  plugpay-router simulate -c {config_path} order_paid 1043")
        say(f"  plugpay-router deliveries -c {config_path}")
        say()
        say("New deliveries appear below as they finish.")

    async def follow(self, stop: asyncio.Event, done: set[int]) -> None:
        """Report what happens to every event not in ``done``, until ``stop`` is set."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), POLL)
            for event in reversed(await self.store.list_events(limit=200)):
                if event.id in done or event.status == "pending":
                    continue
                deliveries = await self.store.list_deliveries(DeliveryFilter(event_id=event.id), limit=1000)
                if event.status == "failed" or not deliveries:
                    done.add(event.id)
                    self._say(build_rows([event], [], connector_kinds(self.config), {})[0])
                    continue
                finished = [d for d in deliveries if d.status != "pending"]
                fresh = sorted((d for d in finished if d.id not in self.seen), key=lambda d: d.id)
                arrivals = self.targets.arrivals() if fresh else {}
                for delivery in fresh:
                    self.seen.add(delivery.id)
                    for row in build_rows([event], [delivery], connector_kinds(self.config), arrivals):
                        self._say(row)
                if all(d.status != "pending" for d in deliveries):
                    done.add(event.id)
        self.screen.say("Stopping.")

    def _say(self, row: Row) -> None:
        route = f"{row.rule} -> {row.connector}: " if row.connector != "-" else ""
        self.screen.say(f"  {row.outcome:<10} {row.trigger}  {route}{row.where}")
