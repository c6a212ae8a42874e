"""End to end through `reconciler.cli.main` against the webMethods emulator over HTTP."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from reconciler.cli import main
from reconciler.emulators.webmethods import WebMethodsEmulator
from tests.conftest import run_cli
from tests.webmethods.helpers import OPENAPI_31

pytestmark = pytest.mark.e2e

USER, PASSWORD = "gitops", "wm-admin-pass-42"
MOBILE_KEY = "mobile-key-0123456789"
KC_SECRET = "kc-client-secret-123"

REPO = """\
apiVersion: gostoa.dev/v1alpha1
kind: ReconcilerSettings
spec: {owner: platform, prune: true, maxDeletes: 20}
---
apiVersion: gostoa.dev/v1alpha1
kind: GatewayInstance
metadata: {name: wm-dev, labels: {env: dev}}
spec:
  displayName: webMethods dev
  gatewayType: webmethods
  environment: dev
  baseUrl: "http://127.0.0.1:1"
  credentials: {username: {env: WM_USER}, password: {env: WM_PASSWORD}}
  options: {consumerKeys: gateway-generated}
---
apiVersion: gostoa.dev/v1alpha1
kind: API
metadata: {name: pets}
spec: {tenant: acme, version: "1.0.0", basePath: /pets, backend: "https://pets.example.com/v1",
       methods: [GET, POST], gateways: [wm-dev]}
---
apiVersion: gostoa.dev/v1alpha1
kind: API
metadata: {name: orders}
spec: {tenant: acme, version: "2.0.0", basePath: /orders, backend: "https://orders.example.com",
       openapi: orders.json, gateways: [wm-dev]}
---
apiVersion: gostoa.dev/v1alpha1
kind: Policy
metadata: {name: pets-rate}
spec: {api: pets, type: rate_limit, rateLimit: {requests: 100, period: minute}}
---
apiVersion: gostoa.dev/v1alpha1
kind: Policy
metadata: {name: pets-cors}
spec: {api: pets, type: cors, cors: {origins: ["https://app.example.com"], methods: [GET], maxAge: 600}}
---
apiVersion: gostoa.dev/v1alpha1
kind: Consumer
metadata: {name: mobile-app}
spec: {displayName: Mobile app, credential: {type: apiKey, secretRef: {env: MOBILE_KEY}}, subscriptions: [pets]}
---
apiVersion: gostoa.dev/v1alpha1
kind: AuthServer
metadata: {name: keycloak}
spec:
  discoveryURL: https://kc.example.com/realms/acme/.well-known/openid-configuration
  introspectionURL: https://kc.example.com/realms/acme/introspect
  clientId: gateway
  clientSecret: {env: KC_SECRET}
  scopes: [{name: "pets:read"}]
  gatewaySelector: {matchLabels: {env: dev}}
---
apiVersion: gostoa.dev/v1alpha1
kind: Strategy
metadata: {name: keycloak-oauth}
spec: {authServer: keycloak, clientId: pets-app, gateways: [wm-dev]}
---
apiVersion: gostoa.dev/v1alpha1
kind: Scope
metadata: {name: pets-read}
spec: {apis: [pets], requiredAuthScopes: [{authServer: keycloak, scope: "pets:read"}], gateways: [wm-dev]}
---
apiVersion: gostoa.dev/v1alpha1
kind: Alias
metadata: {name: pets-backend}
spec: {type: endpoint, endpointUri: "https://pets.example.com", readTimeout: 30, gateways: [wm-dev]}
---
apiVersion: gostoa.dev/v1alpha1
kind: GatewayConfig
metadata: {name: error-processing}
spec:
  key: errorProcessing
  value: {sendNativeProviderFault: "true"}
  gateways: [wm-dev]
