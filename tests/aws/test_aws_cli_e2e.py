"""End to end through `reconciler.cli.main` against moto (server mode, HTTP) as AWS API Gateway."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from reconciler.adapters.http import GatewayHttp
from tests.conftest import run_cli

pytestmark = pytest.mark.e2e

MOBILE_KEY = "mobile-app-key-0123456789abcdef"
ACCESS, SECRET = "AKIAEXAMPLE", "cli-e2e-secret-access-key"


@pytest.fixture
def moto(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    httpx.post(f"{moto_url}/moto-api/reset")
    monkeypatch.setenv("AWS_KEY_ID", ACCESS)
    monkeypatch.setenv("AWS_SECRET", SECRET)
    monkeypatch.setenv("MOBILE_APP_KEY", MOBILE_KEY)
    yield moto_url


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every non-GET request any adapter sends in this test (moto keeps no request log)."""
    sent: list[tuple[str, str]] = []
    original = GatewayHttp.request

    async def spy(self: GatewayHttp, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if method.upper() not in ("GET", "HEAD", "OPTIONS"):
            sent.append((method.upper(), path))
        return await original(self, method, path, **kwargs)
    monkeypatch.setattr(GatewayHttp, "request", spy)
    return sent


def write_repo(root: Path, *, with_orders: bool = True) -> Path:
    files = {
        "reconciler.yaml": "kind: ReconcilerSettings\napiVersion: gostoa.dev/v1alpha1\nspec: {owner: platform, prune: true}\n",
        "gateways/aws.yaml": """
            apiVersion: gostoa.dev/v1alpha1
            kind: GatewayInstance
            metadata: {name: aws-dev}
            spec:
              displayName: AWS dev
              gatewayType: aws_apigateway
              environment: dev
              baseUrl: https://apigateway.us-east-1.amazonaws.com
              credentials: {accessKeyId: {env: AWS_KEY_ID}, secretAccessKey: {env: AWS_SECRET}}
              options: {region: us-east-1, stage: prod, deploymentIntervalSeconds: 0, requestsPerSecond: 1000,
                        quotaScale: "0.001"}
            """,
        "apis/pets.yaml": """
            apiVersion: gostoa.dev/v1alpha1
            kind: API
            metadata: {name: pets}
            spec: {tenant: acme, version: "1.0.0", basePath: /pets, backend: "https://pets.example.com/v1",
                   methods: [GET, POST], gateways: [aws-dev]}
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
            spec: {{displayName: Mobile app, credential: {{type: apiKey, secretRef: {{env: MOBILE_APP_KEY}}}},
                   subscriptions: [pets{', orders' if with_orders else ''}]}}
            """,
    }
    if with_orders:
        files["apis/orders.yaml"] = """
            apiVersion: gostoa.dev/v1alpha1
            kind: API
            metadata: {name: orders}
            spec: {tenant: acme, version: "2", basePath: /orders, backend: "https://orders.example.com",
                   methods: [GET], gateways: [aws-dev]}
            """
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return root


def run(command: str, repo: Path, url: str, *extra: str) -> int:
    return run_cli(command, repo, {"aws-dev": url}, *extra)


def boto(url: str) -> Any:
    return boto3.client("apigateway", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="y")


def test_apply_then_reapply_writes_nothing(tmp_path: Path, moto: str, writes: list[tuple[str, str]],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    repo = write_repo(tmp_path)
    assert run("apply", repo, moto) == 0
    deployments = [w for w in writes if w[1].endswith("/deployments")]
    assert len(deployments) == 2  # exactly one per API
    client = boto(moto)
    assert sorted(a["name"] for a in client.get_rest_apis()["items"]) == ["orders", "pets"]
    writes.clear()
    assert run("apply", repo, moto) == 0
    assert writes == []
    assert run("plan", repo, moto, "--detailed-exitcode") == 0
    out = capsys.readouterr()
    for secret in (SECRET, MOBILE_KEY):
        assert secret not in out.out and secret not in out.err


def test_drift_is_planned_and_healed(tmp_path: Path, moto: str, writes: list[tuple[str, str]],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    repo = write_repo(tmp_path)
    assert run("apply", repo, moto) == 0
    client = boto(moto)
    pets = next(a for a in client.get_rest_apis()["items"] if a["name"] == "pets")
    res = next(r for r in client.get_resources(restApiId=pets["id"])["items"] if r["path"] == "/pets/{proxy+}")
    client.delete_method(restApiId=pets["id"], resourceId=res["id"], httpMethod="POST")
    capsys.readouterr()
    assert run("plan", repo, moto, "--detailed-exitcode", "--format", "json") == 2
    plan = capsys.readouterr().out
    assert "pets" in plan and MOBILE_KEY not in plan
    writes.clear()
    assert run("apply", repo, moto) == 0
    assert [w for w in writes if w[1].endswith("/deployments")] == [("POST", f"/restapis/{pets['id']}/deployments")]
    assert run("plan", repo, moto, "--detailed-exitcode") == 0


def test_api_and_cors_change_in_one_apply_deploy_once(tmp_path: Path, moto: str, writes: list[tuple[str, str]]) -> None:
    repo = write_repo(tmp_path)
    assert run("apply", repo, moto) == 0
    pets = repo / "apis" / "pets.yaml"
    pets.write_text(pets.read_text().replace("https://pets.example.com/v1", "https://pets-v2.example.com")
                    .replace("maxAge: 600", "maxAge: 60"))
    writes.clear()
    assert run("apply", repo, moto) == 0
    deployments = [w for w in writes if w[1].endswith("/deployments")]
    assert len(deployments) == 1
    assert run("plan", repo, moto, "--detailed-exitcode") == 0


def test_prune_deletes_owned_objects_only(tmp_path: Path, moto: str) -> None:
    client = boto(moto)
    client.create_rest_api(name="legacy", tags={"team": "ops"})
    repo = write_repo(tmp_path)
    assert run("apply", repo, moto) == 0
    (repo / "apis" / "orders.yaml").unlink()
    write_repo(repo, with_orders=False)
    assert run("apply", repo, moto) == 0
    assert sorted(a["name"] for a in client.get_rest_apis()["items"]) == ["legacy", "pets"]
    assert [p["name"] for p in client.get_usage_plans()["items"]] == ["pets"]
    assert run("plan", repo, moto, "--detailed-exitcode") == 0


def test_plan_json_lists_creates_without_secrets(tmp_path: Path, moto: str, capsys: pytest.CaptureFixture[str]) -> None:
    repo = write_repo(tmp_path)
    capsys.readouterr()
    assert run("plan", repo, moto, "--detailed-exitcode", "--format", "json") == 2
    text = capsys.readouterr().out
    json.loads(text)
    assert "pets-rate" in text and "mobile-app" in text and MOBILE_KEY not in text
