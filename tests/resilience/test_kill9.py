"""`kill -9` at random points of an apply, on every gateway type: the next applies converge (issue 13).

The apply runs as its own process (the CLI's `main`, as `python -m reconciler apply` calls it) through a
real proxy that counts the
writes it forwards and kills the process with SIGKILL right after the k-th one reached the gateway
(the write happened, its answer never arrived) — no handler, no cleanup, as a node failure. k is drawn
per seed from the writes a complete apply makes. Then, without faults, at most 3 applies must make the
plan clean (no create, no conflict, no owned duplicate): one more apply plans nothing and sends zero writes.
Each process is started while the previous test runs (conftest's `WaitingCli`).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from reconciler.runner import apply_repo
from tests.faults import FaultProxy, Faults
from tests.resilience.conftest import GATEWAYS, WaitingCli, options_for

pytestmark = pytest.mark.faults
SEEDS = [11, 12, 13, *(pytest.param(seed, marks=pytest.mark.soak) for seed in (14, 15, 16))]
"""Three kill points per gateway in `make test`, three more in `make soak`."""
TOTALS: dict[str, int] = {}
"""Writes of a complete apply, per gateway: counted once per module (every seed draws from it)."""
WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def empty(repo: Path, gateway: str, url: str, env: dict[str, str]) -> None:
    outcome = asyncio.run(apply_repo(repo.parent / "empty", options_for(gateway, url, env)))
    assert not outcome.failed, outcome.reports


def writes_of_full_apply(repo: Path, gateway: str, url: str, env: dict[str, str]) -> int:
    if gateway not in TOTALS:
        empty(repo, gateway, url, env)
        outcome = asyncio.run(apply_repo(repo, options_for(gateway, url, env)))
        assert not outcome.failed, outcome.reports
        TOTALS[gateway] = sum(r.writes for r in outcome.reports.values())
    return TOTALS[gateway]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("gateway", GATEWAYS)
def test_apply_killed_at_a_random_write_converges(running: Any, waiting_cli: WaitingCli, gateway: str,
                                                  seed: int) -> None:
    repo, endpoints, _, env = running
    total = writes_of_full_apply(repo, gateway, endpoints[gateway], env)
    kill_at = random.Random(f"{gateway}/{seed}").randint(1, total)
    empty(repo, gateway, endpoints[gateway], env)

    seen: list[str] = []
    process: list[subprocess.Popen[str]] = []

    def forwarded(method: str, path: str) -> None:
        if method in WRITES:
            seen.append(f"{method} {path}")
            if len(seen) == kill_at and process:
                os.kill(process[0].pid, signal.SIGKILL)

    with FaultProxy(endpoints[gateway], Faults(seed=seed, forwarded=forwarded)) as proxy:
        process.append(waiting_cli.take(env))  # known to `forwarded` before it sends its first request
        waiting_cli.go(process[0], ["apply", str(repo), "--gateway", gateway, "--endpoint", f"{gateway}={proxy.url}",
                                    "--auto-approve", "--max-deletes", "-1"])
        out, _ = process[0].communicate(timeout=240)
    assert process[0].returncode == -signal.SIGKILL, (kill_at, len(seen), out[-2000:])

    runs = 0
    for runs in range(1, 4):  # noqa: B007 - the count is reported below
        outcome = asyncio.run(apply_repo(repo, options_for(gateway, endpoints[gateway], env)))
        if not outcome.failed and not outcome.plan.errors:
            break
    print(f"killed {gateway} at write {kill_at}/{total} ({seen[-1]}); converged in {runs} apply(ies)")
    # One more apply: its plan is clean (what a plan of its own would read) and it writes nothing.
    again = asyncio.run(apply_repo(repo, options_for(gateway, endpoints[gateway], env)))
    pending = [(c.kind, c.name, c.op.value) for g in again.plan.gateways.values() for c in g.changes
               if c.op.value != "no-op"]
    assert not again.failed and not pending, (gateway, kill_at, runs, pending)
    assert sum(r.writes for r in again.reports.values()) == 0
