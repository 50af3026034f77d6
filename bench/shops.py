"""Many shops, one router (issue 24): throughput of N shops against one, and the cost of a shop at rest.

Load: ``--count`` signed webhooks (distinct order ids) spread over the shops (webhook i to shop i mod N, and
over the instances like a load balancer) at ``--concurrency``, each fetched from its shop's own Plug&Pay
sandbox tenant (``bench.tenants``: one process, a token and tenant id per shop), matched against the shop's
``--rules`` rules (one matches every paid order), rendered and delivered to a bare HTTP sink. Every setup
has fresh daemons on a fresh PostgreSQL schema and a warm-up first. For each setup: events delivered per
second (first webhook sent to last delivery received), the daemons' CPU per event (``/proc/PID/stat``, all
instances together, then per instance), the database's (the server backends of the setup's connections),
p50 and p99 acknowledgement latency, and with ``--round-trips`` the database round trips per event (through
``bench.pgcount``'s proxy, which costs time: compare throughput without it). The one-shop setups run a config
without ``shops:`` (a router as it was before shops), ``shops: 1`` one shop under ``shops:``.

At rest: one daemon with 1, 10, 50 shops (``--rest-shops``) of ``--rules`` rules each, each shop's rules in
its own rules file: start-up (process start to /healthz answering), resident memory after a settle, store
queries per second and CPU over ``--window`` seconds of idleness (through the counting proxy), database
connections, reload time (SIGHUP to the "config reloaded" log line; three in a row), and the resident memory
once the reloaded configs' old clients are closed. Everything runs on this one machine.

    python -m bench.multi --shops 50 [--count 2000] [--rounds 1] [--round-trips] [--only load|rest]
    python -m bench.shops --shops 50 --rest-shops 1,10,50,200       # the same module, also where it stops
    python -m bench.shops --compare /tmp/prev                       # beside another checkout, interleaved

With ``--compare DIR`` every setup also runs the daemon of that checkout (its ``.venv``, or this one's Python
when it has none: ``python -m router`` in DIR imports DIR's router), in the same run, build after build.

The ``(1 busy)`` setup has 50 shops but sends every webhook to one of them (an agency whose one shop runs a
launch while the others are quiet). The light load at rest runs through the counting proxy, a Python thread
of this process: at thousands of queries a second it adds to the acknowledgement latency.

Measured (issue 24; 2 cores, Intel Xeon, Python 3.11.7, PostgreSQL 15 on the same machine, which other
sessions' test suites shared (load average 0.8-5.7), 2026-12-06; 20 rules per shop; ranges over five load runs):
- One shop, one instance: 266-407 events/s at 1.77-1.92 ms daemon CPU and 1.36-1.57 ms database CPU per event,
  p99 ack 38-70 ms, 5.3 round trips per event. ``shops:`` with one shop: the same (x0.76-1.31, within the noise).
- 50 shops, one instance: x0.55-0.97 of one shop (195-307 events/s), 2.6-3.2 ms daemon CPU per event (x1.4-1.7),
  p99 ack 308-608 ms (x5-10), 7.4-7.5 round trips per event, and 330-690 connections to each of the API and the
  sink (each shop its own HTTP clients) against 16 and 20-31. 50 shops of which one is busy: x0.37-0.68,
  3.0-4.0 ms per event, 13.2 round trips per event: every store notice wakes every shop's loop, and each idle
  one asks the store twice (claim, next due).
- Two instances: one shop 199-453 events/s at 1.84-2.35 ms per event (both together); 50 shops x0.42-0.79 at
  3.2-4.05 ms, p99 ack 392-1378 ms, 9.5-9.9 round trips per event.
- At rest (0 = no ``shops:``, then 1, 10, 50, 200 shops): start-up 0.6-1.2 s whatever the count (1000 shops:
  3.9 s); RSS 53.4, 53.8, 55.0, 60.5, 84.4 MB (0.15 MB a shop; 1000 shops 212 MB); idle store queries 0.8, 1.6,
  8.8, 40.8, 160.8 a second (0.8 a shop: each shop's route and deliver loops claim and ask for the next due time
  every 5 s) at 2-44 ms CPU a second; 11 store connections from 10 shops on (the pool's 10 and the listener),
  one kept-alive API connection per shop; reload 0.01, 0.01-0.02, 0.03-0.05, 0.15-0.22, 0.68-0.87 s (4 ms a
  shop; 1000 shops 3-5.7 s, slower with each reload in a row), and after three reloads RSS 55.0, 55.5, 59.7,
  77.8, 145.7 MB (each reload keeps the old config of every shop until its sends have had delivery.timeout * 2
  + 5 s; the memory is not given back). Under a light load of 50 webhooks/s spread over the shops, ack p50
  2.5, 2.6, 3.8, 14.1, 174 ms and 344, 417, 1013, 2634, 2374 store queries a second: the notice wake-ups.

After the two fixes those figures led to (a store notice names its shop and wakes only that shop's loop; while
webhooks need the CPU all loops of the daemon take turns to claim, ``Foreground.pace``), same machine, load
average 3.3, ``--only load --rounds 2``: one shop 389-401 events/s at 1.82-1.84 ms per event, p99 36 ms;
``shops:`` with one shop x0.94-0.98; 50 shops x0.75-0.80 (301-312 events/s) at 2.46-2.54 ms, p99 63-72 ms
(was 308-608); 50 shops of which one busy x0.90-0.92 at 2.10-2.15 ms, p99 59-63 ms (was x0.37-0.68); two
instances, 50 shops x0.77-0.80 at 3.04 ms (both together), p99 92-114 ms (was 392-1378). What is left is mostly
outgoing connections: each shop has its own HTTP clients, 800 connections to the API and 800 to the sink with
50 busy shops against 16 and 24 for one.

Then one poll for every shop's loops (``router.pipelines.due``) and one connection pool for the daemon
(``toolkit.client.shared_pool``), against 8690acf in the same run (``--compare``; a faster machine: 2 cores, AMD
EPYC, load average 0.4-1): at rest 0.2 store queries a second for 0, 1, 50 or 200 shops against 0.8, 1.6, 40.8
and 160.8 (200 shops: 0 ms CPU a second against 26), memory, start-up and reload as before (0.15 MB, 1.4 ms
and 2.4 ms a shop), RSS after three reloads 137.5 MB at 200 shops against 146.6. Under load (``--only load
--rounds 2``): 50 shops 431-521 events/s at 1.40-1.66 ms CPU per event (x0.90-1.10 of one shop) against
379-489 at 1.52-1.93 ms, holding 65 connections to the API and 64 to the sink against 800 and 858; 1 busy of 50
522-567 against 426-487 at 1.28-1.34 ms against 1.48-1.71; two instances, 50 shops 391-506 against 409-434 at
1.88-2.49 ms against 2.17-2.34, 127/108 connections against 1522/1325. One shop: 392-579 against 321-553
events/s (the rounds' spread is larger than any difference).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import os
import signal
import statistics
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
import httpx

from bench import tenants
from bench.common import machine, percentile
from bench.e2e import span
from bench.multi import schema
from bench.pgcount import CountingProxy, through
from bench.procs import Build, cpu_seconds, start, stop
from router.inbound import verify
from tests.pg import with_query
from tests.support import reserved_port, webhook_body

WARMUP = 200
PACED = 5.0  # seconds of the light load at rest
SETTLE = 3.0  # seconds after start before the idle window: the tenant look-ups, the first polls
WELCOME = """  - name: welcome
    trigger: order_paid
    actions:
      - connector: sink
        path: /welcome
        json: {email: "{{ order.billing.contact.email }}", order: "{{ order.id }}",
               name: "{{ order.billing.contact.firstname ~ ' ' ~ order.billing.contact.lastname }}",
               total: "{{ order.amount_with_tax | money }}"}
