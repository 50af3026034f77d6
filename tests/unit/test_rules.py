"""The rule language: triggers and aliases, every scope alone and combined, ``when``, ``for_each``, the index."""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.events import TRIGGERS, canonical_trigger, canonical_type
from router.plugandpay import resource_path
from router.render.rulebook import Action, Rule, RuleSet
from router.routing.route import action_key
from tests.rules_support import HEADER, config_of, event, matched, order, reasons, run, seller, subscription

# ---------------------------------------------------------------- triggers


def test_trigger_takes_one_name_or_a_list():
    config = config_of("""
        - {name: one, trigger: order_paid, actions: [{connector: mem, text: a}]}
        - {name: both, trigger: [order_paid, invoice_created], actions: [{connector: mem, text: b}]}
    """)
    assert matched(config, event("order_paid"), order()) == ["one", "both"]
    assert matched(config, event("invoice_created"), order()) == ["both"]
    assert matched(config, event("subscription_ended", 901), subscription()) == []


@pytest.mark.parametrize(
    ("rule_trigger", "wire_trigger"),
    [
        ("order_paid", "order_payment_completed"),
        ("order_payment_completed", "order_paid"),
        ("invoice_created", "order_invoice_created"),
        ("subscription_ended", "subscription_ended"),
        ("affiliate_accepted", "affiliate_seller_accepted"),
        ("affiliate_denied", "affiliate_rejected"),
        ("affiliate_quit", "affiliate_stopped"),
        ("order_paid", "ORDER_PAYMENT_COMPLETED"),
    ],
)
def test_wire_spellings_and_rule_spellings_meet_on_plugandpay_names(rule_trigger, wire_trigger):
    config = config_of(f"[{{name: r, trigger: {rule_trigger}, actions: [{{connector: mem, text: x}}]}}]")
    kind = "subscription" if "subscription" in wire_trigger else ("affiliate" if "affiliate" in wire_trigger else None)
    data = subscription() if kind == "subscription" else seller() if kind == "affiliate" else order()
    assert matched(config, event(wire_trigger, data["id"], kind), data) == ["r"]


def test_alias_table_covers_every_plugandpay_trigger():
    assert {canonical_trigger(t) for t in TRIGGERS} == set(TRIGGERS)


def test_unknown_trigger_matches_literally_and_check_warns_with_a_suggestion():
    config = config_of("""
        - {name: created, trigger: order_created, actions: [{connector: mem, text: a}]}
        - {name: typo, trigger: order_payed, actions: [{connector: mem, text: b}]}
    """)
    assert matched(config, event("order_created", kind="order"), order()) == ["created"]
    assert matched(config, event("Order_Created", kind="order"), order()) == ["created"]
    assert matched(config, event("order_paid"), order()) == []
    warnings = [str(w) for w in config.warnings]
    assert len(warnings) == 2
    assert "rules[1].trigger: 'order_payed' is not a known Plug&Pay trigger" in warnings[1]
    assert "did you mean 'order_paid'?" in warnings[1]


@pytest.mark.parametrize(
    ("spelling", "kind", "path"),
    [
        ("order", "order", "/v2/orders/7"),
        ("orders", "order", "/v2/orders/7"),
        ("Order", "order", "/v2/orders/7"),
        ("invoice", "order", "/v2/orders/7"),
        ("App\\Models\\Order", "order", "/v2/orders/7"),
        ("subscription", "subscription", "/v2/subscriptions/7"),
        ("subscriptions", "subscription", "/v2/subscriptions/7"),
        ("affiliate", "affiliate", "/v2/affiliates/sellers/7"),
        ("affiliate_seller", "affiliate", "/v2/affiliates/sellers/7"),
        ("affiliate-seller", "affiliate", "/v2/affiliates/sellers/7"),
        ("AffiliateSeller", "affiliate", "/v2/affiliates/sellers/7"),
        ("seller", "affiliate", "/v2/affiliates/sellers/7"),
        ("sellers", "affiliate", "/v2/affiliates/sellers/7"),
    ],
)
def test_triggerable_type_variants_resolve_to_the_api_resource(spelling, kind, path):
    assert canonical_type(spelling) == kind
    assert resource_path(kind, "7")[0] == path


# ---------------------------------------------------------------- scopes


def test_no_scope_is_universal():
    config = config_of("[{name: all, trigger: order_paid, actions: [{connector: mem, text: x}]}]")
    assert matched(config, event(ident=1042), order("1042")) == ["all"]
    assert matched(config, event(ident=1043), order("1043")) == ["all"]


