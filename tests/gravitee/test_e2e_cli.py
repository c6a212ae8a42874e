"""End to end through `reconciler.cli.main` against the Gravitee emulator over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from reconciler.emulators.gravitee import GraviteeEmulator
from tests.conftest import run_cli
from tests.gravitee.conftest import GraviteeContract

pytestmark = pytest.mark.e2e

USER, PASSWORD = "gio-admin", "gio-password-123"
MOBILE_KEY = "mobile-key-0123456789"
PARTNER_KEY = "partner-key-9876543210"
V2 = "/management/v2/organizations/DEFAULT/environments/DEFAULT"
V1 = "/management/organizations/DEFAULT/environments/DEFAULT"

GATEWAY = """apiVersion: gostoa.dev/v1alpha1
kind: GatewayInstance
metadata: {name: gravitee-dev, labels: {env: dev}}
spec:
  displayName: Gravitee dev
  gatewayType: gravitee
  environment: dev
  baseUrl: http://127.0.0.1:8083
  credentials: {username: {env: GRAVITEE_USER}, password: {env: GRAVITEE_PASSWORD}}
"""
SETTINGS = """apiVersion: gostoa.dev/v1alpha1
kind: ReconcilerSettings
spec: {owner: platform, prune: true, maxDeletes: 10}
"""


def api_doc(name: str, backend: str = "", methods: str = "[GET, POST]") -> str:
    backend = backend or f"https://{name}.example.com/v1"
    return f"""apiVersion: gostoa.dev/v1alpha1
kind: API
metadata: {{name: {name}}}
spec: {{tenant: acme, version: "1.0.0", basePath: /{name}, backend: "{backend}", methods: {methods},
       gateways: [gravitee-dev]}}
"""


def rate_doc(name: str, api: str, requests: int = 100) -> str:
    return f"""apiVersion: gostoa.dev/v1alpha1
kind: Policy
metadata: {{name: {name}}}
spec: {{api: {api}, type: rate_limit, rateLimit: {{requests: {requests}, period: minute}}}}
"""


def cors_doc(name: str, api: str, origin: str = "https://app.example.com") -> str:
    return f"""apiVersion: gostoa.dev/v1alpha1
kind: Policy
metadata: {{name: {name}}}
spec: {{api: {api}, type: cors, cors: {{origins: ["{origin}"], methods: [GET], credentials: false, maxAge: 600}}}}
"""


def consumer_doc(name: str, env: str, subs: str) -> str:
    return f"""apiVersion: gostoa.dev/v1alpha1
kind: Consumer
metadata: {{name: {name}}}
spec: {{displayName: {name} app, email: {name}@example.com, credential: {{type: apiKey, secretRef: {{env: {env}}}}},
       subscriptions: {subs}}}
