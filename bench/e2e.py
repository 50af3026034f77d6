"""End-to-end benchmark: webhook → fetch from a local Plug&Pay API → render → one HTTP delivery to a sink.

Four processes on this machine: the load generator (this one), the daemon (SQLite store), the Plug&Pay
sandbox (answering any order id) and a bare HTTP sink. It fires ``--count`` signed webhooks at
concurrency 32, then waits until the sink has received every delivery, and prints events delivered per
second (first webhook sent → last delivery received). Target (issue 2): ≥ 1,000 events/s.

    python -m bench.e2e [--count 2000] [--concurrency 32] [--store sqlite|postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import KEY, fire, machine
from bench.ingest import start
from tests.support import reserved_port, welcome_rule


def config_text(*, port: int, api_port: int, sink_port: int, store: str, key: str = KEY) -> str:
    """The benchmark's daemon config: one rule that renders four fields of each paid order to the sink."""
    fields = {
        "email": "order.billing.contact.email",
        "name": "order.billing.contact.firstname ~ ' ' ~ order.billing.contact.lastname",
        "order": "order.id",
        "total": "order.amount_with_tax | money",
    }
    return f"""version: 1
server: {{listen: "127.0.0.1:{port}", path: /webhooks/plugandpay}}
plugandpay: {{api_url: "http://127.0.0.1:{api_port}", api_token: sandbox, webhook_key: "{key}"}}
store: {{url: "{store}"}}
delivery: {{concurrency: 64}}
connectors:
  sink: {{type: http, base_url: "http://127.0.0.1:{sink_port}"}}
{welcome_rule(fields)}"""


async def run(count: int, concurrency: int, daemon_port: int, sink_port: int) -> tuple[float, str]:
    started = time.perf_counter()
    result = await fire(f"http://127.0.0.1:{daemon_port}/webhooks/plugandpay", count, concurrency, first_id=100_000)
    async with httpx.AsyncClient() as client:
        while True:
            received = (await client.get(f"http://127.0.0.1:{sink_port}/count")).json()["received"]
            if received >= count:
                break
            if time.perf_counter() - started > 300:
                raise SystemExit(f"only {received} of {count} delivered after 300 s")
            await asyncio.sleep(0.02)
    elapsed = time.perf_counter() - started
    return elapsed, result.summary()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--store", default="sqlite", help="sqlite, or a postgresql:// URL")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        port, api_port, sink_port = reserved_port(), reserved_port(), reserved_port()
        store = f"sqlite:///{folder / 'router.db'}" if args.store == "sqlite" else args.store
        config = folder / "config.yaml"
        config.write_text(config_text(port=port, api_port=api_port, sink_port=sink_port, store=store))
        procs: list[subprocess.Popen[bytes]] = []
        try:
            procs.append(
                start(
                    ["-m", "router", "sandbox", "--port", str(api_port), "--synthesize"],
                    f"http://127.0.0.1:{api_port}/v2/auth/tenants/me",
                    folder / "sandbox.log",
                )
            )
            procs.append(
                start(["-m", "bench.bare", str(sink_port)], f"http://127.0.0.1:{sink_port}/count", folder / "sink.log")
            )
            procs.append(
                start(
                    ["-m", "router", "serve", "-c", str(config)],
                    f"http://127.0.0.1:{port}/healthz",
                    folder / "daemon.log",
                )
            )
            elapsed, ingest = asyncio.run(run(args.count, args.concurrency, port, sink_port))
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(30)
    print(f"machine: {machine()}")
    print(f"{args.count} webhooks at concurrency {args.concurrency}, store {args.store}")
    print(f"ingest while routing and delivering: {ingest}")
    print(f"end to end: {args.count / elapsed:.0f} events delivered/s ({elapsed:.2f} s; target ≥ 1000/s)")


if __name__ == "__main__":
    sys.exit(main())
