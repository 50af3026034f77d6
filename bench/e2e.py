"""End-to-end benchmark: webhook → fetch from a local Plug&Pay API → render → one HTTP delivery to a sink.

Four processes on this machine: the load generator (this one), the daemon (SQLite store unless
``--store``), the Plug&Pay sandbox (answering any order id) and a bare HTTP sink. It fires ``--count``
signed webhooks at concurrency 32, then waits until the sink has received every delivery, and prints
events delivered per second (first webhook sent → last delivery received), the daemon's CPU time per
delivered event (utime + stime from /proc/PID/stat, all threads, over the measured interval) and its
peak RSS. Targets: ≥ 1,000 events/s (issue 2); ≥ 1.35x the pre-layout build 9993736, half its CPU per
event, RSS ≤ 80 MB (issue 16).

``--compare DIR`` (repeatable) runs another checkout's daemon (``DIR/.venv/bin/python -m router``, from
DIR) beside this one, interleaved for ``--rounds`` rounds on the same sandbox and sink builds, and prints
each figure's range and the per-round ratio of this build to each other build:

    python -m bench.e2e [--count 2000] [--concurrency 32] [--store sqlite|postgresql://...]
    python -m bench.e2e --compare /work/old --rounds 3
    python -m bench.e2e --compare /work/old --count 4000 --profile /tmp/e2e   # py-spy top frames per build
    python -m bench.e2e --alerts --rounds 4   # this build with an alerts: section too (a channel to the sink)
    python -m bench.e2e --tracing --rounds 4  # this build with tracing: too (every trace, to a local collector)

Measured (issue 16; 2-core Xeon shared with other work; 8 interleaved rounds of 2000 events, 2026-11-30):
this build 566-703 events/s (median 657), 1.31-1.63 ms CPU/event (median 1.42), peak RSS 57 MB; 9993736
604-721 events/s (median 668), 1.32-1.65 ms (median 1.43), 53 MB: per round x0.79-1.09 throughput and
x0.86-1.23 CPU. The Plug&Pay sandbox costs 0.3-0.4 ms CPU per event on top. docs/performance.md: profiles.
With ``--alerts`` (issue 22; 4 interleaved rounds, 2026-12-06): this / alerts throughput x0.92-1.11, CPU per
event x0.91-1.08: within the noise; the alert loop costs a lock and two store reads a second, nothing per event
while nothing fails. With ``--tracing`` (issue 22; 4 interleaved rounds, 2026-12-06; every trace kept, exported
to a bare server): this 0.98-1.10 ms CPU/event, tracing 1.67-1.81 ms (per round x0.55-0.62), RSS 59 → 72 MB;
this build without a tracing section against the one before tracing (--compare): CPU per event x0.92-1.04.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

from bench.common import KEY, fire, machine
from bench.flame import sampled, top
from bench.procs import Build, cpu_seconds, peak_rss_mb, start, stop
from tests.support import reserved_port, welcome_rule

ALERTS = """alerts:
  channels: [{connector: sink, path: /alerts}]
"""
TRACING = """tracing: {{otlp_endpoint: "http://127.0.0.1:{port}"}}
"""


def config_text(
    *,
    port: int,
    api_port: int,
    sink_port: int,
    store: str,
    key: str = KEY,
    alerts: bool = False,
    collector_port: int | None = None,
) -> str:
    """The benchmark's daemon config: one rule that renders four fields of each paid order to the sink (and
    with ``alerts``, an alerts section whose channel is the sink: the alert loop watching, nothing failing;
    with ``collector_port``, a tracing section exporting every trace to a bare server on that port)."""
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
{welcome_rule(fields)}{ALERTS if alerts else ""}{TRACING.format(port=collector_port) if collector_port else ""}"""


@dataclass(frozen=True)
class Result:
    build: str
    rate: float
    seconds: float
    cpu_ms: float  # daemon CPU milliseconds per delivered event
    api_cpu_ms: float  # the Plug&Pay sandbox's, for the daemon's API calls
    rss_mb: float
    ingest: str

    def line(self) -> str:
        return (
            f"{self.build:<12} {self.rate:6.0f} events/s ({self.seconds:5.2f} s)   CPU {self.cpu_ms:5.2f} ms/event "
            f"(sandbox {self.api_cpu_ms:4.2f})   "
            f"peak RSS {self.rss_mb:5.1f} MB   ingest {self.ingest}"
        )


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


