"""The fetched state must agree with the trigger before any action runs: a webhook for an unpaid order fails
with what was seen after the re-checks, and a payment that becomes visible only later passes on a re-check."""

from __future__ import annotations

from tests.support import DaemonProcess, stored, wait_until, webhook_body

FAST_RECHECK = "  state_recheck: [0.3s, 0.3s, 0.3s]\n"


def with_fast_recheck(daemon: DaemonProcess) -> DaemonProcess:
    text = daemon.config_path.read_text()
    daemon.config_path.write_text(text.replace("  retry: [0.2s, 0.5s]\n", "  retry: [0.2s, 0.5s]\n" + FAST_RECHECK))
    return daemon


async def test_state_mismatch_fails_the_event_with_what_was_seen_and_sends_nothing(
    sandbox, sink, daemon_factory, tmp_path
):
    sandbox.state.fixtures["orders"]["1042"]["payment"].update(status="open", paid_at=None)
    daemon = with_fast_recheck(daemon_factory(api_url=sandbox.url, sink_url=sink.url)).start()
    response = await daemon.post(webhook_body("order_paid", 1042))  # signed, but the order is not paid
    assert response.status_code == 202
    reason = "state mismatch (order_paid: payment.status is 'open' and payment.paid_at is missing, after 3 re-checks)"
    await daemon.wait_log("event failed", reason=reason)
    events, deliveries = await stored(tmp_path / "router.db")
    assert (events[0].status, events[0].last_error) == ("failed", reason)
    assert deliveries == [] and sink.requests == []
    fetches = [r for r in sandbox.state.requests if r["path"] == "/v2/orders/1042"]
    assert len(fetches) == 4  # the first fetch and three re-checks


async def test_state_not_yet_visible_passes_on_the_second_fetch(sandbox, sink, daemon_factory, tmp_path):
    payment = sandbox.state.fixtures["orders"]["1042"]["payment"]
    paid = dict(payment)
    payment.update(status="open", paid_at=None)
    daemon = with_fast_recheck(daemon_factory(api_url=sandbox.url, sink_url=sink.url)).start()
    assert (await daemon.post(webhook_body("order_paid", 1042))).status_code == 202

    async def fetched_once() -> bool:
        return any(r["path"] == "/v2/orders/1042" for r in sandbox.state.requests)

    await wait_until(fetched_once, 10, "the first fetch of order 1042")
    payment.update(paid)  # Plug&Pay's own write becomes visible
    await sink.wait_for(1, path="/welcome")
    line = await daemon.wait_log("state not yet visible, will fetch again")
    assert line["seen"] == "payment.status is 'open' and payment.paid_at is missing" and line["recheck"] == 1
    events, deliveries = await stored(tmp_path / "router.db")
    assert events[0].status == "routed" and len(deliveries) == 1
