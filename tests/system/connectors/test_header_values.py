"""Header values from customer text, through the real daemon: a line break in a rendered header makes the
delivery dead at its first attempt, with a one-line reason, and nothing is sent."""

from __future__ import annotations

from tests.support import webhook_body
from tests.system.connectors.conftest import EMAIL, FIRSTNAME, finished, start_daemon


async def test_a_line_break_in_a_rendered_header_is_dead_at_once_and_nothing_is_sent(tmp_path, sandbox, sink):
    sandbox.state.fixtures["orders"]["1042"]["billing"]["contact"]["firstname"] = "Bilal\r\nX-Injected: yes"
    rules = f"""  - name: crm-hook
    trigger: order_paid
    actions:
      - connector: hook
        path: /contacts
        headers: {{X-Customer: "{FIRSTNAME}"}}
        json: {{email: "{EMAIL}"}}
"""
    daemon = start_daemon(tmp_path, sandbox.url, f'  hook: {{type: http, base_url: "{sink.url}"}}', rules)
    try:
        await daemon.post(webhook_body("order_paid", 1042))
        line = await daemon.wait_log("delivery dead", connector="hook")
        (delivery,) = await finished(tmp_path)
        assert delivery.status == "dead" and delivery.attempts == 1
        assert "header X-Customer: the value contains a carriage return" in (delivery.last_error or "")
        assert "\n" not in line["error"]
        assert "Traceback" not in daemon.log() and "unexpected error" not in daemon.log()
        assert sink.requests == []
    finally:
        assert daemon.stop() == 0
