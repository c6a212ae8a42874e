"""`reconciler import` on STOA: routes, policies and consumer credentials made by hand, then adopted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from reconciler.adapters.stoa.emulator import StoaEmulator
from tests.conftest import free_port, run_cli
from tests.importer.roundtrip import gateway_repo, round_trip

pytestmark = pytest.mark.e2e

TOKEN = "import-admin-token"
KEY = "legacy-mobile-key-42"
GATEWAY = """\
apiVersion: gostoa.dev/v1alpha1
kind: GatewayInstance
metadata: {name: stoa-prod}
spec:
  displayName: STOA (prod)
  gatewayType: stoa
  environment: prod
  baseUrl: http://127.0.0.1:1
  credentials:
    token: {env: STOA_ADMIN_TOKEN}
"""


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[StoaEmulator]:
    monkeypatch.setenv("STOA_ADMIN_TOKEN", TOKEN)
    with StoaEmulator(admin_token=TOKEN) as emu:
        yield emu


def seed(emulator: StoaEmulator) -> None:
    """What an operator creates through the admin API: no owner prefix, no spec hash."""
    with httpx.Client(base_url=emulator.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5) as c:
        for name, path in (("pets", "/pets"), ("orders", "/orders")):
            assert c.post("/admin/apis", json={"id": name, "name": name, "tenant_id": "acme", "path_prefix": path,
                                               "backend_url": f"https://{name}.example.com" + ("/v1" if name == "pets" else ""),
                                               "methods": ["GET", "POST"]}).status_code == 201
        assert c.post("/admin/policies", json={"id": "pets-limit", "name": "pets-limit", "policy_type": "rate_limit",
                                               "config": {"maxRequests": 50, "intervalSeconds": 60}, "priority": 10,
                                               "api_id": "pets"}).status_code in (200, 201)
        for route in ("pets", "orders"):
            assert c.post("/admin/consumer-credentials", json={
                "route_id": route, "consumer_id": "mobile", "auth_type": "api_key",
                "header_name": "X-API-Key", "header_value": KEY}).status_code in (200, 201)


def test_import_then_adopt_round_trip(tmp_path: Path, emulator: StoaEmulator, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    seed(emulator)
    repo = gateway_repo(tmp_path / "repo", GATEWAY)
    monkeypatch.setenv("MOBILE_API_KEY", KEY)
    report = round_trip(repo, "stoa-prod", {"stoa-prod": emulator.url}, capsys,
                        expect={("API", "pets"), ("API", "orders"), ("Policy", "pets-limit"), ("Consumer", "mobile")})
    assert "MOBILE_API_KEY" in report and KEY not in report
    assert "version" in report  # STOA keeps no version: the placeholder is reported
    for path in (repo / "imported").rglob("*.yaml"):
        assert KEY not in path.read_text()
    emulator.clear_log()
    assert run_cli("apply", repo, {"stoa-prod": emulator.url}) == 0
    assert emulator.writes == []


def test_an_unreadable_gateway_writes_nothing(tmp_path: Path, emulator: StoaEmulator,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    repo = gateway_repo(tmp_path / "repo", GATEWAY)
    assert run_cli("import", repo, {"stoa-prod": f"http://127.0.0.1:{free_port()}"}, "--gateway", "stoa-prod") == 1
    assert "cannot read gateway stoa-prod" in capsys.readouterr().err
    assert not (repo / "imported").exists()
    assert run_cli("import", repo, {}, "--gateway", "kong-prod") == 1
    assert "unknown gateway 'kong-prod'" in capsys.readouterr().err


def test_existing_files_are_kept_unless_forced(tmp_path: Path, emulator: StoaEmulator,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    seed(emulator)
    repo = gateway_repo(tmp_path / "repo", GATEWAY)
    endpoints = {"stoa-prod": emulator.url}
    assert run_cli("import", repo, endpoints, "--gateway", "stoa-prod", "--name", "pets") == 0
    edited = repo / "imported" / "stoa-prod" / "apis" / "pets.yaml"
    edited.write_text(edited.read_text().replace("0.0.0", "3.1.0"))
    capsys.readouterr()
    # pets is declared now: a second import skips it and writes the rest
    assert run_cli("import", repo, endpoints, "--gateway", "stoa-prod") == 0
    out = capsys.readouterr().out
    assert "API pets (unowned): already declared in" in out
    assert "3.1.0" in edited.read_text()
    outside = tmp_path / "elsewhere"
    (repo / "imported").rename(tmp_path / "moved")  # nothing declared any more: every object is written
    assert run_cli("import", repo, endpoints, "--gateway", "stoa-prod", "--out", str(outside)) == 0
    assert len(list(outside.rglob("*.yaml"))) == 4
    capsys.readouterr()
    assert run_cli("import", repo, endpoints, "--gateway", "stoa-prod", "--out", str(outside)) == 1
    assert "exists" in capsys.readouterr().err
    assert run_cli("import", repo, endpoints, "--gateway", "stoa-prod", "--out", str(outside), "--force") == 0
