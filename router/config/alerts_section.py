"""The ``alerts:`` section checked and typed: the channels alerts go through, and which kinds are on.

A channel names one of the config's connectors and the action keys every alert through it carries: an
email channel (``email``, ``postmark``) needs ``to``; an ``http`` channel (it posts ``{"text", "alert"}``
JSON, to its ``path`` or ``url`` if given), a ``slack`` or ``discord`` channel nothing more. Every kind is on unless
``when`` turns it off; ``when.backlog`` is also the age that counts as a backlog. ``daily_summary`` ("08:00")
sends yesterday's figures each day at that time of ``timezone`` (a tz database name). Problems name the
file, line and key, with the nearest known name.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping
from typing import Any

from router.config.coerce import coerce
from router.config.model import ALERT_KINDS, AlertChannel, AlertsConfig, ConnectorConfig
from router.config.source import Problems, YList, YMap, line_of
from router.text import suggest
from toolkit.fields import Field

# The connector types an alert can go through, and the action keys a channel of each must give.
CHANNEL_TYPES: Mapping[str, tuple[str, ...]] = {
    "email": ("to",),
    "postmark": ("to",),
    "http": (),  # path or url optional: a base_url that is the whole webhook URL is the target
    "slack": (),
    "discord": (),
}
KEYS = ("channels", "dashboard_url", "digest_every", "when", "daily_summary", "timezone")


def alerts_config(problems: Problems, root: YMap, connectors: Mapping[str, ConnectorConfig]) -> AlertsConfig:
    node = root.get("alerts")
    if node is None:
        return AlertsConfig()
    if not isinstance(node, YMap):
        problems.add(line_of(root, "alerts"), "alerts", "expected a mapping with channels (and when, digest_every)")
        return AlertsConfig()
    problems.unknown_keys(node, "alerts", KEYS)
    values: dict[str, Any] = {}
    for key, kind in (("dashboard_url", "str"), ("digest_every", "duration")):
        if node.get(key) is not None:
            try:
                values[key] = coerce(Field(kind), node[key])
            except ValueError as exc:
                problems.add(line_of(node, key), f"alerts.{key}", str(exc))
    values["channels"] = tuple(_channels(problems, node, connectors))
    values.update(_when(problems, node))
    values.update(_daily(problems, node))
    return AlertsConfig(**values)


def _daily(problems: Problems, node: YMap) -> dict[str, Any]:
    out: dict[str, Any] = {}
    zone = node.get("timezone")
    if zone is not None:
        try:
            zoneinfo.ZoneInfo(str(zone))
            out["timezone"] = str(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            problems.add(
                line_of(node, "timezone"), "alerts.timezone", f"unknown time zone {zone!r} (e.g. Europe/Amsterdam, UTC)"
            )
    at = node.get("daily_summary")
    if at is None:
        return out
    if isinstance(at, int) and not isinstance(at, bool):
        # YAML 1.1 reads an unquoted 8:00 as the number 480.
        problems.add(line_of(node, "daily_summary"), "alerts.daily_summary", 'write the time in quotes: "08:00"')
        return out
    found = re.fullmatch(r"([01]?[0-9]|2[0-3]):([0-5][0-9])", str(at).strip())
    if found is None:
        problems.add(
            line_of(node, "daily_summary"),
            "alerts.daily_summary",
            f'expected a time of day such as "08:00", got {at!r}',
        )
        return out
    out["daily_summary"] = int(found[1]) * 60 + int(found[2])
    return out


def _channels(problems: Problems, node: YMap, connectors: Mapping[str, ConnectorConfig]) -> list[AlertChannel]:
    given = node.get("channels")
    if not isinstance(given, YList) or not given:
        problems.add(line_of(node, "channels"), "alerts.channels", "expected a list of {connector: NAME, ...}")
        return []
    found = []
    for index, item in enumerate(given):
        where, line = f"alerts.channels[{index}]", line_of(given, index)
        if not isinstance(item, YMap) or not item.get("connector"):
            problems.add(line, where, "expected {connector: NAME, ...} naming one of the config's connectors")
            continue
        name = str(item["connector"])
        connector = connectors.get(name)
        if connector is None:
            known = ", ".join(sorted(connectors)) or "none"
            problems.add(
                line, f"{where}.connector", f"no connector {name!r}{suggest(name, connectors)} (known: {known})"
            )
            continue
        needs = CHANNEL_TYPES.get(connector.type)
        if needs is None:
            usable = ", ".join(CHANNEL_TYPES)
            problems.add(
                line, f"{where}.connector", f"{_a(connector.type)} connector cannot carry an alert (use {usable})"
            )
            continue
        fields = {str(k): v for k, v in item.items() if k != "connector"}
        if needs and not any(fields.get(key) for key in needs):
            problems.add(line, where, f"{_a(connector.type)} channel needs {' or '.join(needs)}")
            continue
        found.append(AlertChannel(name, fields))
    return found


def _when(problems: Problems, node: YMap) -> dict[str, Any]:
    when = node.get("when")
    if when is None:
        return {}
    if not isinstance(when, YMap):
        problems.add(line_of(node, "when"), "alerts.when", "expected a mapping of kind: true / false")
        return {}
    kinds, backlog = set(ALERT_KINDS), None
    for key, value in when.items():
        where, line = f"alerts.when.{key}", line_of(when, key)
        if key not in ALERT_KINDS:
            problems.add(line, where, f"unknown kind{suggest(str(key), ALERT_KINDS)} (known: {', '.join(ALERT_KINDS)})")
        elif value is False:
            kinds.discard(key)
        elif key == "backlog" and value is not True:
            try:
                backlog = coerce(Field("duration"), value)
            except ValueError as exc:
                problems.add(line, where, f"true, false or an age such as 15m: {exc}")
        elif value is not True:
            problems.add(line, where, "expected true or false")
    out: dict[str, Any] = {"kinds": frozenset(kinds)}
    if backlog is not None:
        out["backlog"] = backlog
    return out


def _a(word: str) -> str:
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"
