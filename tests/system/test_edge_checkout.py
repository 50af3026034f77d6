"""``checkouts:`` reads ``order.checkout.id`` from ``include=checkout``; an API that refuses that include (a 400
naming it) is fetched again without it, and the checkout rules are reported ``unknown``, never a silent miss."""

from __future__ import annotations

import asyncio

import httpx

from router.demo.sandbox import load_fixtures
from router.events import webhook_body as body_of
from router.routing.route import plan
from router.tools.simulate import as_text, simulate
from tests.conftest import run_cli
from tests.support import base_config, stored, webhook_body

CHECKOUT_RULE = """  - name: course-checkout
    trigger: order_paid
    checkouts: [12]
    actions: [{connector: sink, path: /checkout, json: {order: "{{ order.id }}"}}]
"""


def test_checkout_scope_from_the_checkout_object_and_unknown_when_the_answer_lacks_it():
    from router.config import parse_config
    from router.tools.simulate import event_from_body

    config = parse_config(
        base_config(api_url="http://127.0.0.1:9", sink_url="http://127.0.0.1:9", db="x.db", port=1)  # type: ignore[arg-type]
        + CHECKOUT_RULE,
        "c.yaml",
        {"PLUGANDPAY_API_TOKEN": "t"},
    )
    event = event_from_body(body_of("order_paid", 1042))
    order = load_fixtures()["orders"]["1042"]
    assert [o.rule.name for o in plan(event, order, config).outcomes if o.matched] == ["welcome", "course-checkout"]
    without = {k: v for k, v in order.items() if k != "checkout"}
    sim = simulate(config, event, without, "file order.json")
    outcome = {o.rule.name: o for o in sim.outcomes}["course-checkout"]
    assert (outcome.matched, outcome.reason) == (False, "unknown: checkout not available")
    text = as_text(sim, frozenset())
    assert "SKIP   course-checkout  unknown: checkout not available" in text
    assert "1 not decided (SKIP: they would not run)" in text


async def test_checkout_include_rejected_is_fetched_without_it_and_the_rule_is_unknown(
    sandbox, sink, daemon_factory, tmp_path
):
    sandbox.state.reject_includes = {"checkout"}
    daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url, extra_rules=CHECKOUT_RULE).start()
    accepted = await daemon.post(webhook_body("order_paid", 1042))
    assert accepted.status_code == 202
    await sink.wait_for(1, path="/welcome")  # the universal rule still runs
    line = await daemon.wait_log("rules not run, data not available")
    assert line["rules"] == ["course-checkout"] and line["refused_includes"] == ["checkout"]
    assert "scope these rules by products: or source_rules:" in line["hint"]
    asked = [r["query"].get("include", "") for r in sandbox.state.requests if r["path"] == "/v2/orders/1042"]
    assert asked[0].endswith(",checkout") and "checkout" not in asked[1]
    events, _ = await stored(tmp_path / "router.db")
    outcomes = {o["rule"]: o for o in events[0].outcomes}
    assert outcomes["course-checkout"] == {
        "rule": "course-checkout",
        "matched": False,
        "reason": "unknown: checkout not available",
        "unknown": True,
    }
    async with httpx.AsyncClient() as client:
        metrics = (await client.get(f"{daemon.admin_url}/metrics")).text
    assert 'plugpay_router_rule_outcomes_unknown_total{reason="checkout not available"} 1.0' in metrics
    assert sink.to("/checkout") == []

    # Fixed (the API takes the include): re-routing the event runs the rule once, the welcome mail not again.
    sandbox.state.reject_includes = set()
    rerouted = await asyncio.to_thread(run_cli, "reroute", "-c", str(daemon.config_path), str(events[0].id))
    assert rerouted.returncode == 0
    await sink.wait_for(1, path="/checkout", timeout=20)
    assert len(sink.to("/welcome")) == 1
