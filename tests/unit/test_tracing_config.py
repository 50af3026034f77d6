"""The ``tracing:`` section and the ``OTEL_*`` variables: when traces are on, and every mistake as a problem at its
file, line and key; a config that asks for traces without the ``otel`` extra says how to install it."""

from __future__ import annotations

import pytest

from router.config import ConfigError, parse_config, tracing_section

BASE = """version: 1
plugandpay: {allow_unsigned: true}
connectors:
  hook: {type: http, base_url: https://hooks.example.nl}
"""


def problems(tracing: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(BASE + tracing, "shop.yaml", env or {})
    return [str(p) for p in info.value.problems]


def test_the_section_turns_traces_on_with_its_defaults() -> None:
    config = parse_config(BASE + "tracing: {otlp_endpoint: 'http://127.0.0.1:4318'}\n", "shop.yaml", {})
    tracing = config.tracing
    assert tracing.enabled and tracing.otlp_endpoint == "http://127.0.0.1:4318" and tracing.exporter == "otlp"
    assert tracing.service_name == "plugpay-router" and tracing.sample_ratio == 1.0
    given = parse_config(
        BASE + "tracing:\n  otlp_endpoint: https://otel.shop.nl\n  service_name: shop-a\n  sample_ratio: 0.25\n",
        "shop.yaml",
        {},
    ).tracing
    assert (given.service_name, given.sample_ratio) == ("shop-a", 0.25)


def test_without_the_section_or_otel_variables_traces_are_off() -> None:
    assert not parse_config(BASE, "shop.yaml", {}).tracing.enabled


def test_each_mistake_is_a_problem_at_its_line_and_key() -> None:
    found = problems(
        "tracing:\n"
        "  otlp_endpoint: collector:4318\n"  # line 6
        "  sample_ratio: 1.5\n"  # line 7
        "  sample_rate: 0.5\n"  # line 8
        "  service_name: ''\n"  # line 9
    )
    assert any(p.startswith("shop.yaml:6: tracing.otlp_endpoint: expected the collector's") for p in found), found
    assert "shop.yaml:7: tracing.sample_ratio: expected a number from 0 to 1, got 1.5" in found
    assert any(p.startswith("shop.yaml:8: tracing.sample_rate: unknown key") and "sample_ratio" in p for p in found)
    assert any(p.startswith("shop.yaml:9: tracing.service_name: expected a name") for p in found), found
    assert problems("tracing: {sample_ratio: half}\n") == [
        "shop.yaml:5: tracing.otlp_endpoint: is required (the collector's URL, such as http://127.0.0.1:4318)",
        "shop.yaml:5: tracing.sample_ratio: expected a number, got 'half'",
    ]
    assert problems("tracing: [otlp]\n") == [
        "shop.yaml:5: tracing: expected a mapping with otlp_endpoint (and service_name, sample_ratio)"
    ]


def test_the_otel_variables_turn_traces_on_and_off() -> None:
    endpoint = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SERVICE_NAME": "shop-b"}
    tracing = parse_config(BASE, "shop.yaml", endpoint).tracing
    assert tracing.enabled and tracing.otlp_endpoint is None  # the exporter reads the variable itself
    assert tracing.service_name == "shop-b" and tracing.exporter == "otlp"
    assert parse_config(BASE, "shop.yaml", {"OTEL_TRACES_EXPORTER": "console"}).tracing.exporter == "console"
    assert not parse_config(BASE, "shop.yaml", {**endpoint, "OTEL_TRACES_EXPORTER": "none"}).tracing.enabled
    assert not parse_config(BASE, "shop.yaml", {**endpoint, "OTEL_SDK_DISABLED": "true"}).tracing.enabled
    sampled = parse_config(BASE, "shop.yaml", {**endpoint, "OTEL_TRACES_SAMPLER": "always_off"}).tracing
    assert sampled.sample_ratio is None  # the SDK's sampler, as the variable says
    # The section needs no endpoint of its own when the environment gives one.
    assert parse_config(BASE + "tracing: {}\n", "shop.yaml", endpoint).tracing.enabled


def test_a_section_without_the_extra_is_an_error_that_says_how_to_install_it(monkeypatch) -> None:
    monkeypatch.setattr(tracing_section, "missing_extra", lambda: ["opentelemetry-sdk"])
    found = problems("tracing:\n  otlp_endpoint: http://127.0.0.1:4318\n")
    assert found == [
        "shop.yaml:5: tracing: traces need the otel extra, but it is not installed (opentelemetry-sdk missing):"
        " pip install 'plugpay-router[otel]'"
    ]
    # Offline commands (rule tests, check --offline) read the file alone.
    offline = parse_config(BASE + "tracing: {otlp_endpoint: 'http://c:4318'}\n", "shop.yaml", {}, offline=True)
    assert offline.tracing.enabled
    # Variables set for other programs of the machine only warn: the router runs, untraced.
    config = parse_config(BASE, "shop.yaml", {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert not config.tracing.enabled
    assert any("pip install 'plugpay-router[otel]'" in str(w) for w in config.warnings)
