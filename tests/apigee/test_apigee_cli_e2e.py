"""End to end through `reconciler.cli.main` against the Apigee emulator over HTTP."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from reconciler.emulators.apigee import ApigeeEmulator
from tests.conftest import run_cli

pytestmark = pytest.mark.e2e

TOKEN = "ya29.cli-e2e-token"
MOBILE_KEY = "mobile-app-key-0123456789"


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[ApigeeEmulator]:
    monkeypatch.setenv("APIGEE_TOKEN", TOKEN)
    monkeypatch.setenv("MOBILE_APP_KEY", MOBILE_KEY)
    with ApigeeEmulator(token=TOKEN) as emulator:
        yield emulator  # type: ignore[misc]


def write_repo(root: Path, *, with_orders: bool = True) -> Path:
    files = {
        "reconciler.yaml": "kind: ReconcilerSettings\napiVersion: gostoa.dev/v1alpha1\nspec: {owner: platform, prune: true}\n",
        "gateways/apigee.yaml": """
            apiVersion: gostoa.dev/v1alpha1
            kind: GatewayInstance
            metadata: {name: apigee-dev}
            spec:
              displayName: Apigee dev
              gatewayType: apigee
              environment: dev
              baseUrl: https://apigee.googleapis.com
              credentials: {token: {env: APIGEE_TOKEN}}
              options: {organization: acme-org, environment: test}
            """,
        "apis/pets.yaml": """
            apiVersion: gostoa.dev/v1alpha1
            kind: API
            metadata: {name: pets}
            spec: {tenant: acme, version: "1.0.0", basePath: /pets, backend: "https://pets.example.com/v1",
                   methods: [GET, POST], gateways: [apigee-dev], displayName: Pets}
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
            """,
        "consumers/mobile.yaml": f"""
            apiVersion: gostoa.dev/v1alpha1
            kind: Consumer
            metadata: {{name: mobile-app}}
            spec: {{displayName: Mobile app, email: dev@example.com,
                   credential: {{type: apiKey, secretRef: {{env: MOBILE_APP_KEY}}}},
                   subscriptions: [pets{', orders' if with_orders else ''}]}}
            """,
    }
    if with_orders:
        files["apis/orders.yaml"] = """
            apiVersion: gostoa.dev/v1alpha1
            kind: API
            metadata: {name: orders}
            spec: {tenant: acme, version: "2", basePath: /orders, backend: "https://orders.example.com",
                   methods: [GET], gateways: [apigee-dev]}
            """
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return root


def run(command: str, repo: Path, emu: ApigeeEmulator, *extra: str) -> int:
    return run_cli(command, repo, {"apigee-dev": emu.url}, *extra)


def test_apply_then_reapply_writes_nothing(tmp_path: Path, emu: ApigeeEmulator,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    repo = write_repo(tmp_path)
    assert run("apply", repo, emu) == 0
    org = emu.orgs["acme-org"]
    assert {a for (_, a) in org.deployments} == {"orders", "pets"}
    deployed = org.deployments[("test", "pets")]["revision"]
    assert "cors-pets-cors" in org.proxies["pets"]["revisions"][deployed]["policies"]
    (app,) = org.apps.values()
    assert sorted(p["apiproduct"] for p in app["credentials"][0]["apiProducts"]) == ["orders", "pets"]
    emu.clear_log()
    assert run("apply", repo, emu) == 0
    assert emu.writes == []
    assert run("plan", repo, emu, "--detailed-exitcode") == 0
    out = capsys.readouterr()
    for secret in (TOKEN, MOBILE_KEY):
        assert secret not in out.out and secret not in out.err


def test_drift_is_planned_and_healed(tmp_path: Path, emu: ApigeeEmulator, capsys: pytest.CaptureFixture[str]) -> None:
    repo = write_repo(tmp_path)
    assert run("apply", repo, emu) == 0
    base = f"{emu.url}/v1/organizations/acme-org"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    deployed = emu.orgs["acme-org"].deployments[("test", "pets")]["revision"]
    # out of band: undeploy pets, and raise the quota
    httpx.delete(f"{base}/environments/test/apis/pets/revisions/{deployed}/deployments",
                 headers=headers).raise_for_status()
    product = httpx.get(f"{base}/apiproducts/pets", headers=headers).json()
    httpx.put(f"{base}/apiproducts/pets", headers=headers, json={**product, "quota": "9999"}).raise_for_status()
    capsys.readouterr()
    assert run("plan", repo, emu, "--detailed-exitcode", "--format", "json") == 2
    text = capsys.readouterr().out
    json.loads(text)
    assert "pets-rate" in text and MOBILE_KEY not in text
    emu.clear_log()
    assert run("apply", repo, emu) == 0
    assert not [w for w in emu.writes if w.method == "POST" and w.path.endswith("/apis")]  # no re-import
    assert emu.orgs["acme-org"].deployments[("test", "pets")]["revision"] == deployed
    assert run("plan", repo, emu, "--detailed-exitcode") == 0


def test_prune_deletes_owned_objects_only(tmp_path: Path, emu: ApigeeEmulator) -> None:
    base = f"{emu.url}/v1/organizations/acme-org"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    httpx.post(f"{base}/apiproducts", headers=headers, json={"name": "legacy-product"}).raise_for_status()
    repo = write_repo(tmp_path)
    assert run("apply", repo, emu) == 0
    (repo / "apis" / "orders.yaml").unlink()
    write_repo(repo, with_orders=False)
    assert run("apply", repo, emu) == 0
    org = emu.orgs["acme-org"]
    assert set(org.proxies) == {"pets"} and set(org.products) == {"legacy-product", "pets"}
    assert run("plan", repo, emu, "--detailed-exitcode") == 0
