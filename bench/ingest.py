"""Ingest benchmark: signed webhooks at concurrency 32 against the daemon (SQLite store) and a bare handler.

Both servers run as subprocesses on 127.0.0.1 in the same run, loaded by the same client. The daemon
has no rules, so this measures receive alone: verify, normalise, durable commit (WAL, synchronous=FULL,
group commit), answer. Target (issue 2): durable ingest ≥ 50 % of the bare handler's req/s.

    python -m bench.ingest [--count 5000] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import KEY, fire, machine
from tests.support import reserved_port

CONFIG = """version: 1
server: {{listen: "127.0.0.1:{port}", path: /webhooks/plugandpay}}
plugandpay: {{api_url: "http://127.0.0.1:9", webhook_key: "{key}"}}
store: {{url: "sqlite:///{db}"}}
rules: []
"""


def wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=0.5)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise SystemExit(f"{url} did not come up")


def start(args: list[str], ready_url: str, log: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, *args], stdout=log.open("wb"), stderr=subprocess.STDOUT)
    wait_ready(ready_url, proc)
    return proc


async def measure(url: str, count: int, concurrency: int, first_id: int) -> str:
    await fire(url, min(500, count), concurrency, first_id=first_id + 10_000_000)  # warm up
    result = await fire(url, count, concurrency, first_id=first_id)
    return result.summary(), result.rate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bare_port, daemon_port = reserved_port(), reserved_port()
        config = folder / "config.yaml"
        config.write_text(CONFIG.format(port=daemon_port, key=KEY, db=folder / "router.db"))
        bare = start(["-m", "bench.bare", str(bare_port)], f"http://127.0.0.1:{bare_port}/", folder / "bare.log")
        daemon = start(
            ["-m", "router", "serve", "-c", str(config)],
            f"http://127.0.0.1:{daemon_port}/healthz",
            folder / "daemon.log",
        )
        try:
            bare_line, bare_rate = asyncio.run(
                measure(f"http://127.0.0.1:{bare_port}/", args.count, args.concurrency, 1)
            )
            daemon_line, daemon_rate = asyncio.run(
                measure(f"http://127.0.0.1:{daemon_port}/webhooks/plugandpay", args.count, args.concurrency, 1)
            )
        finally:
            for proc in (bare, daemon):
                proc.terminate()
                proc.wait(30)
        stored = os.path.getsize(folder / "router.db")
    print(f"machine: {machine()}")
    print(f"{args.count} signed webhooks, concurrency {args.concurrency}")
    print(f"bare aiohttp handler : {bare_line}")
    print(f"daemon, SQLite store : {daemon_line}")
    print(f"durable ingest = {daemon_rate / bare_rate:.0%} of the bare handler (target ≥ 50 %); db {stored} bytes")


if __name__ == "__main__":
    main()
