"""The CI examples (examples/ci) are valid YAML of the right shape and call only commands and options that exist.

Every `reconciler ...` command line of a GitHub `run:` step or a GitLab `script:` entry is cut at its first
shell operator (pipe, redirection, `||`, `;`), parsed by the CLI's own parser with no unknown argument
left over, and run through the CLI with `--help` appended: exit 0.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.cli import build_parser, main

CI = Path(__file__).resolve().parents[2] / "examples" / "ci"
GITHUB = sorted((CI / "github-actions").glob("*.yml"))
GITLAB = CI / "gitlab-ci.yml"
OPERATORS = set("();<>|&")


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), path
    return data


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    """`on:` (YAML 1.1, PyYAML's dialect, reads the bare key as True)."""
    on = workflow.get("on", workflow.get(True))
    assert isinstance(on, dict), "a workflow needs on:"
    return on


def scripts(path: Path) -> Iterator[str]:
    data = load(path)
    if path == GITLAB:
        for job in data.values():
            if isinstance(job, dict):
                for key in ("before_script", "script", "after_script"):
                    yield from job.get(key, [])
        return
    for job in data["jobs"].values():
        for step in job["steps"]:
            if "run" in step:
                yield step["run"]


def commands(script: str) -> Iterator[list[str]]:
    """Each `reconciler` command of a shell script, as argv without the program name."""
    lexer = shlex.shlex(script.replace("\\\n", " "), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    tokens = list(lexer)
    for i, token in enumerate(tokens):
        if token == "reconciler":
            argv = []
            for word in tokens[i + 1:]:
                if set(word) <= OPERATORS:
                    break
                argv.append(word)
            yield argv


def problems(argv: list[str]) -> list[str]:
    """Why the CLI would not take `argv`: unknown arguments, a usage error; [] when it would."""
    try:
        _, unknown = build_parser().parse_known_args(argv)
    except SystemExit as exc:
        return [f"usage error (exit {exc.code})"]
    return [f"unknown argument {word!r}" for word in unknown]


def every_command() -> list[tuple[str, list[str]]]:
    found = [(f"{path.name}: reconciler {' '.join(argv)}", argv)
             for path in [*GITHUB, GITLAB] for script in scripts(path) for argv in commands(script)]
    assert len(found) >= 5
    return found


@pytest.mark.parametrize(("where", "argv"), every_command(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_reconciler_command_exists(where: str, argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert problems(argv) == [], where
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--help"])
    assert exc.value.code == 0, where
    assert "usage: reconciler " + argv[0] in capsys.readouterr().out


def test_the_checker_catches_what_does_not_exist() -> None:
    assert problems(["plan", "repo", "--no-such-option"]) == ["unknown argument '--no-such-option'"]
    assert problems(["comment", "--github", "--pull", "3"]) != []
    assert problems(["nosuchcommand"]) == ["usage error (exit 1)"]
    assert list(commands('x=1\nreconciler plan "$R" --out p.json > plan.md || rc=$?\necho reconciler')) == [
        ["plan", "$R", "--out", "p.json"], []]


def test_github_workflows_have_their_shape() -> None:
    plan, apply = (load(CI / "github-actions" / name) for name in ("plan.yml", "apply.yml"))
    assert "pull_request" in triggers(plan) and triggers(apply)["push"]["branches"] == ["main"]
    for workflow in (plan, apply):
        assert workflow["jobs"]
        for job in workflow["jobs"].values():
            assert job["runs-on"] and job["steps"] and all("run" in s or "uses" in s for s in job["steps"])
            assert "environment" in job and "matrix.environment" in job["concurrency"]["group"]
    assert plan["permissions"]["pull-requests"] == "write"
    checkout = next(s for s in plan["jobs"]["plan"]["steps"] if s.get("uses", "").startswith("actions/checkout"))
    assert checkout["with"]["fetch-depth"] == 0
    assert apply["jobs"]["apply"]["concurrency"]["cancel-in-progress"] is False
    plan_runs = "\n".join(scripts(CI / "github-actions" / "plan.yml"))
    assert "--detailed-exitcode" in plan_runs and "reconciler comment --github" in plan_runs
    assert any(s.get("uses", "").startswith("actions/upload-artifact") for s in plan["jobs"]["plan"]["steps"])
    assert "reconciler apply saved-plan/plan.json" in "\n".join(scripts(CI / "github-actions" / "apply.yml"))


def test_gitlab_pipeline_has_its_shape() -> None:
    data = load(GITLAB)
    jobs = {name: job for name, job in data.items() if isinstance(job, dict) and "script" in job}
    assert set(jobs) == {"plan", "apply"} and all(job["stage"] in data["stages"] for job in jobs.values())
    assert jobs["plan"]["rules"][0]["if"] == '$CI_PIPELINE_SOURCE == "merge_request_event"'
    assert "plan.json" in jobs["plan"]["artifacts"]["paths"] and jobs["apply"]["resource_group"]
    assert any("reconciler comment --gitlab" in line for line in jobs["plan"]["script"])


@pytest.mark.parametrize("path", [*GITHUB, GITLAB], ids=lambda p: p.name)
def test_secrets_reach_steps_as_environment_variables_only(path: Path) -> None:
    for script in scripts(path):
        assert "secrets." not in script and "${{" not in script, f"{path.name}: interpolate through env:, not in run:"
        assert not any(word.startswith("echo") and "TOKEN" in line
                       for line in script.splitlines() for word in line.split()[:1]), path.name
