"""Backfill and reconcile benchmark: 10,000 orders in the sandbox, listed 100 per page, API rate limit off.

The sandbox runs as a subprocess, with N orders paid over the past 72 hours (``/_sandbox/synthesize``). Then:
1. ``backfill --yes`` for one rule, as a subprocess: objects/s and its peak RSS (``wait4``);
2. one reconcile pass over ``lookback: 72h`` on an empty store (every order is "missing": it lists and stores
   them all), and one on the same store with the watermark put back (every order checked, none missing).
Both use a SQLite store in a temporary folder.

    python -m bench.backfill [--orders 10000]
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

from bench.common import machine
from router import logs
from router.config import load_config
from router.plugandpay import PlugAndPayClient
from router.shop.reconcile import WATERMARK, Reconciler
from router.store.sqlite import SqliteStore
from tests.support import hand_over, reserved_port

TOKEN = "bench-api-token"
CONFIG = """version: 1
plugandpay: {{api_url: "{api}", api_token: "{token}"}}
store: {{url: "sqlite:///{db}"}}
reconcile: {{every: 1h, lookback: 72h, grace: 0s}}
connectors: {{sink: {{type: http, base_url: "http://127.0.0.1:9"}}}}
rules:
  - name: welcome
    trigger: order_paid
    actions: [{{connector: sink, path: /welcome, json: {{email: "{{{{ order.billing.contact.email }}}}"}}}}]
"""


def start_sandbox(port: int, orders: int) -> subprocess.Popen[bytes]:
    """The sandbox with ``orders`` orders paid over the past 72 hours (its control endpoint makes them)."""
    hand_over(port)
    command = [sys.executable, "-m", "router", "sandbox", "--port", str(port), "--token", TOKEN]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    if not proc.stdout.readline():  # the "sandbox API on ..." line: it listens
        raise SystemExit("the sandbox did not start")
    made = httpx.post(f"http://127.0.0.1:{port}/_sandbox/synthesize", json={"orders": orders, "days": 2.9}, timeout=60)
    made.raise_for_status()
    return proc


def backfill(config: Path) -> tuple[float, float, str]:
    """Seconds, peak RSS in MB and the output of one ``backfill --yes`` subprocess."""
    args = ["backfill", "-c", str(config), "--trigger", "order_paid", "--since", "4d", "--rule", "welcome", "--yes"]
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "router", *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"backfill failed ({proc.returncode}):\n{out}")
    return time.perf_counter() - started, usage.ru_maxrss / 1024, out


async def reconcile_passes(config_path: Path, db: Path) -> tuple[tuple[float, int, int], tuple[float, int, int]]:
    config = load_config(config_path)
    api = PlugAndPayClient.from_settings(config.plugandpay)
    store = SqliteStore(db)
    await store.open()
    reconciler = Reconciler(store, lambda: (config, api))
    try:
        now = time.time()
        first = await reconciler.run_pass(now)
        await store.set_watermark(WATERMARK.format(trigger="order_paid"), now - config.reconcile.lookback, now)
        second = await reconciler.run_pass(now)
    finally:
        await api.aclose()
        await store.close()
    return (first.seconds, first.checked, first.found), (second.seconds, second.checked, second.found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10_000)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    logs.configure("warning")  # the 10,000 "missed event found" lines would measure the terminal
    port = reserved_port()
    sandbox = start_sandbox(port, args.orders)
    try:
        with tempfile.TemporaryDirectory() as folder:
            text = CONFIG.format(api=f"http://127.0.0.1:{port}", token=TOKEN, db=Path(folder) / "backfill.db")
            config = Path(folder) / "backfill.yaml"
            config.write_text(text)
            seconds, rss, out = backfill(config)
            stored = next((line for line in out.splitlines() if line.startswith("stored")), "?")
            print(f"backfill: {args.orders} orders in {seconds:.2f} s = {args.orders / seconds:,.0f} objects/s")
            print(f"          peak RSS {rss:.0f} MB; {stored}")
            config.write_text(text.replace("backfill.db", "reconcile.db"))
            first, second = asyncio.run(reconcile_passes(config, Path(folder) / "reconcile.db"))
            print(
                f"reconcile pass, empty store: {first[0]:.2f} s, {first[1]} checked, {first[2]} missing events stored"
            )
            print(f"reconcile pass, all present: {second[0]:.2f} s, {second[1]} checked, {second[2]} missing")
    finally:
        sandbox.terminate()
        sandbox.wait()


if __name__ == "__main__":
    main()
