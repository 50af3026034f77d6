"""Multi-instance benchmark: end-to-end throughput of one vs two daemons on PostgreSQL, and SQLite for reference.

Same run, same load for every setup: ``--count`` signed webhooks (distinct order ids) spread round-robin
over the setup's instances at ``--concurrency`` by this process; each is fetched from a local Plug&Pay
sandbox (``--synthesize``: any order id resolves), rendered, and delivered to a bare HTTP sink. The figure
is events delivered per second, first webhook sent → last delivery received. The sandbox and the sink
are shared subprocesses; each setup gets fresh daemons and a fresh store (a new PostgreSQL schema), and
a short warm-up first. Everything runs on this one machine, so instances compete for the same cores.
Each daemon's CPU seconds (``/proc/PID/stat``) over the measured load are printed per event and per
instance. With ``--round-trips`` the PostgreSQL setups reach the server through ``bench.pgcount``'s
counting proxy, which prints the database round trips per event (all instances together); the proxy
costs time, so throughput is compared without it.

    python -m bench.multi [--count 2000] [--concurrency 32] [--postgres postgresql://postgres@127.0.0.1/test]
    python -m bench.multi --round-trips
    python -m bench.multi --shops 50 [--count 2000] [--rounds 2]   # many shops on one router: bench.shops

Measured (issue 16; 2 cores, the PostgreSQL server on the same machine, 2026-11-30): SQLite 582-793
events/s at 1.18-1.61 ms CPU/event; PostgreSQL one instance 332-481 events/s (x0.51-0.83 of SQLite over
five runs, median x0.58) at 1.49-2.17 ms; two instances 334-492 events/s at 0.89-1.39 ms each (1.9-2.7 ms
per event in all: the cost stays, it is shared). 3.4 database round trips per event (4.4 before the
one-statement webhook insert).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import asyncpg

from bench.common import machine
from bench.e2e import config_text  # the same pipeline and rule as the single-instance benchmark
from bench.pgcount import CountingProxy, through
from bench.procs import cpu_seconds, start
from tests.fleet import spread
from tests.pg import with_query
from tests.support import WEBHOOK_KEY, reserved_port

WARMUP = 200


@dataclass(frozen=True)
class Setup:
    name: str
    instances: int
    postgres: bool


SETUPS = (
    Setup("SQLite, 1 instance", 1, False),
    Setup("PostgreSQL, 1 instance", 1, True),
    Setup("PostgreSQL, 2 instances", 2, True),
)


async def delivered(session: aiohttp.ClientSession, sink_port: int) -> int:
    async with session.get(f"http://127.0.0.1:{sink_port}/count") as response:
        return int((await response.json())["received"])


async def drive(urls: list[str], sink_port: int, first_id: int, count: int, concurrency: int) -> float:
    """Spread ``count`` webhooks over ``urls``; seconds until the sink has received all their deliveries."""
    async with aiohttp.ClientSession() as session:
        target = await delivered(session, sink_port) + count
        started = time.perf_counter()
        await spread(urls, range(first_id, first_id + count), concurrency=concurrency)
        while await delivered(session, sink_port) < target:
            await asyncio.sleep(0.01)
        return time.perf_counter() - started


async def schema(server: str, sql: str) -> None:
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@dataclass(frozen=True)
class Measured:
    seconds: float
    cpu: list[float]  # CPU seconds of each instance over the measured load
    round_trips: int | None  # to PostgreSQL, all instances together


def run_setup(
    setup: Setup, folder: Path, ports: tuple[int, int], args: argparse.Namespace, first_id: int, proxy: CountingProxy
) -> Measured:
    api_port, sink_port = ports
    name = f"ppr_bench_{uuid.uuid4().hex[:8]}"
    if setup.postgres:
        asyncio.run(schema(args.postgres, f"CREATE SCHEMA {name}"))
        server = through(proxy, args.postgres) if args.round_trips else args.postgres
        store = with_query(server, search_path=name)
    else:
        store = f"sqlite:///{folder / (name + '.db')}"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        urls = []
        for index in range(setup.instances):
            port = reserved_port()
            config = folder / f"{name}-{index}.yaml"
            config.write_text(
                config_text(port=port, api_port=api_port, sink_port=sink_port, key=WEBHOOK_KEY, store=store)
            )
            log = folder / f"{name}-{index}.log"
            procs.append(start(["-m", "router", "serve", "-c", str(config)], f"http://127.0.0.1:{port}/healthz", log))
            urls.append(f"http://127.0.0.1:{port}/webhooks/plugandpay")
        asyncio.run(drive(urls, sink_port, first_id, WARMUP, args.concurrency))
        before, trips = [cpu_seconds(proc.pid) for proc in procs], proxy.round_trips
        seconds = asyncio.run(drive(urls, sink_port, first_id + WARMUP, args.count, args.concurrency))
        cpu = [cpu_seconds(proc.pid) - start for proc, start in zip(procs, before, strict=True)]
        counted = setup.postgres and args.round_trips
        return Measured(seconds, cpu, proxy.round_trips - trips if counted else None)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(30)
        if setup.postgres:
            asyncio.run(schema(args.postgres, f"DROP SCHEMA {name} CASCADE"))


def main() -> int:
    if any(arg == "--shops" or arg.startswith("--shops=") for arg in sys.argv[1:]):
        from bench.shops import main as shops  # many shops, one router (issue 24): its own setups and options

        return shops(sys.argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shops", type=int, help="N shops against one: bench.shops, with its options (--help there)")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument(
        "--round-trips", action="store_true", help="count database round trips (through a proxy: slower)"
    )
    args = parser.parse_args()
    results: list[tuple[Setup, Measured]] = []
    upstream = urlsplit(args.postgres)
    proxy = CountingProxy(upstream.hostname or "127.0.0.1", upstream.port or 5432)
    proxy.start()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        api_port, sink_port = reserved_port(), reserved_port()
        shared = [
            start(
                ["-m", "router", "sandbox", "--port", str(api_port), "--synthesize"],
                f"http://127.0.0.1:{api_port}/v2/auth/tenants/me",
                folder / "sandbox.log",
            ),
            start(["-m", "bench.bare", str(sink_port)], f"http://127.0.0.1:{sink_port}/count", folder / "sink.log"),
        ]
        try:
            for number, setup in enumerate(SETUPS):
                measured = run_setup(setup, folder, (api_port, sink_port), args, 1_000_000 * (number + 1), proxy)
                results.append((setup, measured))
        finally:
            for proc in shared:
                proc.terminate()
                proc.wait(30)
    print(f"machine: {machine()}")
    print(f"{args.count} webhooks per setup (after {WARMUP} warm-up), concurrency {args.concurrency}, round-robin")
    for setup, m in results:
        per_instance = "/".join(f"{cpu / args.count * 1000:.2f}" for cpu in m.cpu)
        trips = "" if m.round_trips is None else f"   {m.round_trips / args.count:.1f} database round trips/event"
        print(
            f"  {setup.name:<26} {args.count / m.seconds:7.0f} events delivered/s   ({m.seconds:.2f} s)"
            f"   CPU {per_instance} ms/event per instance{trips}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
