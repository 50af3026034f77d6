"""Bounded listings: what ``backfill --dry-run`` does against a Plug&Pay API whose pagination goes wrong.

A local API server (aiohttp, 127.0.0.1) answers ``/v2/orders`` in one of three wrong ways: ``next`` (a
non-null ``links.next`` on one-item pages with ever new ids: an endless list), ``ignore`` (every page is
the same full page: ``page`` is ignored) and ``grow`` (full pages of new paid orders for ever). Each build's
CLI (``python -m router backfill ... --dry-run``) runs against it for at most ``--budget`` seconds; the
bench prints per build and case the requests the API received, the seconds until the command stopped (or
``killed`` at the budget), its exit code, its peak RSS and the lines it wrote. ``--compare DIR`` runs
another checkout's CLI the same way:

    python -m bench.pagination [--budget 30] [--compare /tmp/old]

Measured (2026-12-06, 2-core EPYC, 30 s budget, against 1041e89): ``next`` 44,417 requests and as many lines
of output before the kill, now 78 requests (20 at full speed, then 2 a second, stopping at 1,000 pages);
``ignore`` 31,289 requests and killed, now 2 requests and exit 1 in 0.8 s ("the page repeats an earlier
one"); ``grow`` 4,721 requests and 92 MB peak RSS, now 78 requests and 49 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from bench.common import machine
from bench.procs import Build, peak_rss_mb
from router.demo.standins import serve_app
from router.derive import api_time

CASES = ("next", "ignore", "grow")


def answer(case: str, page: int) -> dict[str, Any]:
    paid_at = api_time(time.time() - 3600)

    def order(ident: int) -> dict[str, Any]:
        return {"id": ident, "payment": {"status": "paid", "paid_at": paid_at}, "items": [], "billing": {}}

    if case == "next":
        return {"data": [order(page)], "links": {"next": f"/v2/orders?page={page + 1}"}}
    if case == "ignore":
        return {"data": [order(n) for n in range(1, 101)], "links": {"next": "/v2/orders?page=2"}}
    return {"data": [order(page * 100 + n) for n in range(100)], "links": {"next": "more"}}


class Api:
    def __init__(self, case: str):
        self.case = case
        self.requests = 0

    async def orders(self, request: web.Request) -> web.Response:
        self.requests += 1
        return web.json_response(answer(self.case, int(request.query.get("page", "1"))))

    async def tenant(self, request: web.Request) -> web.Response:
        return web.json_response({"data": {"id": 42, "name": "Bench shop", "plan": "pro"}})


async def run_case(build: Build, case: str, budget: float, folder: Path) -> str:
    api = Api(case)
    app = web.Application()
    app.router.add_get("/v2/orders", api.orders)
    app.router.add_get("/v2/auth/tenants/me", api.tenant)
    runner, url = await serve_app(app, "127.0.0.1", 0)
    config = folder / f"{build.name}-{case}.yaml"
    config.write_text(
        "version: 1\n"
        f'plugandpay: {{api_url: "{url}", api_token: "bench-token-1234", allow_unsigned: true}}\n'
        f'store: {{url: "sqlite:///{folder}/{build.name}-{case}.db"}}\n'
        'connectors: {sink: {type: http, base_url: "http://127.0.0.1:9"}}\n'
        "rules: [{name: r, trigger: order_paid,"
        ' actions: [{connector: sink, path: "/x", json: {id: "{{ order.id }}"}}]}]\n'
    )
    out = folder / f"{build.name}-{case}.out"
    args = ["-m", "router", "backfill", "-c", str(config), "--trigger", "order_paid", "--since", "2d", "--dry-run"]
    started = time.monotonic()
    peak = 0.0
    with out.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(build.python, *args, cwd=build.cwd, stdout=sink, stderr=sink)
        ended = "killed"
        while time.monotonic() - started < budget:
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                peak = max(peak, peak_rss_mb(proc.pid))
            try:
                ended = f"exit {await asyncio.wait_for(proc.wait(), 0.05)}"
                break
            except TimeoutError:
                continue
        else:
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
    seconds = time.monotonic() - started
    await runner.cleanup()
    lines = out.read_bytes().count(b"\n")
    with contextlib.suppress(FileNotFoundError):
        out.unlink()
    return (
        f"{build.name:<8} {case:<7} {api.requests:>7} requests, {seconds:5.1f} s ({ended}), "
        f"peak RSS {peak:.0f} MB, {lines} lines of output"
    )


async def main_async(builds: list[Build], budget: float) -> list[str]:
    with tempfile.TemporaryDirectory() as folder:
        return [await run_case(build, case, budget, Path(folder)) for case in CASES for build in builds]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=float, default=30.0, help="seconds a command may run before it is killed")
    parser.add_argument("--compare", action="append", default=[])
    args = parser.parse_args()
    builds = [Build.this(), *(Build.checkout(folder) for folder in args.compare)]
    lines = asyncio.run(main_async(builds, args.budget))
    print(f"machine: {machine()}")
    print(f"backfill --dry-run against a wrongly paginating API, at most {args.budget:g} s each")
    for line in lines:
        print("  " + line)


if __name__ == "__main__":
    main()
