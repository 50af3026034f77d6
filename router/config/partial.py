"""Just the settings a command that reads the store needs, without the secrets it does not.

``events``, ``deliveries``, ``trace``, ``replay``, ``reroute``, ``purge`` (and an operator's shell in a
container) must work where the connectors' tokens are not in the environment: ``load_store_settings``
reads the file, interpolates ``${VAR}`` everywhere (a variable that is set may be a secret to mask), but
only a problem in the ``store`` or ``retention`` section is an error. Values of secret-named keys are
remembered for masking as well, so what these commands print never shows one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from router.config.coerce import coerce
from router.config.env import interpolate, problem_mask
from router.config.model import RetentionConfig, StoreConfig
from router.config.sections import RETENTION_FIELDS, STORE_FIELDS
from router.config.source import ConfigError, Problem, Problems, YList, YMap, key_path, line_of, read_source
from router.config.source import load as load_yaml
from router.secrets import SECRET_NAME

SECTIONS = ("store", "retention")


@dataclass(frozen=True)
class StoreSettings:
    """Where the store is (``base``: the folder relative SQLite paths resolve against) and its retention."""

    store: StoreConfig
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    base: Path = field(default_factory=Path.cwd)
    secrets: frozenset[str] = frozenset()


def store_settings_from_url(url: str) -> StoreSettings:
    """``--store URL`` without a config file: default retention, relative paths from the working folder."""
    return StoreSettings(StoreConfig(url=url))


def load_store_settings(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> StoreSettings:
    """The ``store`` and ``retention`` sections of a config file; ConfigError only for problems in those."""
    file = str(path)
    root = load_yaml(read_source(file, "config"), file)
    if not isinstance(root, YMap):
        raise ConfigError([Problem(file, 1, "", "the config must be a mapping of sections")])
    problems = Problems(file)
    secrets: set[str] = set()
    read: set[str] = set()
    interpolate(root, "", os.environ if env is None else env, problems, secrets, read)
    problems.items = [p for p in problems.items if p.path.split(".", 1)[0].split("[", 1)[0] in SECTIONS]
    store = StoreConfig(**_section(root, "store", STORE_FIELDS, problems))
    retention = RetentionConfig(**_section(root, "retention", RETENTION_FIELDS, problems))
    try:
        problems.raise_if_any()
    except ConfigError as exc:  # masked as the full loader masks: nothing read from the environment is echoed
        raise exc.masked(problem_mask(secrets, read)) from None
    secrets.update(_secret_named(root))
    return StoreSettings(store, retention, Path(file).resolve().parent, frozenset(s for s in secrets if len(s) >= 4))


def _section(root: YMap, name: str, fields: Mapping[str, Any], problems: Problems) -> dict[str, Any]:
    node = root.get(name)
    if node is None:
        return {}
    if not isinstance(node, YMap):
        problems.add(line_of(root, name), name, f"expected a mapping, got {type(node).__name__}")
        return {}
    out: dict[str, Any] = {}
    for key, spec in fields.items():
        if node.get(key) is not None:
            try:
                out[key] = coerce(spec, node[key])
            except ValueError as exc:
                problems.add(line_of(node, key), key_path(name, key), str(exc))
    return out


def _secret_named(node: Any) -> set[str]:
    """Text values under secret-named keys anywhere in the tree (``password: hunter22`` written in the file)."""
    found: set[str] = set()
    items: Any = node.items() if isinstance(node, YMap) else enumerate(node) if isinstance(node, YList) else ()
    for key, value in items:
        if isinstance(value, str) and value and SECRET_NAME.search(str(key)):
            found.add(value)
        elif isinstance(value, YMap | YList):
            found |= _secret_named(value)
    return found
