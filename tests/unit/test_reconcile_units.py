"""Pure pieces of reconcile, backfill and connect: which state implies which trigger, the rules a backfill
event runs, the reconcile config, and the plan ``connect`` makes against a shop's rules."""

from __future__ import annotations

import datetime as dt

import pytest

from router.config import ConfigError
from router.config.build import build
from router.derive import DERIVATIONS, api_time, parse_time
from router.events import Event
from router.render.rulebook import Outcome, Rule
from router.routing.backfill_choice import only_named
from router.shop.connect import PREFIX, Wanted, plan, wanted_rules

T = dt.datetime(2025, 3, 14, 9, 0, tzinfo=dt.UTC).timestamp()


def order(paid_at: str | None, status: str = "paid", invoice: str | None = None) -> dict[str, object]:
    return {
        "id": 1,
        "invoice_number": invoice,
        "invoice_date": "2025-03-14",
        "payment": {"status": status, "paid_at": paid_at},
    }


def test_a_paid_order_in_the_window_implies_order_paid() -> None:
    paid = DERIVATIONS["order_paid"]
    assert paid.in_window(order("2025-03-14T09:30:00.000000Z"), T, T + 3600)
    assert not paid.in_window(order("2025-03-14T10:30:00.000000Z"), T, T + 3600), "after the window"
    assert not paid.in_window(order("2025-03-14T09:30:00.000000Z", status="open"), T, T + 3600)
    assert not paid.in_window({"id": 1}, T, T + 3600), "no payment shown: no time, no event"
    assert paid.queries(T, T + 60)[0]["since_paid_at"] == "2025-03-14 09:00:00"


def test_invoices_compare_by_day_and_need_a_number() -> None:
    invoiced = DERIVATIONS["invoice_created"]
    assert invoiced.in_window(order(None, invoice="2025-0042"), T + 3600, T + 7200)
    assert not invoiced.in_window(order(None, invoice=None), T, T + 7200)


def test_an_undated_seller_counts_only_where_the_operator_asks() -> None:
    accepted = DERIVATIONS["affiliate_accepted"]
    seller = {"id": 14, "status": "accepted"}
    assert not accepted.in_window(seller, T, T + 60), "reconcile: an old seller must not become a new event"
    assert accepted.in_window(seller, T, T + 60, undated=True), "backfill: the server's window stands"
    assert not DERIVATIONS["affiliate_denied"].in_window(seller, T, T + 60, undated=True)


def test_ended_subscriptions_use_their_own_times() -> None:
    ended = DERIVATIONS["subscription_ended"]
    assert ended.in_window({"id": 9, "status": "inactive", "updated_at": "2025-03-14 09:10:00"}, T, T + 3600)
    assert not ended.in_window({"id": 9, "status": "active", "updated_at": "2025-03-14T09:10:00Z"}, T, T + 3600)
    assert parse_time("2025-03-14") == dt.datetime(2025, 3, 14, tzinfo=dt.UTC).timestamp()
    assert api_time(T) == "2025-03-14 09:00:00"


def rule(name: str, products: frozenset[str] | None = None, trigger: str = "order_paid") -> Rule:
    return Rule(name=name, triggers=(trigger,), actions=(), products=products)


def test_a_backfill_event_runs_only_its_named_rules() -> None:
    outcomes = [Outcome(rule("a"), True), Outcome(rule("b"), True), Outcome(rule("c"), False, "scope")]
    backfill = Event(
        "order_paid", "order_paid", "order", "1", "42", source="backfill", payload={"backfill": {"rules": ["b"]}}
    )
    kept = only_named(backfill, outcomes)
    assert [(o.rule.name, o.matched) for o in kept] == [("a", False), ("b", True), ("c", False)]
    assert kept[0].reason.startswith("backfill:")
    everything = Event(
        "order_paid", "order_paid", "order", "1", "42", source="backfill", payload={"backfill": {"rules": None}}
    )
    assert only_named(everything, outcomes) == outcomes
    webhook = Event("order_paid", "order_paid", "order", "1", "42", payload={"backfill": {"rules": ["b"]}})
    assert only_named(webhook, outcomes) == outcomes, "only the router's own backfill events are restricted"