"""


@pytest.fixture
def emulator() -> Iterator[WebMethodsEmulator]:
    with WebMethodsEmulator(username=USER, password=PASSWORD) as emu:
        assert isinstance(emu, WebMethodsEmulator)
        yield emu


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WM_USER", USER)
    monkeypatch.setenv("WM_PASSWORD", PASSWORD)
    monkeypatch.setenv("MOBILE_KEY", MOBILE_KEY)
    monkeypatch.setenv("KC_SECRET", KC_SECRET)
    root = tmp_path / "repo"
    root.mkdir()
    (root / "all.yaml").write_text(REPO)
    (root / "orders.json").write_text(json.dumps(OPENAPI_31))
    return root


def run(command: str, repo: Path, emulator: WebMethodsEmulator, *extra: str) -> int:
    return run_cli(command, repo, {"wm-dev": emulator.url}, *extra)


def admin(emulator: WebMethodsEmulator) -> httpx.Client:
    return httpx.Client(base_url=emulator.url + "/rest/apigateway", auth=(USER, PASSWORD), timeout=5)


def test_apply_all_kinds_then_zero_writes(repo: Path, emulator: WebMethodsEmulator,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert run("apply", repo, emulator) == 0
    assert {a["apiName"] for a in emulator.apis.values()} == {"pets", "orders"}
    assert all(a["isActive"] for a in emulator.apis.values())
    assert {a["name"] for a in emulator.aliases.values()} == {
        "keycloak", "pets-backend", "stoa-reconciler.platform.configurations"}
    keycloak = next(a for a in emulator.aliases.values() if a["name"] == "keycloak")
    assert keycloak["remoteIntrospectionConfig"]["clientSecret"] == {"secret": KC_SECRET}
    assert [s["name"] for s in emulator.strategies.values()] == ["keycloak-oauth"]
    assert [s["scopeName"] for s in emulator.scopes.values()] == ["pets-read"]
    assert emulator.configurations["errorProcessing"] == {"sendNativeProviderFault": "true"}
    out = capsys.readouterr()
    assert MOBILE_KEY not in out.out + out.err and KC_SECRET not in out.out + out.err
    assert PASSWORD not in out.out + out.err

    emulator.clear_log()
    assert run("plan", repo, emulator, "--detailed-exitcode") == 0
    assert run("apply", repo, emulator) == 0
    assert emulator.writes == []
    # webMethods generates the key: the declared one never reaches the gateway
    assert not any(MOBILE_KEY.encode() in r.body for r in emulator.requests)


def test_a_consumer_key_webmethods_cannot_take_is_a_located_validation_error(
        repo: Path, emulator: WebMethodsEmulator, capsys: pytest.CaptureFixture[str]) -> None:
    text = (repo / "all.yaml").read_text()
    (repo / "all.yaml").write_text(text.replace("  options: {consumerKeys: gateway-generated}\n", ""))
    line = 1 + text.replace("  options: {consumerKeys: gateway-generated}\n", "").split(
        "kind: Consumer\nmetadata: {name: mobile-app}")[0].count("\n") - 1
    for command in ("validate", "plan", "apply"):
        capsys.readouterr()
        code = main(["validate", str(repo)]) if command == "validate" else run(command, repo, emulator)
        assert code == 1
        err = capsys.readouterr()
        text_out = err.out + err.err
        assert f"all.yaml:{line}: spec.credential: gateway wm-dev (webmethods): webmethods generates each " \
               "application's API key itself" in text_out, text_out
        assert "options.consumerKeys: gateway-generated" in text_out
    assert emulator.writes == []


def test_openapi_31_lands_as_303(repo: Path, emulator: WebMethodsEmulator) -> None:
    assert run("apply", repo, emulator) == 0
    orders = next(a for a in emulator.apis.values() if a["apiName"] == "orders")
    assert orders["apiDefinition"]["openapi"] == "3.0.3"
    assert "webhooks" not in orders["apiDefinition"]


def test_drift_on_each_kind_then_repair(repo: Path, emulator: WebMethodsEmulator,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert run("apply", repo, emulator) == 0
    with admin(emulator) as http:
        pets = next(a for a in emulator.apis.values() if a["apiName"] == "pets")
        assert http.put(f"/apis/{pets['id']}/deactivate").status_code == 200
        cors = next(a for a in emulator.policy_actions.values() if a["templateKey"] == "corsPolicy")
        changed = json.loads(json.dumps(cors))
        changed["parameters"][5]["values"] = ["1"]
        assert http.put(f"/policyActions/{cors['id']}", json={"policyAction": changed}).status_code == 200
        app = next(iter(emulator.applications.values()))
        assert http.put(f"/applications/{app['id']}", json={**app, "contactEmails": [],
                                                            "description": app["description"].replace("Mobile app",
                                                                                                      "Hacked")}
                        ).status_code == 200
        scope = next(iter(emulator.scopes.values()))
        assert http.put(f"/scopes/{scope['id']}", json={**scope, "apiScopes": []}).status_code == 200
        strategy = next(iter(emulator.strategies.values()))
        assert http.put(f"/strategies/{strategy['id']}", json={**strategy, "clientId": "x"}).status_code == 200
        for alias in list(emulator.aliases.values()):
            if alias["name"] == "pets-backend":
                assert http.put(f"/alias/{alias['id']}", json={**alias, "readTimeout": 1}).status_code == 200
            if alias["name"] == "keycloak":
                assert http.put(f"/alias/{alias['id']}", json={**alias, "clientId": "x",
                                                               "discoveryURL": "https://evil"}).status_code == 200
        assert http.put("/configurations/errorProcessing", json={"sendNativeProviderFault": "false"}).status_code == 200
    capsys.readouterr()
    assert run("plan", repo, emulator, "--detailed-exitcode", "--format", "json") == 2
    plan = json.loads(capsys.readouterr().out)
    changes = [c for g in plan["gateways"] for c in g["changes"]] if "gateways" in plan else plan["changes"]
    updated = {(c["kind"], c["name"]) for c in changes if c["op"] == "update"}
    assert updated == {("API", "pets"), ("Policy", "pets-cors"), ("Consumer", "mobile-app"), ("Scope", "pets-read"),
                       ("Strategy", "keycloak-oauth"), ("Alias", "pets-backend"), ("AuthServer", "keycloak"),
                       ("GatewayConfig", "error-processing")}
    assert run("apply", repo, emulator) == 0
    emulator.clear_log()
    assert run("plan", repo, emulator, "--detailed-exitcode") == 0


def test_prune_removes_owned_objects_only(repo: Path, emulator: WebMethodsEmulator) -> None:
    with admin(emulator) as http:
        assert http.post("/alias", json={"name": "legacy", "type": "endpoint",
                                         "endPointURI": "https://legacy"}).status_code == 201
    assert run("apply", repo, emulator) == 0
    text = (repo / "all.yaml").read_text()
    kept = [d for d in text.split("---\n") if "kind: API\nmetadata: {name: orders}" not in d
            and "kind: Scope" not in d and "kind: Alias" not in d and "kind: GatewayConfig" not in d]
    (repo / "all.yaml").write_text("---\n".join(kept))
    assert run("apply", repo, emulator) == 0
    assert {a["apiName"] for a in emulator.apis.values()} == {"pets"}
    assert emulator.scopes == {}
    assert {a["name"] for a in emulator.aliases.values()} == {"keycloak", "legacy"}
    assert emulator.configurations["errorProcessing"] == {"sendNativeProviderFault": "true"}  # released, not reset
    assert run("plan", repo, emulator, "--detailed-exitcode") == 0


def test_export_zip_lists_what_was_applied(repo: Path, emulator: WebMethodsEmulator, tmp_path: Path) -> None:
    assert run("apply", repo, emulator) == 0
    target = tmp_path / "backup.zip"
    assert main(["export", str(repo), "--gateway", "wm-dev", "-o", str(target),
                 "--endpoint", f"wm-dev={emulator.url}"]) == 0
    with zipfile.ZipFile(io.BytesIO(target.read_bytes())) as archive:
        assets = {(a["type"], a["name"]) for a in json.loads(archive.read("manifest.json"))["assets"]}
    assert {("api", "pets"), ("api", "orders"), ("application", "mobile-app"), ("alias", "keycloak"),
            ("alias", "pets-backend"), ("gatewayScope", "pets-read")} <= assets


def test_binding_an_extended_kind_to_a_gateway_without_support_names_the_type(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    extra = """---
apiVersion: gostoa.dev/v1alpha1
kind: GatewayInstance
metadata: {name: stoa-dev}
spec: {displayName: STOA, gatewayType: stoa, environment: dev, baseUrl: "http://127.0.0.1:2",
       credentials: {token: {env: WM_USER}}}
---
apiVersion: gostoa.dev/v1alpha1
kind: Alias
metadata: {name: other-backend}
spec: {type: simple, value: x, gateways: [stoa-dev]}
"""
    (repo / "more.yaml").write_text(extra)
    assert main(["validate", str(repo)]) != 0
    err = capsys.readouterr()
    assert "Alias is not supported by gateway 'stoa-dev' (type stoa)" in err.out + err.err


def test_demo_runs_a_webmethods_repo_without_credentials_or_network(repo: Path, monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    for var in ("WM_USER", "WM_PASSWORD", "MOBILE_KEY", "KC_SECRET"):
        monkeypatch.delenv(var)
    assert main(["demo", "--repo", str(repo)]) == 0
    out = capsys.readouterr().out
    assert "wm-dev" in out and "webmethods" in out