"""
CONDITIONS = ("order.mode == 'live'", "order.amount_with_tax | float > 100", "order.billing.address.country == 'NL'")


def key(index: int) -> str:
    return f"bench-webhook-key-{index:04d}"


def shop(index: int) -> str:
    return f"shop-{index:03d}"


def rules_text(index: int, count: int) -> str:
    """A shop's rules: the welcome rule (every paid order, to the sink) and ``count - 1`` product rules whose
    products no sandbox order has, half with a condition, templates shared between shops, values not."""
    out = ["rules:\n", WELCOME]
    for j in range(1, count):
        trigger = "order_paid" if j % 4 else "invoice_created"
        out.append(f"  - name: product-{j}\n    trigger: {trigger}\n    products: [{100_000 + index * 100 + j}]\n")
        if j % 2:
            out.append(f'    when: "{CONDITIONS[j % len(CONDITIONS)]}"\n')
        out.append(
            f"    actions:\n      - connector: sink\n        path: /product/{j}\n"
            f'        json: {{email: "{{{{ order.billing.contact.email }}}}", tags: [shop-{index}-{j}],'
            f' total: "{{{{ order.amount_with_tax | money }}}}"}}\n'
        )
    return "".join(out)


def write_config(
    folder: Path, shops: int, *, port: int, api: str, sink_port: int, store: str, rules: int, timeout: str = "15s"
) -> Path:
    """A daemon config of ``shops`` shops under ``shops:`` (each its rules file), or with 0 one without."""
    head = f"""version: 1
