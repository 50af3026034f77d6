"""Several shops in one config file: each shop is built like a one-shop config over the file's shared sections,
its own connectors shadow shared ones, its rules come inline or from its rules file, and a shop with problems
is set aside with them (file, line, key) while the others load; a file without ``shops:`` loads as before."""

from __future__ import annotations

from pathlib import Path

import pytest

from router.config import ConfigError, load_config, parse_config

ENV = {
    "CURSUS_API_TOKEN": "tok-cursus-7f3a9b2c41",
    "CURSUS_WEBHOOK_KEY": "wk-cursus-5d8e1f0a7b3c9d2e",
    "YOGA_API_TOKEN": "tok-yoga-2b7c9d0e1f",
    "YOGA_WEBHOOK_KEY": "wk-yoga-8c1d4e7f0a2b5c6d",
}
CONFIG = """version: 1
plugandpay: {api_url: "http://127.0.0.1:9100", concurrency: 4}
connectors:
  sink: {type: http, base_url: "http://127.0.0.1:9200"}
  ops: {type: http, base_url: "http://127.0.0.1:9201"}
shops:
  cursusshop:
    plugandpay: {api_token: "${CURSUS_API_TOKEN}", webhook_key: "${CURSUS_WEBHOOK_KEY}"}
    rules_file: shops/cursusshop.yaml
    reconcile: {every: 15m, lookback: 72h}
  yogastudio:
    plugandpay: {api_token: "${YOGA_API_TOKEN}", webhook_key: "${YOGA_WEBHOOK_KEY}", concurrency: 2}
    connectors:
      sink: {type: http, base_url: "http://127.0.0.1:9300"}
    rules:
      - {name: welcome, trigger: order_paid, actions: [{connector: sink, path: /y, json: {id: "{{ order.id }}"}}]}
"""
CURSUS_RULES = """rules:
  - {name: welcome, trigger: order_paid, actions: [{connector: sink, path: /c, json: {id: "{{ order.id }}"}}]}
  - {name: tell-ops, trigger: order_paid, actions: [{connector: ops, path: /o, json: {id: "{{ order.id }}"}}]}
"""


def folder(tmp_path: Path, config: str = CONFIG, rules: str = CURSUS_RULES) -> Path:
    (tmp_path / "shops").mkdir(exist_ok=True)
    (tmp_path / "shops" / "cursusshop.yaml").write_text(rules)
    path = tmp_path / "router.yaml"
    path.write_text(config)
    return path


def test_each_shop_gets_its_credentials_connectors_and_rules_over_the_shared_sections(tmp_path: Path) -> None:
    config = load_config(folder(tmp_path), ENV)
    assert list(config.shops) == ["cursusshop", "yogastudio"] and not config.broken_shops
    cursus, yoga = config.shops["cursusshop"], config.shops["yogastudio"]
    assert (cursus.shop, cursus.plugandpay.api_token, cursus.plugandpay.concurrency) == (
        "cursusshop",
        "tok-cursus-7f3a9b2c41",
        4,
    )
    assert yoga.plugandpay.webhook_key == "wk-yoga-8c1d4e7f0a2b5c6d" and yoga.plugandpay.concurrency == 2
    assert yoga.plugandpay.api_url == cursus.plugandpay.api_url == "http://127.0.0.1:9100"
    assert cursus.connectors["sink"].settings["base_url"] == "http://127.0.0.1:9200"
    assert yoga.connectors["sink"].settings["base_url"] == "http://127.0.0.1:9300"  # its own shadows the shared
    assert [r.name for r in cursus.rules.rules] == ["welcome", "tell-ops"]
    assert [r.name for r in yoga.rules.rules] == ["welcome"]
    assert cursus.reconcile.active and not yoga.reconcile.active
    assert {"tok-cursus-7f3a9b2c41", "tok-yoga-2b7c9d0e1f"} <= cursus.secrets  # masked everywhere
    assert cursus.version != yoga.version


def test_changing_a_shops_rules_file_changes_only_that_shops_version(tmp_path: Path) -> None:
    before = load_config(folder(tmp_path), ENV)
    after = load_config(folder(tmp_path, rules=CURSUS_RULES.replace("/c,", "/c2,")), ENV)
    assert after.shops["cursusshop"].version != before.shops["cursusshop"].version
    assert after.shops["yogastudio"].version == before.shops["yogastudio"].version


def test_a_shop_with_problems_is_set_aside_with_them_and_the_others_load(tmp_path: Path) -> None:
    broken_rules = CURSUS_RULES.replace("connector: ops", "connector: opps")
    config = load_config(folder(tmp_path, rules=broken_rules), ENV)
    assert list(config.shops) == ["yogastudio"]
    [problem] = config.broken_shops["cursusshop"]
    assert str(problem) == (
        f"{tmp_path / 'shops' / 'cursusshop.yaml'}:3: rules[1].actions[0].connector: unknown connector 'opps'"
        " (did you mean 'ops'?) (known: sink, ops)"
    )
    missing = load_config(folder(tmp_path, CONFIG.replace("shops/cursusshop.yaml", "shops/cursus.yaml")), ENV)
    [problem] = missing.broken_shops["cursusshop"]
    assert str(problem).startswith(f"{tmp_path / 'router.yaml'}:9: shops.cursusshop.rules_file: cannot read")


def test_a_shops_own_mistakes_are_told_under_its_key_path(tmp_path: Path) -> None:
    text = CONFIG.replace("concurrency: 2}", "concurrency: two}").replace("  yogastudio:", "  Yoga Studio:")
    config = load_config(folder(tmp_path, text), ENV)
    found = [str(p) for p in config.broken_shops["Yoga Studio"]]
    assert found == [
        f"{tmp_path / 'router.yaml'}:11: shops.Yoga Studio: a shop's name is 1-40 lower-case letters, digits, - and _",
        f"{tmp_path / 'router.yaml'}:12: shops.Yoga Studio.plugandpay.concurrency: expected a whole number, got 'two'",
    ]


def test_rules_beside_shops_are_refused_because_rules_belong_to_a_shop() -> None:
    text = CONFIG.replace("shops:\n", "rules: []\nshops:\n")
    with pytest.raises(ConfigError) as info:
        parse_config(text, "router.yaml", ENV)
    assert "router.yaml:6: rules: with shops:, rules belong to each shop (shops.NAME.rules)" in str(info.value)


def test_a_file_without_shops_is_the_one_shop_it_always_was() -> None:
    text = CONFIG.split("shops:")[0].replace("concurrency: 4}", "allow_unsigned: true}") + "rules: []\n"
    config = parse_config(text, "router.yaml", ENV)
    assert config.shop == "" and config.shops == {} and config.broken_shops == {}
