"""`reconciler import` on Gravitee APIM 4: APIs, plans, rate limits, CORS and applications made in the
console (through the Management API, as the console does), imported and adopted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.emulators.gravitee import GraviteeEmulator
from tests.conftest import run_cli
from tests.importer.roundtrip import gateway_repo, round_trip

pytestmark = pytest.mark.e2e

USER, PASSWORD = "gio-admin", "gio-password-123"
V2 = "/management/v2/organizations/DEFAULT/environments/DEFAULT"
V1 = "/management/organizations/DEFAULT/environments/DEFAULT"
GATEWAY = """\
apiVersion: gostoa.dev/v1alpha1
kind: GatewayInstance
metadata: {name: gravitee-prod}
spec:
  displayName: Gravitee (prod)
  gatewayType: gravitee
  environment: prod
  baseUrl: http://127.0.0.1:1
  credentials: {username: {env: GRAVITEE_USER}, password: {env: GRAVITEE_PASSWORD}}
"""
RATE_FLOW = {"name": "Rate limit", "enabled": True,
             "selectors": [{"type": "HTTP", "path": "/", "pathOperator": "STARTS_WITH"}],
             "request": [{"name": "Rate Limiting", "enabled": True, "policy": "rate-limit",
                          "configuration": {"async": False, "addHeaders": True,
                                            "rate": {"limit": 50, "periodTime": 1, "periodTimeUnit": "MINUTES"}}}],
             "response": []}
HEADER_FLOW = {"name": "Add tracing header", "enabled": True, "selectors": [],
               "request": [{"name": "Transform headers", "enabled": True, "policy": "transform-headers",
                            "configuration": {"addHeaders": [{"name": "X-Trace", "value": "on"}]}}], "response": []}


@pytest.fixture
def gravitee(monkeypatch: pytest.MonkeyPatch) -> Iterator[GraviteeEmulator]:
    monkeypatch.setenv("GRAVITEE_USER", USER)
    monkeypatch.setenv("GRAVITEE_PASSWORD", PASSWORD)
    with GraviteeEmulator(username=USER, password=PASSWORD) as emu:
        yield emu


def client(emu: GraviteeEmulator) -> httpx.Client:
    return httpx.Client(base_url=emu.url, auth=(USER, PASSWORD), timeout=5)


def ok(response: httpx.Response) -> Any:
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


def make_api(c: httpx.Client, name: str, path: str, backend: str, *, cors: dict[str, Any] | None = None,
             plans: list[tuple[str, str, list[dict[str, Any]]]]) -> dict[str, Any]:
    """What the console's "create a V4 proxy API" wizard sends, then plans published, start, deploy."""
    listener: dict[str, Any] = {"type": "HTTP", "paths": [{"path": path}],
                                "entrypoints": [{"type": "http-proxy", "configuration": {}}]}
    if cors is not None:
        listener["cors"] = cors
    api = ok(c.post(f"{V2}/apis", json={
        "name": name, "apiVersion": "2.1", "definitionVersion": "V4", "type": "PROXY", "description": f"{name} (console)",
        "listeners": [listener],
        "endpointGroups": [{"name": "Default HTTP proxy group", "type": "http-proxy", "endpoints": [
            {"name": "Default HTTP proxy", "type": "http-proxy", "weight": 1, "inheritConfiguration": True,
             "configuration": {"target": backend}}]}]}))
    out: dict[str, Any] = {"api": api, "plans": {}}
    for plan_name, security, flows in plans:
        plan = ok(c.post(f"{V2}/apis/{api['id']}/plans", json={
            "definitionVersion": "V4", "name": plan_name, "security": {"type": security, "configuration": {}},
            "mode": "STANDARD", "validation": "AUTO", "characteristics": [], "flows": flows}))
        ok(c.post(f"{V2}/apis/{api['id']}/plans/{plan['id']}/_publish"))
        out["plans"][plan_name] = plan
    ok(c.post(f"{V2}/apis/{api['id']}/_start"))
    ok(c.post(f"{V2}/apis/{api['id']}/deployments", json={"deploymentLabel": "first"}))
    return out


def subscribe(c: httpx.Client, api: dict[str, Any], plan: dict[str, Any], app: dict[str, Any]) -> str:
    """A subscription made in the console: Gravitee generates the key (custom keys are off by default)."""
    sub = ok(c.post(f"{V2}/apis/{api['id']}/subscriptions", json={"planId": plan["id"], "applicationId": app["id"]}))
    keys = ok(c.get(f"{V2}/apis/{api['id']}/subscriptions/{sub['id']}/api-keys"))["data"]
    return str(keys[0]["key"])


