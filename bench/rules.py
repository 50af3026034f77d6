"""Rule benchmark: load + validate a config with 10,000 rules, then match events against it.

The rules are a shop's worth of generated rules: mixed triggers (one or a list), most scoped by product
(one to three of 5,000 products) or checkout (of 1,000), some by upsell or Plug&Pay rule id, twelve
universal; half with a ``when`` condition and a third with ``first_only``; one or two actions with
templated fields, some with ``for_each``. Like a real generated config, the template texts repeat
across rules (drawn from a pool) while the literal values (ids, tags, lists) differ per rule;
``--distinct`` gives every rule its own condition text instead, the worst case for the template cache.

Load is ``load_config`` on the file (read, YAML, ${VAR}, validation, template compilation, index).
Matching is ``RuleSet.match`` (index lookup, scopes, ``when``) for one event, averaged over many
generated orders, subscriptions and sellers, after one untimed pass (a condition's code is generated on
its first evaluation); ``plan`` adds rendering every matched action.
Targets (issue 3): load ≤ 1 s, match ≤ 50 µs per event.

    python -m bench.rules [--rules 10000] [--events 20000] [--repeat 5] [--distinct]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import machine
from router.config import Config, load_config
from router.events import Event, normalise_json
from router.routing.route import base_context, plan
from tests.memory_connector import register as register_memory_connector

PRODUCTS = 5000
UNIVERSAL = 12  # rules every order event must look at: the welcome mail, the CRM sync, the bookkeeping
CHECKOUTS = 1000
CONDITIONS = [
    "order.mode == 'live'",
    "order.amount_with_tax | float > 100",
    "order.amount_with_tax | float >= 50",
    "order.billing.address.country == 'NL'",
    "order.billing.address.country in ['BE', 'DE']",
    "order.billing.contact.company",
    "'cursus' in order.tags",
    "order.payment.method == 'ideal'",
    "order.source != 'recurring'",
    "order.items | length > 1",
    "order.invoice_status == 'final'",
    "not order.is_hidden",
]
SUBSCRIPTION_CONDITIONS = ["subscription.status in ['ended', 'inactive']", "subscription.mode == 'live'"]
AFFILIATE_CONDITIONS = ["affiliate.statistics.sales > 0", "affiliate.contact.company"]
ORDER_ACTIONS = [
    """      - connector: mail
        to: "{{ order.billing.contact.email }}"
        subject: "Bedankt voor je bestelling {{ order.invoice_number }}"
        text: "Hoi {{ order.billing.contact.firstname }}, je betaalde {{ order.amount_with_tax | money }}."
""",
    """      - connector: crm
        path: /contacts/sync
        json: {{email: "{{{{ order.billing.contact.email }}}}", tags: [{tag}], lists: [{list}]}}
""",
    """      - connector: lms
        for_each: order.items
        path: /enrolments
        json: {{email: "{{{{ order.billing.contact.email }}}}", course: "{{{{ item.product_id }}}}", cohort: {list}}}
""",
    """      - connector: lms
        method: POST
        path: /orders/{{{{ order.id }}}}
        json: {{total: "{{{{ order.amount_with_tax | money('en') }}}}", paid: "{{{{ order.payment.paid_at | date }}}}"}}
""",
]
SUBSCRIPTION_ACTIONS = [
    """      - connector: crm
        path: /contacts/untag
        json: {{email: "{{{{ subscription.billing.contact.email }}}}", tag: {tag}}}
""",
]
AFFILIATE_ACTIONS = [
    """      - connector: mail
        to: "{{ affiliate.email }}"
        subject: "Welkom, {{ affiliate.name }}"