def test_products_scope_matches_any_order_line():
    config = config_of("[{name: p, trigger: order_paid, products: [81, 500], actions: [{connector: mem, text: x}]}]")
    assert matched(config, event(ident=1042), order("1042")) == ["p"]  # 81 is the second line (an order bump)
    assert matched(config, event(ident=1043), order("1043")) == []
    assert reasons(config, event(ident=1043), order("1043"))["p"] == "products: order has products ['90', '91']"


def test_products_scope_uses_the_subscription_product():
    config = config_of("""
        - {name: pro, trigger: subscription_ended, products: [77], actions: [{connector: mem, text: x}]}
        - {name: other, trigger: subscription_ended, products: [78], actions: [{connector: mem, text: x}]}
    """)
    assert matched(config, event("subscription_ended", 901), subscription()) == ["pro"]
    assert reasons(config, event("subscription_ended", 901), subscription())["other"] == (
        "products: subscription has products ['77']"
    )


def test_checkouts_scope_reads_the_checkout_object():
    config = config_of("[{name: c, trigger: order_paid, checkouts: [12], actions: [{connector: mem, text: x}]}]")
    assert matched(config, event(), order("1042")) == ["c"]  # checkout {id: 12, name, slug}
    assert matched(config, event(ident=1043), order("1043")) == []
    assert reasons(config, event(ident=1043), order("1043"))["c"] == "checkouts: order came through checkout 14"
    without = order("1042")
    del without["checkout"]
    without["checkout_id"] = 12  # no source shows this field on an order: it is not read
    assert matched(config, event(), without) == []
    assert config.rules.needs_checkout("order_paid")
    assert not config.rules.needs_checkout("invoice_created")


@pytest.mark.parametrize("line_type", ["upsell", "one-click-upsell", "downsell", "One-Click-Upsell"])
def test_upsells_scope_needs_an_upsell_line_of_a_listed_product(line_type):
    config = config_of("""
        - {name: coaching, trigger: order_paid, upsells: [91], actions: [{connector: mem, text: x}]}
        - {name: main-product, trigger: order_paid, upsells: [90], actions: [{connector: mem, text: x}]}
    """)
    data = order("1043")
    data["items"][1]["type"] = line_type
    assert matched(config, event(ident=1043), data) == ["coaching"]
    # product 90 is on the order, but as a standard line, not as an upsell
    assert reasons(config, event(ident=1043), data)["main-product"] == "upsells: upsell lines have products ['91']"
    data["items"][1]["type"] = "order-bump"
    assert matched(config, event(ident=1043), data) == []


def test_source_rules_scope_matches_the_webhooks_plugandpay_rule():
    config = config_of("[{name: s, trigger: order_paid, source_rules: [318], actions: [{connector: mem, text: x}]}]")
    assert matched(config, event(rule_id=318), order()) == ["s"]
    assert matched(config, event(rule_id=319), order()) == []
    assert matched(config, event(rule_id=None), order()) == []
    assert reasons(config, event(rule_id=319), order())["s"] == "source_rules: webhook came from Plug&Pay rule 319"


def test_first_only_skips_renewals_and_instalments():
    config = config_of("[{name: f, trigger: order_paid, first_only: true, actions: [{connector: mem, text: x}]}]")
    assert matched(config, event(ident=1042), order("1042")) == ["f"]  # is_first: true
    assert matched(config, event(ident=1043), order("1043")) == []  # is_first: false
    assert reasons(config, event(ident=1043), order("1043"))["f"] == (
        "first_only: not the customer's first order (is_first is false)"
    )
    renewal = order("1042", source="recurring")
    del renewal["is_first"]
    assert matched(config, event(), renewal) == []
    unknown = order("1042")
    del unknown["is_first"]
    assert matched(config, event(), unknown) == ["f"]