"""


def write_repo(root: Path, *, orders: bool = True, rate: int = 100, origin: str = "https://app.example.com",
               pets_backend: str = "") -> Path:
    for sub in ("gateways", "apis", "policies", "consumers"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "reconciler.yaml").write_text(SETTINGS)
    (root / "gateways" / "gravitee.yaml").write_text(GATEWAY)
    (root / "apis" / "pets.yaml").write_text(api_doc("pets", pets_backend))
    (root / "policies" / "pets.yaml").write_text(rate_doc("pets-rate", "pets", rate) + "---\n"
                                                 + cors_doc("pets-cors", "pets", origin))
    if orders:
        (root / "apis" / "orders.yaml").write_text(api_doc("orders", methods="[GET]"))
        (root / "policies" / "orders.yaml").write_text(rate_doc("orders-rate", "orders", 10))
    elif (root / "apis" / "orders.yaml").exists():
        (root / "apis" / "orders.yaml").unlink()
        (root / "policies" / "orders.yaml").unlink()
    mobile_subs = "[pets, orders]" if orders else "[pets]"
    (root / "consumers" / "apps.yaml").write_text(consumer_doc("mobile-app", "MOBILE_KEY", mobile_subs) + "---\n"
                                                  + consumer_doc("partner", "PARTNER_KEY", "[pets]"))
    return root


@pytest.fixture
def gravitee(contract: GraviteeContract, monkeypatch: pytest.MonkeyPatch) -> Iterator[GraviteeEmulator]:
    """The emulator, custom API keys allowed (an admin turned plan.security.apikey.allowCustom.enabled on);
    every request it received is checked against the spec (also before each clear_log)."""
    with GraviteeEmulator(username=USER, password=PASSWORD, allow_custom_api_key=True) as emu:
        clear = emu.clear_log

        def check_then_clear() -> None:
            for r in emu.requests:
                contract.check(r.method, r.path, r.query, r.json())
            clear()

        monkeypatch.setattr(emu, "clear_log", check_then_clear)
        yield emu
        check_then_clear()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GRAVITEE_USER", USER)
    monkeypatch.setenv("GRAVITEE_PASSWORD", PASSWORD)
    monkeypatch.setenv("MOBILE_KEY", MOBILE_KEY)
    monkeypatch.setenv("PARTNER_KEY", PARTNER_KEY)
    return write_repo(tmp_path / "repo")


def run(command: str, repo: Path, emulator: GraviteeEmulator, *extra: str) -> int:
    return run_cli(command, repo, {"gravitee-dev": emulator.url}, *extra)


def client(emulator: GraviteeEmulator) -> httpx.Client:
    return httpx.Client(base_url=emulator.url, auth=(USER, PASSWORD), timeout=5)


def apis_by_name(emulator: GraviteeEmulator) -> dict[str, dict[str, object]]:
    env = emulator.env()
    return {next((lb[10:] for lb in a["labels"] if lb.startswith("stoa-name:")), a["name"]): a
            for a in env.apis.values()}


def write_paths(emulator: GraviteeEmulator) -> list[tuple[str, str]]:
    return [(w.method, w.path.replace(V2, "").replace(V1, "v1")) for w in emulator.writes]


def test_full_lifecycle_then_second_apply_writes_nothing(repo: Path, gravitee: GraviteeEmulator,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert run("apply", repo, gravitee) == 0
    env = gravitee.env()
    apis = apis_by_name(gravitee)
    assert set(apis) == {"pets", "orders"}
    for api in apis.values():
        assert api["state"] == "STARTED" and api["deploymentState"] == "DEPLOYED"
        assert "managed-by:stoa-reconciler" in api["labels"] and "stoa-owner:platform" in api["labels"]  # type: ignore[operator]
    pets_plans = {p["name"]: p for p in env.plans.values() if p["apiId"] == apis["pets"]["id"]}
    assert {n: p["status"] for n, p in pets_plans.items()} == {"stoa-api-key": "PUBLISHED", "stoa-keyless": "PUBLISHED"}
    assert sorted(f["name"] for f in pets_plans["stoa-keyless"]["flows"]) == ["stoa-policy:pets-rate"]
    # CORS is the HTTP listener's (4.12 bundles no cors policy plugin), named by a label.
    assert apis["pets"]["listeners"][0]["cors"]["allowOrigin"] == ["https://app.example.com"]  # type: ignore[index]
    assert "stoa-cors:pets-cors" in apis["pets"]["labels"]  # type: ignore[operator]
    subs = {(env.apps[s["application"]]["name"], env.apis[s["api"]]["name"]) for s in env.subscriptions.values()
            if s["status"] == "ACCEPTED"}
    assert subs == {("mobile-app app", "pets"), ("mobile-app app", "orders"), ("partner app", "pets")}
    keys = {k["key"] for k in env.api_keys.values() if not k["revoked"]}
    assert keys == {MOBILE_KEY, PARTNER_KEY}
    # The first start deploys: no separate deployment was needed for new APIs.
    assert not any(w.path.endswith("/deployments") for w in gravitee.writes)

    gravitee.clear_log()
    assert run("apply", repo, gravitee) == 0
    assert gravitee.writes == []
    assert run("plan", repo, gravitee, "--detailed-exitcode") == 0
    assert gravitee.writes == []
    out = capsys.readouterr()
    for secret in (PASSWORD, MOBILE_KEY, PARTNER_KEY):
        assert secret not in out.out and secret not in out.err


def test_changed_api_and_two_policies_redeploy_once(repo: Path, gravitee: GraviteeEmulator) -> None:
    assert run("apply", repo, gravitee) == 0
    write_repo(repo, rate=50, origin="https://new.example.com", pets_backend="https://pets-v2.example.com")
    gravitee.clear_log()
    assert run("apply", repo, gravitee) == 0
    pets_id = apis_by_name(gravitee)["pets"]["id"]
    plan_ids = sorted(str(p["id"]) for p in gravitee.env().plans.values() if p["apiId"] == pets_id)
    paths = write_paths(gravitee)
    assert paths[0] == ("PUT", f"/apis/{pets_id}") and paths[-1] == ("POST", f"/apis/{pets_id}/deployments")
    assert sorted(paths[1:-1]) == sorted(("PUT", f"/apis/{pets_id}/plans/{pid}") for pid in plan_ids)
    deployments = [w for w in gravitee.writes if w.path.endswith("/deployments")]
    assert len(deployments) == 1 and pets_id in deployments[0].path
    assert len([w for w in gravitee.writes if w.method == "PUT" and "/plans/" in w.path]) == 2
    assert run("plan", repo, gravitee, "--detailed-exitcode") == 0


def allow_key_reuse(emulator: GraviteeEmulator) -> None:
    """What an admin does in Settings > API keys: plan.security.apikey.allowCustomReuse.enabled on."""
    with client(emulator) as c:
        body = {"plan": {"security": {"customApiKeyReuse": {"enabled": True}}}}
        assert c.post(f"{V1}/settings", json=body).status_code == 200


def test_drift_is_planned_and_healed(repo: Path, gravitee: GraviteeEmulator,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert run("apply", repo, gravitee) == 0
    allow_key_reuse(gravitee)  # re-subscribing with the key of a closed subscription needs it
    apis = apis_by_name(gravitee)
    pets, orders = str(apis["pets"]["id"]), str(apis["orders"]["id"])
    env = gravitee.env()
    key_plan = next(p for p in env.plans.values() if p["apiId"] == pets and p["name"] == "stoa-api-key")
    with client(gravitee) as c:
        flows = key_plan["flows"]
        flows[0]["request"][0]["configuration"] = {"allowOrigin": ["*"]}
        body = {"definitionVersion": "V4", "name": key_plan["name"], "flows": flows, "validation": "AUTO"}
        assert c.put(f"{V2}/apis/{pets}/plans/{key_plan['id']}", json=body).status_code == 200
        assert c.post(f"{V2}/apis/{orders}/_stop").status_code == 204
        sub = next(s for s in env.subscriptions.values() if s["api"] == orders)
        assert c.post(f"{V2}/apis/{orders}/subscriptions/{sub['id']}/_close").status_code == 200
    capsys.readouterr()
    assert run("plan", repo, gravitee, "--detailed-exitcode", "--format", "json") == 2
    text = capsys.readouterr().out
    plan = json.loads(text)
    assert "pets-cors" in text and "orders" in text and "mobile-app" in text and MOBILE_KEY not in text
    assert plan

    gravitee.clear_log()
    assert run("apply", repo, gravitee) == 0
    paths = write_paths(gravitee)
    assert ("POST", f"/apis/{orders}/_start") in paths
    assert ("POST", f"/apis/{orders}/subscriptions") in paths
    assert any(m == "PUT" and p.startswith(f"/apis/{pets}/plans/") for m, p in paths)
    assert apis_by_name(gravitee)["orders"]["state"] == "STARTED"
    gravitee.clear_log()
    assert run("plan", repo, gravitee, "--detailed-exitcode") == 0
    assert run("apply", repo, gravitee) == 0 and gravitee.writes == []


def test_a_closed_subscription_comes_back_only_when_gravitee_reuses_keys(repo: Path, gravitee: GraviteeEmulator,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """ApiKeyServiceImpl.isConflictingKeyForReference: this application's revoked key on that API is taken
    while plan.security.apikey.allowCustomReuse.enabled is off (its default). Only that consumer fails, saying so."""
    assert run("apply", repo, gravitee) == 0
    orders = str(apis_by_name(gravitee)["orders"]["id"])
    env = gravitee.env()
    sub = next(s for s in env.subscriptions.values() if s["api"] == orders)
    with client(gravitee) as c:
        assert c.post(f"{V2}/apis/{orders}/subscriptions/{sub['id']}/_close").status_code == 200
    write_repo(repo, rate=42)
    capsys.readouterr()
    assert run("apply", repo, gravitee) != 0
    out = capsys.readouterr().out
    failed = [line for line in out.splitlines() if line.strip().startswith("failed")]
    assert len(failed) == 1 and "Consumer mobile-app" in failed[0] and MOBILE_KEY not in out
    assert "plan.security.apikey.allowCustomReuse.enabled, which is off here" in failed[0]
    pets_key = next(p for p in env.plans.values() if p["apiId"] == apis_by_name(gravitee)["pets"]["id"]
                    and p["name"] == "stoa-api-key")
    assert pets_key["flows"][0]["request"][0]["configuration"]["rate"]["limit"] == 42  # the rest was applied
    allow_key_reuse(gravitee)
    assert run("apply", repo, gravitee) == 0
    assert run("plan", repo, gravitee, "--detailed-exitcode") == 0


def test_custom_keys_off_is_said_at_plan_time_and_fails_only_keyed_consumers(repo: Path,
                                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """Gravitee's default (plan.security.apikey.allowCustom.enabled off): the plan says so for each consumer;
    the apply writes APIs and policies and fails the two consumers before writing anything for them."""
    with GraviteeEmulator(username=USER, password=PASSWORD) as emu:
        capsys.readouterr()
        assert run("plan", repo, emu) == 0
        out = capsys.readouterr().out
        assert out.count("plan.security.apikey.allowCustom.enabled is off") == 2
        assert run("apply", repo, emu) != 0
        out = capsys.readouterr().out
        assert out.count("plan.security.apikey.allowCustom.enabled is off") >= 2
        assert emu.env().apps == {} and len(emu.env().apis) == 2
        assert not any(w.path.endswith("/subscriptions") for w in emu.writes)


def test_failed_deployment_midway_is_completed_by_the_next_apply(repo: Path, gravitee: GraviteeEmulator) -> None:
    assert run("apply", repo, gravitee) == 0
    write_repo(repo, rate=7, pets_backend="https://pets-v3.example.com")
    gravitee.fail_next_deployments = 1
    assert run("apply", repo, gravitee) != 0
    pets = apis_by_name(gravitee)["pets"]
    assert pets["deploymentState"] == "NEED_REDEPLOY"
    target = pets["endpointGroups"][0]["endpoints"][0]["configuration"]["target"]  # type: ignore[index]
    assert str(target).startswith("https://pets-v3.example.com")  # written, not live yet
    assert run("plan", repo, gravitee, "--detailed-exitcode") == 2

    gravitee.clear_log()
    assert run("apply", repo, gravitee) == 0
    assert write_paths(gravitee) == [("POST", f"/apis/{pets['id']}/deployments")]
    assert apis_by_name(gravitee)["pets"]["deploymentState"] == "DEPLOYED"
    assert run("plan", repo, gravitee, "--detailed-exitcode") == 0


def test_prune_stops_and_deletes_a_started_api_and_leaves_foreign_objects(repo: Path,
                                                                          gravitee: GraviteeEmulator) -> None:
    assert run("apply", repo, gravitee) == 0
    with client(gravitee) as c:
        foreign = c.post(f"{V2}/apis", json={
            "name": "legacy", "apiVersion": "1", "definitionVersion": "V4", "type": "PROXY",
            "listeners": [{"type": "HTTP", "paths": [{"path": "/legacy"}], "entrypoints": [{"type": "http-proxy"}]}],
            "endpointGroups": [{"name": "g", "type": "http-proxy", "endpoints": []}]}).json()
        plan = c.post(f"{V2}/apis/{foreign['id']}/plans", json={"definitionVersion": "V4", "name": "open",
                                                                 "security": {"type": "KEY_LESS"}}).json()
        c.post(f"{V2}/apis/{foreign['id']}/plans/{plan['id']}/_publish")  # _start needs a published plan
        assert c.post(f"{V2}/apis/{foreign['id']}/_start").status_code == 204
        app = c.post(f"{V1}/applications", json={"name": "someone", "description": "made by hand"}).json()
    orders = str(apis_by_name(gravitee)["orders"]["id"])
    write_repo(repo, orders=False)

    gravitee.clear_log()
    assert run("apply", repo, gravitee) == 0
    paths = write_paths(gravitee)
    stop, delete = ("POST", f"/apis/{orders}/_stop"), ("DELETE", f"/apis/{orders}")
    assert stop in paths and delete in paths and paths.index(stop) < paths.index(delete)
    assert [w.query for w in gravitee.writes if w.method == "DELETE" and w.path.endswith(orders)] == ["closePlans=true"]
    assert not any(foreign["id"] in p or app["id"] in p for _, p in paths)
    env = gravitee.env()
    assert orders not in env.apis and foreign["id"] in env.apis and env.apps[app["id"]]["status"] == "ACTIVE"
    mobile = next(a for a in env.apps.values() if a["name"] == "mobile-app app")
    assert {env.apis[s["api"]]["name"] for s in env.subscriptions.values()
            if s["application"] == mobile["id"] and s["status"] == "ACCEPTED"} == {"pets"}
    gravitee.clear_log()
    assert run("plan", repo, gravitee, "--detailed-exitcode") == 0


def test_unowned_api_with_the_desired_name_is_a_conflict_until_adopted(repo: Path, gravitee: GraviteeEmulator) -> None:
    with client(gravitee) as c:
        foreign = c.post(f"{V2}/apis", json={
            "name": "pets", "apiVersion": "0.1", "definitionVersion": "V4", "type": "PROXY",
            "listeners": [{"type": "HTTP", "paths": [{"path": "/pets"}], "entrypoints": [{"type": "http-proxy"}]}],
            "endpointGroups": [{"name": "g", "type": "http-proxy", "endpoints": []}]}).json()
    gravitee.clear_log()
    assert run("apply", repo, gravitee) != 0
    assert not any(foreign["id"] in w.path for w in gravitee.writes)
    assert gravitee.env().apis[foreign["id"]]["labels"] == []

    assert run("apply", repo, gravitee, "--adopt") == 0
    adopted = gravitee.env().apis[foreign["id"]]
    assert "stoa-owner:platform" in adopted["labels"] and adopted["state"] == "STARTED"
    assert run("plan", repo, gravitee, "--detailed-exitcode") == 0


EXAMPLE_GATEWAY = """apiVersion: gostoa.dev/v1alpha1
kind: GatewayInstance
metadata: {name: gravitee-dev, labels: {env: dev}}
spec:
  displayName: Gravitee APIM 4 (dev)
  gatewayType: gravitee
  environment: dev
  baseUrl: http://127.0.0.1:8083
  credentials: {username: {env: GRAVITEE_USER}, password: {env: GRAVITEE_PASSWORD}}
  options: {organization: DEFAULT, environment: DEFAULT}
