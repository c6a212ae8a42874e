"""Every gateway type converges under injected faults (issue: crash consistency).

examples/repo is applied to each of its six gateways (five emulators and moto) through a real
fault-injecting proxy — 20% 503, 10% 429, 5% connection resets *after* the request was forwarded
(the write happened, the answer was lost) — at fixed seeds. Within 3 applies the gateway must match
the desired state; then a plan without faults shows no change and an apply sends zero writes.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.demo import start_gateways
from reconciler.runner import RunOptions, apply_repo, plan_repo
from tests.faults import FaultProxy, Faults

pytestmark = pytest.mark.faults
GATEWAYS = ["stoa-dev", "kong-dev", "gravitee-dev", "webmethods-dev", "apigee-dev", "aws-dev"]
SEEDS = [1, 2, 3]


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str], dict[str, Any], dict[str, str]]]:
    import shutil

    repo = tmp_path_factory.mktemp("faults") / "repo"
    shutil.copytree(Path(__file__).resolve().parents[2] / "examples" / "repo", repo)
    aws = repo / "gateways" / "aws-dev.yaml"  # moto does not throttle: scale AWS's account quotas down
    text = aws.read_text()
    assert "  options:\n" in text
    aws.write_text(text.replace("  options:\n", '  options:\n    quotaScale: "0.001"\n    deploymentIntervalSeconds: 0\n', 1))
    empty = repo.parent / "empty"  # the same gateways and settings, no object: applying it prunes ours
    empty.mkdir()
    shutil.copy(repo / "reconciler.yaml", empty / "reconciler.yaml")
    shutil.copytree(repo / "gateways", empty / "gateways")
    env = dict(os.environ)
    endpoints, emulators, stop = start_gateways(repo, env)
    env.update({k: v for k, v in os.environ.items() if k.startswith("AWS_")})
    try:
        yield repo, endpoints, emulators, env
    finally:
        stop()


def _options(gateway: str, url: str, env: dict[str, str]) -> RunOptions:
    return RunOptions(gateways=frozenset({gateway}), endpoints={gateway: url}, env=env, max_deletes=-1)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("gateway", GATEWAYS)
def test_apply_converges_within_three_runs_under_faults(running: Any, gateway: str, seed: int) -> None:
    repo, endpoints, emulators, env = running
    # Start from a gateway holding nothing of ours (prune, no faults), so the faulty run creates all.
    emptied = asyncio.run(apply_repo(repo.parent / "empty", _options(gateway, endpoints[gateway], env)))
    assert not emptied.failed, emptied.reports
    faults = Faults(seed=seed, error_rate=0.20, throttle_rate=0.10, reset_rate=0.05)
    runs = 0
    with FaultProxy(endpoints[gateway], faults) as proxy:
        for runs in range(1, 4):  # noqa: B007 - the count is reported below
            outcome = asyncio.run(apply_repo(repo, _options(gateway, proxy.url, env)))
            if not outcome.failed and not outcome.plan.errors:
                break
        injected = len(proxy.injected)
    assert injected > 0, "the proxy injected no fault: the test proves nothing"
    print(f"converged: {gateway} seed {seed}: {runs} apply(ies), {injected} injected faults")
    clean = asyncio.run(plan_repo(repo, _options(gateway, endpoints[gateway], env)))
    assert not clean.failed and not clean.has_changes, (gateway, seed, runs,
                                                        [(c.kind, c.name, c.op.value) for g in clean.gateways.values()
                                                         for c in g.changes if c.op.value != "no-op"])
    again = asyncio.run(apply_repo(repo, _options(gateway, endpoints[gateway], env)))
    assert not again.failed and sum(r.writes for r in again.reports.values()) == 0
