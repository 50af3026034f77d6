"""``simulate``: live (the sandbox API) and offline; every rule's outcome, every rendered action, nothing sent."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from router.config import load_config
from router.tools.simulate import event_from_args, fetch, simulate
from tests.conftest import run_cli
from tests.rules_support import NOW, order
from tests.support import API_TOKEN

LMS_SECRET = "lms-secret-a7f3e9"
ENV = {"PLUGANDPAY_API_TOKEN": API_TOKEN}


def write_config(tmp_path: Path, api_url: str, sink_url: str, rules: str = "") -> Path:
    path = tmp_path / "shop.yaml"
    path.write_text(f"""\
version: 1
plugandpay: {{allow_unsigned: true,
  api_url: "{api_url}",
  api_token: "${{PLUGANDPAY_API_TOKEN}}"}}
store: {{url: "sqlite:///{tmp_path / "router.db"}"}}
connectors:
  lms: {{type: http, base_url: "{sink_url}", headers: {{Authorization: "Bearer ${{LMS_TOKEN:-{LMS_SECRET}}}"}}}}
  mail: {{type: memory}}
rules:
{rules or SHOP_RULES}""")
    return path


SHOP_RULES = """\
  - name: welcome-mail
    trigger: order_paid
    actions:
      - connector: mail
        to: "{{ order.billing.contact.email }}"
        subject: "Bedankt voor bestelling {{ order.invoice_number }} ({{ order.amount_with_tax | money }})"
  - name: course-access
    trigger: order_paid
    products: [77]
    actions:
      - connector: lms
        for_each: order.items
        path: /enrolments
        json:
          email: "{{ order.billing.contact.email }}"
          course: "{{ item.product_id }}"
          key: "${LMS_TOKEN:-lms-secret-a7f3e9}"
  - name: masterclass
    trigger: order_paid
    products: [90]
    actions: [{connector: mail, to: x@example.nl}]
  - name: vip
    trigger: order_paid
    when: "order.customer.vip"
    actions: [{connector: mail, to: x@example.nl}]
  - name: books
    trigger: invoice_created
    checkouts: [12]
    actions: [{connector: mail, to: books@example.nl}]