"""


def test_the_example_repo_with_a_gravitee_gateway(example_repo: Path, gravitee: GraviteeEmulator,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """examples/repo's APIs selected by `env: dev` land on Gravitee too; the OpenAPI hash is kept as a label."""
    (example_repo / "gateways" / "gravitee-dev.yaml").write_text(EXAMPLE_GATEWAY)
    for name, value in (("GRAVITEE_USER", USER), ("GRAVITEE_PASSWORD", PASSWORD), ("STOA_ADMIN_TOKEN", "unused"),
                        ("MOBILE_APP_API_KEY", MOBILE_KEY), ("PARTNER_PORTAL_API_KEY", PARTNER_KEY)):
        monkeypatch.setenv(name, value)
    assert run("apply", example_repo, gravitee, "--gateway", "gravitee-dev") == 0
    pets = apis_by_name(gravitee)["pets"]
    assert any(str(label).startswith("stoa-openapi:sha256:") for label in pets["labels"])  # type: ignore[attr-defined]
    assert pets["name"] == "Pet store" and pets["state"] == "STARTED"
    gravitee.clear_log()
    assert run("apply", example_repo, gravitee, "--gateway", "gravitee-dev") == 0
    assert gravitee.writes == []
    assert run("plan", example_repo, gravitee, "--gateway", "gravitee-dev", "--detailed-exitcode") == 0
