"""Triggers and timing: one coalescing worker per target, and the interval schedules (APScheduler 3).

`CoalescingWorker` is the "one reconcile at a time per target" rule: a trigger that arrives while a
run is in progress is merged into exactly one follow-up run, however many arrive. Each trigger
returns a future resolved by the first run that *starts after* it, so `POST /sync?wait=true` can
wait for a run that saw its request. Workers are plain asyncio (no clock of their own), so tests
drive them with events instead of sleeping.

`Schedules` owns the AsyncIOScheduler: poll/rescan, drift and heartbeat jobs, each an interval with
jitter, `max_instances=1` and `coalesce=True` (a late job runs once, not once per missed tick).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from reconciler.daemon.modes import Trigger

log = logging.getLogger("reconciler.daemon.scheduler")

T = TypeVar("T")


class WorkerClosed(Exception):
    """The worker is shutting down: the trigger was not accepted."""


class CoalescingWorker(Generic[T]):
    """Runs `work(reasons)` one at a time; triggers during a run coalesce into one follow-up run."""

    def __init__(self, name: str, work: Callable[[frozenset[Trigger]], Awaitable[T]]) -> None:
        self.name = name
        self._work = work
        self._reasons: set[Trigger] = set()
        self._waiters: list[asyncio.Future[T]] = []
        self._wake = asyncio.Event()
        self._closed = False
        self.running = False
        self.runs = 0

    def trigger(self, reason: Trigger) -> asyncio.Future[T]:
        """Ask for a run; returns a future with the result of the run that includes this reason."""
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        if self._closed:
            fut.set_exception(WorkerClosed(self.name))
            fut.exception()  # mark retrieved: a caller that ignores it must not cause a warning
            return fut
        self._reasons.add(reason)
        self._waiters.append(fut)
        self._wake.set()
        return fut

    @property
    def pending(self) -> frozenset[Trigger]:
        return frozenset(self._reasons)

    def close(self) -> None:
        """Accept no more triggers; the loop ends after the run in progress (pending ones are dropped)."""
        self._closed = True
        self._wake.set()

    async def run(self) -> None:
        """The worker loop (a supervisor task). Exceptions of `work` go to the waiters, never up."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._closed:
                break
            reasons, waiters = frozenset(self._reasons), self._waiters
            self._reasons, self._waiters = set(), []
            self.running = True
            self.runs += 1
            try:
                result = await self._work(reasons)
            except asyncio.CancelledError:
                for fut in waiters:
                    fut.cancel()
                raise
            except Exception as exc:  # noqa: BLE001 - one failed run must not kill the worker
                log.exception("worker %s failed", self.name, extra={"worker": self.name})
                for fut in waiters:
                    if not fut.done():
                        fut.set_exception(exc)
                        fut.exception()
            else:
                for fut in waiters:
                    if not fut.done():
                        fut.set_result(result)
            finally:
                self.running = False
        for fut in self._waiters:
            if not fut.done():
                fut.set_exception(WorkerClosed(self.name))
                fut.exception()
        self._waiters = []


def interval_trigger(seconds: float, jitter_fraction: float, *, start_now: bool = False) -> IntervalTrigger:
    """An APScheduler interval with jitter proportional to the interval (spreads many daemons' polls)."""
    jitter = seconds * jitter_fraction
    start = datetime.now().astimezone() + (timedelta(0) if start_now else timedelta(seconds=seconds))
    return IntervalTrigger(seconds=seconds, jitter=jitter if jitter > 0 else None, start_date=start)


class Schedules:
    """The daemon's timers: `set(job_id, seconds, fn)` adds or replaces a job; 0 seconds removes it."""

    def __init__(self) -> None:
        self.scheduler = AsyncIOScheduler()
        self.jobs: dict[str, tuple[float, float]] = {}

    def start(self) -> None:
        self.scheduler.start()

    def set(self, job_id: str, seconds: float, fn: Callable[[], Awaitable[Any]], *, jitter: float = 0.0,
            start_now: bool = False) -> None:
        if seconds <= 0:
            if self.scheduler.get_job(job_id) is not None:
                self.scheduler.remove_job(job_id)
            self.jobs.pop(job_id, None)
            return
        if self.jobs.get(job_id) == (seconds, jitter) and self.scheduler.get_job(job_id) is not None:
            return
        self.scheduler.add_job(fn, interval_trigger(seconds, jitter, start_now=start_now), id=job_id, name=job_id,
                               max_instances=1, coalesce=True, replace_existing=True, misfire_grace_time=None)
        self.jobs[job_id] = (seconds, jitter)

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