def measure(build: Build, args: argparse.Namespace, folder: Path, profile: Path | None = None) -> Result:
    """One run: fresh sandbox, sink, store and daemon of ``build``; the daemon's cost over the load
    (sampled by py-spy into ``profile`` when given)."""
    port, api_port, sink_port = reserved_port(), reserved_port(), reserved_port()
    store = f"sqlite:///{folder / 'router.db'}" if args.store == "sqlite" else args.store
    config = folder / "config.yaml"
    alerts = build.name == "alerts"
    collector_port = reserved_port() if build.name == "tracing" else None
    text = config_text(
        port=port, api_port=api_port, sink_port=sink_port, store=store, alerts=alerts, collector_port=collector_port
    )
    config.write_text(text)
    procs = []
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
        if collector_port is not None:  # the OTLP/HTTP collector: a bare server taking every POST
            url = f"http://127.0.0.1:{collector_port}"
            procs.append(start(["-m", "bench.bare", str(collector_port)], f"{url}/count", folder / "collector.log"))
        daemon = start(
            ["-m", "router", "serve", "-c", str(config)],
            f"http://127.0.0.1:{port}/healthz",
            folder / "daemon.log",
            build,
        )
        procs.append(daemon)
        cpu_before, api_before = cpu_seconds(daemon.pid), cpu_seconds(procs[0].pid)
        with sampled(daemon.pid, profile) if profile else contextlib.nullcontext():
            elapsed, ingest = asyncio.run(run(args.count, args.concurrency, port, sink_port))
        cpu = cpu_seconds(daemon.pid) - cpu_before
        api_cpu = cpu_seconds(procs[0].pid) - api_before
        rss = peak_rss_mb(daemon.pid)
    finally:
        stop(procs)
    per_event = 1000 / args.count
    return Result(build.name, args.count / elapsed, elapsed, cpu * per_event, api_cpu * per_event, rss, ingest)


def span(values: list[float], digits: int = 0) -> str:
    low, high = min(values), max(values)
    return f"{low:.{digits}f}" if round(low, digits) == round(high, digits) else f"{low:.{digits}f}-{high:.{digits}f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--store", default="sqlite", help="sqlite, or a postgresql:// URL")
    parser.add_argument("--compare", action="append", default=[], metavar="DIR", help="another checkout to run too")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--alerts", action="store_true", help="also run this build with alerts on")
    parser.add_argument("--tracing", action="store_true", help="also run this build with tracing on (otel extra)")
    parser.add_argument("--profile", type=Path, help="sample each daemon with py-spy; PROFILE-<build>.txt")
    args = parser.parse_args()
    builds = [Build.this(), *(Build.checkout(folder) for folder in args.compare)]
    if args.alerts:
        builds.append(replace(builds[0], name="alerts"))
    if args.tracing:
        builds.append(replace(builds[0], name="tracing"))
    rounds: list[list[Result]] = []
    for number in range(args.rounds):
        results = []
        for build in builds if number % 2 == 0 else builds[::-1]:  # alternate who goes first
            profile = None if args.profile is None else args.profile.with_name(f"{args.profile.stem}-{build.name}.txt")
            with tempfile.TemporaryDirectory() as tmp:
                results.append(measure(build, args, Path(tmp), profile))
            print(results[-1].line(), flush=True)
            if profile is not None:
                print(top(profile), flush=True)
        rounds.append(sorted(results, key=lambda r: [b.name for b in builds].index(r.build)))
    print(f"machine: {machine()}")
    print(f"{args.count} webhooks at concurrency {args.concurrency}, store {args.store}, {args.rounds} round(s)")
    for index, build in enumerate(builds):
        mine = [r[index] for r in rounds]
        print(
            f"  {build.name:<12} {span([r.rate for r in mine])} events/s   CPU {span([r.cpu_ms for r in mine], 2)}"
            f" ms/event   peak RSS {span([r.rss_mb for r in mine], 1)} MB"
        )
    for index, build in enumerate(builds[1:], start=1):
        rate = [r[0].rate / r[index].rate for r in rounds]
        cpu = [r[0].cpu_ms / r[index].cpu_ms for r in rounds]
        print(f"  this / {build.name}: throughput x{span(rate, 2)}, CPU per event x{span(cpu, 2)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
