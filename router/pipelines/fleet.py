"""The pipelines of one daemon: one per shop, found by name and by webhook path, and a reload applied per shop.

Without ``shops:`` the fleet is one pipeline (shop ``""``) answering ``server.path``. With ``shops:`` each
shop that built cleanly has a pipeline answering ``server.path/<name>``, beside the router's own pipeline
(shop ``""``: the alert events). A shop whose section or rules file has problems is not started and its
webhook URL answers 503, so Plug&Pay tries again later; on reload a shop with problems keeps its last good
config, a new shop starts, and a shop no longer in the file stops (its stored work waits for its return).
Breakers are named ``shop/connector`` when there are shops, so no shop's name appears under another's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import structlog

from router.config import Config
from router.loaded import Loaded
from router.pipelines.pipeline import Pipeline, Shared

log = structlog.get_logger("router.fleet")


@dataclass
class Changes:
    """What applying a config did: the loads to close once their sends ended, the pipelines to start and stop."""

    retired: list[Loaded] = field(default_factory=list)
    started: list[Pipeline] = field(default_factory=list)
    stopped: list[Pipeline] = field(default_factory=list)


def loads(config: Config) -> list[Loaded]:
    """What each pipeline of ``config`` serves: the file itself, and each shop that built."""
    return [Loaded.build(config), *(Loaded.build(shop) for shop in config.shops.values())]


class Fleet:
    def __init__(self, config: Config, shared: Shared):
        self.config = config
        self.shared = shared
        self.by_name: dict[str, Pipeline] = {one.config.shop: Pipeline(one, shared) for one in loads(config)}
        self.tell_broken(config)

    @property
    def main(self) -> Pipeline:
        """The pipeline of the file's own config: the one shop, or with ``shops:`` the router's own work."""
        return self.by_name[""]

    def __iter__(self) -> Iterator[Pipeline]:
        return iter(list(self.by_name.values()))

    def for_path(self, path: str) -> Pipeline | tuple[int, str]:
        """The pipeline whose webhook URL ``path`` is, or the status and message to answer instead."""
        server = self.config.server
        if not self.shared.by_shop:
            return self.main if path == server.path else (404, f"no webhook endpoint at {path}")
        prefix = server.path.rstrip("/") + "/"  # a shop's is router.config.webhook_path
        name = path[len(prefix) :] if path.startswith(prefix) else ""
        if name and name in self.by_name:
            return self.by_name[name]
        if name in self.config.broken_shops:
            return 503, f"shop {name} is not running: its config has problems (plugpay-router check -c CONFIG)"
        if path == server.path:
            return 404, f"no webhook endpoint at {path}: each shop has its own, {prefix}<shop>"
        return 404, f"no webhook endpoint at {path}"

    def breakers(self) -> dict[str, str]:
        return {
            self._named(p, name): state for p in self for name, state in p.loaded.connectors.breaker_states().items()
        }

    def breaker_errors(self) -> dict[str, str]:
        return {
            self._named(p, name): error for p in self for name, error in p.loaded.connectors.breaker_errors().items()
        }

    def _named(self, pipeline: Pipeline, connector: str) -> str:
        return f"{pipeline.shop}/{connector}" if pipeline.shop else connector

    def wake(self, kind: str, shop: str | None = None) -> None:
        """New work of ``kind`` (``events`` or ``deliveries``) may be waiting: ``shop``'s pipeline looks, or
        every pipeline when no shop is named."""
        named = self.by_name.get(shop) if shop is not None else None
        for pipeline in [named] if named is not None else ([] if shop is not None else list(self)):
            (pipeline.route_loop if kind == "events" else pipeline.deliver_loop).wake()

    def apply(self, config: Config) -> Changes:
        """Serve ``config`` from now on, shop by shop; a shop with problems keeps what it had."""
        changes = Changes()
        for one in loads(config):
            name = one.config.shop
            pipeline = self.by_name.get(name)
            if pipeline is None:
                self.by_name[name] = pipeline = Pipeline(one, self.shared)
                changes.started.append(pipeline)
            else:
                changes.retired.append(pipeline.swap(one))
        for name in [n for n in self.by_name if n and n not in config.shops and n not in config.broken_shops]:
            changes.stopped.append(self.by_name.pop(name))
        self.config = config
        self.tell_broken(config)
        return changes

    def tell_broken(self, config: Config) -> None:
        self.shared.metrics.set_shops(config.shops, config.broken_shops)
        for name, problems in config.broken_shops.items():
            kept = "keeps its last good config" if name in self.by_name else "is not running"
            log.error(f"shop config has problems: the shop {kept}", shop=name, errors=[str(p) for p in problems])
            self.shared.note("reload_failed", {"shop": name, "error": str(problems[0])[:300]})
