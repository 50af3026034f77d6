"""What docs/rules.md says about ``simulate``'s delivery key holds against a real daemon: without the webhook's
tenant (and, for a ``source_rules`` rule, its Plug&Pay rule id) the key differs from the one the destination
got; with ``--tenant-id`` and ``--rule-id`` it is exactly that key."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.conftest import run_cli
from tests.support import webhook_body

ROOT = Path(__file__).resolve().parents[2]
EXACT_RULE = """  - name: exact
    trigger: order_paid
    source_rules: [318]
    actions: [{connector: sink, path: /exact, json: {order: "{{ order.id }}"}}]
"""


async def simulated_keys(config: Path, *extra: str) -> dict[str, str]:
    """rule → delivery key, as ``simulate --json`` prints them (the object fetched from the test's sandbox)."""
    result = await asyncio.to_thread(run_cli, "simulate", "-c", str(config), "order_paid", "1042", "--json", *extra)
    assert result.returncode == 0, result.stderr
    return {action["rule"]: action["delivery_key"] for action in json.loads(result.stdout)["actions"]}


def test_the_docs_say_why_simulates_delivery_key_differs_and_how_to_get_the_real_one():
    text = (ROOT / "docs" / "rules.md").read_text()
    section = text.split("### `simulate`", 1)[1].split("### Rule tests", 1)[0]
    assert "Why `simulate`'s delivery key can differ from the one a destination got" in section
    for needed in ("tenant id", "`--tenant-id`", "`--rule-id`", "`source_rules`", "`--event`"):
        assert needed in section, needed


async def test_simulate_prints_the_key_the_daemon_sent_once_given_the_webhooks_tenant_and_rule(
    daemon_factory, sandbox, sink
):
    daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url, extra_rules=EXACT_RULE).start()
    answer = await daemon.post(webhook_body("order_paid", 1042, rule_id=318, tenant_id=42))
    assert answer.status_code == 202, answer.text
    sent = {request.path: request.key for request in await sink.wait_for(2)}
    daemon_keys = {"welcome": sent["/welcome"], "exact": sent["/exact"]}
    assert all(key.startswith("ppr_") for key in daemon_keys.values())

    bare = await simulated_keys(daemon.config_path)
    assert set(bare) == {"welcome"}  # no rule id: the source_rules rule does not match
    assert bare["welcome"] != daemon_keys["welcome"]  # no tenant: another business event, another key
    assert await simulated_keys(daemon.config_path) == bare  # but not random

    assert await simulated_keys(daemon.config_path, "--tenant-id", "42", "--rule-id", "318") == daemon_keys
