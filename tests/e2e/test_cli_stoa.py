"""End to end through the CLI against STOA gateway emulators over HTTP (examples/repo and variants)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from reconciler.adapters.stoa.emulator import StoaEmulator
from reconciler.cli import main
from reconciler.output.render import MARKDOWN_LIMIT

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "e2e-admin-token"
KEYS = {"MOBILE_APP_API_KEY": "mk-0123456789-secret", "PARTNER_PORTAL_API_KEY": "pk-9876543210-secret"}


@pytest.fixture
def repo(stoa_example_repo: Path) -> Path:
    return stoa_example_repo  # other gateways' emulators have their own tests


def run(*args: str) -> int:
    return main(list(args))


def endpoint(emulator: StoaEmulator) -> list[str]:
    return ["--endpoint", f"stoa-dev={emulator.url}"]


def test_apply_then_plan_is_empty_and_second_apply_sends_no_writes(stoa: StoaEmulator, repo: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert run("plan", str(repo), *endpoint(stoa), "--detailed-exitcode") == 2
    assert run("apply", str(repo), *endpoint(stoa), "--auto-approve") == 0
    assert len(stoa.writes) > 0
    stoa.clear_log()
    assert run("plan", str(repo), *endpoint(stoa), "--detailed-exitcode") == 0
    assert run("apply", str(repo), *endpoint(stoa), "--auto-approve") == 0
    assert stoa.writes == []
    out = capsys.readouterr().out
    assert "No changes." in out
    assert all(v not in out for v in [*KEYS.values(), TOKEN])


def test_json_plan_matches_its_schema_and_hides_secrets(stoa: StoaEmulator, repo: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert run("plan", str(repo), *endpoint(stoa), "--format", "json") == 0
    out = capsys.readouterr().out
    data = json.loads(out)
    schema = json.loads((ROOT / "schemas" / "plan.schema.json").read_text())
    jsonschema.validate(data, schema)
    assert data["summary"]["create"] == 7 and data["has_changes"]
    assert all(v not in out for v in [*KEYS.values(), TOKEN])
    assert "sha256:" not in json.dumps([c["desired"] for g in data["gateways"] for c in g["changes"]
                                        if c["kind"] == "Consumer"])


def test_markdown_plan_stays_under_the_comment_limit(stoa: StoaEmulator, repo: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    for i in range(400):
        (repo / "apis" / f"bulk-{i}.yaml").write_text(
            f"apiVersion: gostoa.dev/v1alpha1\nkind: API\nmetadata: {{name: bulk-{i}}}\n"
            f"spec: {{tenant: acme, version: '1', basePath: /bulk/{i}, backend: 'https://b.example.com',"
            f" description: '{'x' * 100}', gateways: [stoa-dev]}}\n")
    capsys.readouterr()
    assert run("plan", str(repo), *endpoint(stoa), "--format", "markdown") == 0
    out = capsys.readouterr().out
    assert len(out) <= MARKDOWN_LIMIT + 1
    assert "too long for one comment" in out and "| `stoa-dev` | stoa | 407 |" in out


def test_one_invalid_manifest_applies_nothing(stoa: StoaEmulator, repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pets = repo / "apis" / "pets.yaml"
    pets.write_text(pets.read_text().replace("backend: https://petstore.example.com/v1", "backend: petstore"))
    assert run("apply", str(repo), *endpoint(stoa), "--auto-approve") == 1
    err = capsys.readouterr().err
    assert err.splitlines()[0] == f"error: {repo}/apis/pets.yaml:12: spec.backend: not a URL"
    assert "1 error(s); nothing was planned or applied." in err  # no cascade of "unknown API 'pets'"
    assert stoa.requests == []


def test_saved_plan_applies_and_refuses_when_live_state_changed(stoa: StoaEmulator, repo: Path, tmp_path: Path) -> None:
    saved = tmp_path / "plan.json"
    assert run("plan", str(repo), *endpoint(stoa), "--out", str(saved)) == 0
    assert all(v not in saved.read_text() for v in [*KEYS.values(), TOKEN])
    assert run("apply", str(saved), "--auto-approve", "--repo", str(repo)) == 0
    assert run("plan", str(repo), *endpoint(stoa), "--detailed-exitcode") == 0
    # a new plan, then someone changes the gateway: the stale plan is refused and nothing is written
    (repo / "apis" / "orders.yaml").write_text((repo / "apis" / "orders.yaml").read_text().replace("2.1.0", "2.2.0"))
    assert run("plan", str(repo), *endpoint(stoa), "--out", str(saved)) == 0
    stoa.clear_log()
    import httpx
    httpx.delete(f"{stoa.url}/admin/apis/platform.pets", headers={"Authorization": f"Bearer {TOKEN}"})
    assert run("apply", str(saved), "--auto-approve") == 1
    assert len(stoa.writes) == 1  # only the out-of-band delete


def test_unreachable_gateway_does_not_block_another(stoa: StoaEmulator, repo: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    second = (repo / "gateways" / "stoa-dev.yaml").read_text().replace("name: stoa-dev", "name: stoa-down")
    (repo / "gateways" / "stoa-down.yaml").write_text(second)  # same labels: pets binds to both
    code = run("apply", str(repo), *endpoint(stoa), "--endpoint", "stoa-down=http://127.0.0.1:9", "--auto-approve")
    assert code == 1
    out = capsys.readouterr().out
    assert "Gateway stoa-down: FAILED: cannot read gateway" in out
    assert run("plan", str(repo), *endpoint(stoa), "--gateway", "stoa-dev", "--detailed-exitcode") == 0


def test_deletes_above_the_limit_abort_unless_allowed(stoa: StoaEmulator, repo: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert run("apply", str(repo), *endpoint(stoa), "--auto-approve") == 0
    for path in [*(repo / "apis").iterdir(), *(repo / "policies").iterdir(), *(repo / "consumers").iterdir()]:
        path.unlink()
    stoa.clear_log()
    assert run("apply", str(repo), *endpoint(stoa), "--auto-approve", "--max-deletes", "3") == 1
    assert "more than the limit of 3" in capsys.readouterr().out
    assert stoa.writes == []
    assert run("apply", str(repo), *endpoint(stoa), "--auto-approve", "--max-deletes", "-1") == 0
    assert run("plan", str(repo), *endpoint(stoa), "--detailed-exitcode") == 0


def test_unowned_route_is_a_conflict_until_adopted(stoa: StoaEmulator, repo: Path) -> None:
    import httpx
    httpx.post(f"{stoa.url}/admin/apis", headers={"Authorization": f"Bearer {TOKEN}"},
               json={"id": "orders", "name": "orders", "tenant_id": "acme", "path_prefix": "/orders",
                     "backend_url": "https://legacy.example.com", "methods": ["GET"]})
    assert run("apply", str(repo), *endpoint(stoa), "--auto-approve") == 1  # conflict reported
    routes = httpx.get(f"{stoa.url}/admin/apis", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    legacy = [r for r in routes if r["id"] == "orders"]
    assert legacy and legacy[0]["backend_url"] == "https://legacy.example.com"


def test_validate_and_schema_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("validate", str(ROOT / "examples" / "repo")) == 0
    assert "valid" in capsys.readouterr().out
    assert run("schema", "API") == 0
    assert json.loads(capsys.readouterr().out)["properties"]["kind"]["const"] == "API"


def test_export_is_refused_clearly_for_a_gateway_that_cannot(stoa: StoaEmulator, repo: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert run("export", str(repo), "--gateway", "stoa-dev", "-o", str(tmp_path / "b.zip"), *endpoint(stoa)) == 1
    assert "cannot export an archive: Not supported by stoa" in capsys.readouterr().err


def test_interactive_apply_applies_exactly_what_was_approved(stoa: StoaEmulator, repo: Path,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    import reconciler.cli as cli

    monkeypatch.setattr(cli, "_confirm", lambda: False)
    assert run("apply", str(repo), *endpoint(stoa)) == 1
    assert stoa.writes == [] and "Apply cancelled" in capsys.readouterr().err
    monkeypatch.setattr(cli, "_confirm", lambda: True)
    assert run("apply", str(repo), *endpoint(stoa)) == 0
    assert run("plan", str(repo), *endpoint(stoa), "--detailed-exitcode") == 0


def test_apply_without_a_terminal_needs_auto_approve(stoa: StoaEmulator, repo: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert run("apply", str(repo), *endpoint(stoa)) == 1  # pytest's stdin is not a tty
    assert "pass --auto-approve" in capsys.readouterr().err
    assert stoa.writes == []


def test_an_ignore_rule_holds_for_a_field_the_gateway_keeps_only_as_a_hash(
        stoa: StoaEmulator, repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """STOA keeps version/displayName/description only as hashes in `spec_hash`: an ignore rule on
    `spec.description` must hide a description change, and nothing else."""
    assert run("apply", str(repo), *endpoint(stoa), "--auto-approve") == 0
    assert "fields: [spec.description]" in (repo / "reconciler.yaml").read_text()  # the example's ignore rule
    pets = repo / "apis" / "pets.yaml"
    pets.write_text(pets.read_text().replace("  displayName: Pet store\n",
                                             "  displayName: Pet store\n  description: changed out of band\n"))
    capsys.readouterr()
    assert run("plan", str(repo), *endpoint(stoa), "--detailed-exitcode") == 0
    pets.write_text(pets.read_text().replace('version: "1.0.0"', 'version: "1.0.1"'))
    assert run("plan", str(repo), *endpoint(stoa), "--detailed-exitcode", "--no-color") == 2
    out = capsys.readouterr().out
    assert "specHash.version" in out and "specHash.description" not in out
