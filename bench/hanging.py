"""A destination that hangs: what the router costs while one shop's deliveries wait on it at full concurrency.

One daemon on PostgreSQL (through ``bench.pgcount``'s counting proxy) serves ``--shops`` shops; ``--count``
webhooks go to the first shop, whose every delivery goes to a destination that never answers
(``bench.bare --hang``), so ``delivery.concurrency`` (64) of them are held and the rest wait, due, in the
store. Over ``--window`` seconds of that: the store queries a second and the daemon's CPU. With ``--compare
DIR`` another checkout's daemon runs the same, in the same run. A route loop that asks for the next due time
of events and deliveries together wakes every 5 ms while deliveries wait due (it finds no event, and the due
deliveries say "now"); one that asks for its own kind's sleeps.

    python -m bench.hanging [--shops 2] [--count 100] [--window 10] [--compare /tmp/prev]

Measured (2 cores, AMD EPYC, Python 3.11.7, PostgreSQL on the same machine, 2026-12-06, against 8690acf in the
same run): with 2 shops 0.2 store queries and 0 ms CPU a second, where the build before asked 317.8 queries and
spent 100 ms a second (a tenth of a core); without ``shops:`` 0.2 and 1 ms against 251.0 and 76 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from bench.common import machine
from bench.multi import schema
from bench.pgcount import CountingProxy, through
from bench.procs import Build, cpu_seconds, start, stop
from bench.shops import checkout, jobs, launch, write_config
from tests.pg import with_query
from tests.support import reserved_port

SETTLE = 3.0  # seconds after the last webhook: the deliveries are held, the rest wait


def measure(build: Build, args: argparse.Namespace, api: str, sink_port: int, proxy: CountingProxy, first: int) -> str:
    name = f"ppr_hang_{uuid.uuid4().hex[:8]}"
    asyncio.run(schema(args.postgres, f"CREATE SCHEMA {name}"))
    store = with_query(through(proxy, args.postgres), search_path=name, application_name=name)
    proc = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            port = reserved_port()
            config = write_config(
                Path(tmp), args.shops, port=port, api=api, sink_port=sink_port, store=store, rules=1, timeout="5m"
            )
            proc, _ = launch(config, port, Path(tmp) / "daemon.log", build)
            url = f"http://127.0.0.1:{port}/webhooks/plugandpay"
            with httpx.Client(timeout=10) as client:
                for target, data, headers in jobs([url], args.shops, first, args.count, busy=1):
                    assert client.post(target, content=data, headers=headers).status_code == 202
            time.sleep(SETTLE)
            cpu, trips, at = cpu_seconds(proc.pid), proxy.round_trips, time.perf_counter()
            time.sleep(args.window)
            elapsed = time.perf_counter() - at
            queries = (proxy.round_trips - trips) / elapsed
            used = (cpu_seconds(proc.pid) - cpu) * 1000 / elapsed
            return f"  {build.name[:10]:<10}  {queries:10.1f}  {used:8.1f}"
    finally:
        if proc is not None:
            stop([proc], kill=True)  # its held deliveries would keep a graceful stop waiting for delivery.timeout
        asyncio.run(schema(args.postgres, f"DROP SCHEMA {name} CASCADE"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shops", type=int, default=2, help="shops of the config (0: one without shops:)")
    parser.add_argument("--count", type=int, default=100, help="webhooks to the first shop")
    parser.add_argument("--window", type=float, default=10.0, help="seconds measured")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--compare", action="append", default=[], metavar="DIR", help="another checkout beside this")
    args = parser.parse_args(argv)
    builds = [Build.this(), *(checkout(folder) for folder in args.compare)]
    upstream = urlsplit(args.postgres)
    proxy = CountingProxy(upstream.hostname or "127.0.0.1", upstream.port or 5432)
    proxy.start()
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        api_port, sink_port = reserved_port(), reserved_port()
        shared = [
            start(
                ["-m", "bench.tenants", str(api_port), str(max(args.shops, 1))],
                f"http://127.0.0.1:{api_port}/t0/v2/auth/tenants/me",
                Path(tmp) / "tenants.log",
            ),
            start(
                ["-m", "bench.bare", str(sink_port), "--hang"],
                f"http://127.0.0.1:{sink_port}/count",
                Path(tmp) / "sink.log",
            ),
        ]
        try:
            for index, build in enumerate(builds):
                api = f"http://127.0.0.1:{api_port}"
                lines.append(measure(build, args, api, sink_port, proxy, 1_000_000 * (index + 1)))
                print(lines[-1], file=sys.stderr, flush=True)
        finally:
            stop(shared, kill=True)
    print(f"machine: {machine()}")
    print(
        f"{args.shops} shops (0: no shops:), {args.count} webhooks to one shop whose destination hangs, "
        f"delivery.concurrency 64; over {args.window:.0f} s:"
    )
    print("  build       queries/s  CPU ms/s")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
