"""The lease settings: ``plugandpay.lease`` and ``delivery.lease`` set how long a claim stays with an instance.

Unset, they follow the timeouts (the daemon derives them); set, they must be longer than the timeout of
their stage, or a slow but healthy instance would have its work taken over while still doing it.
"""

from __future__ import annotations

import pytest

from router.config import ConfigError, parse_config

BASE = """version: 1
plugandpay: {{api_url: "http://127.0.0.1:9", timeout: 10s{api}}}
delivery: {{timeout: 15s{delivery}}}
rules: []
"""


def test_leases_are_read_and_default_to_unset() -> None:
    config = parse_config(BASE.format(api=", lease: 45s", delivery=", lease: 1m"))
    assert (config.plugandpay.lease, config.delivery.lease) == (45.0, 60.0)
    plain = parse_config(BASE.format(api="", delivery=""))
    assert (plain.plugandpay.lease, plain.delivery.lease) == (None, None)


def test_a_lease_not_longer_than_its_timeout_is_an_error() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(BASE.format(api=", lease: 10s", delivery=", lease: 5s"), file="shop.yaml")
    text = str(raised.value)
    assert "shop.yaml:2: plugandpay.lease: must be longer than plugandpay.timeout (10s)" in text
    assert "shop.yaml:3: delivery.lease: must be longer than delivery.timeout (15s)" in text
