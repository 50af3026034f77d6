"""Shared pieces of the benchmarks: machine description, a signed-webhook load generator, percentiles.

The load generator is an aiohttp client with a fixed number of concurrent workers, each posting signed
Webhooks V2 bodies with distinct order ids; it records the latency of every answer.
"""

from __future__ import annotations

import asyncio
import os
import platform
import statistics
import time
from dataclasses import dataclass, field

import aiohttp

from router.inbound import verify
from tests.support import webhook_body

KEY = "bench-webhook-key"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


def body(order_id: int, trigger: str = "order_payment_completed") -> bytes:
    """A webhook about ``order_id``, built as the tests build theirs (sent now: an old one is stale)."""
    return webhook_body(trigger, order_id)


@dataclass
class LoadResult:
    seconds: float
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def summary(self) -> str:
        return (
            f"{self.rate:8.0f} req/s   p50 {percentile(self.latencies, 50) * 1000:6.2f} ms   "
            f"p99 {percentile(self.latencies, 99) * 1000:6.2f} ms   statuses {self.statuses}"
        )


async def fire(url: str, count: int, concurrency: int, *, first_id: int = 1, key: str | None = KEY) -> LoadResult:
    """POST ``count`` signed webhooks with ids first_id.. at ``concurrency``; returns latencies and statuses."""
    bodies = [body(first_id + i) for i in range(count)]
    result = LoadResult(0.0)
    next_index = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal next_index
            while next_index < count:
                data = bodies[next_index]
                next_index += 1
                headers = {"Content-Type": "application/json"}
                if key:
                    headers["X-Signature"] = verify.sign(key, data)
                started = time.perf_counter()
                async with session.post(url, data=data, headers=headers) as response:
                    await response.read()
                    result.latencies.append(time.perf_counter() - started)
                    result.statuses[response.status] = result.statuses.get(response.status, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        result.seconds = time.perf_counter() - started
    return result


def mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")