@pytest.mark.parametrize(
    ("scopes", "ident", "rule_id", "expected", "reason"),
    [
        ("products: [77], checkouts: [12], first_only: true", 1042, 318, True, ""),
        ("products: [77], checkouts: [14]", 1042, 318, False, "checkouts:"),
        ("products: [90], checkouts: [12]", 1042, 318, False, "products:"),
        ("products: [77], source_rules: [319]", 1042, 318, False, "source_rules:"),
        ("products: [90], upsells: [91], checkouts: [14]", 1043, 318, True, ""),
        ("products: [90], upsells: [91], first_only: true", 1043, 318, False, "first_only:"),
        ("checkouts: [14], source_rules: [318, 319], upsells: [91]", 1043, 319, True, ""),
    ],
)
def test_every_given_scope_must_hold(scopes, ident, rule_id, expected, reason):
    config = config_of(f"[{{name: combo, trigger: order_paid, {scopes}, actions: [{{connector: mem, text: x}}]}}]")
    data = order(str(ident))
    assert matched(config, event(ident=ident, rule_id=rule_id), data) == (["combo"] if expected else [])
    assert reasons(config, event(ident=ident, rule_id=rule_id), data)["combo"].startswith(reason)


# ---------------------------------------------------------------- when


WHEN_RULES = """
- {name: live, trigger: order_paid, when: "order.mode == 'live'", actions: [{connector: mem, text: a}]}
- {name: big, trigger: order_paid, when: "order.amount_with_tax | float > 500", actions: [{connector: mem, text: b}]}
- name: broken
  trigger: order_paid
  when: "order.customer.vip"
  actions: [{connector: mem, text: c}]
- {name: after-broken, trigger: order_paid, when: "rule.name == 'after-broken' and event.rule_id == '318'",
   actions: [{connector: mem, text: d}]}
"""


def test_when_true_false_and_raising():
    config = config_of(WHEN_RULES)
    result = run(config, event(), order(), explain=True)
    by_name = {o.rule.name: o for o in result.outcomes}
    assert by_name["live"].matched
    assert not by_name["big"].matched
    assert by_name["big"].reason == "when: 'order.amount_with_tax | float > 500' is false"
    broken = by_name["broken"]
    assert not broken.matched
    assert broken.error is not None
    assert broken.error.startswith("rule 'broken': rules.yaml:")
    assert "when 'order.customer.vip'" in broken.error
    assert "'dict object' has no attribute 'customer'" in broken.error
    assert broken.reason == f"error: {broken.error}"
    # the error stops neither the rules after it nor their actions
    assert by_name["after-broken"].matched
    assert [d.rule for d in result.deliveries] == ["live", "after-broken"]


def test_when_error_line_points_at_the_condition():
    config = config_of(WHEN_RULES)
    broken = next(r for r in config.rules.rules if r.name == "broken")
    assert broken.when is not None
    line = int(broken.when.where.rsplit(":", 1)[1])
    text = HEADER + textwrap.indent(textwrap.dedent(WHEN_RULES), "  ")
    assert text.splitlines()[line - 1].strip().startswith("when:")


# ---------------------------------------------------------------- for_each


def three_line_order() -> dict:
    data = order("1042")
    data["items"].append({**data["items"][0], "id": 5503, "product_id": 83, "label": "Derde"})
    return data


def test_for_each_gives_one_delivery_per_element_with_distinct_keys():
    config = config_of("""
        - name: enrol
          trigger: order_paid
          actions:
            - connector: hook
              for_each: order.items
              path: "/enrol/{{ item.product_id }}"
              json: {email: "{{ order.billing.contact.email }}", line: "{{ item.id }}", rule: "{{ rule.name }}"}
    """)
    deliveries = run(config, event(), three_line_order()).deliveries
    assert [d.request["path"] for d in deliveries] == ["/enrol/77", "/enrol/81", "/enrol/83"]
    assert [d.item_key for d in deliveries] == ["id:5501", "id:5502", "id:5503"]
    assert len({d.action_key for d in deliveries}) == 3
    assert len({d.delivery_key for d in deliveries}) == 3
    assert deliveries[0].request["json"] == {"email": "bilal@example.nl", "line": "5501", "rule": "enrol"}


def test_for_each_elements_without_id_are_keyed_by_index():
    config = config_of("""
        - name: tags
          trigger: order_paid
          actions: [{connector: mem, for_each: order.tags, text: "{{ item }}"}]
    """)
    deliveries = run(config, event(), order()).deliveries
    assert [(d.item_key, d.request["text"]) for d in deliveries] == [
        ("index:0", "cursus"),
        ("index:1", "voorjaar-2025"),
    ]


