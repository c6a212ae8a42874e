"""`kill -9` at random points of an apply, on every gateway type: the next applies converge (issue 13).

The apply runs as its own process (`python -m reconciler apply`) through a real proxy that counts the
writes it forwards and kills the process with SIGKILL right after the k-th one reached the gateway
(the write happened, its answer never arrived) — no handler, no cleanup, as a node failure. k is drawn
per seed from the writes a complete apply makes. Then, without faults, at most 3 applies must make the
plan clean (no create, no conflict, no owned duplicate), and one more apply must send zero writes.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reconciler.runner import apply_repo, plan_repo
from tests.faults import FaultProxy, Faults
from tests.resilience.conftest import GATEWAYS, options_for

pytestmark = pytest.mark.faults
SEEDS = [11, pytest.param(12, marks=pytest.mark.soak), pytest.param(13, marks=pytest.mark.soak)]
"""Three kill points per gateway; `make test` runs the first, `make soak` the others."""
TOTALS: dict[str, int] = {}
"""Writes of a complete apply, per gateway: counted once per module (every seed draws from it)."""
ROOT = Path(__file__).resolve().parents[2]
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
def test_apply_killed_at_a_random_write_converges(running: Any, gateway: str, seed: int) -> None:
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
        process.append(subprocess.Popen(
            [sys.executable, "-m", "reconciler", "apply", str(repo), "--gateway", gateway,
             "--endpoint", f"{gateway}={proxy.url}", "--auto-approve", "--max-deletes", "-1"],
            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        out, _ = process[0].communicate(timeout=240)
    assert process[0].returncode == -signal.SIGKILL, (kill_at, len(seen), out[-2000:])

    runs = 0
    for runs in range(1, 4):  # noqa: B007 - the count is reported below
        outcome = asyncio.run(apply_repo(repo, options_for(gateway, endpoints[gateway], env)))
        if not outcome.failed and not outcome.plan.errors:
            break
    print(f"killed {gateway} at write {kill_at}/{total} ({seen[-1]}); converged in {runs} apply(ies)")
    clean = asyncio.run(plan_repo(repo, options_for(gateway, endpoints[gateway], env)))
    pending = [(c.kind, c.name, c.op.value) for g in clean.gateways.values() for c in g.changes if c.op.value != "no-op"]
    assert not clean.failed and not pending, (gateway, kill_at, runs, pending)
    again = asyncio.run(apply_repo(repo, options_for(gateway, endpoints[gateway], env)))
    assert not again.failed and sum(r.writes for r in again.reports.values()) == 0
