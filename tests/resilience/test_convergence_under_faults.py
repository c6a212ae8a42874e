"""Every gateway type converges under injected faults (issue: crash consistency).

examples/repo is applied to each of its six gateways (five emulators and moto) through a real
fault-injecting proxy — 20% 503, 10% 429, 5% connection resets *after* the request was forwarded
(the write happened, the answer was lost) — at fixed seeds. Within 3 applies the gateway must match
the desired state; then an apply without faults plans no change and sends zero writes.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from reconciler.runner import apply_repo
from tests.faults import FaultProxy, Faults
from tests.resilience.conftest import GATEWAYS, options_for

pytestmark = pytest.mark.faults
SEEDS = [1, 2, 3, *(pytest.param(seed, marks=pytest.mark.soak) for seed in (4, 5, 6))]
"""Three seeds per gateway in `make test`, three more in `make soak`."""


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("gateway", GATEWAYS)
def test_apply_converges_within_three_runs_under_faults(running: Any, gateway: str, seed: int) -> None:
    repo, endpoints, emulators, env = running
    # Start from a gateway holding nothing of ours (prune, no faults), so the faulty run creates all.
    emptied = asyncio.run(apply_repo(repo.parent / "empty", options_for(gateway, endpoints[gateway], env)))
    assert not emptied.failed, emptied.reports
    faults = Faults(seed=seed, error_rate=0.20, throttle_rate=0.10, reset_rate=0.05)
    runs = 0
    with FaultProxy(endpoints[gateway], faults) as proxy:
        for runs in range(1, 4):  # noqa: B007 - the count is reported below
            outcome = asyncio.run(apply_repo(repo, options_for(gateway, proxy.url, env)))
            if not outcome.failed and not outcome.plan.errors:
                break
        injected = len(proxy.injected)
    assert injected > 0, "the proxy injected no fault: the test proves nothing"
    print(f"converged: {gateway} seed {seed}: {runs} apply(ies), {injected} injected faults")
    # One more apply without faults: its plan is clean (a plan of its own would read the same) and it writes nothing.
    again = asyncio.run(apply_repo(repo, options_for(gateway, endpoints[gateway], env)))
    assert not again.failed and not again.plan.has_changes, (
        gateway, seed, runs, [(c.kind, c.name, c.op.value) for g in again.plan.gateways.values() for c in g.changes
                              if c.op.value != "no-op"])
    assert sum(r.writes for r in again.reports.values()) == 0
