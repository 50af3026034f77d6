"""The YAML config: read a file, interpolate ``${VAR}``, validate every key, and build typed, immutable objects.

``model`` holds the dataclasses (and every default), ``source`` the YAML reader that keeps line numbers,
``env`` the ``${VAR}`` interpolation, ``coerce`` the typing of one value, ``build`` the sections and
connectors, and ``rules`` the compiled rules. Every problem in a file is reported at once, each with its
file:line and key path.

The builder is imported when a config is first parsed, not here: it imports every connector type, which
a command that only reads the store (``router.config.partial``) never needs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from router.config.model import Config, ConnectorConfig
from router.config.source import ConfigError, Problem, paused_gc, read_source
from router.secrets import remember
from router.text import suggest

__all__ = [
    "Config",
    "ConfigError",
    "ConnectorConfig",
    "load_config",
    "load_shop",
    "parse_config",
    "require",
    "shop_config",
]


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None, *, offline: bool = False) -> Config:
    """Read and validate a config file. Raises ConfigError listing every problem.

    ``offline``: for commands that send nothing and call no server; secrets may be unset (``build``).
    """
    file = str(path)
    return parse_config(read_source(file, "config"), file, os.environ if env is None else env, offline=offline)


def parse_config(
    text: str, file: str = "config.yaml", env: Mapping[str, str] | None = None, *, offline: bool = False
) -> Config:
    """Validate the config in ``text`` (``file`` names it in problems). Raises ConfigError listing every problem."""
    from router.config.build import build

    with paused_gc():
        config = build(text, file, os.environ if env is None else env, offline=offline)
    remember(config.secrets)  # a command's error printed later (a store that will not open) masks them too
    return config


def require(config: Config, *keys: str) -> None:
    """Raise ConfigError naming the unset variables of an offline-loaded ``config`` under ``keys`` (key paths or
    their prefixes): what this command is about to use after all."""
    needed = [p for p in config.unset if any(p.path == k or p.path.startswith((f"{k}.", f"{k}[")) for k in keys)]
    if needed:
        raise ConfigError(needed)


def load_shop(path: str | os.PathLike[str], shop: str | None, *, offline: bool = False) -> Config:
    """The config ``-c FILE [--shop NAME]`` names for a command that acts on one shop (``shop_config``)."""
    return shop_config(load_config(path, offline=offline), shop)


def shop_config(config: Config, shop: str | None) -> Config:
    """The file's own config when it has no ``shops:``; else the config of the shop named, which must be one."""
    names = sorted({*config.shops, *config.broken_shops})
    if not names:
        if shop is not None:
            raise ConfigError([Problem(config.file, 0, "", f"--shop {shop}: this config has no shops:")])
        return config
    if shop is None:
        message = f"this config serves several shops ({', '.join(names)}): name one with --shop NAME"
        raise ConfigError([Problem(config.file, 0, "", message)])
    if shop in config.broken_shops:
        raise ConfigError(list(config.broken_shops[shop]))
    if shop not in config.shops:
        message = f"no shop {shop!r}{suggest(shop, names)} (known: {', '.join(names)})"
        raise ConfigError([Problem(config.file, 0, "--shop", message)])
    return config.shops[shop]


def webhook_path(config: Config) -> str:
    """Where the router takes this config's webhooks: ``server.path``, or ``server.path/<shop>`` for a shop."""
    return f"{config.server.path.rstrip('/')}/{config.shop}" if config.shop else config.server.path
