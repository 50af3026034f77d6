"""The daemon as a process: crash safety, restarts, SIGHUP reloads, SIGTERM, `check`, and secrets kept out of
its log and of the problems `check`, `serve` and a reload report."""

from __future__ import annotations

import asyncio
import signal
from collections import defaultdict

import httpx

from router.demo.standins.sink import Reply
from tests.conftest import run_cli
from tests.support import (
    API_TOKEN,
    WEBHOOK_KEY,
    DaemonProcess,
    base_config,
    config_file,
    offline_config,
    reserved_port,
    sandbox_server,
    signed_headers,
    wait_until,
    webhook_body,
)


def order_id_rule(config: str) -> str:
    return config.replace('invoice: "{{ order.invoice_number }}"', 'order: "{{ order.id }}"')


async def test_sigkill_in_a_burst_loses_no_acknowledged_webhook(sink, daemon_factory, tmp_path):
    sandbox = await sandbox_server(synthesize=True).start()
    try:
        port = reserved_port()
        text = order_id_rule(base_config(api_url=sandbox.url, sink_url=sink.url, db=tmp_path / "router.db", port=port))
        daemon = daemon_factory(text)
        daemon = DaemonProcess(daemon.config_path, port).start()
        acked: set[int] = set()
        total = 300

        async def send(client: httpx.AsyncClient, order: int) -> None:
            body = webhook_body(ident=order)
            try:
                response = await client.post(daemon.webhook_url, content=body, headers=signed_headers(body))
            except httpx.HTTPError:
                return  # cut off by the kill: never acknowledged, Plug&Pay would retry it
            if response.status_code in (200, 202):
                acked.add(order)

        async with httpx.AsyncClient(timeout=10, limits=httpx.Limits(max_connections=16)) as client:
            tasks = [asyncio.create_task(send(client, 5000 + i)) for i in range(total)]
            await wait_until(lambda: _true(len(acked) >= total // 3), what="a third of the burst to be acked")
            daemon.kill()
            await asyncio.gather(*tasks)
        assert total // 3 <= len(acked) < total

        DaemonProcess(daemon.config_path, port).start()

        def delivered() -> dict[int, set[str]]:
            keys: dict[int, set[str]] = defaultdict(set)
            for request in sink.requests:
                keys[int(request.json()["order"])].add(request.headers["Idempotency-Key"])
            return keys

        await wait_until(
            lambda: _true(acked <= set(delivered())),
            timeout=30,
            what="every acknowledged webhook to be delivered after the restart",
        )
        assert all(len(keys) == 1 for keys in delivered().values())  # copies share one Idempotency-Key
    finally:
        await sandbox.stop()


async def _true(value: bool) -> bool:
    return value


async def test_pending_retries_survive_a_stop_and_complete_after_start(sandbox, sink, daemon_factory):
    sink.replies = [Reply(500, {"error": "down"})]
    daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url, schedule="[1s]").start()
    await daemon.post(webhook_body())
    await daemon.wait_log("delivery failed, will retry")
    assert daemon.stop() == 0
    assert "stopped" in daemon.log()
    restarted = DaemonProcess(daemon.config_path, daemon.port).start()
    requests = await sink.wait_for(2, path="/welcome")
    assert requests[0].headers["Idempotency-Key"] == requests[1].headers["Idempotency-Key"]
    assert restarted.stop() == 0


async def test_sighup_applies_a_new_rule_and_keeps_the_old_config_on_errors(sandbox, sink, daemon_factory):
    daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url).start()
    original = daemon.config_path.read_text()
    extra = """  - name: audit
    trigger: order_paid
    actions:
      - connector: sink
        path: /audit
        json: {order: "{{ order.id }}"}
"""
    daemon.config_path.write_text(original + extra)
    daemon.signal(signal.SIGHUP)
    reloaded = await daemon.wait_log("config reloaded")
    assert reloaded["rules"] == 2
    await daemon.post(webhook_body(ident=1042))
    await sink.wait_for(1, path="/audit")

    daemon.config_path.write_text(original + extra + "  - name: broken\n    trigger: [order_paid\n")
    daemon.signal(signal.SIGHUP)
    failed = await daemon.wait_log("config reload failed, keeping the running config")
    assert any(str(daemon.config_path) in error and "invalid YAML" in error for error in failed["errors"])
    await daemon.post(webhook_body(ident=1043))
    await sink.wait_for(2, path="/audit")  # the old config (with audit) still runs
    assert daemon.stop() == 0


