"""A template that would run for hours, through the real daemon: it neither stalls the webhook listener (the
render runs off the event loop) nor gets past its render timeout, and the other actions still go out."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from router.demo.sandbox import SandboxServer
from tests.support import DaemonProcess, wait_until, webhook_body
from tests.template_support import RawSink, dest_config, make_daemon, settled

SLOW_RULES = """\
  - name: slow
    trigger: order_paid
    actions:
      - connector: dest
        path: /slow
        json: {x: "{% set r = range(100000) | list %}{% for a in r %}{% for b in r %}{% endfor %}{% endfor %}"}
      - connector: dest
        path: "/fast/{{ order.id }}"
"""


async def test_a_runaway_template_neither_stalls_webhooks_nor_outlives_its_timeout(
    tmp_path: Path, sandbox: SandboxServer, raw_sink: RawSink, daemon_factory: Callable[..., DaemonProcess]
):
    db = tmp_path / "router.db"
    daemon = make_daemon(
        daemon_factory,
        lambda port: dest_config(port, db, sandbox.url, raw_sink.url, SLOW_RULES, ", render_timeout: 3s"),
    )
    assert (await daemon.post(webhook_body(ident=1042))).status_code == 202

    async def fetched() -> bool:
        return any(r["path"] == "/v2/orders/1042" for r in sandbox.state.requests)

    await wait_until(fetched, 10, "the router to fetch order 1042 (the slow render starts right after)")
    await asyncio.sleep(0.2)  # let the render get going: this is the window the test is about
    started = time.monotonic()
    answer = await daemon.post(webhook_body(ident=1043))
    answered_in = time.monotonic() - started
    assert answer.status_code == 202
    assert answered_in < 1, f"webhook answered in {answered_in:.2f}s while a template was rendering"
    assert not any(e.get("event") == "action could not be rendered" for e in daemon.log_events()), (
        "the render finished before the webhook was sent: the test did not measure anything"
    )

    line = await daemon.wait_log("action could not be rendered", timeout=15)
    assert "render timed out after 3s" in line["error"]
    deliveries = await settled(db, 4)
    slow = [d for d in deliveries if d.action_index == 0]
    assert [d.status for d in slow] == ["dead", "dead"]
    assert all("render timed out after 3s" in (d.last_error or "") for d in slow)
    assert sorted(path for path, _ in raw_sink.requests) == ["/api/fast/1042", "/api/fast/1043"]
