"""Ingest benchmark: signed webhooks at concurrency 32 against the daemon (SQLite store) and a bare handler.

All servers run as subprocesses on 127.0.0.1 in the same run, loaded by the same client (whose own CPU
shares the machine). The daemon has no rules, so this measures receive alone: verify, normalise,
durable commit (WAL, synchronous=FULL, group commit), answer. Target (issue 2): durable ingest ≥ 50 %
of the bare handler's req/s.

``--with-pipeline`` adds a third server: a daemon that routes and delivers every event while it is
being loaded (the end-to-end benchmark's rule, Plug&Pay sandbox and HTTP sink), so acknowledgements
compete with fetching, rendering and sending. Target (issue 16): ≥ 0.5x the bare handler's rate and a
p99 acknowledgement ≤ 20 ms at concurrency 32. ``--rounds`` repeats the whole set (servers restarted).

    python -m bench.ingest [--count 5000] [--concurrency 32] [--with-pipeline] [--rounds 3]

Measured (issue 16; 2-core Xeon shared with other work, 2026-11-30): ingest alone x0.36-0.71 of the bare
handler (whose own rate varied 4,400-9,200/s; 9993736's daemon: x0.975 of this one's rate, mean of 7
alternating runs); with the pipeline 0.63-0.95 of ingest alone in the same round (x0.32-0.50 of the bare
handler), p99 21-38 ms. Before acknowledgements first: x0.23-0.34, p99 49-55 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.common import KEY, LoadResult, fire, machine, percentile
from bench.e2e import config_text
from bench.procs import start, stop
from tests.support import reserved_port

CONFIG = """version: 1
server: {{listen: "127.0.0.1:{port}", path: /webhooks/plugandpay}}
plugandpay: {{api_url: "http://127.0.0.1:9", webhook_key: "{key}"}}
store: {{url: "sqlite:///{db}"}}
rules: []
"""


@dataclass
class Figures:
    name: str
    results: list[LoadResult]

    def line(self, bare: Figures | None) -> str:
        rates = [r.rate for r in self.results]
        p99 = [percentile(r.latencies, 99) * 1000 for r in self.results]
        text = f"{self.name:<32} {min(rates):5.0f}-{max(rates):5.0f} req/s   p99 {min(p99):6.1f}-{max(p99):6.1f} ms"
        if bare is not None:
            ratios = [mine.rate / theirs.rate for mine, theirs in zip(self.results, bare.results, strict=True)]
            text += f"   x{min(ratios):.2f}-{max(ratios):.2f} of the bare handler"
        return text


async def measure(url: str, count: int, concurrency: int, first_id: int) -> LoadResult:
    await fire(url, min(500, count), concurrency, first_id=first_id + 10_000_000)  # warm up
    return await fire(url, count, concurrency, first_id=first_id)


def pipeline(folder: Path, port: int) -> list[subprocess.Popen[bytes]]:
    """Sandbox, sink and a daemon that routes and delivers every event (the e2e benchmark's setup)."""
    api_port, sink_port = reserved_port(), reserved_port()
    config = folder / "pipeline.yaml"
    config.write_text(
        config_text(port=port, api_port=api_port, sink_port=sink_port, store=f"sqlite:///{folder / 'pipe.db'}")
    )
    return [
        start(
            ["-m", "router", "sandbox", "--port", str(api_port), "--synthesize"],
            f"http://127.0.0.1:{api_port}/v2/auth/tenants/me",
            folder / "sandbox.log",
        ),
        start(["-m", "bench.bare", str(sink_port)], f"http://127.0.0.1:{sink_port}/count", folder / "sink.log"),
        start(["-m", "router", "serve", "-c", str(config)], f"http://127.0.0.1:{port}/healthz", folder / "pipe.log"),
    ]


def one_round(args: argparse.Namespace) -> tuple[dict[str, LoadResult], int]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bare_port, daemon_port, pipe_port = reserved_port(), reserved_port(), reserved_port()
        config = folder / "config.yaml"
        config.write_text(CONFIG.format(port=daemon_port, key=KEY, db=folder / "router.db"))
        procs = [
            start(["-m", "bench.bare", str(bare_port)], f"http://127.0.0.1:{bare_port}/", folder / "bare.log"),
            start(
                ["-m", "router", "serve", "-c", str(config)],
                f"http://127.0.0.1:{daemon_port}/healthz",
                folder / "daemon.log",
            ),
        ]
        try:
            if args.with_pipeline:
                procs += pipeline(folder, pipe_port)
            path = "/webhooks/plugandpay"
            targets = {"bare aiohttp handler": f"http://127.0.0.1:{bare_port}/"}
            targets["daemon, SQLite store"] = f"http://127.0.0.1:{daemon_port}{path}"
            if args.with_pipeline:
                targets["daemon, routing and delivering"] = f"http://127.0.0.1:{pipe_port}{path}"
            results = {
                name: asyncio.run(measure(url, args.count, args.concurrency, 1)) for name, url in targets.items()
            }
        finally:
            stop(procs)
        return results, os.path.getsize(folder / "router.db")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--with-pipeline", action="store_true", help="also load a daemon that routes and delivers")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    figures: dict[str, Figures] = {}
    stored = 0
    for _ in range(args.rounds):
        results, stored = one_round(args)
        for name, result in results.items():
            figures.setdefault(name, Figures(name, [])).results.append(result)
            print(f"  {name:<32} {result.summary()}", flush=True)
    print(f"machine: {machine()}")
    print(f"{args.count} signed webhooks, concurrency {args.concurrency}, {args.rounds} round(s); ranges over rounds")
    bare = figures.pop("bare aiohttp handler")
    print(bare.line(None))
    for item in figures.values():
        print(item.line(bare))
    print(f"targets: ingest alone ≥ 0.5x bare; with the pipeline ≥ 0.5x and p99 ≤ 20 ms; db {stored} bytes")


if __name__ == "__main__":
    main()
