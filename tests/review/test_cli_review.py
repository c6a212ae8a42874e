"""The review commands through the CLI against an emulated STOA gateway, on real Git repos:
`plan --base` (this change and drift in their own sections), `--target`, `--changed-since`, `show`, `diff`."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import jsonschema
import pytest

from reconciler.adapters.stoa.emulator import StoaEmulator
from reconciler.cli import main
from tests.conftest import ROOT, free_port, git
from tests.review.conftest import BILLING, commit_all

TOKEN = "review-admin-token"
KEYS = {"MOBILE_APP_API_KEY": "mk-review-0123456789", "PARTNER_PORTAL_API_KEY": "pk-review-9876543210"}
PLAN_SCHEMA = json.loads((ROOT / "schemas" / "plan.schema.json").read_text())


def run(*args: str) -> int:
    return main(list(args))


def endpoint(emulator: StoaEmulator) -> list[str]:
    return ["--endpoint", f"stoa-dev={emulator.url}"]


def edit_by_hand(emulator: StoaEmulator, api: str, backend: str) -> None:
    """Change an API's backend through the gateway's admin API, as an operator would (drift)."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    route = next(r for r in httpx.get(f"{emulator.url}/admin/apis", headers=headers).json() if r["name"] == api)
    response = httpx.post(f"{emulator.url}/admin/apis", headers=headers, json={**route, "backend_url": backend})
    assert response.status_code == 200, response.text


@pytest.fixture
def pr(git_repo: Path, stoa: StoaEmulator, capsys: pytest.CaptureFixture[str]) -> Path:
    """main applied to the gateway; branch `pr` raises a rate limit and adds an API (committed); then the
    pets API's backend is changed by hand on the gateway."""
    assert run("apply", str(git_repo), *endpoint(stoa), "--auto-approve") == 0
    policies = git_repo / "policies" / "pets.yaml"
    policies.write_text(policies.read_text().replace("requests: 20", "requests: 50"))
    (git_repo / "apis" / "billing.yaml").write_text(BILLING)
    commit_all(git_repo, "raise the orders limit, add billing")
    edit_by_hand(stoa, "pets", "https://hand-edited.example.com/v1")
    capsys.readouterr()
    stoa.clear_log()
    return git_repo


def _section(text: str, title: str) -> str:
    start = text.index(f"== {title}:")
    end = text.find("\n== ", start + 1)
    return text[start:] if end < 0 else text[start:end]


