"""`reconciler import` on AWS API Gateway (moto, server mode): REST APIs with resources and methods, a console
"Enable CORS" preflight, usage plans and API keys — made with boto3 as an operator would — then adopted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from reconciler.adapters.http import GatewayHttp
from tests.aws.conftest import start_moto
from tests.conftest import run_cli
from tests.importer.roundtrip import gateway_repo, round_trip

pytestmark = pytest.mark.e2e

ACCESS, SECRET = "AKIAIMPORTEXAMPLE", "import-secret-access-key"
MOBILE_KEY = "mobile-legacy-key-0123456789abcdef"
GATEWAY = """\
apiVersion: gostoa.dev/v1alpha1
kind: GatewayInstance
metadata: {name: aws-prod}
spec:
  displayName: AWS (prod)
  gatewayType: aws_apigateway
  environment: prod
  baseUrl: https://apigateway.us-east-1.amazonaws.com
  credentials: {accessKeyId: {env: AWS_KEY_ID}, secretAccessKey: {env: AWS_SECRET}}
  options: {region: us-east-1, stage: prod, deploymentIntervalSeconds: 0, requestsPerSecond: 1000, quotaScale: "0.001"}
"""


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    yield from start_moto()


@pytest.fixture
def moto(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    httpx.post(f"{moto_url}/moto-api/reset")
    monkeypatch.setenv("AWS_KEY_ID", ACCESS)
    monkeypatch.setenv("AWS_SECRET", SECRET)
    yield moto_url


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every non-GET request the adapter sends (moto keeps no request log)."""
    sent: list[tuple[str, str]] = []
    original = GatewayHttp.request

    async def spy(self: GatewayHttp, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if method.upper() not in ("GET", "HEAD", "OPTIONS"):
            sent.append((method.upper(), path))
        return await original(self, method, path, **kwargs)
    monkeypatch.setattr(GatewayHttp, "request", spy)
    return sent


def http_proxy_api(c: Any, name: str, base: str, backend: str, verbs: list[str], description: str) -> tuple[str, str]:
    """A REST API as an operator lays one out in the console: `/<base>` and `/<base>/{proxy+}`, one HTTP
    proxy method per verb, API key required. Returns (api id, base resource id)."""
    api = c.create_rest_api(name=name, description=description, endpointConfiguration={"types": ["REGIONAL"]})
    root = c.get_resources(restApiId=api["id"])["items"][0]["id"]
    res = c.create_resource(restApiId=api["id"], parentId=root, pathPart=base)["id"]
    proxy = c.create_resource(restApiId=api["id"], parentId=res, pathPart="{proxy+}")["id"]
    for resource, is_proxy in ((res, False), (proxy, True)):
        for verb in verbs:
            c.put_method(restApiId=api["id"], resourceId=resource, httpMethod=verb, authorizationType="NONE",
                         apiKeyRequired=True,
                         requestParameters={"method.request.path.proxy": True} if is_proxy else {})
            c.put_integration(restApiId=api["id"], resourceId=resource, httpMethod=verb, type="HTTP_PROXY",
                              integrationHttpMethod=verb, uri=f"{backend}/{{proxy}}" if is_proxy else backend,
                              requestParameters={"integration.request.path.proxy": "method.request.path.proxy"}
                              if is_proxy else {})
    return str(api["id"]), str(res)


def enable_cors(c: Any, api_id: str, resource: str) -> None:
    """What the console's "Enable CORS" writes: an OPTIONS MOCK method with static Access-Control-* headers."""
    c.put_method(restApiId=api_id, resourceId=resource, httpMethod="OPTIONS", authorizationType="NONE")
    c.put_integration(restApiId=api_id, resourceId=resource, httpMethod="OPTIONS", type="MOCK",
                      requestTemplates={"application/json": '{"statusCode": 200}'})
    headers = ("Access-Control-Allow-Headers", "Access-Control-Allow-Methods", "Access-Control-Allow-Origin")
    c.put_method_response(restApiId=api_id, resourceId=resource, httpMethod="OPTIONS", statusCode="200",
                          responseParameters={f"method.response.header.{h}": False for h in headers})
    c.put_integration_response(restApiId=api_id, resourceId=resource, httpMethod="OPTIONS", statusCode="200",
                               responseParameters={
                                   "method.response.header.Access-Control-Allow-Headers": "'Content-Type,X-Api-Key'",
                                   "method.response.header.Access-Control-Allow-Methods": "'GET,OPTIONS,POST'",
                                   "method.response.header.Access-Control-Allow-Origin": "'https://app.example.com'"},
                               responseTemplates={"application/json": ""})


def seed(url: str) -> dict[str, str]:
    """Returns the API key values (as the operator reads them from the console)."""
    c = boto3.client("apigateway", region_name="us-east-1", endpoint_url=url, aws_access_key_id=ACCESS,
                     aws_secret_access_key=SECRET)
    pets, pets_base = http_proxy_api(c, "pets", "pets", "https://pets.example.com/v1", ["GET", "POST"], "Pet store")
    enable_cors(c, pets, pets_base)
    orders, _ = http_proxy_api(c, "orders", "orders", "https://orders.example.com", ["GET"], "Orders")
    root = c.get_resources(restApiId=orders)["items"]
    health = c.create_resource(restApiId=orders, parentId=next(r["id"] for r in root if r["path"] == "/"),
                               pathPart="health")["id"]
    c.put_method(restApiId=orders, resourceId=health, httpMethod="GET", authorizationType="NONE")
    c.put_integration(restApiId=orders, resourceId=health, httpMethod="GET", type="MOCK")
    legacy = c.create_rest_api(name="Legacy Lambda")["id"]
    items = c.create_resource(restApiId=legacy, parentId=c.get_resources(restApiId=legacy)["items"][0]["id"],
                              pathPart="items")["id"]
    c.put_method(restApiId=legacy, resourceId=items, httpMethod="GET", authorizationType="AWS_IAM")
    c.put_integration(restApiId=legacy, resourceId=items, httpMethod="GET", type="AWS_PROXY", integrationHttpMethod="POST",
                      uri="arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:"
                          "123456789012:function:items/invocations")
    for api_id in (pets, orders, legacy):
        c.create_deployment(restApiId=api_id, stageName="prod")
    basic = c.create_usage_plan(name="Pets Basic", apiStages=[{"apiId": pets, "stage": "prod"}],
                                throttle={"rateLimit": 2, "burstLimit": 100})["id"]
    gold = c.create_usage_plan(name="Orders Gold", apiStages=[{"apiId": orders, "stage": "prod"}],
                               throttle={"rateLimit": 50, "burstLimit": 200},
                               quota={"limit": 10000, "period": "MONTH"})["id"]
    partner_plan = c.create_usage_plan(name="Partner", apiStages=[{"apiId": pets, "stage": "prod"},
                                                                  {"apiId": orders, "stage": "prod"}],
                                       throttle={"rateLimit": 5, "burstLimit": 5})["id"]
    mobile = c.create_api_key(name="mobile", description="Mobile app", enabled=True, value=MOBILE_KEY)["id"]
    partner = c.create_api_key(name="partner", enabled=True)["id"]  # AWS generates the value
    for plan, key in ((basic, mobile), (gold, mobile), (partner_plan, partner)):
        c.create_usage_plan_key(usagePlanId=plan, keyId=key, keyType="API_KEY")
    return {"mobile": MOBILE_KEY, "partner": str(c.get_api_key(apiKey=partner, includeValue=True)["value"])}


EXPECT = {("API", "pets"), ("API", "orders"), ("Policy", "pets-basic"), ("Policy", "pets-cors"),
          ("Consumer", "mobile")}


def test_import_then_adopt_round_trip(tmp_path: Path, moto: str, writes: list[tuple[str, str]],
                                     monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    keys = seed(moto)
    repo = gateway_repo(tmp_path / "repo", GATEWAY)
    for name, value in keys.items():
        monkeypatch.setenv(f"{name.upper()}_API_KEY", value)
    endpoints = {"aws-prod": moto}
    report = round_trip(repo, "aws-prod", endpoints, capsys, expect=EXPECT)

    imported = repo / "imported" / "aws-prod"
    pets = (imported / "apis" / "pets.yaml").read_text()
    assert "basePath: /pets" in pets and "description: Pet store" in pets and "- POST" in pets
    assert "requests: 100" in (imported / "policies" / "pets-basic.yaml").read_text()
    assert "https://app.example.com" in (imported / "policies" / "pets-cors.yaml").read_text()
    assert "- pets" in (imported / "consumers" / "mobile.yaml").read_text()
    assert "API Legacy Lambda (unowned): no `<basePath>/{proxy+}` resource" in report
    assert "Policy orders-gold (unowned): usage plan 'Orders Gold'" in report
    assert "Policy partner (unowned): usage plan 'Partner'" in report and "serves 2 API stage(s)" in report
    assert "Consumer partner (unowned): in usage plan 'Partner', which is no API's plan" in report
    assert "subscribed to no API of this gateway" in report
    assert "resource /health is not expressed" in report
    assert "backend 'https://orders.example.com' is written as 'https://orders.example.com/'" in report
    for value in keys.values():
        assert value not in report
        for path in repo.rglob("*.yaml"):
            assert value not in path.read_text(), path

    c = boto3.client("apigateway", region_name="us-east-1", endpoint_url=moto, aws_access_key_id=ACCESS,
                     aws_secret_access_key=SECRET)
    plans = {p["name"]: p for p in c.get_usage_plans()["items"]}
    assert set(plans) == {"Pets Basic", "Orders Gold", "Partner"}  # the hand-made plans were taken over, none added
    assert plans["Orders Gold"]["quota"]["period"] == "MONTH"  # a limit the manifest cannot hold stays as it was
    key = next(k for k in c.get_api_keys()["items"] if k["name"] == "mobile")
    assert {p["id"] for p in c.get_usage_plans(keyId=key["id"])["items"]} == {plans["Pets Basic"]["id"],
                                                                                plans["Orders Gold"]["id"]}

    writes.clear()
    assert run_cli("apply", repo, endpoints) == 0
    assert writes == []
    # adoption rewrote no method of pets' matching layout (only its preflight became ours)
    pets_api = next(a for a in c.get_rest_apis()["items"] if a["name"] == "pets")
    base = next(r for r in c.get_resources(restApiId=pets_api["id"], embed=["methods"])["items"] if r["path"] == "/pets")
    assert base["resourceMethods"]["GET"]["methodIntegration"]["uri"] == "https://pets.example.com/v1"
