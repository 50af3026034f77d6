"""The SQLite store file lost or corrupted under the running daemon: no webhook is acknowledged after it, the
readiness probe fails, and the daemon exits non-zero naming the file, so nothing acknowledged is lost.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import httpx

from tests.support import DaemonProcess, signed_headers, wait_until, webhook_body


def with_text(daemon: DaemonProcess, old: str, new: str) -> DaemonProcess:
    text = daemon.config_path.read_text()
    assert old in text
    daemon.config_path.write_text(text.replace(old, new))
    return daemon


async def exit_code(daemon: DaemonProcess, timeout: float = 30.0) -> int:
    assert daemon.proc is not None
    code = await asyncio.to_thread(daemon.proc.wait, timeout)
    return int(code)


async def test_deleting_the_store_file_under_load_stops_acks_and_exits_non_zero(
    sandbox, sink, daemon_factory, tmp_path: Path
) -> None:
    daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url).start()
    db = tmp_path / "router.db"
    deleted_at: float | None = None
    after_delete: list[int | str] = []
    acked = 0

    async def poster(client: httpx.AsyncClient, worker: int) -> None:
        nonlocal acked
        for n in range(10_000):
            body = webhook_body(ident=worker * 100_000 + n + 1)
            started = time.monotonic()
            try:
                response = await client.post(daemon.webhook_url, content=body, headers=signed_headers(body))
                outcome: int | str = response.status_code
            except httpx.TransportError as exc:
                outcome = type(exc).__name__  # the daemon stopped listening on its way out
            if deleted_at is not None and started > deleted_at:
                after_delete.append(outcome)
            elif outcome == 202:
                acked += 1
            assert daemon.proc is not None
            if daemon.proc.poll() is not None or len(after_delete) > 200:
                return

    async with httpx.AsyncClient(timeout=10) as client:
        posters = [asyncio.create_task(poster(client, worker)) for worker in range(4)]
        await wait_until(lambda: _true_when(acked >= 30), 20, "30 acknowledged webhooks")
        db.unlink()
        deleted_at = time.monotonic()
        code = await exit_code(daemon)
        await asyncio.gather(*posters)

    assert code != 0
    assert after_delete, "no webhook was sent after the file was deleted"
    assert 202 not in after_delete
    assert 503 in after_delete or all(isinstance(o, str) for o in after_delete)
    assert str(db) in daemon.log() and "deleted" in daemon.log()


async def _true_when(value: bool) -> bool:
    await asyncio.sleep(0.02)
    return value


async def test_a_corrupted_store_file_fails_readiness_answers_503_and_exits_non_zero(
    sandbox, sink, daemon_factory, tmp_path: Path
) -> None:
    daemon = daemon_factory(api_url=sandbox.url, sink_url=sink.url).start()
    db = tmp_path / "router.db"
    for ident in range(20):
        assert (await daemon.post(webhook_body(ident=ident + 1))).status_code == 202
    # Everything into the file itself, then overwrite every page after the header with garbage.
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    size = db.stat().st_size
    with db.open("r+b") as handle:
        handle.seek(4096)
        handle.write(b"\xa5" * (size - 4096))

    # The readiness probe finds it (if the daemon's own writes did not find it first and stop it already).
    async with httpx.AsyncClient(timeout=10) as client:
        try:
            ready = await client.get(f"{daemon.url}/readyz")
            assert ready.status_code == 503 and "corrupt" in ready.json()["store"]
        except httpx.TransportError:
            pass  # already gone
        for ident in range(5):
            body = webhook_body(ident=900_000 + ident)
            try:
                response = await client.post(daemon.webhook_url, content=body, headers=signed_headers(body))
                assert response.status_code == 503
            except httpx.TransportError:
                pass  # gone: not an acknowledgement either
    assert await exit_code(daemon) != 0
    assert str(db) in daemon.log() and "corrupt" in daemon.log()