def test_plan_base_shows_the_pr_change_and_the_drift_apart_in_text(pr: Path, stoa: StoaEmulator,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert run("plan", str(pr), *endpoint(stoa), "--base", "main", "--detailed-exitcode") == 2
    out = capsys.readouterr().out
    change, drift = _section(out, "This change"), _section(out, "Drift")
    assert "~ Policy orders-rate-limit" in change and "~ config.requests: 20 -> 50" in change
    assert "+ API billing" in change and "API pets" not in change
    assert "~ API pets" in drift and '"https://hand-edited.example.com/v1" -> "https://petstore.example.com/v1"' in drift
    assert "orders-rate-limit" not in drift and "billing" not in drift
    assert "This change: 1 to create, 1 to update, 0 to delete; drift: 0 to create, 1 to update, 0 to delete." in out
    assert stoa.writes == []


def test_plan_base_json_tags_every_change_with_its_section(pr: Path, stoa: StoaEmulator,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert run("plan", str(pr), *endpoint(stoa), "--base", "main", "--format", "json") == 0
    data = json.loads(capsys.readouterr().out)
    jsonschema.validate(data, PLAN_SCHEMA)
    assert data["base"]["ref"] == "main" and data["base"]["commit"] == git(pr, "rev-parse", "main")
    assert data["base"]["touched"] == [
        {"gateway": "stoa-dev", "kind": "API", "name": "billing", "change": "added"},
        {"gateway": "stoa-dev", "kind": "Policy", "name": "orders-rate-limit", "change": "modified"}]
    pending = {(c["kind"], c["name"]): c["section"] for c in data["gateways"][0]["changes"] if c["op"] != "no-op"}
    assert pending == {("API", "billing"): "change", ("Policy", "orders-rate-limit"): "change", ("API", "pets"): "drift"}
    assert data["base"]["summary"]["drift"]["update"] == 1 and data["base"]["summary"]["change"]["create"] == 1


def test_plan_base_markdown_has_a_section_for_each(pr: Path, stoa: StoaEmulator,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert run("plan", str(pr), *endpoint(stoa), "--base", "main", "--format", "markdown") == 0
    out = capsys.readouterr().out
    assert out.startswith(f"<!-- stoa-reconciler plan: {pr} -->\n")
    change, drift = out[out.index("### This change"):out.index("### Drift")], out[out.index("### Drift"):]
    assert "~ Policy orders-rate-limit" in change and "+ API billing" in change and "API pets" not in change
    assert "~ API pets" in drift and "orders-rate-limit" not in drift
    assert "#### `stoa-dev` (stoa): 0 to create, 1 to update, 0 to delete" in drift


def test_without_drift_the_drift_section_says_there_is_none(git_repo: Path, stoa: StoaEmulator,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert run("apply", str(git_repo), *endpoint(stoa), "--auto-approve") == 0
    (git_repo / "apis" / "billing.yaml").write_text(BILLING)  # uncommitted: the working tree is HEAD's side
    capsys.readouterr()
    assert run("plan", str(git_repo), *endpoint(stoa), "--base", "main", "--format", "markdown") == 0
    out = capsys.readouterr().out
    assert "No drift." in out[out.index("### Drift"):] and "+ API billing" in out[:out.index("### Drift")]


def test_an_invalid_manifest_at_the_base_plans_nothing(git_repo: Path, stoa: StoaEmulator,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    git(git_repo, "checkout", "-q", "-b", "broken", "main")
    pets = git_repo / "apis" / "pets.yaml"
    pets.write_text(pets.read_text().replace("backend: https://petstore.example.com/v1", "backend: petstore"))
    commit_all(git_repo, "broken")
    git(git_repo, "checkout", "-q", "pr")
    assert run("plan", str(git_repo), *endpoint(stoa), "--base", "broken") == 1
    captured = capsys.readouterr()
    assert captured.out == "" and stoa.requests == []
    lines = captured.err.splitlines()
    assert lines[0].startswith("error: the manifests at the base ref broken (")
    assert lines[1] == f"error: {git_repo}@broken/apis/pets.yaml:12: spec.backend: not a URL"
    assert run("plan", str(git_repo), *endpoint(stoa), "--base", "no-such-ref") == 1
    assert "unknown Git ref 'no-such-ref'" in capsys.readouterr().err


def test_show_renders_a_saved_plan_with_its_sections(pr: Path, stoa: StoaEmulator, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    saved = tmp_path / "plan.json"
    assert run("plan", str(pr), *endpoint(stoa), "--base", "main", "--out", str(saved)) == 0
    printed = capsys.readouterr().out
    assert run("show", str(saved)) == 0
    shown = capsys.readouterr().out
    assert shown.strip() == printed.split("\n\nSaved the plan to")[0].strip()
    assert run("show", str(saved), "--format", "json") == 0
    assert json.loads(capsys.readouterr().out) == json.loads(saved.read_text())
    assert run("show", str(saved), "--format", "markdown") == 0
    markdown = capsys.readouterr().out
    assert "### This change" in markdown and "~ API pets" in markdown[markdown.index("### Drift"):]
    (tmp_path / "bad.json").write_text('{"format_version": "0"}')
    assert run("show", str(tmp_path / "bad.json")) == 1
    assert "not a saved plan" in capsys.readouterr().err


def test_target_plans_the_object_and_its_dependencies_with_a_warning(pr: Path, stoa: StoaEmulator,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert run("plan", str(pr), *endpoint(stoa), "--target", "Policy/orders-rate-limit", "--verbose",
               "--format", "json") == 0
    data = json.loads(capsys.readouterr().out)
    jsonschema.validate(data, PLAN_SCHEMA)
    assert data["targets"] == ["Policy/orders-rate-limit"]
    assert {(c["kind"], c["name"], c["op"]) for c in data["gateways"][0]["changes"]} == {
        ("Policy", "orders-rate-limit", "update"), ("API", "orders", "no-op")}  # its API, not pets' drift
    assert run("apply", str(pr), *endpoint(stoa), "--target", "Policy/orders-rate-limit", "--auto-approve") == 0
    out = capsys.readouterr().out
    assert out.startswith("Warning: Resource targeting is in effect\n")
    assert "the result of this\nplan may not represent all of the changes" in out
    assert [w.path for w in stoa.writes] == ["/admin/policies"]
    assert run("plan", str(pr), *endpoint(stoa), "--detailed-exitcode") == 2  # the rest is still to do
    rest = capsys.readouterr().out
    assert "+ API billing" in rest and "~ API pets" in rest and "orders-rate-limit" not in rest


def test_target_deletes_only_targets_and_names_an_unknown_one(git_repo: Path, stoa: StoaEmulator,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert run("apply", str(git_repo), *endpoint(stoa), "--auto-approve") == 0
    consumers = git_repo / "consumers" / "mobile-app.yaml"
    consumers.write_text(consumers.read_text().split("---")[0])  # partner-portal removed from Git
    capsys.readouterr()
    assert run("plan", str(git_repo), *endpoint(stoa), "--target", "Consumer/mobile-app", "--detailed-exitcode") == 0
    assert "partner-portal" not in capsys.readouterr().out
    assert run("plan", str(git_repo), *endpoint(stoa), "--target", "Consumer/partner-portal", "--detailed-exitcode") == 2
    assert "- Consumer partner-portal" in capsys.readouterr().out
    assert run("plan", str(git_repo), *endpoint(stoa), "--target", "API/nope") == 1
    assert "Error: --target API/nope: no such object" in capsys.readouterr().out
    with pytest.raises(SystemExit) as usage:  # a usage error: argparse exits, with 1 (2 means "changes")
        run("plan", str(git_repo), *endpoint(stoa), "--target", "Widget/x")
    assert usage.value.code == 1 and "unknown kind 'Widget'" in capsys.readouterr().err


PROD = ("apiVersion: gostoa.dev/v1alpha1\nkind: GatewayInstance\nmetadata: {name: stoa-prod, labels: {env: prod}}\n"
        "spec: {displayName: prod, gatewayType: stoa, environment: prod, baseUrl: 'http://127.0.0.1:1',"
        " credentials: {token: {env: STOA_ADMIN_TOKEN}}}\n---\n"
        "apiVersion: gostoa.dev/v1alpha1\nkind: API\nmetadata: {name: ledger}\n"
        "spec: {tenant: acme, version: '1', basePath: /ledger, backend: 'https://ledger.example.com',"
        " gateways: [stoa-prod]}\n")


def test_changed_since_skips_an_unchanged_gateway_and_says_so(git_repo: Path, stoa: StoaEmulator,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    git(git_repo, "checkout", "-q", "main")
    (git_repo / "gateways" / "stoa-prod.yaml").write_text(PROD)
    main_commit = commit_all(git_repo, "a prod gateway")
    git(git_repo, "checkout", "-q", "-B", "pr")
    (git_repo / "apis" / "billing.yaml").write_text(BILLING)
    dead = ["--endpoint", f"stoa-prod=http://127.0.0.1:{free_port()}"]  # nothing listens: contacting it fails
    capsys.readouterr()
    assert run("plan", str(git_repo), *endpoint(stoa), *dead) == 1  # without the option it is contacted
    capsys.readouterr()
    assert run("plan", str(git_repo), *endpoint(stoa), *dead, "--changed-since", "main", "--detailed-exitcode") == 2
    out = capsys.readouterr().out
    assert f"Skipped gateway stoa-prod: desired state unchanged since main ({main_commit[:12]})" in out
    assert "Gateway stoa-dev (stoa)" in out and "Gateway stoa-prod" not in out
    assert run("plan", str(git_repo), *endpoint(stoa), *dead, "--changed-since", "main", "--format", "json") == 0
    data = json.loads(capsys.readouterr().out)
    jsonschema.validate(data, PLAN_SCHEMA)
    assert list(data["skipped_gateways"]) == ["stoa-prod"] and [g["name"] for g in data["gateways"]] == ["stoa-dev"]
    assert run("apply", str(git_repo), *endpoint(stoa), *dead, "--changed-since", "main", "--auto-approve") == 0
    assert "Skipped gateway stoa-prod" in capsys.readouterr().err


def test_diff_of_two_refs_and_its_exit_codes(git_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("diff", str(git_repo), "--from", "main", "--detailed-exitcode") == 0
    assert "No differences in the desired state." in capsys.readouterr().out
    policies = git_repo / "policies" / "pets.yaml"
    policies.write_text(policies.read_text().replace("requests: 20", "requests: 50"))
    (git_repo / "apis" / "billing.yaml").write_text(BILLING)
    assert run("diff", str(git_repo), "--from", "main") == 0
    assert run("diff", str(git_repo), "--from", "main", "--detailed-exitcode") == 2
    out = capsys.readouterr().out
    assert "~ Policy orders-rate-limit\n      ~ config.requests: 20 -> 50" in out and "+ API billing" in out
    assert "2 object(s) differ: 1 added, 1 changed, 0 removed." in out
    assert run("diff", str(git_repo), "--from", "main", "--to", "pr", "--detailed-exitcode") == 0  # uncommitted
    head = commit_all(git_repo, "pr change")
    capsys.readouterr()
    assert run("diff", str(git_repo), "--from", "main", "--to", "pr", "--format", "json", "--detailed-exitcode") == 2
    data = json.loads(capsys.readouterr().out)
    assert data["to"] == {"ref": "pr", "commit": head} and data["has_changes"]
    assert [(o["change"], o["kind"], o["name"]) for o in data["gateways"][0]["objects"]] == [
        ("added", "API", "billing"), ("changed", "Policy", "orders-rate-limit")]
    assert run("diff", str(git_repo), "--from", "pr", "--to", "main", "--format", "markdown") == 0
    markdown = capsys.readouterr().out
    assert "- API billing" in markdown and "~     config.requests: 50 -> 20" in markdown
    assert run("diff", str(git_repo), "--from", "nope") == 1
    assert "unknown Git ref 'nope'" in capsys.readouterr().err
