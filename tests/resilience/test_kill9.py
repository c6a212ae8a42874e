"""`kill -9` at random points of an apply, on every gateway type: the next applies converge (issue 13).

The apply runs as its own process (the CLI's `main`, as `python -m reconciler apply` calls it) through a
real proxy that counts the
writes it forwards and kills the process with SIGKILL right after the k-th one reached the gateway
(the write happened, its answer never arrived) — no handler, no cleanup, as a node failure. k is drawn
per seed from the writes a complete apply makes. Then, without faults, at most 3 applies must make the
plan clean (no create, no conflict, no owned duplicate), and one more apply must send zero writes.
Each process is started while the previous test runs and waits for its arguments on stdin, so its
interpreter start and imports (≈ 1.5 s) overlap the previous test instead of adding to the run.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.runner import apply_repo, plan_repo
from tests.faults import FaultProxy, Faults
from tests.resilience.conftest import GATEWAYS, options_for

pytestmark = pytest.mark.faults
SEEDS = [11, 12, 13, *(pytest.param(seed, marks=pytest.mark.soak) for seed in (14, 15, 16))]
"""Three kill points per gateway in `make test`, three more in `make soak`."""
TOTALS: dict[str, int] = {}
"""Writes of a complete apply, per gateway: counted once per module (every seed draws from it)."""
ROOT = Path(__file__).resolve().parents[2]
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
WAITING_CLI = ("import json, sys\n"
               "import reconciler.cli, reconciler.runner, reconciler.executor\n"
               "from reconciler.model.gateways import gateway_types\n"
               "from importlib import import_module\n"
               "for info in gateway_types().values(): import_module(info.adapter.split(':')[0])\n"
               "raise SystemExit(reconciler.cli.main(json.loads(sys.stdin.readline())))\n")
"""A CLI process that imports everything first, then runs `main` on the argv it reads from stdin."""


class WaitingCli:
    """One CLI process ready ahead of the test that needs it (same environment for every test)."""

    def __init__(self) -> None:
        self.next: subprocess.Popen[str] | None = None

    def take(self, env: dict[str, str]) -> subprocess.Popen[str]:
        """The waiting process (run it with `go`); the next one starts now."""
        process = self.next or self._spawn(env)
        self.next = self._spawn(env)
        return process

    @staticmethod
    def go(process: subprocess.Popen[str], argv: list[str]) -> None:
        assert process.stdin is not None
        process.stdin.write(json.dumps(argv) + "\n")
        process.stdin.flush()

    @staticmethod
    def _spawn(env: dict[str, str]) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-c", WAITING_CLI], env=env, cwd=ROOT, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.fixture(scope="module")
def waiting_cli() -> Iterator[WaitingCli]:
    cli = WaitingCli()
    yield cli
    if cli.next is not None:
        cli.next.kill()
        cli.next.communicate()


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
    clean = asyncio.run(plan_repo(repo, options_for(gateway, endpoints[gateway], env)))
    pending = [(c.kind, c.name, c.op.value) for g in clean.gateways.values() for c in g.changes if c.op.value != "no-op"]
    assert not clean.failed and not pending, (gateway, kill_at, runs, pending)
    again = asyncio.run(apply_repo(repo, options_for(gateway, endpoints[gateway], env)))
    assert not again.failed and sum(r.writes for r in again.reports.values()) == 0