CONFIG = """version: 1
plugandpay: {{api_url: "http://127.0.0.1:1", shop_rules: {mode}, allow_unsigned: true}}
store: {{url: "sqlite:///x.db"}}
{reconcile}
connectors: {{sink: {{type: http, base_url: "http://127.0.0.1:2"}}}}
rules:
  - {{name: a, trigger: order_paid, products: [77, 81], actions: [{{connector: sink, path: /a}}]}}
  - {{name: b, trigger: order_paid, products: [5], actions: [{{connector: sink, path: /b}}]}}
  - {{name: c, trigger: affiliate_quit, actions: [{{connector: sink, path: /c}}]}}
  - {{name: d, trigger: invoice_created, actions: [{{connector: sink, path: /d}}]}}
"""


def test_reconcile_is_on_with_its_section_and_checks_the_derivable_triggers() -> None:
    off = build(CONFIG.format(mode="universal", reconcile=""), "c.yaml", {})
    assert not off.reconcile.active
    on = build(CONFIG.format(mode="universal", reconcile="reconcile: {every: 5m}"), "c.yaml", {})
    assert on.reconcile.active and on.reconcile.every == 300 and on.reconcile.lookback == 72 * 3600
    assert on.reconcile.triggers == ("order_paid", "invoice_created")
    assert any("affiliate_quit cannot be reconciled" in w.message for w in on.warnings)
    assert not build(CONFIG.format(mode="universal", reconcile="reconcile: {every: 0s}"), "c.yaml", {}).reconcile.active
    with pytest.raises(ConfigError, match=r"c.yaml:4: reconcile.triggers\[0\]: affiliate_quit cannot be reconciled"):
        build(CONFIG.format(mode="universal", reconcile="reconcile: {triggers: [affiliate_quit]}"), "c.yaml", {})


def test_connect_wants_one_rule_per_trigger_or_per_product() -> None:
    universal = build(CONFIG.format(mode="universal", reconcile=""), "c.yaml", {})
    assert [w.name for w in wanted_rules(universal)] == [
        PREFIX + "affiliate_quit",
        PREFIX + "invoice_created",
        PREFIX + "order_paid",
    ]
    per_product = build(CONFIG.format(mode="per_product", reconcile=""), "c.yaml", {})
    assert [(w.trigger, w.product) for w in wanted_rules(per_product) if w.trigger == "order_paid"] == [
        ("order_paid", "5"),
        ("order_paid", "77"),
        ("order_paid", "81"),
    ]
    assert Wanted("order_paid", "77").body("https://r/x", {})["condition_data"] == {"product_id": [77]}


def test_the_plan_recognises_any_spelling_and_leaves_what_is_not_ours() -> None:
    url = "https://router.example.nl/webhooks/plugandpay"
    shop = [
        {
            "id": 1,
            "name": "Mijn webhook",
            "driver": "webhook",
            "trigger_type": "order_payment_completed",
            "action_data": {"hook_url": url + "/"},
            "condition_data": {},
        },
        {
            "id": 2,
            "name": PREFIX + "order_paid product 5",
            "driver": "webhook",
            "trigger_type": "order_paid",
            "action_data": {"hook_url": url},
            "condition_data": {"product_id": [5]},
            "readonly": True,
        },
        {
            "id": 3,
            "name": PREFIX + "subscription_ended",
            "driver": "webhook",
            "trigger_type": "subscription_ended",
            "action_data": {"hook_url": url},
        },
        {
            "id": 4,
            "name": "Zapier",
            "driver": "webhook",
            "trigger_type": "order_paid",
            "action_data": {"hook_url": "https://hooks.zapier.com/1"},
        },
    ]
    steps = plan(shop, [Wanted("order_paid"), Wanted("invoice_created")], url, owned=frozenset({"2", "3"}))
    assert [(s.action, s.rule["id"] if s.rule else s.wanted.name if s.wanted else None) for s in steps] == [
        ("there", 1),
        ("create", PREFIX + "invoice_created"),
        ("keep", 2),
        ("unneeded", 3),
        ("leave", 4),
    ]


def test_a_rule_named_like_ours_is_not_ours_unless_the_store_recorded_creating_it() -> None:
    url = "https://router.example.nl/webhooks/plugandpay"
    by_hand = {
        "id": 7,
        "name": PREFIX + "invoice_created",
        "driver": "webhook",
        "trigger_type": "order_invoice_created",
        "action_data": {"hook_url": url},
    }
    [step] = plan([by_hand], [], url)
    assert step.action == "keep"
    assert "no record of creating it" in step.note
    [step] = plan([by_hand], [], url, owned=frozenset({"7"}))
    assert step.action == "unneeded"