def seed(emu: GraviteeEmulator) -> dict[str, str]:
    with client(emu) as c:
        pets = make_api(c, "Pets API", "/pets", "https://pets.example.com/v1",
                        cors={"enabled": True, "allowOrigin": ["https://app.example.com"], "allowMethods": ["GET", "POST"],
                              "allowHeaders": ["X-Request-Id"], "allowCredentials": False, "maxAge": 600},
                        plans=[("Free", "KEY_LESS", [RATE_FLOW]), ("Premium", "API_KEY", [RATE_FLOW, HEADER_FLOW])])
        orders = make_api(c, "Orders API", "/orders", "https://orders.example.com",
                          plans=[("Open access", "KEY_LESS", []), ("API Key", "API_KEY", [])])
        mobile = ok(c.post(f"{V1}/applications", json={"name": "Mobile App", "description": "iOS and Android",
                                                       "settings": {"app": {"type": "mobile"}}}))
        partner = ok(c.post(f"{V1}/applications", json={"name": "Partner Portal", "description": "B2B partner",
                                                        "settings": {"app": {}}}))
        return {"MOBILE_APP_API_KEY": subscribe(c, pets["api"], pets["plans"]["Premium"], mobile),
                "PARTNER_PORTAL_API_KEY": subscribe(c, orders["api"], orders["plans"]["API Key"], partner)}


def test_import_then_adopt_round_trip(tmp_path: Path, gravitee: GraviteeEmulator, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    keys = seed(gravitee)
    for var, key in keys.items():
        monkeypatch.setenv(var, key)
    plans_before = {p["id"]: p["name"] for p in gravitee.env().plans.values()}
    repo = gateway_repo(tmp_path / "repo", GATEWAY)
    endpoints = {"gravitee-prod": gravitee.url}
    report = round_trip(repo, "gravitee-prod", endpoints, capsys, expect={
        ("API", "pets-api"), ("API", "orders-api"), ("Policy", "pets-api-rate-limit"), ("Policy", "pets-api-cors"),
        ("Consumer", "mobile-app"), ("Consumer", "partner-portal")})
    # what the manifest cannot say is in the report
    assert "'Add tracing header' has no manifest form" in report, report
    assert "tenant" in report and "MOBILE_APP_API_KEY" in report
    for key in keys.values():
        assert key not in report
        for path in repo.rglob("*.yaml"):
            assert key not in path.read_text(), path
    pets = (repo / "imported" / "gravitee-prod" / "apis" / "pets-api.yaml").read_text()
    assert "displayName: Pets API" in pets and "basePath: /pets" in pets

    env = gravitee.env()
    # the adoption took the console's plans over: same ids and names, no new plan, the subscriptions kept
    assert {p["id"]: p["name"] for p in env.plans.values()} == plans_before
    assert all(p["status"] == "PUBLISHED" for p in env.plans.values())
    premium = next(p for p in env.plans.values() if p["name"] == "Premium")
    assert [f["name"] for f in premium["flows"]] == ["stoa-policy:pets-api-rate-limit", "Add tracing header"]
    assert premium["flows"][0]["request"][0]["configuration"]["rate"]["limit"] == 50
    assert {s["status"] for s in env.subscriptions.values()} == {"ACCEPTED"}
    assert sorted(k["key"] for k in env.api_keys.values() if not k["revoked"]) == sorted(keys.values())
    mobile = next(a for a in env.apps.values() if a["name"] == "Mobile App")
    assert mobile["description"].startswith("iOS and Android [stoa:")
    assert all(a["state"] == "STARTED" and a["deploymentState"] == "DEPLOYED" for a in env.apis.values())

    gravitee.clear_log()
    assert run_cli("apply", repo, endpoints) == 0
    assert gravitee.writes == []


def test_what_the_manifest_cannot_declare_is_reported(tmp_path: Path, gravitee: GraviteeEmulator,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    with client(gravitee) as c:
        make_api(c, "Legacy", "/legacy", "https://legacy.example.com",
                 plans=[("Gold", "API_KEY", [RATE_FLOW]), ("Open", "KEY_LESS", [])])
        ok(c.post(f"{V1}/applications", json={"name": "Batch job", "description": "OAuth client",
                                              "settings": {"oauth": {"application_type": "backend_to_backend",
                                                                     "grant_types": ["client_credentials"]}}}))
    repo = gateway_repo(tmp_path / "repo", GATEWAY)
    capsys.readouterr()
    assert run_cli("import", repo, {"gravitee-prod": gravitee.url}, "--gateway", "gravitee-prod") == 0
    out = capsys.readouterr().out
    assert "Policy legacy-rate-limit (unowned): it is on plan(s) 'Gold' only" in out, out
    assert "Consumer batch-job (unowned): a BACKEND_TO_BACKEND (OAuth client) application" in out, out
    assert (repo / "imported" / "gravitee-prod" / "apis" / "legacy.yaml").exists()
