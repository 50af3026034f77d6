"""``trigger`` claims the tenant of the API it is pointed at, so the README's path (trigger a test webhook,
then ``doctor``) gives a clean doctor; without a config it sends no tenant and says so."""

from __future__ import annotations

import asyncio
import subprocess

from tests.conftest import run_cli
from tests.support import WEBHOOK_KEY


async def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a thread: the sandbox it calls answers on this test's event loop."""
    return await asyncio.to_thread(run_cli, *args)


async def test_trigger_takes_the_tenant_from_the_api_and_doctor_stays_clean(daemon_factory, sandbox, sink) -> None:
    daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url).start()
    config = str(daemon.config_path)
    sent = await cli("trigger", "order_paid", "1042", "-c", config)  # key and URL from the config as well
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.startswith("202 ")
    stored = await daemon.wait_log("webhook accepted")
    assert stored["trigger"] == "order_paid"
    events = await cli("events", "-c", config, "--json")
    assert '"tenant_id": "42"' in events.stdout  # the sandbox's tenant (GET /v2/auth/tenants/me)
    doctor = await cli("doctor", "-c", config)
    assert "carry tenant_id" not in doctor.stdout + doctor.stderr


async def test_trigger_without_a_config_sends_no_tenant_and_says_so(daemon_factory, sandbox, sink) -> None:
    daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url).start()
    sent = await cli("trigger", "order_paid", "1043", "--url", daemon.webhook_url, "--key", WEBHOOK_KEY)
    assert sent.returncode == 0, sent.stderr
    assert "no tenant_id sent" in sent.stderr
    doctor = await cli("doctor", "-c", str(daemon.config_path))
    assert "carry tenant_id" not in doctor.stdout + doctor.stderr
