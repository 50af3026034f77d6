"""Connection exhaustion: idle connections past the file-descriptor limit, then webhooks.

Starts a daemon under systemd's default ``LimitNOFILE=1024`` (set with prlimit once it runs), opens
``--idle`` TCP connections from 127.0.0.1 that never send a byte and keeps that many open (a new one for
each the daemon closes), waits ``--hold`` seconds, then sends 20 signed webhooks with a 5 s timeout each
from ``--from`` (127.0.0.2: another client than the attacker). It prints per build how many connections
the attacker opened and held when the webhooks went, the webhooks' answers (or timeouts), and what the log
grew by (bytes, tracebacks). ``--compare DIR`` runs another checkout's daemon the same way:

    python -m bench.exhaust [--idle 1100] [--hold 15] [--from 127.0.0.2] [--compare /tmp/first]

Measured (2026-11-30, 2-core Xeon): the first version (9993736) held all 1,100 connections, all 20 webhooks
timed out, and its log grew by 343 MB (845,566 tracebacks) in 117 s; then 20 of 20 were answered 202 and
the log grew by 4 KB with no traceback. With the attacker keeping its connections up and the webhooks from
127.0.0.2 (2026-12-06, 2-core EPYC, ``--from 127.0.0.2 --compare`` 1041e89): 1041e89 answered all 20
webhooks 503 (the attacker held every slot); now all 20 are answered 202, the attacker holding its 250.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import KEY, body, machine
from bench.e2e import config_text
from bench.procs import Build, start, stop
from router.inbound import verify
from tests.support import reserved_port

WEBHOOKS = 20


async def attack(port: int, idle: int, hold: float, source: str) -> tuple[int, int, list[str]]:
    """(connections opened, still open when the webhooks go, the webhooks' outcomes).

    The attacker (127.0.0.1) keeps up to ``idle`` connections that never send a byte, opening a new one for
    each the daemon closes, for as long as the webhooks take; the webhooks come from ``source``.
    """
    opened: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    total = 0

    async def keep_up() -> None:
        nonlocal total
        while True:
            opened[:] = [(r, w) for r, w in opened if not r.at_eof() and not w.is_closing()]
            for _ in range(idle - len(opened)):
                try:
                    opened.append(await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2))
                    total += 1
                except (OSError, TimeoutError):
                    break
            await asyncio.sleep(0.2)

    attacker = asyncio.create_task(keep_up())
    await asyncio.sleep(hold)  # the thing measured: what the daemon does with connections that say nothing
    still_open = sum(1 for reader, writer in opened if not reader.at_eof() and not writer.is_closing())
    outcomes: list[str] = []
    url = f"http://127.0.0.1:{port}/webhooks/plugandpay"
    async with httpx.AsyncClient(timeout=5, transport=httpx.AsyncHTTPTransport(local_address=source)) as client:
        for n in range(WEBHOOKS):
            data = body(9000 + n)
            headers = {"Content-Type": "application/json", "X-Signature": verify.sign(KEY, data)}
            try:
                answer = await client.post(url, content=data, headers=headers)
                outcomes.append(str(answer.status_code))
            except httpx.TimeoutException:
                outcomes.append("timeout")
            except httpx.HTTPError as exc:
                outcomes.append(type(exc).__name__)
    attacker.cancel()
    for _, writer in opened:
        writer.close()
    return total, still_open, outcomes


def measure(build: Build, idle: int, hold: float, folder: Path, source: str) -> str:
    port, api_port, sink_port = reserved_port(), reserved_port(), reserved_port()
    config = folder / f"{build.name}.yaml"
    config.write_text(
        config_text(port=port, api_port=api_port, sink_port=sink_port, store=f"sqlite:///{folder / build.name}.db")
    )
    log = folder / f"{build.name}.log"
    daemon = start(["-m", "router", "serve", "-c", str(config)], f"http://127.0.0.1:{port}/healthz", log, build)
    try:
        resource.prlimit(daemon.pid, resource.RLIMIT_NOFILE, (1024, 1024))
        before = log.stat().st_size
        started = time.monotonic()
        opened, still_open, outcomes = asyncio.run(attack(port, idle, hold, source))
        seconds = time.monotonic() - started
        grown = log.read_bytes()[before:]
    finally:
        stop([daemon])
    counts = {o: outcomes.count(o) for o in sorted(set(outcomes))}
    return (
        f"{build.name:<8} opened {opened}, open when the webhooks went: {still_open}; "
        f"{WEBHOOKS} signed webhooks: {counts}; log +{len(grown):,} bytes in {seconds:.0f} s, "
        f"{grown.count(b'Traceback')} tracebacks"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idle", type=int, default=1100)
    parser.add_argument("--hold", type=float, default=15.0)
    parser.add_argument("--compare", action="append", default=[])
    parser.add_argument("--from", dest="source", default="127.0.0.1", help="the webhooks' source address")
    args = parser.parse_args()
    builds = [Build.this(), *(Build.checkout(folder) for folder in args.compare)]
    with tempfile.TemporaryDirectory() as folder:
        lines = [measure(build, args.idle, args.hold, Path(folder), args.source) for build in builds]
    print(f"machine: {machine()}")
    print(
        f"{args.idle} idle connections from 127.0.0.1 (kept up) under LimitNOFILE=1024,"
        f" then {WEBHOOKS} signed webhooks from {args.source}"
    )
    for line in lines:
        print("  " + line)


if __name__ == "__main__":
    main()
