"""The gateways of examples/repo plus a Kong in database mode, running (six emulators and moto), shared by
the resilience tests (each test first prunes what an earlier one left on the gateways it uses)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.demo import start_gateways
from reconciler.runner import RunOptions

ROOT = Path(__file__).resolve().parents[2]
GATEWAYS = ["stoa-dev", "kong-dev", "kong-db", "gravitee-dev", "webmethods-dev", "apigee-dev", "aws-dev"]
"""Every gateway type, Kong in both modes (kong-dev is DB-less, kong-db has a database)."""


@pytest.fixture(scope="session")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str], dict[str, Any], dict[str, str]]]:
    repo = tmp_path_factory.mktemp("faults") / "repo"
    shutil.copytree(Path(__file__).resolve().parents[2] / "examples" / "repo", repo)
    aws = repo / "gateways" / "aws-dev.yaml"  # moto does not throttle: scale AWS's account quotas down
    text = aws.read_text()
    assert "  options:\n" in text
    aws.write_text(text.replace("  options:\n", '  options:\n    quotaScale: "0.001"\n    deploymentIntervalSeconds: 0\n'
                                '    requestsPerSecond: "0"\n', 1))  # and its client pacing (10/s) off
    kong = (repo / "gateways" / "kong-dev.yaml").read_text()
    assert "name: kong-dev" in kong and "mode: dbless" in kong
    (repo / "gateways" / "kong-db.yaml").write_text(
        kong.replace("name: kong-dev", "name: kong-db").replace("DB-less", "database").replace("mode: dbless", "mode: postgres"))
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


def options_for(gateway: str, url: str, env: dict[str, str]) -> RunOptions:
    """One gateway at `url` (a proxy's or the emulator's), no maxDeletes guard (the tests prune everything)."""
    return RunOptions(gateways=frozenset({gateway}), endpoints={gateway: url}, env=env, max_deletes=-1)


WAITING_CLI = ("import json, sys\n"
               "import httpx, reconciler.cli, reconciler.runner, reconciler.executor\n"
               "httpx.AsyncClient()\n"
               "from reconciler.model.gateways import gateway_types\n"
               "from importlib import import_module\n"
               "for info in gateway_types().values(): import_module(info.adapter.split(':')[0])\n"
               "raise SystemExit(reconciler.cli.main(json.loads(sys.stdin.readline())))\n")
"""A CLI process that imports everything first, then runs `main` on the argv it reads from stdin."""


def selected_gateways(request: pytest.FixtureRequest, seed: int) -> list[str]:
    """The gateways this session runs the requesting test function with at `seed` (after -k, -m)."""
    params = [(getattr(item, "originalname", None), getattr(item, "callspec", None)) for item in request.session.items]
    return [spec.params["gateway"] for name, spec in params
            if spec is not None and name == request.node.originalname and spec.params.get("seed") == seed]


class WaitingCli:
    """CLI processes started ahead of the tests that need them, waiting for their arguments on stdin:
    a process's interpreter start and imports (≈ 1.5 s) overlap the previous test instead of adding to
    the run. As many wait as there are gateways (the kill -9 test runs one per gateway at once); every
    test has the same `env`."""

    def __init__(self) -> None:
        self.spare: list[subprocess.Popen[str]] = []

    def take(self, env: dict[str, str]) -> subprocess.Popen[str]:
        """A waiting process (run it with `go`); a new one starts in its place."""
        process = self.spare.pop(0) if self.spare else self._spawn(env)
        while len(self.spare) < len(GATEWAYS):
            self.spare.append(self._spawn(env))
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


@pytest.fixture(scope="session")
def waiting_cli() -> Iterator[WaitingCli]:
    cli = WaitingCli()
    yield cli
    for process in cli.spare:
        process.kill()
        process.communicate()
