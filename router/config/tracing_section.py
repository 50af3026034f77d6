"""The ``tracing:`` section checked and typed, with the standard ``OTEL_*`` variables that turn traces on too.

Traces are on with a ``tracing:`` section (``otlp_endpoint``: the collector's OTLP/HTTP base URL, to which
``/v1/traces`` is added; ``service_name``; ``sample_ratio`` from 0 to 1) or when the environment names an
exporter: ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) or ``OTEL_TRACES_EXPORTER``
(``otlp``, ``console``); ``OTEL_TRACES_EXPORTER=none`` and ``OTEL_SDK_DISABLED=true`` keep them off. Traces
need the ``otel`` extra: a section without it is an error that names its line and the install command, the
variables without it only a warning (they may be set for other programs of the machine). Whether the extra is
there is read from the installed distributions; nothing of OpenTelemetry is imported here.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from router.config.coerce import coerce
from router.config.model import TracingConfig
from router.config.source import Problems, YMap, line_of
from router.text import suggest
from toolkit.fields import Field

KEYS = ("otlp_endpoint", "service_name", "sample_ratio")
INSTALL = "pip install 'plugpay-router[otel]'"
DISTRIBUTIONS = ("opentelemetry-sdk", "opentelemetry-exporter-otlp-proto-http")
EXPORTERS = ("otlp", "console")
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


def missing_extra() -> list[str]:
    """The distributions of the ``otel`` extra that are not installed."""
    missing = []
    for name in DISTRIBUTIONS:
        try:
            importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
    return missing


def tracing_config(problems: Problems, root: YMap, env: Mapping[str, str], *, offline: bool = False) -> TracingConfig:
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return TracingConfig()
    exporter = _env_exporter(problems, env)
    if "tracing" not in root and exporter is None:
        return TracingConfig()
    values: dict[str, Any] = {"enabled": True, "exporter": exporter or "otlp"}
    if env.get("OTEL_SERVICE_NAME"):
        values["service_name"] = env["OTEL_SERVICE_NAME"]
    if env.get("OTEL_TRACES_SAMPLER"):
        values["sample_ratio"] = None  # the SDK reads the sampler and its argument itself
    missing = [] if offline else missing_extra()
    if "tracing" not in root:
        if missing:
            problems.warn(1, "tracing", f"OTEL_* variables ask for traces, but {_without(missing)}: no traces")
            return TracingConfig()
        return TracingConfig(**values)
    node = root["tracing"] if root["tracing"] is not None else YMap()
    line = line_of(root, "tracing")
    if not isinstance(node, YMap):
        problems.add(line, "tracing", "expected a mapping with otlp_endpoint (and service_name, sample_ratio)")
        return TracingConfig()
    if missing:
        problems.add(line, "tracing", f"traces need the otel extra, but {_without(missing)}")
    problems.unknown_keys(node, "tracing", KEYS)
    values["exporter"] = "otlp"
    values.update(_section(problems, node, line, env))
    return TracingConfig(**values)


def _without(missing: list[str]) -> str:
    return f"it is not installed ({', '.join(missing)} missing): {INSTALL}"


def _env_exporter(problems: Problems, env: Mapping[str, str]) -> str | None:
    """The exporter the environment asks for (None: it asks for no traces)."""
    named = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if named == "none":
        return None
    if named and named not in EXPORTERS:
        known = f"{', '.join(EXPORTERS)}, none"
        message = f"OTEL_TRACES_EXPORTER={named!r} is not one this router ships{suggest(named, EXPORTERS)}"
        problems.warn(1, "tracing", f"{message} (known: {known}): using otlp")
        return "otlp"
    if named:
        return named
    return "otlp" if any(env.get(name) for name in ENDPOINT_VARIABLES) else None


def _section(problems: Problems, node: YMap, line: int, env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    endpoint = node.get("otlp_endpoint")
    if endpoint is None:
        if not any(env.get(name) for name in ENDPOINT_VARIABLES):
            problems.add(
                line, "tracing.otlp_endpoint", "is required (the collector's URL, such as http://127.0.0.1:4318)"
            )
    else:
        parts = urlsplit(str(endpoint))
        if isinstance(endpoint, str) and parts.scheme in ("http", "https") and parts.hostname:
            out["otlp_endpoint"] = endpoint
        else:
            message = f"expected the collector's OTLP/HTTP URL, such as http://127.0.0.1:4318, got {endpoint!r}"
            problems.add(line_of(node, "otlp_endpoint"), "tracing.otlp_endpoint", message)
    name = node.get("service_name")
    if name is not None:
        if isinstance(name, str) and name.strip():
            out["service_name"] = name.strip()
        else:
            problems.add(line_of(node, "service_name"), "tracing.service_name", f"expected a name, got {name!r}")
    ratio = node.get("sample_ratio")
    if ratio is not None:
        try:
            value = coerce(Field("number"), ratio)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"expected a number from 0 to 1, got {ratio!r}")
            out["sample_ratio"] = value
        except ValueError as exc:
            problems.add(line_of(node, "sample_ratio"), "tracing.sample_ratio", str(exc))
    return out