""",
]


def generate(count: int, rng: random.Random, *, distinct: bool = False) -> str:
    """A config with ``count`` rules (see the module docstring for the mix)."""
    out = [
        "version: 1\n",
        "plugandpay: {api_url: 'http://127.0.0.1:9', api_token: '${PLUGANDPAY_API_TOKEN:-bench-token}',"
        " allow_unsigned: true}\n",
        "store: {url: 'sqlite:///bench.db'}\n",
        "connectors:\n",
        "  mail: {type: memory}\n",
        "  crm: {type: http, base_url: 'https://crm.example.nl'}\n",
        "  lms: {type: http, base_url: 'https://lms.example.nl', headers: {Authorization: 'Bearer ${LMS_TOKEN:-x}'}}\n",
        "rules:\n",
    ]
    for i in range(count):
        kind = "order" if i < UNIVERSAL else rng.choices(["order", "subscription", "affiliate"], [85, 10, 5])[0]
        lines = [f"  - name: rule-{i}\n"]
        if kind == "order":
            trigger = rng.choices(["order_paid", "invoice_created", "[order_paid, invoice_created]"], [70, 20, 10])[0]
            lines.append(f"    trigger: {trigger}\n")
            scope = (
                "none"
                if i < UNIVERSAL
                else rng.choices(["products", "checkouts", "upsells", "source_rules"], [60, 25, 8, 7])[0]
            )
            if scope == "products":
                ids = rng.sample(range(1, PRODUCTS + 1), rng.randint(1, 3))
                lines.append(f"    products: [{', '.join(map(str, ids))}]\n")
            elif scope == "checkouts":
                lines.append(f"    checkouts: [{rng.randint(1, CHECKOUTS)}]\n")
            elif scope == "upsells":
                lines.append(f"    upsells: [{rng.randint(1, PRODUCTS)}]\n")
            elif scope == "source_rules":
                lines.append(f"    source_rules: [{rng.randint(1, 500)}]\n")
            if rng.random() < 0.3:
                lines.append("    first_only: true\n")
            conditions, actions = CONDITIONS, ORDER_ACTIONS
        elif kind == "subscription":
            lines.append("    trigger: subscription_ended\n")
            lines.append(f"    products: [{rng.randint(1, PRODUCTS)}]\n")
            conditions, actions = SUBSCRIPTION_CONDITIONS, SUBSCRIPTION_ACTIONS
        else:
            trigger = rng.choice(["affiliate_accepted", "affiliate_denied", "affiliate_quit"])
            lines.append(f"    trigger: {trigger}\n")
            lines.append(f"    source_rules: [{rng.randint(1, 500)}]\n")
            conditions, actions = AFFILIATE_CONDITIONS, AFFILIATE_ACTIONS
        if rng.random() < 0.5:
            condition = rng.choice(conditions)
            if distinct:
                condition = f"({condition}) and {i} >= 0"
            lines.append(f'    when: "{condition}"\n')
        lines.append("    actions:\n")
        for template in rng.sample(actions, min(len(actions), rng.randint(1, 2))):
            lines.append(template.format(tag=f"tag-{i}", list=rng.randint(1, 50)))
        out.extend(lines)
    return "".join(out)


def make_event(rng: random.Random) -> tuple[Event, dict[str, Any]]:
    """A webhook and the object the API would return for it."""
    roll = rng.random()
    if roll < 0.8:
        lines = [
            {
                "id": 9000 + n,
                "product_id": rng.randint(1, PRODUCTS),
                "type": rng.choice([None, None, "order-bump", "one-click-upsell"]),
                "label": "Regel",
                "amount": "50.00",
            }
            for n in range(rng.randint(1, 3))
        ]
        data: dict[str, Any] = {
            "id": rng.randint(1, 10**6),
            "invoice_number": "2025-0042",
            "invoice_status": "final",
            "mode": "live",
            "source": "checkout",
            "is_first": rng.random() < 0.7,
            "is_hidden": False,
            "amount_with_tax": f"{rng.randint(10, 500)}.00",
            "checkout": {"id": rng.randint(1, CHECKOUTS)},
            "billing": {
                "address": {"country": rng.choice(["NL", "BE", "DE"])},
                "contact": {"email": "klant@example.nl", "firstname": "Anna", "company": None},
            },
            "payment": {"method": "ideal", "paid_at": "2025-03-14T09:13:38.000000Z"},
            "items": lines,
            "tags": ["cursus"],
        }
        trigger = rng.choice(["order_payment_completed", "order_invoice_created"])
        kind = "order"
    elif roll < 0.9:
        data = {
            "id": rng.randint(1, 10**6),
            "status": "ended",
            "mode": "live",
            "product": {"id": rng.randint(1, PRODUCTS)},
            "billing": {"contact": {"email": "klant@example.nl"}},
        }
        trigger, kind = "subscription_ended", "subscription"
    else:
        data = {
            "id": rng.randint(1, 10**4),
            "name": "Jan",
            "email": "jan@partner.nl",
            "statistics": {"sales": 3},
            "contact": {"company": "Media"},
        }
        trigger, kind = rng.choice(["affiliate_accepted", "affiliate_denied", "affiliate_quit"]), "affiliate"
    event = normalise_json(
        {
            "event": {"trigger_type": trigger, "triggerable_type": kind, "triggerable_id": data["id"]},
            "rule_id": rng.randint(1, 500),
            "tenant_id": 42,
        }
    )
    return event, data


def time_load(path: Path, repeat: int) -> tuple[Config, list[float]]:
    times = []
    for _ in range(repeat):
        config = None  # free the previous one outside the timed part
        started = time.perf_counter()
        config = load_config(path, {})
        times.append(time.perf_counter() - started)
    assert config is not None
    return config, times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=6, help="loads to time (the first, then best and median)")
    parser.add_argument("--distinct", action="store_true", help="every rule gets its own condition text")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    register_memory_connector()  # the generated config's ``mail`` is the test-only ``type: memory``

    rng = random.Random(args.seed)
    text = generate(args.rules, rng, distinct=args.distinct)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rules.yaml"
        path.write_text(text)
        config, load_times = time_load(path, args.repeat)

    events = [make_event(rng) for _ in range(args.events)]
    now = dt.datetime(2025, 3, 14, 10, 0, tzinfo=dt.UTC)
    contexts = [base_context(event, data, now) for event, data in events]
    rules = config.rules

    # One untimed pass first: a condition is compiled to code on its first evaluation (once per distinct text,
    # shared from then on), and the figures are for the steady state.
    for (event, data), context in zip(events, contexts, strict=True):
        rules.match(event, data, context)
    per_event = []
    candidates = matched = 0
    for (event, data), context in zip(events, contexts, strict=True):
        started = time.perf_counter()
        outcomes = rules.match(event, data, context)
        per_event.append(time.perf_counter() - started)
        candidates += len(outcomes)
        matched += sum(o.matched for o in outcomes)

    started = time.perf_counter()
    deliveries = sum(len(plan(event, data, config, now).deliveries) for event, data in events)
    plan_seconds = time.perf_counter() - started

    n = len(events)
    per_event.sort()
    print(f"machine: {machine()}")
    print(
        f"config: {args.rules} rules ({len(text) / 1e6:.1f} MB of YAML, "
        f"{'distinct' if args.distinct else 'pooled'} condition texts), {len(config.rules.triggers)} triggers"
    )
    again = load_times[1:] or load_times
    print(
        f"load + validate: first {load_times[0]:.3f} s (cold template cache); reloads: best {min(again):.3f} s, "
        f"median {statistics.median(again):.3f} s over {len(again)} (target ≤ 1 s)"
    )
    print(
        f"match: mean {sum(per_event) / n * 1e6:.1f} µs, p50 {per_event[n // 2] * 1e6:.1f} µs, "
        f"p99 {per_event[int(n * 0.99)] * 1e6:.1f} µs per event over {n} events, steady state (target ≤ 50 µs); "
        f"{candidates / n:.1f} candidate rules and {matched / n:.2f} matches per event"
    )
    print(f"plan (match + render): {plan_seconds / n * 1e6:.1f} µs per event, {deliveries / n:.2f} deliveries each")


if __name__ == "__main__":
    main()
