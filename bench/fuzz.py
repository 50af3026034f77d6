"""Fire malformed requests at a running daemon and count the answers: none may be a 5xx or kill it.

Each request is one of: malformed JSON, wrong types, huge numbers, deep nesting, invalid UTF-8, a wrong
or missing signature, a wrong content type, an oversized body, or (as a control) a valid signed webhook.

    python -m bench.fuzz --url http://127.0.0.1:8080/webhooks/plugandpay --key KEY [--count 10000]

Without --url it starts its own daemon (SQLite store in a temporary folder, no rules) and reports how
many events were stored: only the valid controls may be.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import aiohttp

from bench.common import KEY, machine
from router.inbound import verify
from tests.support import reserved_port

Case = tuple[str, bytes, dict[str, str]]


def _signed(body: bytes, content_type: str = "application/json") -> dict[str, str]:
    return {"Content-Type": content_type, "X-Signature": verify.sign(KEY, body)}


def _event(**fields: object) -> dict[str, object]:
    return {
        "event": {"trigger_type": "order_paid", "triggerable_type": "order", "triggerable_id": 1, **fields},
        "rule_id": 1,
        "tenant_id": 1,
    }


def cases(rng: random.Random) -> list[Callable[[], Case]]:
    def malformed_json() -> Case:
        body = json.dumps(_event()).encode()[: rng.randint(1, 60)]
        return "malformed json", body, _signed(body)

    def wrong_types() -> Case:
        value = rng.choice([[], {}, True, 1.5, "x" * 300, {"a": [1]}])  # each one wrong for every field
        body = json.dumps(_event(**{rng.choice(["trigger_type", "triggerable_id", "triggerable_type"]): value}))
        return "wrong types", body.encode(), _signed(body.encode())

    def huge_number() -> Case:
        body = '{"event": {"trigger_type": "order_paid", "triggerable_id": ' + "9" * rng.randint(50, 5000) + "}}"
        return "huge number", body.encode(), _signed(body.encode())

    def deep_nesting() -> Case:
        depth = rng.randint(100, 20000)
        body = ("[" * depth + "]" * depth).encode()
        return "deep nesting", body, _signed(body)

    def invalid_utf8() -> Case:
        body = b'{"event": {"trigger_type": "order_paid\xff\xfe", "triggerable_id": 1}}'
        return "invalid utf-8", body, _signed(body)

    def bad_signature() -> Case:
        body = json.dumps(_event(triggerable_id=rng.randint(1, 10**6))).encode()
        headers = {"Content-Type": "application/json"}
        if rng.random() < 0.7:
            headers["X-Signature"] = rng.choice(["", "00" * 32, "sha256=zz", verify.sign("wrong", body), "x" * 500])
        return "bad signature", body, headers

    def wrong_content_type() -> Case:
        body = json.dumps(_event()).encode()
        return "content type", body, _signed(body, rng.choice(["text/plain", "application/xml", "", "multipart/x"]))

    def oversized() -> Case:
        body = b'{"pad": "' + b"x" * 70_000 + b'"}'
        return "oversized", body, _signed(body)

    def valid() -> Case:
        body = json.dumps(_event(triggerable_id=rng.randint(1, 10**9))).encode()
        return "valid control", body, _signed(body)

    return [
        malformed_json,
        wrong_types,
        huge_number,
        deep_nesting,
        invalid_utf8,
        bad_signature,
        wrong_content_type,
        oversized,
        valid,
    ]


async def run(url: str, count: int, concurrency: int, seed: int) -> Counter[tuple[str, int]]:
    rng = random.Random(seed)
    makers = cases(rng)
    plan = [rng.choice(makers)() for _ in range(count)]
    results: Counter[tuple[str, int]] = Counter()
    index = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def worker() -> None:
            nonlocal index
            while index < len(plan):
                kind, body, headers = plan[index]
                index += 1
                try:
                    async with session.post(url, data=body, headers=headers) as response:
                        await response.read()
                        results[(kind, response.status)] += 1
                except aiohttp.ClientError as exc:
                    results[(kind, -1)] += 1
                    print(f"connection error on {kind}: {exc}", file=sys.stderr)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url")
    parser.add_argument("--key", default=KEY)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    proc = None
    folder = Path(tempfile.mkdtemp())
    url = args.url
    if url is None:
        port = reserved_port()
        (folder / "config.yaml").write_text(
            f'server: {{listen: "127.0.0.1:{port}"}}\n'
            f'plugandpay: {{api_url: "http://127.0.0.1:9", webhook_key: "{KEY}"}}\n'
            f'store: {{url: "sqlite:///{folder / "router.db"}"}}\nrules: []\n'
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "router", "serve", "-c", str(folder / "config.yaml")],
            stdout=(folder / "daemon.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        from bench.procs import wait_ready

        wait_ready(f"http://127.0.0.1:{port}/healthz", proc)
        url = f"http://127.0.0.1:{port}/webhooks/plugandpay"
    started = time.perf_counter()
    try:
        results = asyncio.run(run(url, args.count, args.concurrency, args.seed))
    finally:
        alive = proc is None or proc.poll() is None
        if proc is not None:
            proc.terminate()
            proc.wait(30)
    elapsed = time.perf_counter() - started
    print(f"machine: {machine()}")
    print(f"{args.count} requests in {elapsed:.1f} s against {url}")
    for (kind, status), n in sorted(results.items()):
        print(f"  {kind:16} {status:4}  {n}")
    server_errors = sum(n for (_, status), n in results.items() if status >= 500 or status < 0)
    print(f"5xx or connection errors: {server_errors}; daemon alive at the end: {alive}")
    if proc is not None:
        import sqlite3

        stored = sqlite3.connect(folder / "router.db").execute("SELECT count(*) FROM events").fetchone()[0]
        controls = sum(n for (kind, status), n in results.items() if kind == "valid control" and status == 202)
        print(f"events stored: {stored} (valid controls accepted: {controls})")


if __name__ == "__main__":
    main()
