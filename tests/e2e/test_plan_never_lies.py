"""Issue 11, end to end through the CLI against a STOA emulator: a plan that never lies.

An unreadable gateway makes the plan incomplete (never "No changes", exit 1), a stale saved plan is
not "unreachable", lists show their elements, a long PR comment keeps every gateway and every
delete, maxDeletes has honest bounds, and the confirmation prompt reads a piped stdin.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from reconciler.adapters.stoa.emulator import StoaEmulator
from reconciler.cli import main
from reconciler.output.render import MARKDOWN_LIMIT
from tests.conftest import free_port, git

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "e2e-admin-token"
KEYS = {"MOBILE_APP_API_KEY": "mk-0123456789-secret", "PARTNER_PORTAL_API_KEY": "pk-9876543210-secret"}
EXAMPLE_OBJECTS = 7  # examples/repo on stoa-dev: 2 APIs, 3 policies, 2 consumers


@pytest.fixture
def repo(stoa_example_repo: Path) -> Path:
    return stoa_example_repo


def run(*args: str) -> int:
    return main(list(args))


def endpoint(emulator: StoaEmulator) -> list[str]:
    return ["--endpoint", f"stoa-dev={emulator.url}"]


def add_down_gateway(repo: Path) -> list[str]:
    """A second STOA gateway (same labels: pets binds to it too) on a port nothing listens on."""
    second = (repo / "gateways" / "stoa-dev.yaml").read_text().replace("name: stoa-dev", "name: stoa-down")
    (repo / "gateways" / "stoa-down.yaml").write_text(second)
    return ["--endpoint", f"stoa-down=http://127.0.0.1:{free_port()}"]


def drop_every_object(repo: Path) -> None:
    for folder in ("apis", "policies", "consumers"):
        for path in (repo / folder).iterdir():
            path.unlink()


# ------------------------------------------------------------------------------- 1. unreachable
def test_an_unreachable_gateway_is_an_incomplete_plan_in_every_format(stoa: StoaEmulator, repo: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert run("apply", str(repo), *endpoint(stoa), "--auto-approve") == 0  # stoa-dev is now in sync
    down = add_down_gateway(repo)
    capsys.readouterr()
    for extra in ([], ["--detailed-exitcode"]):  # Terraform: an error is 1, never 0 (no changes) or 2
        assert run("plan", str(repo), *endpoint(stoa), *down, *extra) == 1
        out = capsys.readouterr().out
        assert "No changes" not in out
        assert out.rstrip().splitlines()[-2:] == [
            "Plan incomplete: 1 of 2 gateway(s) could not be planned (1 unreachable); their changes are unknown.",
            "The 1 other gateway(s) match the desired state."]
    assert run("plan", str(repo), *down, "--gateway", "stoa-down", "--detailed-exitcode") == 1
    assert capsys.readouterr().out.rstrip().endswith(
        "Plan incomplete: 1 of 1 gateway(s) could not be planned (1 unreachable); their changes are unknown.")

    assert run("plan", str(repo), *endpoint(stoa), *down, "--format", "markdown", "--detailed-exitcode") == 1
    markdown = capsys.readouterr().out
    assert "No changes" not in markdown and "**Plan incomplete:** 1 of 2 gateway(s) could not be planned" in markdown
    assert "### `stoa-down` (stoa): not planned, unreachable" in markdown

    assert run("plan", str(repo), *endpoint(stoa), *down, "--format", "json") == 1
    data = json.loads(capsys.readouterr().out)
    assert data["complete"] is False and data["has_changes"] is False
    assert data["summary"]["failed_gateways"] == 1
    assert {g["name"]: g["error_kind"] for g in data["gateways"]} == {"stoa-dev": None, "stoa-down": "unreachable"}


def test_an_interactive_apply_with_an_unreachable_gateway_still_asks(stoa: StoaEmulator, repo: Path,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    # it would still write to stoa-dev: an incomplete plan is no reason to skip the question
    import reconciler.cli as cli

    asked: list[bool] = []
    monkeypatch.setattr(cli, "_confirm", lambda: asked.append(True) or False)
    assert run("apply", str(repo), *endpoint(stoa), *add_down_gateway(repo)) == 1
    assert asked == [True] and stoa.writes == []
    assert "Plan incomplete" in capsys.readouterr().out


# ------------------------------------------------------------------------------- 2. stale saved plan
def test_a_stale_saved_plan_says_the_gateway_changed_not_that_it_is_unreachable(
        stoa: StoaEmulator, repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    saved = tmp_path / "plan.json"
    assert run("plan", str(repo), *endpoint(stoa), "--out", str(saved)) == 0
    httpx.post(f"{stoa.url}/admin/apis", headers={"Authorization": f"Bearer {TOKEN}"},
               json={"id": "x", "name": "x", "tenant_id": "acme", "path_prefix": "/x",
                     "backend_url": "https://x.example.com", "methods": ["GET"]})  # out of band
    stoa.clear_log()
    capsys.readouterr()
    assert run("apply", str(saved), "--auto-approve", "--repo", str(repo)) == 1
    out = capsys.readouterr().out
    assert stoa.writes == []
    assert "Gateway stoa-dev: FAILED: the live state changed since this plan was made; run plan again" in out
    assert out.rstrip().splitlines()[-1] == ("Apply finished with errors: 0 applied, 0 failed, 0 not attempted, "
                                            "1 gateway(s) changed since the plan (run plan again).")
    assert "unreachable" not in out


def test_a_saved_plan_with_an_unreachable_gateway_counts_it_as_such(stoa: StoaEmulator, repo: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    saved = tmp_path / "plan.json"
    down = add_down_gateway(repo)
    assert run("plan", str(repo), *endpoint(stoa), *down, "--out", str(saved)) == 1
    assert json.loads(saved.read_text())["complete"] is False
    capsys.readouterr()
    assert run("apply", str(saved), "--auto-approve", "--repo", str(repo)) == 1
    last = capsys.readouterr().out.rstrip().splitlines()[-1]
    assert last == f"Apply finished with errors: {EXAMPLE_OBJECTS} applied, 0 failed, 0 not attempted, " \
                   "1 gateway(s) unreachable."
    # nothing left to do on stoa-dev, stoa-down still unknown: applying that saved plan is no success either
    assert run("plan", str(repo), *endpoint(stoa), *down, "--out", str(saved)) == 1
    stoa.clear_log()
    capsys.readouterr()
    assert run("apply", str(saved), "--auto-approve", "--repo", str(repo)) == 1
    assert "Plan incomplete: 1 of 2 gateway(s) could not be planned" in capsys.readouterr().out
    assert stoa.writes == []


# ------------------------------------------------------------------------------- 3. list elements
def test_a_list_change_shows_added_and_removed_elements(stoa: StoaEmulator, repo: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert run("apply", str(repo), *endpoint(stoa), "--auto-approve") == 0
    pets = repo / "apis" / "pets.yaml"
    assert "methods: [GET, POST, DELETE]" in pets.read_text()
    pets.write_text(pets.read_text().replace("methods: [GET, POST, DELETE]", "methods: [GET, PATCH, POST]"))
    capsys.readouterr()
    assert run("plan", str(repo), *endpoint(stoa), "--detailed-exitcode") == 2
    text = capsys.readouterr().out
    # before: `~ methods[0]: "DELETE" -> "GET"` and `~ methods[1]: "GET" -> "PATCH"` (GET never went away)
    assert '  ~ API pets\n      ~ methods:\n          - "DELETE"\n          + "PATCH"\n' in text
    assert "methods[" not in text

    assert run("plan", str(repo), *endpoint(stoa), "--format", "json") == 0
    (change,) = [c for g in json.loads(capsys.readouterr().out)["gateways"] for c in g["changes"] if c["op"] == "update"]
    assert [(d["path"], d.get("element"), d["before"], d["after"]) for d in change["diffs"]] == [
        ("methods", "removed", "DELETE", None), ("methods", "added", None, "PATCH")]

    assert run("plan", str(repo), *endpoint(stoa), "--format", "markdown") == 0
    assert '~ API pets\n~     methods:\n-         "DELETE"\n+         "PATCH"\n' in capsys.readouterr().out


# ------------------------------------------------------------------------------- 4. Markdown comment
def test_a_long_markdown_plan_keeps_every_delete_and_names_the_commit(stoa: StoaEmulator, repo: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert run("apply", str(repo), *endpoint(stoa), "--auto-approve") == 0
    drop_every_object(repo)
    for i in range(600):
        (repo / "apis" / f"bulk-{i}.yaml").write_text(
            f"apiVersion: gostoa.dev/v1alpha1\nkind: API\nmetadata: {{name: bulk-{i}}}\n"
            f"spec: {{tenant: acme, version: '1', basePath: /bulk/{i}, backend: 'https://b.example.com',"
            f" description: '{'x' * 100}', gateways: [stoa-dev]}}\n")
        (repo / "policies" / f"bulk-{i}.yaml").write_text(
            f"apiVersion: gostoa.dev/v1alpha1\nkind: Policy\nmetadata: {{name: bulk-{i}-limit}}\n"
            f"spec: {{api: bulk-{i}, type: rate_limit, rateLimit: {{requests: {i + 1}, period: minute}}}}\n")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "bulk")
    head = git(repo, "rev-parse", "HEAD")
    capsys.readouterr()
    assert run("plan", str(repo), *endpoint(stoa), "--format", "markdown") == 0
    out = capsys.readouterr().out
    assert len(out) <= MARKDOWN_LIMIT + 1  # print's newline
    assert out.startswith(f"<!-- stoa-reconciler plan: {repo} -->\n## stoa-reconciler plan\n\n"
                          f"Repo `{repo}` at commit `{head}`.\n")
    assert "Plan: 1200 to create, 0 to update, 7 to delete." in out
    assert "### `stoa-dev` (stoa): 1200 to create, 0 to update, 7 to delete" in out
    deletes = ["API orders", "API pets", "Policy orders-rate-limit", "Policy pets-cors", "Policy pets-rate-limit",
               "Consumer mobile-app", "Consumer partner-portal"]
    assert all(f"\n- {d}\n" in out for d in deletes), out[:3000]
    assert out.index("- Consumer mobile-app") < out.index("+ API bulk-")  # deletes before the rest
    assert "too long for one comment" in out and "more not shown" in out


def test_markdown_outside_a_git_checkout_has_no_commit(stoa: StoaEmulator, repo: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert not (repo / ".git").exists() and subprocess.run(
        ["git", "-C", str(repo), "rev-parse"], capture_output=True).returncode != 0  # tmp_path is no checkout
    capsys.readouterr()
    assert run("plan", str(repo), *endpoint(stoa), "--format", "markdown") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"<!-- stoa-reconciler plan: {repo} -->" and lines[3] == f"Repo `{repo}`."


# ------------------------------------------------------------------------------- 5. maxDeletes
def set_max_deletes(repo: Path, value: str) -> None:
    settings = repo / "reconciler.yaml"
    text, count = re.subn(r"maxDeletes: \S+ ", f"maxDeletes: {value} ", settings.read_text())
    assert count == 1
    settings.write_text(text)


def test_max_deletes_boundaries(stoa: StoaEmulator, repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("apply", str(repo), *endpoint(stoa), "--auto-approve") == 0
    drop_every_object(repo)  # 7 deletes
    stoa.clear_log()
    capsys.readouterr()
    plan = ["plan", str(repo), *endpoint(stoa), "--detailed-exitcode"]
    assert run(*plan, "--max-deletes", str(EXAMPLE_OBJECTS)) == 2  # exactly N: allowed
    assert run(*plan, "--max-deletes", str(EXAMPLE_OBJECTS - 1)) == 1  # N + 1 deletes: refused
    assert f"the plan deletes 7 objects, more than the limit of {EXAMPLE_OBJECTS - 1}" in capsys.readouterr().out
    assert run(*plan, "--max-deletes", "-1") == 2  # no limit
    for value, code in (("-1", 2), (str(EXAMPLE_OBJECTS), 2), (str(EXAMPLE_OBJECTS - 1), 1)):
        set_max_deletes(repo, value)  # the same bounds from reconciler.yaml
        assert run(*plan) == code, value
    assert run("apply", str(repo), *endpoint(stoa), "--auto-approve") == 1
    assert stoa.writes == []


def test_max_deletes_zero_refuses_a_single_delete(stoa: StoaEmulator, repo: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert run("apply", str(repo), *endpoint(stoa), "--auto-approve") == 0
    (repo / "consumers" / "mobile-app.yaml").write_text(
        "\n---\n".join(d for d in (repo / "consumers" / "mobile-app.yaml").read_text().split("\n---\n")
                       if "partner-portal" not in d))
    stoa.clear_log()
    capsys.readouterr()
    assert run("plan", str(repo), *endpoint(stoa), "--detailed-exitcode") == 2
    assert "Plan: 0 to create, 0 to update, 1 to delete." in capsys.readouterr().out
    assert run("apply", str(repo), *endpoint(stoa), "--auto-approve", "--max-deletes", "0") == 1
    assert "more than the limit of 0" in capsys.readouterr().out
    set_max_deletes(repo, "0")
    assert run("apply", str(repo), *endpoint(stoa), "--auto-approve") == 1
    assert stoa.writes == []


@pytest.mark.parametrize("value", ["-2", "1000001", "2.5", "ten", ""])
def test_absurd_max_deletes_flags_are_usage_errors(value: str, stoa: StoaEmulator, repo: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    # exit 1, not argparse's 2: under --detailed-exitcode, 2 means "changes present"
    with pytest.raises(SystemExit) as exc:
        run("plan", str(repo), *endpoint(stoa), "--detailed-exitcode", "--max-deletes", value)
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert "argument --max-deletes: expects" in err
    assert ("-1 (no limit) or 0 to 1000000" in err) if value in ("-2", "1000001") else ("expects an integer" in err)
    assert stoa.requests == []


@pytest.mark.parametrize(("value", "message"), [
    ("-2", "greater than or equal to -1"), ("1000001", "less than or equal to 1000000"),
    ("2.5", "valid integer"), ("'3'", "valid integer"), ("true", "valid integer"), ("10.0", "valid integer"),
])
def test_absurd_max_deletes_settings_are_validation_errors(value: str, message: str, stoa: StoaEmulator, repo: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    set_max_deletes(repo, value)
    assert run("plan", str(repo), *endpoint(stoa)) == 1
    err = capsys.readouterr().err
    assert "reconciler.yaml:7: spec.maxDeletes: Input should be" in err and message in err
    assert stoa.requests == []


# ------------------------------------------------------------------------------- 6. piped confirmation
def apply_with_stdin(repo: Path, stoa: StoaEmulator, answer: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reconciler", "apply", str(repo), *endpoint(stoa), "--no-color"],
                          input=answer, capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_echo_no_declines_and_writes_nothing(stoa: StoaEmulator, repo: Path) -> None:
    for answer in ("no\n", "yes please\n", ""):  # only "yes" approves; no answer at all declines too
        done = apply_with_stdin(repo, stoa, answer)
        assert done.returncode == 1, done.stderr
        assert "Do you want to apply these changes? Only 'yes' will be accepted:" in done.stdout
        assert "Apply cancelled; nothing was changed." in done.stderr
        assert stoa.writes == []
    assert "no answer on stdin" in done.stderr


def test_echo_yes_applies_like_terraform(stoa: StoaEmulator, repo: Path) -> None:
    done = apply_with_stdin(repo, stoa, "yes\n")
    assert done.returncode == 0, done.stderr
    assert f"Apply complete: {EXAMPLE_OBJECTS} applied, 0 failed, 0 not attempted." in done.stdout
    assert len(stoa.writes) >= EXAMPLE_OBJECTS
    assert all(v not in done.stdout + done.stderr for v in [*KEYS.values(), TOKEN])
    stoa.clear_log()
    again = apply_with_stdin(repo, stoa, "")  # nothing to do: no question asked
    assert again.returncode == 0 and "Do you want" not in again.stdout and stoa.writes == []


def test_echo_yes_applies_a_saved_plan(stoa: StoaEmulator, repo: Path, tmp_path: Path) -> None:
    saved = tmp_path / "plan.json"
    assert run("plan", str(repo), *endpoint(stoa), "--out", str(saved)) == 0
    no = subprocess.run([sys.executable, "-m", "reconciler", "apply", str(saved), "--repo", str(repo)],
                        input="no\n", capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert no.returncode == 1 and "Apply cancelled" in no.stderr and stoa.writes == []
    yes = subprocess.run([sys.executable, "-m", "reconciler", "apply", str(saved), "--repo", str(repo)],
                         input="yes\n", capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert yes.returncode == 0, yes.stderr
    assert run("plan", str(repo), *endpoint(stoa), "--detailed-exitcode") == 0