server: {{listen: "127.0.0.1:{port}", path: /webhooks/plugandpay}}
store: {{url: "{store}"}}
delivery: {{concurrency: 64, timeout: {timeout}}}
connectors:
  sink: {{type: http, base_url: "http://127.0.0.1:{sink_port}"}}
"""
    if not shops:
        own = f'api_url: "{api}{tenants.prefix(0)}", api_token: {tenants.token(0)}, webhook_key: {key(0)}'
        text = f"{head}plugandpay: {{{own}}}\n{rules_text(0, rules)}"
    else:
        (folder / "shops").mkdir(exist_ok=True)
        parts = [head, "shops:\n"]
        for i in range(shops):
            (folder / "shops" / f"{shop(i)}.yaml").write_text(rules_text(i, rules))
            parts.append(
                f'  {shop(i)}:\n    plugandpay: {{api_url: "{api}{tenants.prefix(i)}", api_token: {tenants.token(i)},'
                f" webhook_key: {key(i)}}}\n    rules_file: shops/{shop(i)}.yaml\n"
            )
        text = "".join(parts)
    config = folder / "router.yaml"
    config.write_text(text)
    return config


def launch(config: Path, port: int, log: Path, build: Build) -> tuple[subprocess.Popen[bytes], float]:
    """The daemon of ``config`` (of ``build``), and the seconds from its process start to /healthz answering."""
    started = time.perf_counter()
    cmd = [build.python, "-m", "router", "serve", "-c", str(config)]
    proc = subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=build.cwd)
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"the daemon exited with {proc.returncode}: see {log}\n{log.read_text()[-2000:]}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5)
            return proc, time.perf_counter() - started
        except httpx.HTTPError:
            if time.perf_counter() - started > 300:
                raise SystemExit(f"the daemon of {config} did not answer /healthz in 300 s") from None
            time.sleep(0.01)


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as handle:
        return next(int(line.split()[1]) / 1024 for line in handle if line.startswith("VmRSS:"))


def tcp(pids: list[int], ports: tuple[int, ...]) -> tuple[int, ...]:
    """The established TCP connections of these processes to each of ``ports`` (from /proc/net/tcp)."""
    inodes = set()
    for pid in pids:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    found: collections.Counter[int] = collections.Counter()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as handle:
            for line in list(handle)[1:]:
                fields = line.split()
                if fields[3] == "01" and fields[9] in inodes:  # ESTABLISHED, one of theirs
                    found[int(fields[2].rsplit(":", 1)[1], 16)] += 1
    return tuple(found[port] for port in ports)


class Database:
    """The setup's own schema and the server's view of its connections (by ``application_name``)."""

    def __init__(self, server: str, app: str):
        self.server, self.app = server, app

    async def _run(self, sql: str, *args: object) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.server)
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    def backends(self) -> dict[int, float]:
        """CPU seconds of each server process serving the setup (this machine's PostgreSQL only)."""
        rows = asyncio.run(self._run("SELECT pid FROM pg_stat_activity WHERE application_name = $1", self.app))
        found = {}
        for row in rows:
            with contextlib.suppress(OSError):  # a connection that closed meanwhile
                found[row["pid"]] = cpu_seconds(row["pid"])
        return found


def db_cpu(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


@dataclass(frozen=True)
class Setup:
    name: str
    shops: int  # 0: one shop, a config without shops:
    instances: int
    busy: int = 0  # the webhooks go to the first this many shops only (0: to all)


@dataclass(frozen=True)
class Run:
    rate: float
    cpu: list[float]  # ms per event, of each instance
    db: float  # ms of database server CPU per event
    p50: float
    p99: float  # ms
    refused: int
    trips: float | None
    tcp: tuple[int, ...] = ()  # connections of all instances to the API, the sink, the store, after the load


async def drive(
    jobs: list[tuple[str, bytes, dict[str, str]]], sink_port: int, concurrency: int, pace: float = 0.0
) -> Run:
    """Post every job at ``concurrency`` (or with ``pace``, one every ``1 / pace`` seconds whatever the answers);
    the rate until the sink got a delivery for each accepted one."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    sink = f"http://127.0.0.1:{sink_port}/count"
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency), timeout=timeout) as session:

        async def delivered() -> int:
            async with session.get(sink) as response:
                return int((await response.json())["received"])

        queue = iter(jobs)

        async def post(url: str, data: bytes, headers: dict[str, str]) -> None:
            sent = time.perf_counter()
            async with session.post(url, data=data, headers=headers) as response:
                await response.read()
            latencies.append(time.perf_counter() - sent)
            statuses[response.status] = statuses.get(response.status, 0) + 1

        async def worker() -> None:
            for job in queue:
                await post(*job)

        async def paced() -> None:
            posts = []
            for index, job in enumerate(jobs):
                await asyncio.sleep(max(0.0, started + index / pace - time.perf_counter()))
                posts.append(asyncio.create_task(post(*job)))
            await asyncio.gather(*posts)

        target = await delivered()
        started = time.perf_counter()
        await (paced() if pace else asyncio.gather(*(worker() for _ in range(concurrency))))
        target += sum(n for status, n in statuses.items() if 200 <= status < 300)
        while (got := await delivered()) < target:
            if time.perf_counter() - started > 300:
                raise SystemExit(f"{target - got} deliveries missing after 300 s; answers {statuses}")
            await asyncio.sleep(0.01)
        seconds = time.perf_counter() - started
    refused = len(jobs) - sum(n for status, n in statuses.items() if 200 <= status < 300)
    p50, p99 = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
    return Run(len(jobs) / seconds, [], 0.0, p50, p99, refused, None)


def jobs(urls: list[str], shops: int, first: int, count: int, busy: int = 0) -> list[tuple[str, bytes, dict[str, str]]]:
    """Webhook i goes to shop i mod N (N: ``busy`` or all), through instance (i div N + i) mod instances (every
    shop reaches every instance)."""
    out = []
    spread = max(busy or shops, 1)
    for i in range(count):
        index = i % spread
        data = webhook_body("order_paid", first + i, tenant_id=tenants.tenant_id(index))
        url = urls[(i // spread + i) % len(urls)] + (f"/{shop(index)}" if shops else "")
        out.append((url, data, {"Content-Type": "application/json", "X-Signature": verify.sign(key(index), data)}))
    return out


def measure_load(
    setup: Setup, args: argparse.Namespace, ports: tuple[str, int], first: int, proxy: CountingProxy, build: Build
) -> Run:
    api, sink_port = ports
    store_port = proxy.port if args.round_trips else urlsplit(args.postgres).port or 5432
    name = f"ppr_shops_{uuid.uuid4().hex[:8]}"
    asyncio.run(schema(args.postgres, f"CREATE SCHEMA {name}"))
    db = Database(args.postgres, name)
    server = through(proxy, args.postgres) if args.round_trips else args.postgres
    store = with_query(server, search_path=name, application_name=name)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            urls = []
            for index in range(setup.instances):
                folder = Path(tmp) / str(index)
                folder.mkdir()
                port = reserved_port()
                config = write_config(
                    folder, setup.shops, port=port, api=api, sink_port=sink_port, store=store, rules=args.rules
                )
                procs.append(launch(config, port, folder / "daemon.log", build)[0])
                urls.append(f"http://127.0.0.1:{port}/webhooks/plugandpay")
            asyncio.run(drive(jobs(urls, setup.shops, first, WARMUP), sink_port, args.concurrency))  # every shop
            load = jobs(urls, setup.shops, first + WARMUP, args.count, setup.busy)
            before, base, trips = [cpu_seconds(p.pid) for p in procs], db.backends(), proxy.round_trips
            run = asyncio.run(drive(load, sink_port, args.concurrency))
            cpu = [(cpu_seconds(p.pid) - b) * 1000 / args.count for p, b in zip(procs, before, strict=True)]
            db_ms = db_cpu(base, db.backends()) * 1000 / args.count
            counted = (proxy.round_trips - trips) / args.count if args.round_trips else None
            held = tcp([p.pid for p in procs], (urlsplit(api).port or 80, sink_port, store_port))
            return Run(run.rate, cpu, db_ms, run.p50, run.p99, run.refused, counted, held)
    finally:
        stop(procs)
        asyncio.run(schema(args.postgres, f"DROP SCHEMA {name} CASCADE"))


@dataclass(frozen=True)
class Rest:
    build: str
    shops: int
    start: float  # s
    rss: float  # MB, after the settle
    queries: float  # round trips to the store per second
    cpu: float  # ms of CPU per second, idle
    db_cpu: float  # ms of database server CPU per second, idle
    tcp: tuple[int, ...]  # connections to the API, the sink, the store
    light: Run  # a light load: ``--pace`` webhooks a second spread over the shops (its trips: queries a second)
    reloads: list[float]  # s
    rss_reloaded: float  # MB, once the old configs' clients are closed


def reload_seconds(proc: subprocess.Popen[bytes], log: Path) -> float:
    """SIGHUP to the "config reloaded" line in the daemon's log."""
    offset = log.stat().st_size
    started = time.perf_counter()
    proc.send_signal(signal.SIGHUP)
    while True:
        with log.open("rb") as handle:
            handle.seek(offset)
            tail = handle.read()
        if b"config reloaded" in tail:
            return time.perf_counter() - started
        if b"reload failed" in tail or proc.poll() is not None or time.perf_counter() - started > 300:
            raise SystemExit(f"no reload: {tail[-2000:]!r}")
        time.sleep(0.005)


def measure_rest(
    shops: int, args: argparse.Namespace, ports: tuple[str, int], proxy: CountingProxy, build: Build
) -> Rest:
    api, sink_port = ports
    name = f"ppr_shops_{uuid.uuid4().hex[:8]}"
    asyncio.run(schema(args.postgres, f"CREATE SCHEMA {name}"))
    db = Database(args.postgres, name)
    store = with_query(through(proxy, args.postgres), search_path=name, application_name=name)
    proc = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder, port = Path(tmp), reserved_port()
            config = write_config(
                folder, shops, port=port, api=api, sink_port=sink_port, store=store, rules=args.rules, timeout="3s"
            )
            log = folder / "daemon.log"
            proc, started = launch(config, port, log, build)
            time.sleep(SETTLE)
            rss = rss_mb(proc.pid)
            held = tcp([proc.pid], (urlsplit(api).port or 80, sink_port, proxy.port))
            cpu, base, trips, at = cpu_seconds(proc.pid), db.backends(), proxy.round_trips, time.perf_counter()
            time.sleep(args.window)
            elapsed = time.perf_counter() - at
            queries = (proxy.round_trips - trips) / elapsed
            idle_cpu = (cpu_seconds(proc.pid) - cpu) * 1000 / elapsed
            after = db.backends()
            idle_db = db_cpu(base, after) * 1000 / elapsed
            trips, at = proxy.round_trips, time.perf_counter()
            load = jobs([f"http://127.0.0.1:{port}/webhooks/plugandpay"], shops, 1, int(args.pace * PACED))
            light = asyncio.run(drive(load, sink_port, 256, args.pace))
            light = dataclasses.replace(light, trips=(proxy.round_trips - trips) / (time.perf_counter() - at))
            reloads = [reload_seconds(proc, log) for _ in range(3)]
            time.sleep(3 * 2 + 5 + 2)  # the old loads' clients close after delivery.timeout * 2 + 5 s
            rss_reloaded = rss_mb(proc.pid)
            return Rest(build.name, shops, started, rss, queries, idle_cpu, idle_db, held, light, reloads, rss_reloaded)
    finally:
        if proc is not None:
            stop([proc])
        asyncio.run(schema(args.postgres, f"DROP SCHEMA {name} CASCADE"))


def setups(shops: int) -> list[Setup]:
    return [
        Setup("1 shop, 1 instance", 0, 1),
        Setup("shops: 1, 1 instance", 1, 1),
        Setup(f"{shops} shops, 1 instance", shops, 1),
        Setup(f"{shops} shops (1 busy), 1 instance", shops, 1, busy=1),
        Setup("1 shop, 2 instances", 0, 2),
        Setup(f"{shops} shops, 2 instances", shops, 2),
    ]


def report_load(args: argparse.Namespace, results: dict[str, list[Run]]) -> None:
    print(
        f"load: {args.count} webhooks per setup (after {WARMUP} warm-up) at concurrency {args.concurrency}, "
        f"{args.rules} rules per shop, PostgreSQL, {args.rounds} round(s), ranges over the rounds; x: of 1 shop "
        "on as many instances in the same round; CPU: daemons together (each); TCP: held to API/sink/store after"
    )
    trips = results and next(iter(results.values()))[0].trips is not None
    print(
        f"  {'setup':<30} {'events/s':>9} {'x':>9}  {'CPU ms/event':<22} {'DB ms/event':>11}  {'ack p50 ms':>10}"
        f"  {'ack p99 ms':>11}  {'TCP':>11}" + ("  round trips/event" if trips else "")
    )
    for name, runs in results.items():
        one = "1 shop, 2 instances" if "2 instances" in name else "1 shop, 1 instance"
        alone = results.get(one + name[name.index(" [") :] if " [" in name else one, runs)
        ratio = span([r.rate / a.rate for r, a in zip(runs, alone, strict=True)], 2)
        each = "/".join(span([r.cpu[i] for r in runs], 2) for i in range(len(runs[0].cpu)))
        cpu = f"{span([sum(r.cpu) for r in runs], 2)}" + (f" ({each})" if len(runs[0].cpu) > 1 else "")
        held = "/".join(str(max(r.tcp[i] for r in runs)) for i in range(3))
        refused = sum(r.refused for r in runs)
        print(
            f"  {name:<30} {span([r.rate for r in runs]):>9} {ratio:>9}  {cpu:<22} {span([r.db for r in runs], 2):>11}"
            f"  {span([r.p50 for r in runs], 1):>10}  {span([r.p99 for r in runs], 0):>11}  {held:>11}"
            + (f"  {span([r.trips or 0 for r in runs], 1):>18}" if trips else "")
            + (f"  REFUSED {refused}" if refused else "")
        )


def report_rest(args: argparse.Namespace, rests: list[Rest]) -> None:
    print(
        f"at rest: one instance, {args.rules} rules per shop (shops 0: a config without shops:), PostgreSQL through "
        f"the counting proxy; idle for {args.window:.0f} s after a {SETTLE:.0f} s settle, then a light load of "
        f"{args.pace:.0f} webhooks/s spread over the shops for {PACED:.0f} s, then 3 reloads; TCP: held to "
        "API/sink/store at rest; RSS again once the reloads' old configs are closed"
    )
    print(
        "  build       shops  start s  RSS MB  idle: queries/s  CPU ms/s  DB CPU ms/s       TCP"
        "  light: ack p50 ms  p99 ms  queries/s  reload s  RSS MB"
    )
    for r in rests:
        held = "/".join(map(str, r.tcp))
        print(
            f"  {r.build[:10]:<10}  {r.shops:>5}  {r.start:7.2f}  {r.rss:6.1f}  {r.queries:15.1f}  {r.cpu:8.1f}"
            f"  {r.db_cpu:11.1f}"
            f"  {held:>8}  {r.light.p50:17.1f}  {r.light.p99:6.1f}  {r.light.trips or 0:9.0f}"
            f"  {span(r.reloads, 2):>8}  {r.rss_reloaded:6.1f}"
        )
    for build in dict.fromkeys(r.build for r in rests):
        each_shop([r for r in rests if r.shops and r.build == build])


def each_shop(named: list[Rest]) -> None:
    """What each shop more costs at rest, from the fewest shops measured to the most."""
    if len(named) >= 2:
        low, high = named[0], named[-1]
        n = high.shops - low.shops
        reload = statistics.median(high.reloads) - statistics.median(low.reloads)
        print(
            f"  {low.build}: each shop more ({low.shops} to {high.shops}): {(high.rss - low.rss) / n:.2f} MB,"
            f" {(high.queries - low.queries) / n:.2f} idle queries/s, {(high.cpu - low.cpu) / n:.2f} ms CPU/s,"
            f" {(high.start - low.start) / n * 1000:.1f} ms start-up, {reload / n * 1000:.1f} ms reload,"
            f" {(high.rss_reloaded - high.rss) / n:.2f} MB after 3 reloads"
        )


def checkout(folder: str) -> Build:
    """Another checkout's build: its own virtualenv, or this Python running in its folder."""
    build = Build.checkout(folder)
    return build if Path(build.python).exists() else dataclasses.replace(build, python=sys.executable)


def label(setup: Setup, build: Build) -> str:
    return setup.name if build.name == "this" else f"{setup.name} [{build.name}]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shops", type=int, default=50, help="shops of the many-shop load setups")
    parser.add_argument("--count", type=int, default=2000, help="webhooks per load setup")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rules", type=int, default=20, help="rules per shop")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of the load setups, interleaved")
    parser.add_argument("--rest-shops", default="0,1,10,50", help="shop counts at rest (0: a config without shops:)")
    parser.add_argument("--window", type=float, default=10.0, help="seconds of idleness measured")
    parser.add_argument("--pace", type=float, default=50.0, help="webhooks a second of the light load at rest")
    parser.add_argument("--only", choices=("load", "rest"), help="only the load setups, or only the rest ones")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--round-trips", action="store_true", help="load through the counting proxy (slower)")
    parser.add_argument("--compare", action="append", default=[], metavar="DIR", help="another checkout beside this")
    args = parser.parse_args(argv)
    builds = [Build.this(), *(checkout(folder) for folder in args.compare)]
    load_before = os.getloadavg()[0]
    rest_shops = [int(n) for n in args.rest_shops.split(",")]
    upstream = urlsplit(args.postgres)
    proxy = CountingProxy(upstream.hostname or "127.0.0.1", upstream.port or 5432)
    proxy.start()
    results: dict[str, list[Run]] = {}
    rests: list[Rest] = []
    with tempfile.TemporaryDirectory() as tmp:
        api_port, sink_port = reserved_port(), reserved_port()
        count = max([args.shops, *rest_shops, 1])
        shared = [
            start(
                ["-m", "bench.tenants", str(api_port), str(count)],
                f"http://127.0.0.1:{api_port}/t0/v2/auth/tenants/me",
                Path(tmp) / "tenants.log",
            ),
            start(["-m", "bench.bare", str(sink_port)], f"http://127.0.0.1:{sink_port}/count", Path(tmp) / "sink.log"),
        ]
        ports = (f"http://127.0.0.1:{api_port}", sink_port)
        try:
            if args.only != "rest":
                order = [(setup, build) for setup in setups(args.shops) for build in builds]
                for number in range(args.rounds):
                    for index, (setup, build) in enumerate(order if number % 2 == 0 else order[::-1]):
                        first = 1_000_000 * (1 + number * len(order) + index)
                        run = measure_load(setup, args, ports, first, proxy, build)
                        results.setdefault(label(setup, build), []).append(run)
                        print(f"  {label(setup, build)}: {run}", file=sys.stderr, flush=True)
                results = {label(s, b): results[label(s, b)] for s, b in order}
            if args.only != "load":
                for shops in rest_shops:
                    for build in builds:
                        rests.append(measure_rest(shops, args, ports, proxy, build))
                        print(f"  at rest: {rests[-1]}", file=sys.stderr, flush=True)
        finally:
            stop(shared)
    print(f"machine: {machine()}; load average before {load_before:.2f}")
    if results:
        report_load(args, results)
    if rests:
        report_rest(args, rests)
    return 0


if __name__ == "__main__":
    sys.exit(main())
