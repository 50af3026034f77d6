"""Reading only what the store commands need: the store settings without the connectors' secrets, the admin
listener's address, and the masking of what ``trace`` prints."""

from __future__ import annotations

import pytest

from router.config import ConfigError, parse_config
from router.config.partial import load_store_settings
from router.tools.trace import mask_request

FILE = """version: 1
admin: {token: "${ADMIN_TOKEN}"}
store: {url: "sqlite://data/router.db"}
retention: {events: 45d}
connectors:
  crm: {type: activecampaign, base_url: "https://acme.api-us1.com", api_token: "${AC_API_TOKEN}"}
  mail: {type: email, host: smtp.example.nl, from: shop@example.nl, password: literal-secret-77}
"""


def test_store_settings_load_without_the_connectors_secrets(tmp_path):
    path = tmp_path / "shop.yaml"
    path.write_text(FILE)
    found = load_store_settings(path, env={"ADMIN_TOKEN": "admin-token-1234"})
    assert found.store.url == "sqlite://data/router.db" and found.base == tmp_path
    assert found.retention.events == 45 * 86400
    assert {"admin-token-1234", "literal-secret-77"} <= found.secrets  # masked in what the commands print


def test_a_problem_in_the_store_section_is_still_an_error(tmp_path):
    path = tmp_path / "shop.yaml"
    path.write_text(FILE.replace('"sqlite://data/router.db"', '"${STORE_URL}"').replace("45d", "soon"))
    with pytest.raises(ConfigError) as caught:
        load_store_settings(path, env={})
    text = str(caught.value)
    assert "store.url: environment variable STORE_URL is not set" in text
    assert "retention.events" in text
    assert "AC_API_TOKEN" not in text


def test_admin_listen_is_its_own_address_on_loopback_by_default():
    admin = parse_config(
        'version: 1\nplugandpay: {allow_unsigned: true}\nadmin: {token: "t0ken-1234-5e6f-7a8b"}\n', env={}
    ).admin
    assert (admin.host, admin.port, admin.enabled) == ("127.0.0.1", 8081, True)
    assert not parse_config("version: 1\nplugandpay: {allow_unsigned: true}\n", env={}).admin.enabled
    only_metrics = parse_config(
        'version: 1\nplugandpay: {allow_unsigned: true}\nadmin: {listen: ":9100"}\n', env={}
    ).admin
    assert (only_metrics.host, only_metrics.port, only_metrics.enabled) == ("127.0.0.1", 9100, True)
    with pytest.raises(ConfigError, match=r"admin\.listen: port 8080 is server\.listen's"):
        parse_config(
            "version: 1\nplugandpay: {allow_unsigned: true}\n"
            'server: {listen: "0.0.0.0:8080"}\nadmin: {listen: "127.0.0.1:8080"}\n',
            env={},
        )
    with pytest.raises(ConfigError, match=r"admin\.listen: expected host:port"):
        parse_config('version: 1\nplugandpay: {allow_unsigned: true}\nadmin: {listen: "nowhere"}\n', env={})


def test_trace_masks_secret_named_keys_of_a_rendered_request():
    request = {"headers": {"Authorization": "Bearer abc", "X-Course": "77"}, "json": {"api_token": "t", "n": 1}}
    assert mask_request(request) == {
        "headers": {"Authorization": "***", "X-Course": "77"},
        "json": {"api_token": "***", "n": 1},
    }


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("postgresql://router@db.local:notaport/router", "not a number"),
        ("postgresql://router@db.local:99999/router", "not a number"),
        ("mysql://router@db.local/router", "expected sqlite:///"),
        ("sqlite://", "names no file"),
        ("postgresql://router@db.local/a/b", "one database name"),
    ],
)
def test_a_store_url_the_daemon_could_not_open_is_a_config_error(url: str, reason: str) -> None:
    text = f'version: 1\nplugandpay: {{allow_unsigned: true}}\nstore: {{url: "{url}"}}\n'
    with pytest.raises(ConfigError) as info:
        parse_config(text, "shop.yaml", {})
    [problem] = info.value.problems
    assert str(problem).startswith("shop.yaml:3: store.url: ")
    assert reason in str(problem)


def test_a_secret_in_the_store_url_is_not_repeated_in_its_error() -> None:
    text = 'version: 1\nplugandpay: {allow_unsigned: true}\nstore: {url: "postgresql://u:${DB_PASSWORD}@h:x/d"}\n'
    with pytest.raises(ConfigError) as info:
        parse_config(text, "shop.yaml", {"DB_PASSWORD": "pg-Secret-4455"})
    assert "pg-Secret-4455" not in str(info.value)
