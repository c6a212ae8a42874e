"""Shared fixtures: the vendors' specs (read from ../shared/specs, never copied), free ports, git."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPECS_DIR = ROOT.parent / "shared" / "specs"
IN_CI = os.environ.get("CI", "").lower() == "true"


def specs_path(relative: str) -> Path:
    """Path of a vendor spec file; skips the test when ../shared/specs is absent (fails under CI=true)."""
    path = SPECS_DIR / relative
    if not path.is_file():
        if IN_CI:
            pytest.fail(f"vendor spec {path} is missing; CI must run the contract tests")
        pytest.skip(f"vendor spec {path} is absent (../shared/specs is not beside this checkout)")
    return path


@pytest.fixture
def specs_dir() -> Path:
    if not SPECS_DIR.is_dir():
        if IN_CI:
            pytest.fail(f"{SPECS_DIR} is missing; CI must run the contract tests")
        pytest.skip(f"{SPECS_DIR} is absent (../shared/specs is not beside this checkout)")
    return SPECS_DIR


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_cli(command: str, repo: Path | str, endpoints: dict[str, str], *extra: str) -> int:
    """`reconciler COMMAND REPO --endpoint NAME=URL ... EXTRA`, in-process; apply is auto-approved."""
    from reconciler.cli import main

    args = [command, str(repo)]
    for name, url in endpoints.items():
        args += ["--endpoint", f"{name}={url}"]
    args += list(extra)
    if command == "apply":
        args.append("--auto-approve")
    return main(args)


GIT_ENV = {
    "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.invalid",
}


def git(cwd: Path, *args: str) -> str:
    """Run the git CLI with a fixed identity (CI machines may have none)."""
    env = {**os.environ, **GIT_ENV}
    done = subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True)
    return done.stdout.strip()


@pytest.fixture
def example_repo(tmp_path: Path) -> Iterator[Path]:
    """A private copy of examples/repo that a test may change."""
    dst = tmp_path / "repo"
    shutil.copytree(ROOT / "examples" / "repo", dst)
    yield dst


def keep_only_gateway(repo: Path, gateway: str) -> Path:
    """Reduce a copy of examples/repo to one gateway: drop the other gateways and the files bound by
    name only to them, so a test can run against that one gateway's emulator."""
    for path in (repo / "gateways").iterdir():
        if path.stem != gateway:
            path.unlink()
    for path in repo.rglob("*.yaml"):
        text = path.read_text()
        if "gateways: [" in text and gateway not in text:
            path.unlink()
    return repo


@pytest.fixture
def stoa_example_repo(example_repo: Path) -> Path:
    """examples/repo with only its STOA gateway (stoa-dev)."""
    return keep_only_gateway(example_repo, "stoa-dev")
