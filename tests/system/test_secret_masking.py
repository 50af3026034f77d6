"""Secrets in actions, through the real daemon: a secret written into an action's own headers reaches the
destination, but the store file, ``deliveries --json`` and the admin API only ever hold ``***``; customer text
that spells the placeholder is sent literally; a replay after a reload sends the token of the config in force;
and a variable the config no longer has fails the attempt instead of sending the mask."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import httpx

from router.demo.sandbox import SandboxServer
from router.demo.standins.sink import HttpSink
from tests.admin_support import admin_listen
from tests.conftest import run_cli
from tests.support import WEBHOOK_KEY, DaemonProcess, reserved_port, stored, wait_until, webhook_body

TOKEN = "lms-token-4d8e1f2a"
ROTATED = "lms-token-rotated-77c0"
ADMIN_TOKEN = "admin-token-5e6f7a8b"
PLACEHOLDER = "${LMS_TOKEN}"


def write_config(path: Path, port: int, api_url: str, sink_url: str, authorization: str, admin_listen: str) -> None:
    path.write_text(f"""version: 1
server: {{listen: "127.0.0.1:{port}", path: /webhooks/plugandpay}}
admin: {{token: "${{ROUTER_ADMIN_TOKEN}}", listen: "{admin_listen}"}}
plugandpay:
  api_url: {api_url}
  api_token: "${{PLUGANDPAY_API_TOKEN}}"
  webhook_key: "{WEBHOOK_KEY}"
  retry: [0.2s, 0.5s]
store: {{url: "sqlite:///{path.parent / "router.db"}"}}
delivery: {{schedule: [0.2s, 0.4s], timeout: 3s}}
connectors:
  lms: {{type: http, base_url: "{sink_url}"}}
rules:
  - name: enrol
    trigger: order_paid
    actions:
      - connector: lms
        path: /enrolments
        headers: {{Authorization: "{authorization}"}}
        json: {{name: "{{{{ order.billing.contact.firstname }}}}", email: "{{{{ order.billing.contact.email }}}}"}}
""")


def start(tmp_path: Path, sandbox: SandboxServer, sink: HttpSink, authorization: str, **env: str) -> DaemonProcess:
    port = reserved_port()
    listen, admin_url = admin_listen()
    path = tmp_path / "config.yaml"
    write_config(path, port, sandbox.url, sink.url, authorization, listen)
    daemon = DaemonProcess(path, port, {"ROUTER_ADMIN_TOKEN": ADMIN_TOKEN, **env})
    daemon.admin_url = admin_url
    return daemon.start()


async def delivered(tmp_path: Path) -> int:
    """The id of the one delivery, once it is delivered."""
    found: list[int] = []

    async def done() -> bool:
        deliveries = (await stored(tmp_path / "router.db"))[1]
        found[:] = [d.id for d in deliveries if d.status == "delivered"]
        return bool(found)

    await wait_until(done, 15, "a delivered delivery")
    return found[0]


async def test_the_destination_gets_the_token_but_the_store_and_its_readers_only_the_mask(sandbox, sink, tmp_path):
    sandbox.state.fixtures["orders"]["1042"]["billing"]["contact"]["firstname"] = PLACEHOLDER
    daemon = start(tmp_path, sandbox, sink, "Bearer ${LMS_TOKEN}", LMS_TOKEN=TOKEN)
    assert (await daemon.post(webhook_body(ident=1042))).status_code == 202
    [request] = await sink.wait_for(1, path="/enrolments")
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.json()["name"] == PLACEHOLDER  # the customer's text, not the secret
    delivery_id = await delivered(tmp_path)

    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.get(
            f"{daemon.admin_url}/api/deliveries/{delivery_id}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
    assert answer.status_code == 200
    assert answer.json()["request"]["headers"] == {"Authorization": "Bearer ***"}
    assert TOKEN not in answer.text
    env = {"ROUTER_ADMIN_TOKEN": ADMIN_TOKEN, "LMS_TOKEN": TOKEN}
    listed = await asyncio.to_thread(run_cli, "deliveries", "-c", str(daemon.config_path), "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert row["id"] == delivery_id and TOKEN not in listed.stdout

    assert store_files_without(tmp_path, TOKEN) >= {"router.db", "router.db-wal"}  # while running: the WAL too
    assert daemon.stop() == 0
    assert "router.db" in store_files_without(tmp_path, TOKEN)


def store_files_without(folder: Path, secret: str) -> set[str]:
    """The names of the store's files (database, WAL, ...), after checking that none holds ``secret``."""
    files = [p for p in folder.iterdir() if p.name.startswith("router.db")]
    for path in files:
        assert secret.encode() not in path.read_bytes(), f"{path.name} holds the secret"
    return {p.name for p in files}


async def test_a_replay_after_a_reload_sends_the_token_of_the_config_in_force_or_fails_without_it(
    sandbox, sink, tmp_path
):
    # A running process keeps its environment, so the rotation is done where a reload sees it: in the file.
    daemon = start(tmp_path, sandbox, sink, f"Bearer ${{LMS_TOKEN:-{TOKEN}}}", LMS_TOKEN="")
    await daemon.post(webhook_body(ident=1042))
    [first] = await sink.wait_for(1, path="/enrolments")
    assert first.headers["Authorization"] == f"Bearer {TOKEN}"
    delivery_id = await delivered(tmp_path)

    async def reload(authorization: str, count: int) -> None:
        listen = (daemon.admin_url or "").removeprefix("http://")
        write_config(daemon.config_path, daemon.port, sandbox.url, sink.url, authorization, listen)
        daemon.signal(signal.SIGHUP)

        async def reloaded() -> bool:
            return sum(line.get("event") == "config reloaded" for line in daemon.log_events()) >= count

        await wait_until(reloaded, 10, f"config reload {count}")

    async def replay() -> None:
        done = await asyncio.to_thread(
            run_cli,
            "replay",
            "-c",
            str(daemon.config_path),
            str(delivery_id),
            "--again",  # it was delivered: sending it again is on purpose
            env={"LMS_TOKEN": "", "ROUTER_ADMIN_TOKEN": ADMIN_TOKEN},
        )
        assert done.returncode == 0, done.stderr

    await reload(f"Bearer ${{LMS_TOKEN:-{ROTATED}}}", 1)
    await replay()
    second = (await sink.wait_for(2, path="/enrolments"))[1]
    assert second.headers["Authorization"] == f"Bearer {ROTATED}"
    assert second.key == first.key  # a replay: same delivery key

    await reload("Bearer none", 2)  # the variable is gone from the config
    await replay()
    failed = await daemon.wait_log("delivery failed, will retry", delivery_id=delivery_id)
    assert "secret variable LMS_TOKEN is not set in the current config" in failed["error"]
    assert len(sink.to("/enrolments")) == 2  # nothing was sent, the mask least of all
    assert daemon.stop() == 0
