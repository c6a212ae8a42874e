"""`reconciler comment` against the loopback GitHub/GitLab server (tests/comment/platforms.py), through the CLI."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.comment import gitlab
from reconciler.output.render import markdown_marker
from tests.comment.platforms import Platforms, serve

TOKEN = "ghp_Xs3cr3tT0kenValue42"
REPO = "acme/gateways"
MARKER = markdown_marker("repo")


def plan_body(text: str = "**1 to add**", path: str = "repo") -> str:
    return f"{markdown_marker(path)}\n## stoa-reconciler plan\n\n{text}\n"


@pytest.fixture
def platforms(monkeypatch: pytest.MonkeyPatch) -> Iterator[Platforms]:
    for name in ("GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_API_URL", "GITHUB_EVENT_PATH", "GITLAB_TOKEN",
                 "CI_JOB_TOKEN", "CI_API_V4_URL", "CI_PROJECT_ID", "CI_MERGE_REQUEST_IID"):
        monkeypatch.delenv(name, raising=False)
    with serve(TOKEN) as state:
        yield state


def comment(capsys: pytest.CaptureFixture[str], tmp_path: Path, body: str, *args: str) -> tuple[int, str, str]:
    """Run the command with the body in a file; the token must appear in no output, whatever happened."""
    path = tmp_path / "plan.md"
    path.write_text(body)
    rc = main(["comment", "--body", str(path), *args])
    out, err = capsys.readouterr()
    assert TOKEN not in out and TOKEN not in err
    return rc, out, err


@pytest.fixture
def github_env(platforms: Platforms, monkeypatch: pytest.MonkeyPatch) -> Platforms:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("GITHUB_API_URL", platforms.base_url)
    monkeypatch.setenv("GITHUB_REPOSITORY", REPO)
    return platforms


@pytest.fixture
def gitlab_env(platforms: Platforms, monkeypatch: pytest.MonkeyPatch) -> Platforms:
    monkeypatch.setenv("GITLAB_TOKEN", TOKEN)
    monkeypatch.setenv("CI_API_V4_URL", platforms.base_url + "/api/v4")
    monkeypatch.setenv("CI_PROJECT_ID", "group/app")
    monkeypatch.setenv("CI_MERGE_REQUEST_IID", "7")
    platforms.gitlab_paths["group/app"] = "42"
    return platforms


# ------------------------------------------------------------------------------------ GitHub
def test_github_creates_the_comment_when_none_carries_the_marker(github_env: Platforms, capsys, tmp_path) -> None:
    thread = github_env.seed_github(REPO, 5, "LGTM", f"quoting it: {MARKER}", plan_body(path="other/repo"))
    rc, out, _ = comment(capsys, tmp_path, plan_body(), "--github", "--pr", "5")
    assert rc == 0
    assert [w.method for w in github_env.writes()] == ["POST"]
    assert len(thread) == 4 and thread[-1]["body"] == plan_body()
    assert [c["body"] for c in thread[:3]] == ["LGTM", f"quoting it: {MARKER}", plan_body(path="other/repo")]
    assert out.startswith(f"created comment {thread[-1]['id']} on GitHub pull request {REPO}#5")
    headers = github_env.seen[0].headers
    assert headers["accept"] == "application/vnd.github+json" and headers["x-github-api-version"] == "2022-11-28"
    assert github_env.seen[0].query["per_page"] == ["100"]


def test_github_updates_in_place_the_marker_comment_on_page_two(github_env: Platforms, capsys, tmp_path) -> None:
    thread = github_env.seed_github(REPO, 5, "first", plan_body(path="other/repo"), "third",
                                    plan_body("**old plan**"), "fifth")
    target = thread[3]["id"]
    rc, out, _ = comment(capsys, tmp_path, plan_body("**2 to change**"), "--github", "--pr", "5")
    assert rc == 0
    writes = github_env.writes()
    assert [(w.method, w.path) for w in writes] == [("PATCH", f"/repos/{REPO}/issues/comments/{target}")]
    assert thread[3]["body"] == plan_body("**2 to change**") and len(thread) == 5
    assert thread[1]["body"] == plan_body(path="other/repo")  # another path's comment is not ours
    assert [s.query.get("page") for s in github_env.seen if s.method == "GET"] == [None, ["2"]]
    assert out.startswith(f"updated comment {target} ")


def test_github_same_body_is_left_alone(github_env: Platforms, capsys, tmp_path) -> None:
    github_env.seed_github(REPO, 5, plan_body())
    rc, out, _ = comment(capsys, tmp_path, plan_body(), "--github", "--pr", "5")
    assert rc == 0 and github_env.writes() == [] and out.startswith("unchanged comment")


def test_github_pr_number_from_the_event_file(github_env: Platforms, capsys, tmp_path, monkeypatch) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"action": "synchronize", "number": 9, "pull_request": {"number": 9}}))
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    github_env.seed_github(REPO, 9)
    rc, _, _ = comment(capsys, tmp_path, plan_body(), "--github")
    assert rc == 0 and [w.path for w in github_env.writes()] == [f"/repos/{REPO}/issues/9/comments"]


def test_github_without_a_pr_number_says_how_to_give_one(github_env: Platforms, capsys, tmp_path) -> None:
    rc, _, err = comment(capsys, tmp_path, plan_body(), "--github")
    assert rc == 1 and "--pr N" in err and github_env.seen == []


def test_github_read_only_token_is_a_403_naming_the_variable(github_env: Platforms, capsys, tmp_path) -> None:
    github_env.seed_github(REPO, 5, "hello")
    github_env.read_only = True
    rc, _, err = comment(capsys, tmp_path, plan_body(), "--github", "--pr", "5")
    assert rc == 1
    assert "GitHub refused the token in GITHUB_TOKEN" in err and "403 Resource not accessible by integration" in err
    assert "pull-requests: write" in err


def test_github_wrong_token_is_a_401_and_is_never_printed(github_env: Platforms, capsys, tmp_path, monkeypatch) -> None:
    github_env.seed_github(REPO, 5)
    monkeypatch.setenv("MY_TOKEN", "ghp_wrongWrongWrong")
    rc, out, err = comment(capsys, tmp_path, plan_body(), "--github", "--pr", "5", "--token-env", "MY_TOKEN")
    assert rc == 1 and "token in MY_TOKEN" in err and "401 Bad credentials" in err
    assert "ghp_wrongWrongWrong" not in out + err
    assert github_env.seen[0].headers["authorization"] == "Bearer ghp_wrongWrongWrong"


def test_github_unknown_repository_or_pr_is_a_404(github_env: Platforms, capsys, tmp_path) -> None:
    github_env.seed_github(REPO, 5)
    rc, _, err = comment(capsys, tmp_path, plan_body(), "--github", "--pr", "6")
    assert rc == 1 and f"repository {REPO} or pull request #6 not found (404 Not Found)" in err
    rc, _, err = comment(capsys, tmp_path, plan_body(), "--github", "--pr", "5", "--repository", "acme/nope")
    assert rc == 1 and "repository acme/nope or pull request #5 not found" in err


def test_github_body_too_long_is_the_422_message(github_env: Platforms, capsys, tmp_path) -> None:
    github_env.seed_github(REPO, 5)
    rc, _, err = comment(capsys, tmp_path, plan_body("x" * 65_536), "--github", "--pr", "5")
    assert rc == 1
    assert "GitHub rejected the comment on acme/gateways#5 (422 Validation Failed: " \
           "Body is too long (maximum is 65536 characters))" in err


def test_github_429_waits_retry_after_then_succeeds(github_env: Platforms, capsys, tmp_path) -> None:
    github_env.seed_github(REPO, 5, "hello")
    github_env.rate_limited = [1, 1]
    started = time.monotonic()
    rc, out, _ = comment(capsys, tmp_path, plan_body(), "--github", "--pr", "5")
    assert rc == 0 and out.startswith("created comment")
    assert time.monotonic() - started >= 2.0  # Retry-After: 1, twice
    assert [s.method for s in github_env.seen] == ["GET", "GET", "GET", "POST"]


def test_github_retry_after_beyond_the_bound_fails_at_once(github_env: Platforms, capsys, tmp_path) -> None:
    github_env.seed_github(REPO, 5)
    github_env.rate_limited = [3600]
    started = time.monotonic()
    rc, _, err = comment(capsys, tmp_path, plan_body(), "--github", "--pr", "5")
    assert rc == 1 and "rate limited; retry after 3600 s" in err
    assert time.monotonic() - started < 5 and len(github_env.seen) == 1


def test_github_a_get_answered_502_is_retried_a_post_is_not(github_env: Platforms, capsys, tmp_path) -> None:
    thread = github_env.seed_github(REPO, 5)
    github_env.failures = [502]  # the list's: a GET is safe to send again
    rc, _, _ = comment(capsys, tmp_path, plan_body(), "--github", "--pr", "5")
    assert rc == 0 and len(thread) == 1
    assert [s.method for s in github_env.seen] == ["GET", "GET", "POST"]
    thread.clear()
    github_env.seen.clear()
    github_env.write_failures = [502]  # the POST's: it may have been written, and a second would duplicate it
    rc, _, err = comment(capsys, tmp_path, plan_body(), "--github", "--pr", "5")
    assert rc == 1 and "answered 502" in err
    assert [s.method for s in github_env.seen] == ["GET", "POST"]


def test_body_without_the_marker_is_refused_before_any_request(github_env: Platforms, capsys, tmp_path) -> None:
    rc, _, err = comment(capsys, tmp_path, "## just text\n", "--github", "--pr", "5")
    assert rc == 1 and "stoa-reconciler marker" in err and github_env.seen == []


def test_body_from_stdin(github_env: Platforms, capsys, monkeypatch) -> None:
    import io

    github_env.seed_github(REPO, 5)
    monkeypatch.setattr("sys.stdin", io.StringIO(plan_body()))
    assert main(["comment", "--github", "--pr", "5", "--body", "-"]) == 0
    assert [w.body for w in github_env.writes()] == [{"body": plan_body()}]


# ------------------------------------------------------------------------------------ GitLab
def test_gitlab_updates_the_marker_note_on_page_two_by_x_next_page(gitlab_env: Platforms, capsys, tmp_path) -> None:
    gitlab_env.gitlab_links = False
    thread = gitlab_env.seed_gitlab("42", 7, "looks fine", plan_body(path="infra"), plan_body("**old**"),
                                    system=("added 1 commit",))
    target = thread[3]["id"]
    rc, out, _ = comment(capsys, tmp_path, plan_body("**new**"), "--gitlab")
    assert rc == 0
    assert [(w.method, w.path) for w in gitlab_env.writes()] == [
        ("PUT", f"/api/v4/projects/group%2Fapp/merge_requests/7/notes/{target}")]
    assert thread[3]["body"] == plan_body("**new**") and thread[2]["body"] == plan_body(path="infra")
    gets = [s for s in gitlab_env.seen if s.method == "GET"]
    assert [g.query.get("page") for g in gets] == [None, ["2"]] and gets[0].query["sort"] == ["asc"]
    assert gets[0].headers["private-token"] == TOKEN
    assert out.startswith(f"updated comment {target} on GitLab merge request group/app!7")


def test_gitlab_creates_the_note_following_link_pages(gitlab_env: Platforms, capsys, tmp_path) -> None:
    thread = gitlab_env.seed_gitlab("42", 7, "a", "b", "c", "d", "e")
    rc, _, _ = comment(capsys, tmp_path, plan_body(), "--gitlab")
    assert rc == 0 and [w.method for w in gitlab_env.writes()] == ["POST"] and thread[-1]["body"] == plan_body()
    assert len([s for s in gitlab_env.seen if s.method == "GET"]) == 3


def test_gitlab_errors_name_the_variables(gitlab_env: Platforms, capsys, tmp_path, monkeypatch) -> None:
    gitlab_env.seed_gitlab("42", 7)
    gitlab_env.read_only = True
    rc, _, err = comment(capsys, tmp_path, plan_body(), "--gitlab")
    assert rc == 1 and "GitLab refused the token in GITLAB_TOKEN" in err and "403 Forbidden" in err
    gitlab_env.read_only = False
    rc, _, err = comment(capsys, tmp_path, plan_body(), "--gitlab", "--pr", "8")
    assert rc == 1 and "merge request !8 not found (404 Merge Request Not Found)" in err
    rc, _, err = comment(capsys, tmp_path, plan_body(), "--gitlab", "--project", "group/other")
    assert rc == 1 and "project group/other" in err and "404 Project Not Found" in err
    rc, _, err = comment(capsys, tmp_path, plan_body("x" * 1_000_000), "--gitlab")
    assert rc == 1 and "GitLab rejected the note on group/app!7 (400" in err and "maximum is 1000000 characters" in err
    monkeypatch.setenv("GITLAB_TOKEN", "glpat-wrong")
    rc, out, err = comment(capsys, tmp_path, plan_body(), "--gitlab")
    assert rc == 1 and "token in GITLAB_TOKEN (401 Unauthorized)" in err and "glpat-wrong" not in out + err


def test_gitlab_falls_back_to_the_job_token(gitlab_env: Platforms, capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("GITLAB_TOKEN")
    monkeypatch.setenv("CI_JOB_TOKEN", "job-token-value")
    gitlab_env.seed_gitlab("42", 7)
    rc, out, err = comment(capsys, tmp_path, plan_body(), "--gitlab")
    assert rc == 1 and "token in CI_JOB_TOKEN" in err and "job-token-value" not in out + err
    assert gitlab_env.seen[0].headers["job-token"] == "job-token-value" and "private-token" not in gitlab_env.seen[0].headers
    target = gitlab.target_from_env({"CI_API_V4_URL": "https://x/api/v4", "CI_PROJECT_ID": "1", "CI_MERGE_REQUEST_IID": "2",
                                     "CI_JOB_TOKEN": "j", "GITLAB_TOKEN": "t"})
    assert target.token_env == "GITLAB_TOKEN"  # a token of our own wins


def test_gitlab_outside_a_merge_request_pipeline(gitlab_env: Platforms, capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("CI_MERGE_REQUEST_IID")
    rc, _, err = comment(capsys, tmp_path, plan_body(), "--gitlab")
    assert rc == 1 and "CI_MERGE_REQUEST_IID" in err and gitlab_env.seen == []
