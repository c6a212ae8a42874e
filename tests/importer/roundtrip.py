"""The import round trip every gateway type must pass, through the real CLI.

`import` -> `plan --adopt` shows only adoptions with zero field changes -> `apply --adopt` -> `plan`
exits 0 with no change. The caller seeds the gateway by hand first and checks write counts itself
(each emulator logs its own requests)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli

SETTINGS = """\
apiVersion: gostoa.dev/v1alpha1
kind: ReconcilerSettings
spec:
  owner: platform
  prune: true
  maxDeletes: 10
"""


def gateway_repo(root: Path, manifest: str) -> Path:
    """A repo holding only the settings and one GatewayInstance: what a team writes before importing."""
    (root / "gateways").mkdir(parents=True)
    (root / "reconciler.yaml").write_text(SETTINGS)
    (root / "gateways" / "gateway.yaml").write_text(textwrap.dedent(manifest))
    return root


def plan_json(repo: Path, endpoints: dict[str, str], capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, Any]:
    capsys.readouterr()
    code = run_cli("plan", repo, endpoints, "--format", "json", *extra)
    out = capsys.readouterr().out
    assert code == 0, out
    return dict(json.loads(out))


def changes_of(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for g in plan["gateways"] for c in g["changes"] if c["op"] != "no-op"]


def round_trip(repo: Path, gateway: str, endpoints: dict[str, str], capsys: pytest.CaptureFixture[str],
               *, expect: set[tuple[str, str]], import_args: tuple[str, ...] = ()) -> str:
    """Run the round trip; `expect` is the (kind, name) set the import must write. Returns the import's report."""
    capsys.readouterr()
    assert run_cli("import", repo, endpoints, "--gateway", gateway, *import_args) == 0
    report = capsys.readouterr().out
    written = {(p.parent.name, p.stem) for p in (repo / "imported" / gateway).rglob("*.yaml")
               if p.parent.name != "openapi"}
    folders = {"apis": "API", "policies": "Policy", "consumers": "Consumer", "auth-servers": "AuthServer",
               "strategies": "Strategy", "scopes": "Scope", "aliases": "Alias", "gateway-configs": "GatewayConfig"}
    assert {(folders[f], n) for f, n in written} == expect, report

    plan = plan_json(repo, endpoints, capsys, "--adopt")
    changes = changes_of(plan)
    assert {(c["kind"], c["name"]) for c in changes} == expect, changes
    for change in changes:
        assert change["op"] == "update" and change["adopt"], change
        assert change["diffs"] == [], change

    assert run_cli("apply", repo, endpoints, "--adopt") == 0, capsys.readouterr()
    after = plan_json(repo, endpoints, capsys)
    assert changes_of(after) == [], changes_of(after)
    return report
