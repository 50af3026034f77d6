"""Dashboard benchmark: how fast the pages answer with 100,000 events (and their deliveries) in a SQLite store.

The store is filled with SQL in one transaction (events over the last 14 days, one delivery and one attempt
each, 2 % of them dead), then the admin application is served in this process and each page is fetched
``--rounds`` times after logging in (and once before, to compile its template). Target (issue 14): every
page under 100 ms.

    python -m bench.dashboard [--events 100000] [--rounds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

from bench.common import machine, percentile
from router.admin import AdminStatus, admin_app
from router.config import parse_config
from router.store.sqlite import SqliteStore

TOKEN = "bench-admin-token"
CONFIG = f"""version: 1
admin: {{token: "{TOKEN}"}}
plugandpay: {{api_url: "http://127.0.0.1:9"}}
connectors: {{sink: {{type: http, base_url: "http://127.0.0.1:9"}}}}
rules: [{{name: welcome, trigger: order_paid, actions: [{{connector: sink, path: /welcome, json: {{a: 1}}}}]}}]
"""
OUTCOMES = json.dumps(
    [
        {"rule": "welcome", "matched": True, "reason": ""},
        {"rule": "course", "matched": False, "reason": "products: no line of 77"},
    ]
)


def fill(db: Path, count: int, now: float) -> None:
    conn = sqlite3.connect(db)
    rng = random.Random(14)
    events, deliveries, attempts = [], [], []
    for n in range(1, count + 1):
        at = now - rng.random() * 14 * 86400
        order = str(100000 + n)
        payload = json.dumps({"event": {"trigger_type": "order_paid", "triggerable_id": order}})
        events.append(
            (
                n,
                f"d{n}",
                f"b{n}",
                "order_paid",
                "order_paid",
                "order",
                order,
                "42",
                "318",
                None,
                "v2",
                payload,
                "routed",
                at,
                1,
                at,
                None,
                OUTCOMES,
                "v1",
                at + 0.2,
            )
        )
        dead = rng.random() < 0.02
        status = "dead" if dead else "delivered"
        request = json.dumps({"method": "POST", "path": "/welcome", "json": {"email": f"c{n}@example.nl"}})
        deliveries.append(
            (
                n,
                n,
                "welcome",
                0,
                None,
                "sink",
                f"a{n}",
                f"ppr_{n}",
                request,
                "[5.0]",
                status,
                1,
                at + 0.3,
                None,
                "HTTP 400: no" if dead else None,
                at + 0.2,
                at + 0.3,
                "v1",
            )
        )
        result = None if dead else json.dumps({"status": 200, "answer": '{"ok": true}'})
        attempts.append((n, 1, at + 0.25, 12.0, status, 400 if dead else 200, "HTTP 400: no" if dead else None, result))
    with conn:
        conn.executemany(
            "INSERT INTO events (id, dedupe_key, business_key, trigger, raw_trigger, triggerable_type,"
            " triggerable_id, tenant_id, rule_id, sent_at, source, payload, status, received_at,"
            " attempts, next_attempt_at, lease_owner, outcomes, config_version, routed_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            events,
        )
        conn.executemany(
            "INSERT INTO deliveries (id, event_id, rule, action_index, item_key, connector, action_key,"
            " delivery_key, request, schedule, status, attempts, next_attempt_at, lease_owner,"
            " last_error, created_at, updated_at, config_version)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            deliveries,
        )
        conn.executemany(
            "INSERT INTO attempts (delivery_id, number, started_at, duration_ms, outcome, status_code,"
            " error, result) VALUES (?,?,?,?,?,?,?,?)",
            attempts,
        )
    conn.execute("ANALYZE")
    conn.close()


async def run(count: int, rounds: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="plugpay-dashboard-"))
    db = folder / "router.db"
    store = SqliteStore(db)
    await store.open()  # creates the schema
    await store.close()
    started = time.perf_counter()
    fill(db, count, time.time())
    print(f"filled {count} events, deliveries and attempts in {time.perf_counter() - started:.1f}s")
    store = SqliteStore(db)
    await store.open()
    config = parse_config(CONFIG)

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(text="")

    status = AdminStatus(lambda: config, lambda: {"sink": "closed"}, time.time)
    runner = web.AppRunner(admin_app(store, status, metrics, lambda: None, lambda: None), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}"
    some = str(100000 + count // 2)
    pages = {
        "overview": "/ui",
        "events": "/ui/events",
        "events?q=order": f"/ui/events?q={some}",
        "events?status": "/ui/events?status=routed&trigger=order_paid",
        "event": f"/ui/events/{count // 2}",
        "object": f"/ui/objects/order/{some}",
        "dead": "/ui/dead",
        "live.json": "/ui/live.json",
    }
    print(machine())
    print(f"{'page':<16} {'median ms':>10} {'p95 ms':>8} {'max ms':>8}")
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as client:  # an IP host
            await client.post(f"{base}/ui/login", data={"token": TOKEN, "next": "/ui"}, allow_redirects=False)
            for name, path in pages.items():
                times = []
                async with client.get(base + path) as answer:  # warm-up: the first compiles the template
                    await answer.read()
                for _ in range(rounds):
                    clock = time.perf_counter()
                    async with client.get(base + path, allow_redirects=False) as answer:
                        await answer.read()
                        assert answer.status == 200, (path, answer.status)
                    times.append((time.perf_counter() - clock) * 1000)
                print(f"{name:<16} {percentile(times, 50):>10.1f} {percentile(times, 95):>8.1f} {max(times):>8.1f}")
    finally:
        await runner.cleanup()
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(run(args.events, args.rounds))


if __name__ == "__main__":
    main()
