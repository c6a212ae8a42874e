"""plan.yml's flow on a STOA emulator: plan --format markdown, post it, apply, re-plan, post again -> one comment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.adapters.stoa.emulator import StoaEmulator
from reconciler.cli import main
from tests.comment.platforms import Platforms, serve

ADMIN = "flow-admin-token"
GH_TOKEN = "ghp_flowTokenValue"
KEYS = {"MOBILE_APP_API_KEY": "mk-0123456789-secret", "PARTNER_PORTAL_API_KEY": "pk-9876543210-secret"}


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch) -> Iterator[Platforms]:
    for name, value in {"STOA_ADMIN_TOKEN": ADMIN, **KEYS, "GITHUB_TOKEN": GH_TOKEN,
                        "GITHUB_REPOSITORY": "acme/gateways"}.items():
        monkeypatch.setenv(name, value)
    with serve(GH_TOKEN) as state:
        monkeypatch.setenv("GITHUB_API_URL", state.base_url)
        yield state


def plan_to_file(repo: Path, url: str, out: Path, capsys: pytest.CaptureFixture[str]) -> int:
    capsys.readouterr()
    rc = main(["plan", str(repo), "--endpoint", f"stoa-dev={url}", "--format", "markdown",
               "--out", str(out.with_suffix(".json")), "--detailed-exitcode"])
    out.write_text(capsys.readouterr().out)
    return rc


def test_each_run_edits_the_one_plan_comment(github: Platforms, stoa_example_repo: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    thread = github.seed_github("acme/gateways", 3, "please review", "looks good")
    body = tmp_path / "plan.md"
    with StoaEmulator(admin_token=ADMIN) as stoa:
        assert plan_to_file(stoa_example_repo, stoa.url, body, capsys) == 2
        assert main(["comment", "--github", "--pr", "3", "--body", str(body)]) == 0
        assert len(thread) == 3 and "Plan: 7 to create" in thread[2]["body"]
        assert main(["apply", str(tmp_path / "plan.json"), "--repo", str(stoa_example_repo), "--auto-approve"]) == 0
        assert plan_to_file(stoa_example_repo, stoa.url, body, capsys) == 0
        assert main(["comment", "--github", "--pr", "3", "--body", str(body)]) == 0
    out, err = capsys.readouterr()
    assert len(thread) == 3 and "No changes" in thread[2]["body"]
    assert [c["body"] for c in thread[:2]] == ["please review", "looks good"]
    assert [w.method for w in github.writes()] == ["POST", "PATCH"]
    for text in (out, err, *(c["body"] for c in thread)):
        assert all(secret not in text for secret in (ADMIN, GH_TOKEN, *KEYS.values()))
