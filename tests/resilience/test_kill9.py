"""`kill -9` at random points of an apply, on every gateway type: the next applies converge (issue 13).

The apply runs as its own process (the CLI's `main`, as `python -m reconciler apply` calls it) through a
real proxy that counts the
writes it forwards and kills the process with SIGKILL right after the k-th one reached the gateway
(the write happened, its answer never arrived) — no handler, no cleanup, as a node failure. k is drawn
per seed from the writes a complete apply makes. Then, without faults, at most 3 applies must make the
plan clean (no create, no conflict, no owned duplicate): one more apply plans nothing and sends zero writes.
Each process is started ahead (conftest's `WaitingCli`); the gateways of one seed run at once.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from reconciler.runner import apply_repo
from tests.faults import FaultProxy, Faults
from tests.resilience.conftest import GATEWAYS, WaitingCli, options_for, selected_gateways

pytestmark = pytest.mark.faults
SEEDS = [11, 12, 13, *(pytest.param(seed, marks=pytest.mark.soak) for seed in (14, 15, 16))]
"""Three kill points per gateway in `make test`, three more in `make soak`."""
TOTALS: dict[str, int] = {}
"""Writes of a complete apply, per gateway: counted once per module (every seed draws from it)."""
WRITES = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass
class Kill:
    """What one gateway did at one seed: the killed process, then the applies after it."""

    total: int = 0
    kill_at: int = 0
    seen: list[str] = field(default_factory=list)
    returncode: int | None = None
    out: str = ""
    runs: int = 0
    last: Any = None
    again: Any = None


RESULTS: dict[tuple[str, int], Kill] = {}
"""(gateway, seed) -> its run. The selected gateways of one seed run at once (each has its own
emulator, proxy and process), then every test asserts on its own gateway's run."""


async def empty(repo: Path, gateway: str, url: str, env: dict[str, str]) -> None:
    outcome = await apply_repo(repo.parent / "empty", options_for(gateway, url, env))
    assert not outcome.failed, outcome.reports


async def writes_of_full_apply(repo: Path, gateway: str, url: str, env: dict[str, str]) -> int:
    if gateway not in TOTALS:
        await empty(repo, gateway, url, env)
        outcome = await apply_repo(repo, options_for(gateway, url, env))
        assert not outcome.failed, outcome.reports
        TOTALS[gateway] = sum(r.writes for r in outcome.reports.values())
    return TOTALS[gateway]


async def kill_then_converge(repo: Path, gateway: str, url: str, env: dict[str, str], seed: int,
                             cli: WaitingCli) -> Kill:
    run = Kill(total=await writes_of_full_apply(repo, gateway, url, env))
    run.kill_at = random.Random(f"{gateway}/{seed}").randint(1, run.total)
    await empty(repo, gateway, url, env)
    process: list[subprocess.Popen[str]] = []

    def forwarded(method: str, path: str) -> None:
        if method in WRITES:
            run.seen.append(f"{method} {path}")
            if len(run.seen) == run.kill_at and process:
                os.kill(process[0].pid, signal.SIGKILL)

    with FaultProxy(url, Faults(seed=seed, forwarded=forwarded)) as proxy:
        process.append(cli.take(env))  # known to `forwarded` before it sends its first request
        cli.go(process[0], ["apply", str(repo), "--gateway", gateway, "--endpoint", f"{gateway}={proxy.url}",
                            "--auto-approve", "--max-deletes", "-1"])
        run.out, _ = await asyncio.to_thread(process[0].communicate, timeout=240)
    run.returncode = process[0].returncode
    if run.returncode != -signal.SIGKILL:
        return run
    for run.runs in range(1, 4):  # noqa: B007 - the count is reported
        run.last = await apply_repo(repo, options_for(gateway, url, env))
        if not run.last.failed and not run.last.plan.errors:
            break
    # One more apply: its plan is clean (what a plan of its own would read) and it writes nothing.
    run.again = await apply_repo(repo, options_for(gateway, url, env))
    return run


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("gateway", GATEWAYS)
def test_apply_killed_at_a_random_write_converges(request: pytest.FixtureRequest, running: Any,
                                                  waiting_cli: WaitingCli, gateway: str, seed: int) -> None:
    if (gateway, seed) not in RESULTS:
        repo, endpoints, _, env = running
        selected = selected_gateways(request, seed)

        async def all_at_once() -> list[Kill]:
            return list(await asyncio.gather(*(kill_then_converge(repo, g, endpoints[g], env, seed, waiting_cli)
                                               for g in selected)))

        RESULTS.update({(g, seed): r for g, r in zip(selected, asyncio.run(all_at_once()), strict=True)})
    run = RESULTS[(gateway, seed)]
    assert run.returncode == -signal.SIGKILL, (run.kill_at, len(run.seen), run.out[-2000:])
    assert not run.last.failed and not run.last.plan.errors, (
        gateway, run.kill_at, run.last.plan.errors, [(r.kind, r.name, r.error) for g in run.last.reports.values()
                                                     for r in g.results if r.status.value != "applied"])
    print(f"killed {gateway} at write {run.kill_at}/{run.total} ({run.seen[-1]}); converged in {run.runs} apply(ies)")
    pending = [(c.kind, c.name, c.op.value) for g in run.again.plan.gateways.values() for c in g.changes
               if c.op.value != "no-op"]
    assert not run.again.failed and not pending, (gateway, run.kill_at, run.runs, pending)
    assert sum(r.writes for r in run.again.reports.values()) == 0
