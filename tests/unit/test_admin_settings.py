"""The ``admin:`` section: a token nobody can guess, the Host names the listener serves, and https.

A weak token is refused by ``check`` with file:line, the reason and how to make a good one; the Host
names default to the listener's own address and localhost (plus ``public_url``'s host), so a DNS name
rebound to 127.0.0.1 is not served.
"""

from __future__ import annotations

import pytest

from router.config import ConfigError, parse_config

GOOD = "Xq3v9-TmB7rK2wLp8sNa"


def admin(section: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return parse_config(f"plugandpay: {{allow_unsigned: true}}\nadmin: {section}\n", "shop.yaml", env or {}).admin


def problem_of(section: str) -> str:
    with pytest.raises(ConfigError) as info:
        admin(section)
    [problem] = info.value.problems
    return str(problem)


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("a", "1 character long"),
        ("admin", "placeholder"),
        ("changeme", "placeholder"),
        ("replace-with-a-long-random-token", "placeholder"),
        ("short-token-1", "13 characters long"),
        ("abababababababababab", "fewer than 6 different characters"),
    ],
)
def test_a_guessable_admin_token_is_refused_with_how_to_make_one(token: str, reason: str) -> None:
    problem = problem_of(f'{{token: "{token}"}}')
    assert problem.startswith("shop.yaml:2: admin.token: ")
    assert reason in problem
    assert "secrets.token_urlsafe(32)" in problem


def test_an_unset_token_variable_is_one_error_not_two() -> None:
    problem = problem_of('{token: "${ROUTER_ADMIN_TOKEN}"}')
    assert "ROUTER_ADMIN_TOKEN is not set" in problem


def test_the_listener_serves_its_own_address_and_localhost_by_default() -> None:
    assert set(admin(f'{{token: "{GOOD}"}}').hosts) == {"localhost", "127.0.0.1", "::1"}
    published = admin(f'{{token: "{GOOD}", listen: "0.0.0.0:8081", public_url: "https://Router.Shop.nl/ui"}}')
    assert "0.0.0.0" not in published.hosts
    assert "router.shop.nl" in published.hosts
    assert admin(f'{{token: "{GOOD}", listen: "10.1.2.3:8081"}}').hosts[-1] == "10.1.2.3"


def test_configured_hosts_replace_the_defaults() -> None:
    assert admin(f'{{token: "{GOOD}", hosts: ["Router.Shop.nl", "[::1]"]}}').hosts == ("router.shop.nl", "::1")


def test_public_url_and_trusted_proxies_are_checked() -> None:
    assert "admin.public_url" in problem_of(f'{{token: "{GOOD}", public_url: "router.shop.nl"}}')
    assert "admin.trusted_proxies" in problem_of(f'{{token: "{GOOD}", trusted_proxies: ["proxy.local"]}}')
    ok = admin(f'{{token: "{GOOD}", trusted_proxies: ["127.0.0.1", "::1"]}}')
    assert ok.trusted_proxies == ("127.0.0.1", "::1")