def test_for_each_over_something_that_is_not_a_list_is_a_dead_delivery_naming_rule_and_line():
    config = config_of("""
        - name: wrong
          trigger: order_paid
          actions: [{connector: mem, for_each: order.billing.contact.email, text: "{{ item }}"}]
        - name: missing
          trigger: order_paid
          actions: [{connector: mem, for_each: order.lines, text: "{{ item }}"}]
    """)
    wrong, missing = run(config, event(), order()).deliveries
    assert wrong.status == "dead" and wrong.request is None
    assert wrong.error.startswith("render: rule 'wrong': rules.yaml:")
    assert "is not a list" in wrong.error
    assert missing.status == "dead"
    assert "has no attribute 'lines'" in missing.error


# ---------------------------------------------------------------- dedupe keys


def test_action_keys_follow_the_business_event_or_the_webhook():
    config = config_of("""
        - {name: all, trigger: order_paid, actions: [{connector: mem, text: a}]}
        - {name: per-rule, trigger: order_paid, source_rules: [318, 319], actions: [{connector: mem, text: b}]}
    """)
    first = run(config, event(rule_id=318), order()).deliveries
    second = run(config, event(rule_id=319), order()).deliveries
    assert first[0].action_key == second[0].action_key  # universal: one run per business event
    assert first[1].action_key != second[1].action_key  # source_rules: one run per webhook
    other_order = run(config, event(ident=1043), order("1043")).deliveries
    assert other_order[0].action_key != first[0].action_key


def test_action_key_includes_rule_action_and_item():
    config = config_of("""
        - name: r
          trigger: order_paid
          actions: [{connector: mem, text: a}, {connector: mem, text: b}]
    """)
    rule = config.rules.rules[0]
    keys = {
        action_key(event(), rule, rule.actions[0], None),
        action_key(event(), rule, rule.actions[1], None),
        action_key(event(), rule, rule.actions[0], "id:1"),
    }
    assert len(keys) == 3


# ---------------------------------------------------------------- the index


def _rule(position: int, **scopes: object) -> Rule:
    action = Action(connector="mem", index=0, fields={"text": "x"})
    return Rule(name=f"r{position}", triggers=("order_paid",), actions=(action,), position=position, **scopes)  # type: ignore[arg-type]


def test_matching_only_looks_at_rules_filed_under_the_events_products_checkout_and_rule():
    unrelated = [_rule(i, products=frozenset({str(10_000 + i)})) for i in range(5000)]
    unrelated += [_rule(5000 + i, checkouts=frozenset({str(20_000 + i)})) for i in range(2000)]
    unrelated += [_rule(7000 + i, source_rules=frozenset({str(30_000 + i)})) for i in range(2000)]
    unrelated += [_rule(9000 + i, upsells=frozenset({str(40_000 + i)})) for i in range(1000)]
    related = [
        _rule(20_000, products=frozenset({"77"})),
        _rule(20_001, checkouts=frozenset({"12"})),
        _rule(20_002, source_rules=frozenset({"318"})),
        _rule(20_003),
    ]
    rules = RuleSet([*unrelated, *related])
    candidates = rules.candidates(event(), order())
    assert [r.name for r in candidates] == ["r20000", "r20001", "r20002", "r20003"]


ids = st.sampled_from(["77", "81", "90", "91", "12", "14", "318", "319", "5"])
scope = st.none() | st.frozensets(ids, min_size=1, max_size=3)


@st.composite
def rules_strategy(draw: st.DrawFn) -> list[Rule]:
    count = draw(st.integers(min_value=0, max_value=12))
    return [
        Rule(
            name=f"r{i}",
            triggers=tuple(draw(st.sets(st.sampled_from(["order_paid", "invoice_created"]), min_size=1))),
            actions=(),
            products=draw(scope),
            checkouts=draw(scope),
            upsells=draw(scope),
            source_rules=draw(scope),
            first_only=draw(st.booleans()),
            position=i,
        )
        for i in range(count)
    ]


@settings(max_examples=150, deadline=None)
@given(
    rules=rules_strategy(),
    ident=st.sampled_from(["1042", "1043"]),
    rule_id=st.sampled_from([318, 319, None]),
    trigger=st.sampled_from(["order_paid", "invoice_created"]),
)
def test_the_index_finds_exactly_the_rules_a_full_scan_matches(rules, ident, rule_id, trigger):
    ruleset = RuleSet(rules)
    ev = event(trigger, ident, rule_id=rule_id)
    data = order(ident)
    fast = [o.rule.name for o in ruleset.match(ev, data, {}) if o.matched]
    slow = [o.rule.name for o in ruleset.explain(ev, data, {}) if o.matched]
    assert fast == slow