async def test_check_reports_file_line_and_exits_1(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(
        base_config(api_url="http://127.0.0.1:9", sink_url="http://127.0.0.1:9", db=tmp_path / "r.db", port=9999)
    )
    result = run_cli("check", "-c", str(good))
    assert result.returncode == 0 and "ok: 1 rules, 1 connectors" in result.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(good.read_text().replace("connector: sink", "connector: snk"))
    result = run_cli("check", "-c", str(bad))
    assert result.returncode == 1
    assert f"{bad}:16: rules[0].actions[0].connector: unknown connector 'snk'" in result.stderr
    assert "Traceback" not in result.stderr
    missing = run_cli("check", "-c", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 1 and "cannot read the config" in missing.stderr


async def test_secrets_never_reach_the_log(sandbox, sink, daemon_factory):
    sandbox.fail("/v2/orders/1042", 401)
    daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url).start()
    body = webhook_body()
    await daemon.post(body, {"Content-Type": "application/json", "X-Signature": WEBHOOK_KEY})
    await daemon.post(body)
    await sink.wait_for(1)
    assert daemon.stop() == 0
    log = daemon.log()
    assert "check plugandpay.api_token" in log
    assert API_TOKEN not in log and WEBHOOK_KEY not in log


# A secret typed into the wrong setting (``port: "${SMTP_PASSWORD}"``) used to be printed in the problem
# message: in ``check`` and ``serve`` output (and so in the journal), and in a failed reload's log line.
PASSWORD = "hunter2-Tr0ub4dor"
TYPO = """\
  mail: {type: email, host: smtp.example.nl, port: "${SMTP_PASSWORD}", from: "Shop <shop@example.nl>"}
"""


def with_typo(text: str) -> str:
    return text.replace("connectors:\n", "connectors:\n" + TYPO)


def test_check_names_the_key_of_a_secret_typo_but_not_the_password_it_holds(tmp_path):
    text = with_typo(offline_config(tmp_path))
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "SMTP_PASSWORD" in row)
    path = config_file(tmp_path, text)
    result = run_cli("check", "-c", str(path), env={"SMTP_PASSWORD": PASSWORD})
    assert result.returncode == 1
    assert f"{path}:{line}: connectors.mail.port: expected a whole number, got '***'" in result.stderr
    assert PASSWORD not in result.stdout + result.stderr


def test_serve_refuses_a_secret_typo_without_printing_the_password(tmp_path):
    path = config_file(tmp_path, with_typo(offline_config(tmp_path)))
    result = run_cli("serve", "-c", str(path), env={"SMTP_PASSWORD": PASSWORD})
    assert result.returncode == 1
    assert "connectors.mail.port" in result.stderr
    assert PASSWORD not in result.stdout + result.stderr


async def test_a_reload_with_a_secret_typo_logs_the_error_without_the_password_and_keeps_serving(
    sandbox, sink, daemon_factory
):
    daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url, env={"SMTP_PASSWORD": PASSWORD}).start()
    await daemon.wait_log("daemon started")
    original = daemon.config_path.read_text()
    assert "SMTP_PASSWORD" not in original  # the running config knows nothing of it: only the new file's mask helps
    daemon.config_path.write_text(with_typo(original))
    daemon.signal(signal.SIGHUP)
    failed = await daemon.wait_log("config reload failed, keeping the running config")
    assert any("connectors.mail.port: expected a whole number, got '***'" in error for error in failed["errors"])
    assert PASSWORD not in daemon.log()
    assert "webhooks are accepted unsigned" not in daemon.log()  # with a key, no warning
    assert (await daemon.post(webhook_body(ident=1042))).status_code == 202  # the old config still serves
    assert daemon.stop() == 0
