"""The floor under the daemon's CPU per event: its three HTTP exchanges, done by aiohttp and nothing else.

Every delivered event costs the daemon one request served (the webhook) and two requests made (the order
fetched from Plug&Pay, the delivery sent), all through aiohttp, before any routing, rendering or storing.
This measures those alone, at the benchmark's concurrency of 32: a bare aiohttp server's CPU per request
served, and a process that only sends requests through one pooled aiohttp session, its CPU per request
made. ``served + 2 x made`` is what no change inside the daemon can go below while it speaks HTTP through
aiohttp; compare it with ``bench.e2e``'s CPU per event.

    python -m bench.floor [--count 20000] [--rounds 3]

Measured (issue 16; 2-core Xeon, Python 3.11.7, 2026-11-30): served 0.105-0.128 ms, made 0.156-0.210 ms
per request: a floor of 0.42-0.55 ms CPU per event, against the daemon's 1.6-2.0 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.common import machine
from bench.procs import cpu_seconds, start, stop
from tests.support import reserved_port

BODY = b'{"trigger_type":"order_paid","triggerable_id":1042,"triggerable_type":"order","tenant_id":1,"rule_id":7}'
CONCURRENCY = 32


async def _send(url: str, count: int) -> None:
    queue = iter(range(count))
    async with aiohttp.ClientSession() as session:

        async def worker() -> None:
            for _ in queue:
                async with session.post(url, data=BODY, headers={"Content-Type": "application/json"}) as answer:
                    await answer.read()

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


def _client(url: str, count: int) -> None:
    """The sending process: prints its own CPU seconds (all threads) for ``count`` requests."""
    before = resource.getrusage(resource.RUSAGE_SELF)
    asyncio.run(_send(url, count))
    after = resource.getrusage(resource.RUSAGE_SELF)
    print(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)


def one_round(url: str, server_pid: int, count: int) -> tuple[float, float, float]:
    """(ms CPU per request served, ms CPU per request made, requests per second)."""
    served_before = cpu_seconds(server_pid)
    started = time.perf_counter()
    made = subprocess.run(
        [sys.executable, "-m", "bench.floor", "--client", url, "--count", str(count)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    elapsed = time.perf_counter() - started
    served = cpu_seconds(server_pid) - served_before
    return served / count * 1000, float(made.stdout) / count * 1000, count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--client", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        _client(args.client, args.count)
        return
    port = reserved_port()
    with tempfile.TemporaryDirectory() as folder:
        server = start(["-m", "bench.bare", str(port)], f"http://127.0.0.1:{port}/count", Path(folder) / "bare.log")
        try:
            rounds = [one_round(f"http://127.0.0.1:{port}/hook", server.pid, args.count) for _ in range(args.rounds)]
        finally:
            stop([server])
    print(f"machine: {machine()}")
    print(f"{args.count} requests at concurrency {CONCURRENCY}, {args.rounds} round(s)")
    for served, made, rate in rounds:
        print(f"  served {served:.3f} ms/request   made {made:.3f} ms/request   {rate:,.0f} requests/s")
    floor = [served + 2 * made for served, made, _ in rounds]
    print(f"  floor per event (1 served + 2 made): {min(floor):.2f}-{max(floor):.2f} ms CPU")


if __name__ == "__main__":
    main()
