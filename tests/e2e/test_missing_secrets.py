"""A plan without production secrets: unknown credentials, the missing secrets listed, apply refused."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from reconciler.adapters.stoa.emulator import StoaEmulator
from reconciler.cli import main
from reconciler.engine.plan import PlanOptions, plan_gateway
from reconciler.model.changes import Op
from reconciler.model.records import UNKNOWN_SECRET, api_key_credential, make_record, secret_fingerprint

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "missing-secrets-admin-token"
KEYS = {"MOBILE_APP_API_KEY": "mk-missing-0123456789", "PARTNER_PORTAL_API_KEY": "pk-missing-9876543210"}
MISSING_LINE = "Consumer mobile-app: environment variable MOBILE_APP_API_KEY is not set"


def cli(stoa: StoaEmulator, command: str, repo: Path, *extra: str) -> int:
    return main([command, str(repo), "--endpoint", f"stoa-dev={stoa.url}", *extra])


# ------------------------------------------------------------------------------------------ engine
def consumer(fingerprint: str, owner: str | None = "platform") -> dict[str, object]:
    return make_record("Consumer", "app", {"subscriptions": ["pets"], "credential": api_key_credential(fingerprint)},
                       owner=owner)


def test_an_unknown_key_against_a_live_consumer_is_an_update_known_after_apply() -> None:
    live = consumer(secret_fingerprint("the-live-key"))
    (change,) = plan_gateway("gw", [consumer(UNKNOWN_SECRET)], [live], PlanOptions(owner="platform"))
    assert change.op is Op.UPDATE
    (diff,) = change.diffs
    assert (diff.path, diff.before, diff.after, diff.sensitive) == (
        "credential.fingerprint", secret_fingerprint("the-live-key"), UNKNOWN_SECRET, True)
    assert any(n.startswith("known after apply: credential.fingerprint") for n in change.notes)


def test_an_unknown_key_of_a_new_consumer_is_a_create_known_after_apply() -> None:
    (change,) = plan_gateway("gw", [consumer(UNKNOWN_SECRET)], [], PlanOptions(owner="platform"))
    assert change.op is Op.CREATE
    assert [d.after for d in change.diffs if d.path == "credential.fingerprint"] == [UNKNOWN_SECRET]
    assert any("known after apply" in n for n in change.notes)


def test_a_known_key_has_no_unknown_note() -> None:
    key = secret_fingerprint("k-1")
    (change,) = plan_gateway("gw", [consumer(key)], [consumer(key)], PlanOptions(owner="platform"))
    assert change.op is Op.NOOP and change.notes == ()


# ------------------------------------------------------------------------------------------ CLI
def test_plan_without_a_consumer_secret_shows_it_unknown_in_every_format(
        stoa: StoaEmulator, stoa_example_repo: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    repo = stoa_example_repo
    monkeypatch.delenv("MOBILE_APP_API_KEY")
    capsys.readouterr()
    assert cli(stoa, "plan", repo) == 0
    text = capsys.readouterr().out
    assert f"Missing secret: {MISSING_LINE}" in text
    assert f"      + credential.fingerprint = {UNKNOWN_SECRET}" in text
    assert "# known after apply: credential.fingerprint" in text

    assert cli(stoa, "plan", repo, "--format", "json") == 0
    data = json.loads(capsys.readouterr().out)
    jsonschema.validate(data, json.loads((ROOT / "schemas" / "plan.schema.json").read_text()))
    assert data["missing_secrets"] == [MISSING_LINE]
    mobile = [c for g in data["gateways"] for c in g["changes"] if c["name"] == "mobile-app"]
    assert mobile and mobile[0]["desired"]["spec"]["credential"]["fingerprint"] == UNKNOWN_SECRET
    assert {"path": "credential.fingerprint", "before": "(sensitive)", "after": UNKNOWN_SECRET,
            "sensitive": True} in mobile[0]["diffs"]
    partner = [c for g in data["gateways"] for c in g["changes"] if c["name"] == "partner-portal"]
    assert partner[0]["desired"]["spec"]["credential"]["fingerprint"] == "(sensitive)"  # known: still masked

    assert cli(stoa, "plan", repo, "--format", "markdown") == 0
    assert f"> :warning: **Missing secret:** {MISSING_LINE}" in capsys.readouterr().out
    assert stoa.writes == []


def test_plan_against_a_live_consumer_shows_an_unknown_update(stoa: StoaEmulator, stoa_example_repo: Path,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    repo = stoa_example_repo
    assert cli(stoa, "apply", repo, "--auto-approve") == 0
    monkeypatch.delenv("MOBILE_APP_API_KEY")
    capsys.readouterr()
    assert cli(stoa, "plan", repo, "--detailed-exitcode") == 2  # Terraform: an unknown value is a planned change
    out = capsys.readouterr().out
    assert "  ~ Consumer mobile-app" in out
    assert f"      ~ credential.fingerprint: (sensitive) -> {UNKNOWN_SECRET}" in out
    assert "Plan: 0 to create, 1 to update, 0 to delete." in out
    assert "partner-portal" not in out  # its key is known and unchanged


def test_apply_without_a_consumer_secret_refuses_before_any_request(stoa: StoaEmulator, stoa_example_repo: Path,
                                                                     monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("MOBILE_APP_API_KEY")
    capsys.readouterr()
    assert cli(stoa, "apply", stoa_example_repo, "--auto-approve") == 1
    err = capsys.readouterr().err
    assert (f"error: {stoa_example_repo}/consumers/mobile-app.yaml:1: spec.credential.secretRef: "
            "environment variable MOBILE_APP_API_KEY is not set") in err
    assert stoa.requests == []


def test_a_saved_plan_made_without_secrets_is_refused(stoa: StoaEmulator, stoa_example_repo: Path,
                                                      monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    saved = tmp_path / "plan.json"
    monkeypatch.delenv("MOBILE_APP_API_KEY")
    assert cli(stoa, "plan", stoa_example_repo, "--out", str(saved)) == 0
    assert json.loads(saved.read_text())["missing_secrets"] == [MISSING_LINE]
    monkeypatch.setenv("MOBILE_APP_API_KEY", KEYS["MOBILE_APP_API_KEY"])  # even with the secret back
    capsys.readouterr()
    assert main(["apply", str(saved), "--auto-approve", "--repo", str(stoa_example_repo)]) == 1
    out = capsys.readouterr()
    assert "error: the plan was made without 1 secret(s)" in out.err and "Nothing was applied." in out.err
    assert f"Missing secret: {MISSING_LINE}" in out.out  # the plan shown before
    assert stoa.writes == []


def test_a_missing_gateway_credential_is_that_gateways_error(stoa: StoaEmulator, stoa_example_repo: Path,
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    other = (stoa_example_repo / "gateways" / "stoa-dev.yaml").read_text()
    (stoa_example_repo / "gateways" / "stoa-two.yaml").write_text(
        other.replace("name: stoa-dev", "name: stoa-two").replace("STOA_ADMIN_TOKEN", "STOA_TWO_TOKEN"))
    capsys.readouterr()
    assert cli(stoa, "plan", stoa_example_repo, "--endpoint", f"stoa-two={stoa.url}") == 1
    out = capsys.readouterr().out
    assert "Gateway stoa-two (stoa)\n  error: cannot configure gateway: environment variable STOA_TWO_TOKEN is not set" \
        in out
    assert "Gateway stoa-dev (stoa)\n  + API orders" in out  # the other gateway is planned
    assert "Missing secret" not in out


def test_a_key_file_that_does_not_exist_yet_is_a_missing_secret_for_plan(
        stoa: StoaEmulator, stoa_example_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    consumers = stoa_example_repo / "consumers" / "mobile-app.yaml"
    consumers.write_text(consumers.read_text().replace("{env: PARTNER_PORTAL_API_KEY}", "{file: keys/partner}"))
    capsys.readouterr()
    assert cli(stoa, "plan", stoa_example_repo) == 0
    assert "Missing secret: Consumer partner-portal: secret file keys/partner cannot be read" in capsys.readouterr().out
    (stoa_example_repo / "keys").mkdir()
    (stoa_example_repo / "keys" / "partner").write_text("pk-from-a-file-0123456789\n")
    assert cli(stoa, "apply", stoa_example_repo, "--auto-approve") == 0
    assert "pk-from-a-file-0123456789" in str([r.body for r in stoa.writes])  # read, trimmed, sent at apply
    assert "Missing secret" not in capsys.readouterr().out
