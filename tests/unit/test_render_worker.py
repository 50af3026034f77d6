"""The render worker: renders run off the event loop on one long-lived thread, within their time limit, when
they take longer than a plan may hold the loop."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Callable

import pytest

from router.render import limits as render_limits
from router.routing.render_thread import LoopFirst, RenderWorker

MARK: contextvars.ContextVar[str] = contextvars.ContextVar("mark")


async def test_work_runs_off_the_loop_and_its_result_or_error_comes_back() -> None:
    worker = RenderWorker()
    loop_thread = threading.current_thread()
    assert await worker.run(lambda: threading.current_thread() is not loop_thread, 5) is True

    def fail() -> None:
        raise ValueError("bad template")

    with pytest.raises(ValueError, match="bad template"):
        await worker.run(fail, 5)
    worker.close()


async def test_jobs_share_one_thread() -> None:
    worker = RenderWorker()
    names = {await worker.run(lambda: threading.get_ident(), 5) for _ in range(20)}
    assert len(names) == 1
    worker.close()


async def test_the_loop_keeps_answering_while_a_render_runs() -> None:
    worker = RenderWorker()
    release = threading.Event()
    job = asyncio.create_task(worker.run(lambda: release.wait(10), 10))
    await asyncio.sleep(0)  # the loop is free: this task gets its turn while the render blocks
    assert not job.done()
    release.set()
    assert await job is True
    worker.close()


async def test_a_stuck_render_times_out_and_holds_up_nobody() -> None:
    worker = RenderWorker()
    release = threading.Event()
    try:
        with pytest.raises(TimeoutError):
            await worker.run(lambda: release.wait(30), 0.05)
        assert worker.retired == 1
        assert await asyncio.wait_for(worker.run(lambda: "next", 5), 5) == "next"  # a fresh thread took over
    finally:
        release.set()
        worker.close()


async def test_time_in_the_queue_does_not_count_against_the_limit() -> None:
    worker = RenderWorker()
    first_started, release = threading.Event(), threading.Event()

    def first() -> str:
        first_started.set()
        release.wait(10)
        return "first"

    ahead = asyncio.create_task(worker.run(first, 10))
    await asyncio.to_thread(first_started.wait, 10)
    queued = asyncio.create_task(worker.run(lambda: "second", 0.05))
    done, _ = await asyncio.wait({queued}, timeout=0.2)  # four times its limit, all of it waiting in the queue
    assert not done
    release.set()
    assert await ahead == "first"
    assert await queued == "second"
    worker.close()


async def test_each_job_starts_with_a_fresh_context() -> None:
    worker = RenderWorker()
    await worker.run(lambda: MARK.set("left behind"), 5)
    assert await worker.run(lambda: MARK.get("fresh"), 5) == "fresh"
    worker.close()


def _plan_that_takes(seconds: float) -> Callable[[], threading.Thread]:
    """Work that renders (ticks the render meter, as every template step does) for ``seconds``, and then as many
    steps as the meter takes between two looks at the clock, so it looks once after ``seconds`` even when the
    thread lost the CPU for all of them (a loaded machine)."""

    def work() -> threading.Thread:
        with render_limits.budget():
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                render_limits.tick()
            for _ in range(render_limits.CLOCK_EVERY if seconds else 0):
                render_limits.tick()
        return threading.current_thread()

    return work


async def test_a_quick_plan_stays_on_the_loop_a_slow_one_moves_to_the_thread_and_the_next_ones_follow() -> None:
    renders = LoopFirst(RenderWorker(), budget=0.005, pause=10.0)
    loop_thread = threading.current_thread()
    assert await renders.run(_plan_that_takes(0), 5) is loop_thread  # no hand-off for the usual plan
    moved = await renders.run(_plan_that_takes(0.02), 5)
    assert moved is not loop_thread  # it left the loop once past its budget and ran whole on the thread
    assert await renders.run(_plan_that_takes(0), 5) is not loop_thread  # a slow config keeps the loop free
    renders.worker.close()


async def test_leaving_the_loop_is_not_an_error_a_condition_or_action_could_swallow() -> None:
    def work() -> str:
        try:
            return _plan_that_takes(1)().name
        except Exception:  # what plan does around each condition and action
            return "swallowed"

    with pytest.raises(render_limits.LeaveTheLoop), render_limits.on_the_loop(0.001):
        work()
