"""``plugpay-router alerts test`` sends one test alert through every channel and says what each answered:
a mail to the SMTP catcher, JSON to a webhook, and a failure named for a channel whose destination is down."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

from router.demo.standins.sink import HttpSink
from router.demo.standins.smtp import SmtpServer
from tests.conftest import run_cli


async def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(run_cli, *args)  # the stand-ins answer on this test's event loop


async def test_alerts_test_sends_through_every_channel_and_names_the_one_that_failed(tmp_path: Path) -> None:
    smtp = await SmtpServer().start()
    sink = await HttpSink().start()
    try:
        config = tmp_path / "shop.yaml"
        config.write_text(
            f"""version: 1
plugandpay: {{allow_unsigned: true}}
connectors:
  mail: {{type: email, host: 127.0.0.1, port: {smtp.port}, starttls: false, from: "Router <router@shop.nl>"}}
  ops: {{type: http, base_url: "{sink.url}"}}
  gone: {{type: http, base_url: "http://127.0.0.1:9"}}
alerts:
  dashboard_url: https://router.shop.nl/ui
  channels:
    - {{connector: mail, to: ops@shop.nl}}
    - {{connector: ops, path: /services/T0/B0/X}}
    - {{connector: gone, path: /hook}}
"""
        )
        result = await cli("alerts", "test", "-c", str(config))
    finally:
        await sink.stop()
        await smtp.stop()
    lines = result.stdout.splitlines()
    assert result.returncode == 1, result.stdout + result.stderr
    assert lines[0].startswith("ok      channels[0] mail (email)")
    assert lines[1].startswith("ok      channels[1] ops (http): HTTP 200")
    assert lines[2].startswith("failed  channels[2] gone (http): ") and "connection" in lines[2]
    [mail] = smtp.received
    assert mail.rcpt_tos == ["ops@shop.nl"]
    assert mail.message["Subject"] == "plugpay-router: a test alert from plugpay-router"
    [posted] = sink.requests
    assert posted.path == "/services/T0/B0/X"
    body = json.loads(posted.body)
    assert body["text"] == "plugpay-router: a test alert from plugpay-router"
    assert body["alert"]["kind"] == "test" and body["alert"]["dashboard"] == "https://router.shop.nl/ui"


def test_alerts_test_without_channels_says_so(tmp_path: Path) -> None:
    config = tmp_path / "shop.yaml"
    config.write_text("version: 1\nplugandpay: {allow_unsigned: true}\n")
    result = run_cli("alerts", "test", "-c", str(config))
    assert result.returncode == 1 and "has no alerts.channels" in result.stderr