"""


async def test_live_simulation_lists_matches_misses_and_actions_and_sends_nothing(sandbox, sink, tmp_path):
    config = write_config(tmp_path, sandbox.url, sink.url)
    result = await asyncio.to_thread(
        run_cli, "simulate", "-c", str(config), "order_paid", "1042", "--rule-id", "318", memory=True
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("Event: order_paid order 1042 (Plug&Pay rule 318)\nData:  GET /v2/orders/1042?include=")
    assert "Rules: 2 of 5 matched" in out
    assert "  MATCH  welcome-mail\n" in out
    assert "  MATCH  course-access\n" in out
    assert "  no     masterclass    products: order has products ['77', '81']" in out
    assert f"  ERROR  vip            error: rule 'vip': {config}:33: when 'order.customer.vip': undefined value" in out
    assert "  no     books          trigger: listens to invoice_created, not order_paid" in out
    assert "Actions: 3" in out
    assert "subject: Bedankt voor bestelling 2025-0042 (€ 121,00)" in out
    assert f"     POST {sink.url}/enrolments" in out
    assert '"course": "81"' in out
    assert "[item id:5502]" in out
    assert 'headers: {"Authorization": "Bearer ***"}' in out
    assert LMS_SECRET not in out and API_TOKEN not in out
    assert out.rstrip().endswith("Nothing was sent and nothing was stored.")
    # it fetched the order like the daemon, and touched nothing else
    [fetched] = sandbox.state.requests
    assert fetched["path"] == "/v2/orders/1042"
    assert fetched["authorization"] == f"Bearer {API_TOKEN}"
    assert sink.requests == []
    assert not (tmp_path / "router.db").exists()


async def test_offline_simulation_as_json(sandbox, sink, tmp_path):
    config = write_config(tmp_path, sandbox.url, sink.url)
    event_file = tmp_path / "event.json"
    event_file.write_text(
        json.dumps(
            {
                "event": {
                    "trigger_type": "order_payment_completed",
                    "triggerable_type": "order",
                    "triggerable_id": 1043,
                },
                "rule_id": 319,
                "tenant_id": 42,
            }
        )
    )
    data_file = tmp_path / "data.json"
    data_file.write_text(json.dumps({"data": order("1043")}))
    result = await asyncio.to_thread(
        run_cli,
        "simulate",
        "-c",
        str(config),
        "--event",
        str(event_file),
        "--data",
        str(data_file),
        "--json",
        memory=True,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["event"]["trigger"] == "order_paid"
    assert report["event"]["rule_id"] == "319"
    assert report["data_source"] == f"file {data_file}"
    assert report["matched"] == ["welcome-mail", "masterclass"]
    rules = {r["rule"]: r for r in report["rules"]}
    assert rules["course-access"] == {
        "rule": "course-access",
        "matched": False,
        "reason": "products: order has products ['90', '91']",
    }
    assert rules["vip"]["error"].startswith(f"rule 'vip': {config}:33: when 'order.customer.vip'")
    first = report["actions"][0]
    assert first["rule"] == "welcome-mail"
    assert first["destination"] == {"to": "anna@example.nl", "subject": first["request"]["subject"]}
    assert first["request"]["subject"] == "Bedankt voor bestelling 2025-0043 (€ 177,87)"
    assert first["delivery_key"].startswith("ppr_")
    assert (report["sent"], report["stored"]) == (False, False)
    assert sandbox.state.requests == [] and sink.requests == []


async def test_secrets_in_rendered_bodies_are_masked(sandbox, sink, tmp_path):
    config = write_config(tmp_path, sandbox.url, sink.url)
    result = await asyncio.to_thread(
        run_cli, "simulate", "-c", str(config), "order_paid", "1042", "--json", memory=True
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    lms = [a for a in report["actions"] if a["connector"] == "lms"]
    assert [a["request"]["json"]["key"] for a in lms] == ["***", "***"]
    assert LMS_SECRET not in result.stdout


async def test_simulate_reports_api_errors_and_usage_mistakes(sandbox, sink, tmp_path):
    config = write_config(tmp_path, sandbox.url, sink.url)
    missing = await asyncio.to_thread(run_cli, "simulate", "-c", str(config), "order_paid", "999999", memory=True)
    assert missing.returncode == 1
    assert missing.stderr.strip() == "error: cannot fetch the order: Plug&Pay API: /v2/orders/999999 not found (404)"
    neither = await asyncio.to_thread(run_cli, "simulate", "-c", str(config), memory=True)
    assert neither.returncode == 1
    assert "give TRIGGER ID" in neither.stderr


SIX_TRIGGERS = """\
  - {name: paid, trigger: order_paid, actions: [{connector: mail, text: "{{ order.invoice_number }}"}]}
  - {name: invoiced, trigger: invoice_created, actions: [{connector: mail, text: "{{ order.amount | money }}"}]}
  - {name: ended, trigger: subscription_ended,
     actions: [{connector: mail, text: "{{ subscription.product.title }} {{ subscription.status }}"}]}
  - {name: accepted, trigger: affiliate_accepted, actions: [{connector: mail, text: "{{ affiliate.contact.email }}"}]}
  - {name: denied, trigger: affiliate_denied, actions: [{connector: mail, text: "{{ affiliate.decline_reason }}"}]}
  - {name: quit, trigger: affiliate_quit, actions: [{connector: mail, text: "{{ affiliate.name }}"}]}
"""


@pytest.mark.parametrize(
    ("trigger", "ident", "path", "text"),
    [
        ("order_payment_completed", "1042", "/v2/orders/1042", "2025-0042"),
        ("order_invoice_created", "1043", "/v2/orders/1043", "€ 147,00"),
        ("subscription_ended", "901", "/v2/subscriptions/901", "Membership Pro ended"),
        ("affiliate_accepted", "14", "/v2/affiliates/sellers/14", "jan@partner.nl"),
        ("affiliate_denied", "15", "/v2/affiliates/sellers/15", "Geen passende doelgroep"),
        ("affiliate_quit", "14", "/v2/affiliates/sellers/14", "Jan de Vries"),
    ],
)
async def test_each_trigger_resolves_its_object_from_the_api_and_renders(sandbox, tmp_path, trigger, ident, path, text):
    config = load_config(write_config(tmp_path, sandbox.url, "http://127.0.0.1:9", SIX_TRIGGERS), ENV)
    event = event_from_args(trigger, ident)
    data, source = await fetch(config, event)
    assert source.startswith(f"GET {path}?include=")
    [request] = sandbox.state.requests
    assert request["path"] == path
    sim = simulate(config, event, data, source, NOW)
    assert len(sim.matched) == 1
    [action] = sim.actions
    assert action.request == {"text": text}


async def test_the_checkout_include_is_fetched_only_when_a_rule_of_the_trigger_needs_it(sandbox, tmp_path):
    config = load_config(write_config(tmp_path, sandbox.url, "http://127.0.0.1:9"), ENV)  # books: invoice_created
    for trigger, ident in (("order_paid", "1042"), ("invoice_created", "1042"), ("subscription_ended", "901")):
        await fetch(config, event_from_args(trigger, ident))
    includes = [set(r["query"]["include"].split(",")) for r in sandbox.state.requests]
    assert "checkout" not in includes[0]
    assert "checkout" in includes[1]
    assert "checkout" not in includes[2]
