"""Fixtures of the review tests: examples/repo (STOA gateway only) committed to a real Git repo on `main`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import git
from tests.e2e.conftest import stoa  # noqa: F401 - the emulated STOA gateway of the CLI tests

BILLING = ("apiVersion: gostoa.dev/v1alpha1\nkind: API\nmetadata: {name: billing}\n"
           "spec: {tenant: acme, version: '1', basePath: /billing, backend: 'https://billing.example.com',"
           " gateways: [stoa-dev]}\n")


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def git_repo(stoa_example_repo: Path) -> Path:
    """examples/repo with its STOA gateway only, committed on `main`, checked out on branch `pr`."""
    git(stoa_example_repo, "init", "-q", "-b", "main")
    commit_all(stoa_example_repo, "base")
    git(stoa_example_repo, "checkout", "-q", "-b", "pr")
    return stoa_example_repo
