"""The webhook key is never missing by accident: a configured key that is empty or a placeholder of the
examples, or no key without the explicit ``plugandpay.allow_unsigned: true``, is an error naming file:line:key
and what to do; running unsigned on purpose loads with a loud warning, and a receiver without a key still
refuses unsigned webhooks unless that opt-in is set.
"""

from __future__ import annotations

import textwrap

import pytest

from router.config import Config, ConfigError, parse_config
from router.config.secret_strength import PLACEHOLDERS


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(textwrap.dedent(text), "shop.yaml", env or {})
    return [str(p) for p in info.value.problems]


def load(text: str, env: dict[str, str] | None = None) -> Config:
    return parse_config(textwrap.dedent(text), "shop.yaml", env or {})


KEYED = """\
version: 1
plugandpay:
  api_token: tok-1234
  webhook_key: "${PLUGANDPAY_WEBHOOK_KEY}"
"""


@pytest.mark.parametrize("value", ["", "   "], ids=["empty", "blank"])
def test_an_empty_webhook_key_from_the_environment_is_an_error(value):
    [problem] = problems(KEYED, {"PLUGANDPAY_WEBHOOK_KEY": value})
    assert problem.startswith("shop.yaml:4: plugandpay.webhook_key: is empty")
    assert "allow_unsigned: true" in problem  # and says how to run unsigned on purpose


def test_an_empty_literal_webhook_key_is_an_error():
    [problem] = problems('plugandpay: {webhook_key: ""}\n')
    assert problem.startswith("shop.yaml:1: plugandpay.webhook_key: is empty")


@pytest.mark.parametrize("key", [*sorted(PLACEHOLDERS), "Change-Me", " my-webhook-key "])
def test_a_placeholder_webhook_key_is_an_error(key):
    [problem] = problems(KEYED, {"PLUGANDPAY_WEBHOOK_KEY": key})
    assert problem.startswith("shop.yaml:4: plugandpay.webhook_key: is a placeholder from the examples")
    assert "Settings > Developers" in problem


def test_an_unset_webhook_key_variable_is_reported_once():
    assert problems(KEYED) == [
        "shop.yaml:4: plugandpay.webhook_key: environment variable PLUGANDPAY_WEBHOOK_KEY is not set"
    ]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("version: 1\n", 1),
        ("version: 1\nplugandpay:\n  api_token: tok-1234\n", 2),
        ("version: 1\nplugandpay:\n  webhook_key: null\n", 3),
        ("version: 1\nplugandpay:\n  webhook_key:\n  allow_unsigned: false\n", 3),
    ],
    ids=["no-section", "no-key", "null-key", "opt-out"],
)
def test_no_webhook_key_without_the_opt_in_is_an_error_that_says_how_to_opt_in(text, line):
    [problem] = problems(text)
    assert problem.startswith(f"shop.yaml:{line}: plugandpay.webhook_key: is not set, so webhooks would be accepted")
    assert "plugandpay.allow_unsigned: true" in problem


@pytest.mark.parametrize(
    "text", ["plugandpay: {allow_unsigned: true}\n", "plugandpay: {webhook_key: null, allow_unsigned: yes}\n"]
)
def test_running_unsigned_on_purpose_loads_with_a_loud_warning(text):
    config = load(text)
    assert config.plugandpay.webhook_key is None and config.plugandpay.allow_unsigned
    [warning] = [str(w) for w in config.warnings]
    assert warning.startswith("shop.yaml:1: plugandpay.allow_unsigned: WEBHOOKS ARE ACCEPTED UNSIGNED")


def test_a_key_and_the_opt_in_together_are_an_error():
    [problem] = problems("plugandpay:\n  webhook_key: a-real-key-9f3c\n  allow_unsigned: true\n")
    assert problem.startswith("shop.yaml:3: plugandpay.allow_unsigned: contradicts webhook_key")


def test_a_real_key_loads_without_a_warning():
    config = load(KEYED, {"PLUGANDPAY_WEBHOOK_KEY": "a-real-key-9f3c"})
    assert config.plugandpay.webhook_key == "a-real-key-9f3c" and not config.plugandpay.allow_unsigned
    assert config.warnings == ()


async def test_a_keyless_config_built_in_code_still_refuses_unsigned_webhooks(tmp_path):
    """The receiver fails closed: without a key, only ``allow_unsigned`` lets a webhook through unverified."""
    import dataclasses

    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from router.config import parse_config
    from router.inbound.receive import Receiver
    from router.store.sqlite import SqliteStore

    text = "version: 1\nplugandpay: {allow_unsigned: true}\n"
    opened = parse_config(text, "config.yaml", env={})
    closed = dataclasses.replace(opened, plugandpay=dataclasses.replace(opened.plugandpay, allow_unsigned=False))
    store = SqliteStore(tmp_path / "router.db")
    await store.open()
    body = b'{"trigger_type": "order_paid", "triggerable_type": "order", "triggerable_id": 1}'
    try:
        for config, expected in ((closed, 401), (opened, 202)):
            receiver = Receiver(store, lambda config=config: config, lambda: None)

            async def hook(request: web.Request, receiver: Receiver = receiver) -> web.StreamResponse:
                return await receiver(request)

            app = web.Application()
            app.router.add_post("/hook", hook)
            async with TestClient(TestServer(app)) as client:
                response = await client.post("/hook", data=body, headers={"Content-Type": "application/json"})
                assert response.status == expected
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ('"replace-with-your-webhook-key"', "wrapped in quotes"),  # docker --env-file keeps the quotes
        ('"a-real-looking-key-9f3c"', "wrapped in quotes"),
        ("a-real-looking-key-9f3c # from Plug&Pay", "contains ' #'"),  # a comment an env file kept
        ("${PLUGANDPAY_WEBHOOK_KEY}", "literal ${...}"),  # KEY=${KEY} in an env file
        ("abc", "3 characters long"),
        ("aaaaaaaaaaaaaaaaaaaa", "fewer than 6 different characters"),
        ("<your key here>", "placeholder"),
    ],
)
def test_a_webhook_key_that_is_not_a_real_key_is_refused_with_the_reason(value, reason):
    [problem] = problems(KEYED, {"PLUGANDPAY_WEBHOOK_KEY": value})
    assert problem.startswith("shop.yaml:4: plugandpay.webhook_key: "), problem
    assert reason in problem
    assert value not in problem  # the value is never repeated


def test_a_real_looking_webhook_key_loads():
    config = load(KEYED, {"PLUGANDPAY_WEBHOOK_KEY": "a7Hk2pQ9xW3mZ5vB"})
    assert config.plugandpay.webhook_key == "a7Hk2pQ9xW3mZ5vB"
