"""The ``alerts:`` section: channels name connectors that can carry an alert, with what each needs, and the
kinds that are on; every mistake is a problem at its file, line and key, with the nearest name."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from router.alerts.deliveries import alert_deliveries, alert_of, masked
from router.alerts.message import Alert, request_for
from router.alerts.summary import bounds, due_day, payload
from router.config import ConfigError, parse_config
from router.events import Event
from router.store.base import EventRecord, EventStatus
from router.store.insight import DaySummary

CONNECTORS = """version: 1
plugandpay: {allow_unsigned: true}
connectors:
  mail: {type: email, host: smtp.example.nl, from: shop@example.nl}
  hook: {type: http, base_url: https://hooks.example.nl}
  crm: {type: activecampaign, base_url: "https://acme.api-us1.com", api_token: tok-123456}
"""


def problems(alerts: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(CONNECTORS + alerts, "shop.yaml", {})
    return [str(p) for p in info.value.problems]


def test_channels_and_kinds_load_with_every_kind_on_by_default() -> None:
    config = parse_config(
        CONNECTORS + "alerts: {channels: [{connector: mail, to: ops@shop.nl}, {connector: hook, path: /ops}]}\n",
        "shop.yaml",
        {},
    )
    assert [c.connector for c in config.alerts.channels] == ["mail", "hook"]
    assert config.alerts.channels[0].fields == {"to": "ops@shop.nl"}
    assert "dead_delivery" in config.alerts.kinds and config.alerts.backlog == 900
    quiet = parse_config(
        CONNECTORS + "alerts: {channels: [{connector: hook, path: /x}], when: {quarantined: false, backlog: 30m}}\n",
        "shop.yaml",
        {},
    )
    assert "quarantined" not in quiet.alerts.kinds and quiet.alerts.backlog == 1800


def test_each_mistake_is_a_problem_at_its_line_and_key() -> None:
    found = problems(
        "alerts:\n"
        "  channels:\n"
        "    - {connector: mial, to: x@y.nl}\n"
        "    - {connector: mail}\n"
        "    - {connector: crm}\n"
        "  when: {dead_delivry: true}\n"
    )
    assert found == [
        "shop.yaml:9: alerts.channels[0].connector: no connector 'mial' (did you mean 'mail'?)"
        " (known: crm, hook, mail)",
        "shop.yaml:10: alerts.channels[1]: an email channel needs to",
        "shop.yaml:11: alerts.channels[2].connector: an activecampaign connector cannot carry an alert"
        " (use email, postmark, http, slack, discord)",
        "shop.yaml:12: alerts.when.dead_delivry: unknown kind (did you mean 'dead_delivery'?)"
        " (known: dead_delivery, destination_down, event_failed, quarantined, missed_webhooks, backlog, reload_failed)",
    ]


def test_an_alert_is_rendered_for_each_kind_of_channel_with_ids_not_customer_data() -> None:
    alert = Alert("dead_delivery", [{"event_id": 7, "rule": "welcome", "connector": "mail", "error": "550"}], 0, 0, 50)
    mail = request_for("email", {"to": "ops@shop.nl"}, alert, "https://router.shop.nl/ui")
    assert mail["to"] == "ops@shop.nl" and mail["subject"] == "plugpay-router: 50 deliveries went dead"
    assert "event_id 7, rule welcome, connector mail, error 550" in mail["text"]
    assert "... and 49 more" in mail["text"] and "Dashboard: https://router.shop.nl/ui" in mail["text"]
    hook = request_for("http", {"path": "/ops"}, alert, None)
    assert hook["path"] == "/ops" and hook["json"]["text"] == "plugpay-router: 50 deliveries went dead"
    assert hook["json"]["alert"]["kind"] == "dead_delivery" and hook["json"]["alert"]["count"] == 50
    assert hook["json"]["alert"]["fix"].startswith("see plugpay-router deliveries")
    assert request_for("slack", {}, alert, None) == {"text": "plugpay-router: 50 deliveries went dead"}


def test_an_http_connector_whose_base_url_is_the_whole_webhook_is_a_channel_without_a_path() -> None:
    config = parse_config(CONNECTORS + "alerts: {channels: [{connector: hook}]}\n", "shop.yaml", {})
    [channel] = config.alerts.channels
    assert channel.connector == "hook" and channel.fields == {}


def test_the_daily_summary_time_and_zone_load_and_an_unquoted_time_is_explained() -> None:
    channel = "alerts:\n  channels: [{connector: hook, path: /ops}]\n"
    config = parse_config(CONNECTORS + channel + '  daily_summary: "08:30"\n  timezone: UTC\n', "shop.yaml", {})
    assert config.alerts.daily_summary == 8 * 60 + 30 and config.alerts.timezone == "UTC"
    assert parse_config(CONNECTORS + channel, "shop.yaml", {}).alerts.daily_summary is None
    assert problems(channel + "  daily_summary: 8:00\n") == [
        'shop.yaml:9: alerts.daily_summary: write the time in quotes: "08:00"'
    ]
    assert problems(channel + '  daily_summary: "24:00"\n  timezone: Europe/Amsterdm\n') == [
        "shop.yaml:9: alerts.daily_summary: expected a time of day such as \"08:00\", got '24:00'",
        "shop.yaml:10: alerts.timezone: unknown time zone 'Europe/Amsterdm' (e.g. Europe/Amsterdam, UTC)",
    ]


def test_yesterday_is_the_local_calendar_day_even_when_the_clocks_change() -> None:
    zone = "Europe/Amsterdam"
    since, until = bounds(dt.date(2026, 10, 25), zone)  # summer time ends: a 25-hour day
    assert until - since == 25 * 3600
    assert dt.datetime.fromtimestamp(since, dt.UTC) == dt.datetime(2026, 10, 24, 22, 0, tzinfo=dt.UTC)
    eight = dt.datetime(2026, 10, 26, 8, 0, tzinfo=zoneinfo.ZoneInfo(zone)).timestamp()
    assert due_day(eight - 60, 8 * 60, zone) is None  # 07:59: not yet
    assert due_day(eight, 8 * 60, zone) == dt.date(2026, 10, 25)


def test_the_daily_summary_reads_as_figures_and_the_commonest_errors() -> None:
    figures = DaySummary({"order_paid": 12, "invoice_created": 3}, delivered=30, dead=2, errors=(("mail", "550", 2),))
    alert = alert_of(payload(dt.date(2026, 12, 5), "Europe/Amsterdam", figures))
    mail = request_for("email", {"to": "ops@shop.nl"}, alert, None)
    assert mail["subject"] == "plugpay-router: 2026-12-05 (Europe/Amsterdam): 15 events, 30 delivered, 2 dead, 0 failed"
    assert "Events received: order_paid 12, invoice_created 3" in mail["text"]
    assert "Commonest errors:\n- connector mail, error 550, count 2" in mail["text"]
    hook = request_for("http", {"path": "/ops"}, alert, None)["json"]["alert"]
    assert hook["kind"] == "daily_summary" and hook["received"] == {"order_paid": 12, "invoice_created": 3}
    assert hook["items"] == [{"connector": "mail", "error": "550", "count": 2}] and hook["dead"] == 2


def test_an_alerts_errors_are_masked_like_the_logs() -> None:
    said = "550 bilal.jansen@example.nl unknown; key tok-9f8e7d6c5b4a3210 refused"
    alert = masked(
        Alert("dead_delivery", [{"event_id": 7, "error": said}], count=1), frozenset({"tok-9f8e7d6c5b4a3210"})
    )
    assert alert.items == [{"event_id": 7, "error": "550 b***@example.nl unknown; key *** refused"}]


def test_the_recovered_line_says_how_long_the_destination_was_down() -> None:
    # What the alert loop stores for a recovery, rendered for a Slack channel: the line is all it gets.
    alert = Alert("destination_recovered", [{"connector": "crm", "down_for": "12 min"}], count=1, subject="crm")
    assert request_for("slack", {}, alert, None)["text"] == "plugpay-router: destination crm recovered after 12 min"


def test_a_shops_destination_alert_is_not_sent_through_the_connector_it_is_about() -> None:
    config = parse_config(
        CONNECTORS + "alerts: {channels: [{connector: hook, path: /ops}, {connector: mail, to: ops@shop.nl}]}\n",
        "shop.yaml",
        {},
    )
    payload = {"kind": "destination_down", "subject": "cursusshop/hook", "items": [{"connector": "cursusshop/hook"}]}
    down = Event("alert", "destination_down", "alert", "destination_down-7", source="alert", payload=payload)
    [only] = alert_deliveries(EventRecord(7, down, EventStatus.PENDING, 0.0), config)
    assert only.connector == "mail"
