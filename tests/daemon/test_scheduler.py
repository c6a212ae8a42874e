"""Coalescing workers and interval schedules, driven by events and direct calls (no sleeping on timers)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from reconciler.daemon.modes import Trigger
from reconciler.daemon.scheduler import CoalescingWorker, Schedules, WorkerClosed, interval_trigger


class Gate:
    """A `work` function that blocks until released, recording the reasons of every run."""

    def __init__(self) -> None:
        self.runs: list[frozenset[Trigger]] = []
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, reasons: frozenset[Trigger]) -> int:
        self.runs.append(reasons)
        self.started.set()
        await self.release.wait()
        self.release.clear()
        return len(self.runs)


async def test_triggers_during_a_run_coalesce_into_one_follow_up() -> None:
    gate = Gate()
    worker: CoalescingWorker[int] = CoalescingWorker("t", gate)
    task = asyncio.create_task(worker.run())
    first = worker.trigger(Trigger.COMMIT)
    await gate.started.wait()
    gate.started.clear()
    during = [worker.trigger(r) for r in (Trigger.DRIFT, Trigger.DRIFT, Trigger.WEBHOOK, Trigger.SYNC, Trigger.DRIFT)]
    assert worker.running and worker.pending == {"drift", "webhook", "sync"}  # members are their strings
    gate.release.set()
    assert await first == 1
    await gate.started.wait()
    gate.release.set()
    results = await asyncio.gather(*during)
    assert results == [2] * 5  # every trigger made during run 1 is served by the single run 2
    assert gate.runs == [frozenset({"commit"}), frozenset({"drift", "webhook", "sync"})]
    worker.close()
    await task
    assert worker.runs == 2


async def test_a_failing_run_reaches_its_waiters_and_the_worker_goes_on() -> None:
    calls = 0

    async def work(reasons: frozenset[Trigger]) -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("boom")
        return "ok"

    worker: CoalescingWorker[str] = CoalescingWorker("t", work)
    task = asyncio.create_task(worker.run())
    with pytest.raises(RuntimeError, match="boom"):
        await worker.trigger(Trigger.POLL)
    assert await worker.trigger(Trigger.POLL) == "ok"
    worker.close()
    await task


async def test_close_lets_the_running_job_finish_and_refuses_new_triggers() -> None:
    gate = Gate()
    worker: CoalescingWorker[int] = CoalescingWorker("t", gate)
    task = asyncio.create_task(worker.run())
    running = worker.trigger(Trigger.COMMIT)
    await gate.started.wait()
    dropped = worker.trigger(Trigger.DRIFT)
    worker.close()
    with pytest.raises(WorkerClosed):
        await worker.trigger(Trigger.WEBHOOK)
    gate.release.set()
    assert await running == 1  # the run in progress completed
    await task
    with pytest.raises(WorkerClosed):
        await dropped  # the follow-up was not started after close
    assert len(gate.runs) == 1


def test_interval_trigger_spreads_with_bounded_jitter() -> None:
    trigger = interval_trigger(60, 0.1)
    assert trigger.interval == timedelta(seconds=60) and trigger.jitter == pytest.approx(6.0)
    now = datetime.now().astimezone()
    previous = now
    for _ in range(50):
        nxt = trigger.get_next_fire_time(previous, now)
        assert nxt is not None
        delay = (nxt - previous).total_seconds()
        assert 60 <= delay <= 66
        previous = now = previous + timedelta(seconds=60)
    assert interval_trigger(5, 0).jitter is None


async def test_schedules_add_replace_and_remove_jobs() -> None:
    schedules = Schedules()
    calls: list[str] = []

    async def job() -> None:
        calls.append("x")

    schedules.start()
    try:
        schedules.set("poll", 30, job, jitter=0.1)
        first = schedules.scheduler.get_job("poll")
        assert first is not None and first.max_instances == 1 and first.coalesce is True
        schedules.set("poll", 30, job, jitter=0.1)  # unchanged: the job (and its next run time) is kept
        assert schedules.scheduler.get_job("poll").next_run_time == first.next_run_time
        schedules.set("poll", 10, job)
        assert schedules.scheduler.get_job("poll").trigger.interval == timedelta(seconds=10)
        schedules.set("poll", 0, job)
        assert schedules.scheduler.get_job("poll") is None and "poll" not in schedules.jobs
        schedules.set("beat", 0.05, job, start_now=True)
        for _ in range(100):
            if calls:
                break
            await asyncio.sleep(0.01)
        assert calls  # the job really runs in the event loop
    finally:
        schedules.shutdown()
