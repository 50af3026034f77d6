"""The ``shops:`` section: several Plug&Pay shops in one router, each shaped into the tree of a one-shop config.

A shop has a name (lower-case letters, digits, ``-`` and ``_``: it goes into its webhook URL, metrics, logs
and ``--shop``), its Plug&Pay credentials (``plugandpay:``, over the top-level ``plugandpay:`` as defaults),
its own connectors (over the shared ones, whose names they may shadow), its rules (inline ``rules:`` or a
``rules_file`` beside the config) and its ``reconcile:``. ``shop_sources`` reads each shop into a
``ShopSource``: a tree the config builder checks exactly as it checks a one-shop file, with the problems
found so far (a bad name, a rules file that cannot be read). Each shop's problems stay its own, so one
shop's broken rules file never stops another shop.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from router.config.env import interpolate
from router.config.model import Config
from router.config.source import ConfigError, Problem, Problems, YList, YMap, line_of, load, read_source

SHOP_KEYS = ("plugandpay", "connectors", "rules", "rules_file", "reconcile")
PER_SHOP = ("rules", "reconcile")  # with shops:, these belong to each shop, not to the file
NAME = re.compile(r"[a-z0-9](?:[a-z0-9_-]{0,38}[a-z0-9])?")


@dataclass
class ShopSource:
    """One shop as a one-shop config tree, and where its rules came from."""

    name: str
    tree: YMap  # plugandpay (the shop's over the file's), connectors (its own), rules, reconcile
    problems: list[Problem] = field(default_factory=list)  # found while reading it: a bad name, a missing file
    rules_file: str | None = None  # the rules file's path, when the rules are not inline
    rules_text: str = ""  # its text: part of the shop's config version


def shop_sources(
    problems: Problems,
    root: YMap,
    env: Mapping[str, str],
    secrets: set[str],
    read: set[str],
    variables: dict[str, str],
    *,
    offline: bool = False,
) -> list[ShopSource]:
    """Each shop of the file's ``shops:``; problems of the section itself (not a mapping, top-level rules
    beside shops) go to ``problems``, the file's."""
    node = root.get("shops")
    if node is None:
        return []
    if not isinstance(node, YMap) or not node:
        problems.add(line_of(root, "shops"), "shops", "expected a mapping of shop name: {plugandpay, rules_file, ...}")
        return []
    for key in PER_SHOP:
        if key in root:
            problems.add(line_of(root, key), key, f"with shops:, {key} belong to each shop (shops.NAME.{key})")
    found = []
    for name, body in node.items():
        shop = ShopSource(str(name), _tree(root, body if isinstance(body, YMap) else None))
        own = Problems(problems.file)
        path = f"shops.{name}"
        if not NAME.fullmatch(str(name)):
            own.add(line_of(node, name), path, "a shop's name is 1-40 lower-case letters, digits, - and _")
        if not isinstance(body, YMap):
            own.add(line_of(node, name), path, "expected a mapping with plugandpay and rules_file (or rules)")
        else:
            own.unknown_keys(body, path, SHOP_KEYS)
            _read_rules(own, shop, body, path, env, secrets, read, variables, offline)
        shop.problems = own.items
        found.append(shop)
    return found


def in_shop(problem: Problem, shop: str) -> Problem:
    """A problem a shop's builder found in the config file, under the shop's key path."""
    return dataclasses.replace(problem, path=f"shops.{shop}.{problem.path}" if problem.path else f"shops.{shop}")


def share_secrets(config: Config) -> Config:
    """Every shop masks and seals every secret of the file, those of the other shops and rules files included."""
    if not config.shops:
        return config
    shops = {
        name: dataclasses.replace(shop, secrets=config.secrets, secret_vars=config.secret_vars)
        for name, shop in config.shops.items()
    }
    return dataclasses.replace(config, shops=shops)


def _tree(root: YMap, body: YMap | None) -> YMap:
    """The shop as a one-shop config: its plugandpay over the file's, and its own other sections."""
    tree = _ymap(body.line if body is not None else root.line)
    shared = root.get("plugandpay")
    own = body.get("plugandpay") if body is not None else None
    if isinstance(shared, YMap) or isinstance(own, YMap):
        merged = _ymap(own.line if isinstance(own, YMap) else shared.line)  # type: ignore[union-attr]
        for section in (shared, own):
            if isinstance(section, YMap):
                for key, value in section.items():
                    merged[key], merged.lines[key] = value, line_of(section, key)
        _put(tree, "plugandpay", merged, body.lines.get("plugandpay", tree.line) if body is not None else tree.line)
    elif own is not None and body is not None:
        _put(tree, "plugandpay", own, line_of(body, "plugandpay"))  # not a mapping: the builder says so
    for key in ("connectors", "rules", "reconcile"):
        if body is not None and key in body:
            _put(tree, key, body[key], line_of(body, key))
    return tree


def _read_rules(
    problems: Problems,
    shop: ShopSource,
    body: YMap,
    path: str,
    env: Mapping[str, str],
    secrets: set[str],
    read: set[str],
    variables: dict[str, str],
    offline: bool,
) -> None:
    """Put the rules of ``rules_file`` into the shop's tree, interpolated as the config file is."""
    given = body.get("rules_file")
    if given is None:
        if "rules" not in body:
            problems.add(body.line, path, "needs rules_file (or rules)")
        return
    if "rules" in body:
        problems.add(line_of(body, "rules_file"), f"{path}.rules_file", "give rules_file or rules, not both")
        return
    file = str(Path(problems.file).resolve().parent / str(given))
    try:
        text = read_source(file, f"rules file of shop {shop.name}")
        tree = load(text, file)
    except ConfigError as exc:
        for problem in exc.problems:  # one that cannot be read is told at the key that names it
            if problem.line < 1:
                problems.add(line_of(body, "rules_file"), f"{path}.rules_file", problem.message)
            else:
                problems.items.append(problem)
        return
    rules = tree.get("rules") if isinstance(tree, YMap) else tree
    if not isinstance(rules, YList):
        problems.items.append(Problem(file, 1, "rules", "expected a list of rules (or a mapping with rules:)"))
        return
    own = Problems(file)
    interpolate(rules, "rules", env, own, secrets, read, variables, offline=offline)
    problems.items.extend(own.items)
    shop.rules_file, shop.rules_text = file, text
    _put(shop.tree, "rules", rules, rules.line)


def _ymap(line: int) -> YMap:
    made = YMap()
    made.line, made.lines = line, {}
    return made


def _put(tree: YMap, key: str, value: object, line: int) -> None:
    tree[key], tree.lines[key] = value, line
