"""Oversized answers, through the real daemon: a 150 MB answer from a destination costs bounded memory and
leaves a bounded excerpt in the error, and an oversized Plug&Pay answer fails its event, in bounded memory too."""

from __future__ import annotations

from pathlib import Path

from router.demo.standins.sink import HttpSink
from tests.support import DaemonProcess, stored, webhook_body
from tests.system.connectors.conftest import finished, start_daemon

MB = 1024 * 1024


def peak_rss_mb(daemon: DaemonProcess) -> float:
    """The daemon's peak resident memory (VmHWM) so far, in MB."""
    assert daemon.proc is not None
    for line in Path(f"/proc/{daemon.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc/<pid>/status")


async def test_a_150_mb_answer_costs_bounded_memory_and_a_bounded_excerpt(tmp_path, sandbox):
    big = HttpSink(streams={"/big": (200, 150 * MB), "/broken": (500, 150 * MB)})
    await big.start()
    rules = """  - name: big
    trigger: order_paid
    actions:
      - {connector: hook, path: /big, json: {id: "{{ order.id }}"}}
      - {connector: hook, path: /broken, json: {id: "{{ order.id }}"}}
"""
    daemon = start_daemon(tmp_path, sandbox.url, f'  hook: {{type: http, base_url: "{big.url}"}}', rules)
    try:
        await daemon.post(webhook_body("order_paid", 1042))
        deliveries = await finished(tmp_path, 2)
        status = {d.request["path"]: d for d in deliveries}
        assert status["/big"].status == "delivered"
        broken = status["/broken"]
        assert broken.status == "dead" and broken.attempts == 3
        assert "last error: HTTP 500: yyyy" in (broken.last_error or "") and len(broken.last_error or "") < 1000
        assert peak_rss_mb(daemon) < 120, f"peak RSS {peak_rss_mb(daemon):.0f} MB"
    finally:
        assert daemon.stop() == 0
        await big.stop()


async def test_an_oversized_plugandpay_answer_fails_the_event_in_bounded_memory(tmp_path, sandbox):
    from router.demo.sandbox import Fault

    sandbox.state.faults["/v2/orders/1042"] = [Fault(200, oversize=150 * MB)]
    rules = "  - {name: hook, trigger: order_paid, actions: [{connector: hook, path: /x, json: {a: 1}}]}\n"
    daemon = start_daemon(tmp_path, sandbox.url, '  hook: {type: http, base_url: "http://127.0.0.1:9"}', rules)
    try:
        await daemon.post(webhook_body("order_paid", 1042))
        line = await daemon.wait_log("event failed", timeout=15)
        assert "Plug&Pay answer larger than 10485760 bytes on GET /v2/orders/1042" in line["reason"]
        events, _ = await stored(tmp_path / "router.db")
        assert events[0].status == "failed" and "larger than" in (events[0].last_error or "")
        assert peak_rss_mb(daemon) < 120, f"peak RSS {peak_rss_mb(daemon):.0f} MB"
    finally:
        assert daemon.stop() == 0
