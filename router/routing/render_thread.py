"""The render worker: one long-lived thread that runs the route stage's slow renders off the event loop.

Rendering is CPU work over customer data, bounded by ``delivery.render_timeout`` from inside
(``router.render.limits``); it runs on this thread so that webhooks are still answered while it works.
Starting a thread per event costs more than most renders, so the jobs share one thread and a queue.
Each job runs in a fresh ``contextvars`` context, as it would on a new thread, so no render budget
carries over from one job to the next.

``run(work, limit)`` raises TimeoutError once the job has *run* for ``limit`` seconds (time spent
waiting in the queue does not count). A job past its limit is one whose render could not stop itself;
its thread is then retired (it exits once the job returns; being a daemon thread it never holds up the
process's exit) and a fresh thread serves the queue, so one stuck job holds up nobody else.

Almost every plan takes well under a millisecond, less than the hand-off to the thread and back costs
(about 5 % of the CPU per event), so ``LoopFirst`` runs a job on the event loop first, under
``render_limits.on_the_loop``, and hands it to the thread only once it has held the loop ``budget`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from router.render.limits import LeaveTheLoop, on_the_loop

T = TypeVar("T")


@dataclass(eq=False)
class _Job(Generic[T]):
    work: Callable[[], T]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[T]
    started: float | None = None  # time.monotonic() when the thread took it
    thread: threading.Thread | None = field(default=None, repr=False)


def _settle(future: asyncio.Future[Any], value: Any, failed: bool) -> None:
    if future.done():
        return
    if failed:
        future.set_exception(value)
    else:
        future.set_result(value)


class RenderWorker:
    """A queue of render jobs and the one thread that runs them (replaced when a job gets stuck)."""

    def __init__(self, name: str = "render") -> None:
        self.name = name
        self._queue: queue.SimpleQueue[_Job[Any] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.retired = 0  # threads given up on because a job outlived its limit

    async def run(self, work: Callable[[], T], limit: float) -> T:
        """``work()`` on the worker thread; TimeoutError after it has run ``limit`` seconds."""
        loop = asyncio.get_running_loop()
        job: _Job[T] = _Job(work, loop, loop.create_future())
        self._ensure_thread()
        self._queue.put(job)
        waited_for = limit
        while True:
            done, _ = await asyncio.wait((job.future,), timeout=waited_for)
            if done:
                return job.future.result()
            started = job.started
            if started is None:  # still queued behind other jobs: its own time has not begun
                continue
            left = started + limit - time.monotonic()
            if left <= 0:
                self._retire(job.thread)
                job.future.cancel()  # its result, if it ever comes, is dropped
                raise TimeoutError(f"render job ran longer than {limit:g}s")
            waited_for = left

    def _ensure_thread(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name=self.name, daemon=True)
                self._thread.start()

    def _retire(self, thread: threading.Thread | None) -> None:
        with self._lock:
            if thread is not None and self._thread is thread:
                self._thread = None
                self.retired += 1
        self._ensure_thread()

    def _serve(self) -> None:
        me = threading.current_thread()
        while self._thread is me:
            job = self._queue.get()
            if job is None:
                with self._lock:
                    if self._thread is me:
                        self._thread = None
                return
            job.thread, job.started = me, time.monotonic()
            value: Any
            try:
                value, failed = contextvars.Context().run(job.work), False
            except Exception as exc:  # handed to the awaiting task
                value, failed = exc, True
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits for the result
                job.loop.call_soon_threadsafe(_settle, job.future, value, failed)

    def close(self) -> None:
        """Let the thread exit once the jobs queued before this call are done."""
        self._queue.put(None)


class LoopFirst:
    """Runs render jobs on the event loop while they are quick, and on ``worker``'s thread otherwise.

    A job that holds the loop longer than ``budget`` seconds leaves it (``LeaveTheLoop``) and runs again,
    whole, on the thread: the route stage's jobs are pure, so a second run is safe. The jobs of the next
    ``pause`` seconds then go to the thread straight away, so a config with slow templates costs the loop
    one budget, not one per event.
    """

    def __init__(self, worker: RenderWorker, budget: float = 0.005, pause: float = 10.0):
        self.worker = worker
        self.budget = budget
        self.pause = pause
        self._thread_until = 0.0  # time.monotonic() until which jobs skip the loop

    async def run(self, work: Callable[[], T], limit: float) -> T:
        """``work()``, on the loop or the thread; TimeoutError once it has run ``limit`` seconds on the thread."""
        if time.monotonic() >= self._thread_until:
            try:
                with on_the_loop(self.budget):
                    return work()
            except LeaveTheLoop:
                self._thread_until = time.monotonic() + self.pause
        return await self.worker.run(work, limit)
