"""The ``trigger`` label of received webhooks, in process: bounded however many names a sender invents; with
shops, the per-shop counts come beside the totals, and a router of one shop exports no per-shop family."""

from __future__ import annotations

from prometheus_client import generate_latest

from router.events import TRIGGERS
from router.metrics import MAX_UNKNOWN_TRIGGER_LABELS, Metrics


def test_trigger_labels_stay_bounded_however_many_names_a_sender_invents() -> None:
    metrics = Metrics()
    for trigger in TRIGGERS:
        metrics.observe_received(trigger, "accepted")
    small = len(generate_latest(metrics.registry))
    for n in range(5000):
        metrics.observe_received(f"invented_{n}", "accepted")
    text = generate_latest(metrics.registry).decode()
    # Every known trigger keeps its own label, the first unknown ones too, the rest are counted together.
    assert all(f'trigger="{trigger}"' in text for trigger in TRIGGERS)
    assert 'trigger="invented_0"' in text
    assert f'trigger="invented_{MAX_UNKNOWN_TRIGGER_LABELS}"' not in text
    other = 5000 - MAX_UNKNOWN_TRIGGER_LABELS
    assert f'plugpay_router_events_received_total{{outcome="accepted",trigger="other"}} {other}.0' in text
    assert len(text) < small + 10_000
    # Rejections before parsing have no trigger at all.
    metrics.observe_received("", "rejected_signature")
    assert 'trigger="unknown"' in generate_latest(metrics.registry).decode()


def test_with_shops_webhooks_routing_and_reconcile_are_counted_per_shop_beside_the_totals() -> None:
    metrics = Metrics(shops=True)
    metrics.observe_received("order_paid", "accepted", "yogastudio")
    metrics.observe_routed("routed", "yogastudio")
    metrics.observe_reconcile("order_paid", 12, 2, "yogastudio")
    text = generate_latest(metrics.registry).decode()
    assert (
        'plugpay_router_shop_events_received_total{outcome="accepted",shop="yogastudio",trigger="order_paid"} 1.0'
        in text
    )
    assert 'plugpay_router_shop_events_routed_total{outcome="routed",shop="yogastudio"} 1.0' in text
    assert 'plugpay_router_events_received_total{outcome="accepted",trigger="order_paid"} 1.0' in text
    assert 'plugpay_router_shop_reconcile_events_found_total{shop="yogastudio",trigger="order_paid"} 2.0' in text
    assert 'plugpay_router_reconcile_events_found_total{trigger="order_paid"} 2.0' in text
    one = Metrics()
    one.observe_received("order_paid", "accepted")
    assert "plugpay_router_shop_" not in generate_latest(one.registry).decode()


def test_a_shop_whose_config_has_problems_reads_1_and_a_shop_taken_out_of_the_file_has_no_line() -> None:
    metrics = Metrics(shops=True)
    metrics.set_shops(["cursusshop", "yogastudio"], [])
    metrics.set_shops(["yogastudio"], ["cursusshop"])  # a reload: cursusshop's rules file broke
    text = generate_latest(metrics.registry).decode()
    assert 'plugpay_router_shop_config_broken{shop="cursusshop"} 1.0' in text
    assert 'plugpay_router_shop_config_broken{shop="yogastudio"} 0.0' in text
    metrics.set_shops(["yogastudio"], [])  # cursusshop taken out of the file
    assert 'shop="cursusshop"' not in generate_latest(metrics.registry).decode()
    one = Metrics()
    one.set_shops([], [])
    assert "plugpay_router_shop_config_broken" not in generate_latest(one.registry).decode()
