"""`reconciler import` on webMethods API Gateway: APIs imported as OpenAPI 3.0 documents, throttling and
CORS policy actions, applications, aliases, an auth server, a strategy and a scope made by an operator
through the admin API (no markers), imported and adopted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from reconciler.emulators.webmethods import WebMethodsEmulator
from tests.conftest import run_cli
from tests.importer.roundtrip import gateway_repo, round_trip

pytestmark = pytest.mark.e2e

USER, PASSWORD = "wm-ops", "wm-ops-pass-42"
IDP_SECRET = "corp-idp-introspection-secret-7"
R = "/rest/apigateway"
GATEWAY = """\
apiVersion: gostoa.dev/v1alpha1
kind: GatewayInstance
metadata: {name: wm-prod}
spec:
  displayName: webMethods (prod)
  gatewayType: webmethods
  environment: prod
  baseUrl: http://127.0.0.1:1
  credentials: {username: {env: WM_USER}, password: {env: WM_PASSWORD}}
  options: {consumerKeys: gateway-generated}
"""
PETSTORE = {"openapi": "3.0.3", "info": {"title": "Petstore", "version": "1.0"},
            "servers": [{"url": "https://pets.example.com/v1"}],
            "paths": {"/pets": {"get": {"summary": "List pets", "responses": {"200": {"description": "OK"}}},
                                "post": {"responses": {"201": {"description": "Created"}}}},
                      "/pets/{id}": {"get": {"parameters": [{"name": "id", "in": "path", "required": True,
                                                             "schema": {"type": "string"}}],
                                             "responses": {"200": {"description": "OK"}}}}}}


def p(key: str, *values: str) -> dict[str, Any]:
    return {"templateKey": key, "values": list(values)}


ACTIONS = {
    "IAM": {"names": [{"value": "Identify & Authorize Application", "locale": "en"}], "templateKey": "evaluatePolicy",
            "parameters": [p("logicalConnector", "OR"), p("allowAnonymous", "false"),
                           {"templateKey": "IdentificationRule", "parameters": [p("identificationType", "apiKey")]}]},
    "LMT": {"names": [{"value": "Petstore throttling", "locale": "en"}], "templateKey": "throttle",
            "parameters": [{"templateKey": "throttleRule", "parameters": [
                p("throttleRuleName", "requestCount"), p("monitorRuleOperator", "GT"), p("value", "30")]},
                {"templateKey": "destination", "parameters": [p("destinationType", "GATEWAY")]},
                p("alertInterval", "1"), p("alertIntervalUnit", "minutes"), p("alertFrequency", "once"),
                p("consumerIds", "AnyConsumers")]},
    "responseProcessing": {"names": [{"value": "Petstore CORS", "locale": "en"}], "templateKey": "corsPolicy",
                           "parameters": [p("allowedOrigins", "https://app.example.com"),
                                          p("allowedMethods", "GET", "POST"), p("allowHeaders"), p("exposeHeaders"),
                                          p("allowCredentials", "false"), p("maxAge", "600")]},
}


@pytest.fixture
def wm(monkeypatch: pytest.MonkeyPatch) -> Iterator[WebMethodsEmulator]:
    monkeypatch.setenv("WM_USER", USER)
    monkeypatch.setenv("WM_PASSWORD", PASSWORD)
    with WebMethodsEmulator(username=USER, password=PASSWORD) as emu:
        yield emu


def ok(response: httpx.Response) -> Any:
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


def import_api(c: httpx.Client, name: str, document: dict[str, Any]) -> dict[str, Any]:
    body = {"apiName": name, "apiVersion": document["info"]["version"], "type": "openapi",
            "apiDescription": f"{name} (imported by hand)", "apiDefinition": document}
    return dict(ok(c.post(f"{R}/apis", json=body))["apiResponse"]["api"])


def seed(emu: WebMethodsEmulator) -> None:
    with httpx.Client(base_url=emu.url, auth=(USER, PASSWORD), timeout=5) as c:
        pets = import_api(c, "petstore", PETSTORE)
        orders = import_api(c, "orders", {**PETSTORE, "info": {"title": "Orders", "version": "2.0"},
                                          "servers": [{"url": "https://orders.example.com/api"}],
                                          "paths": {"/orders": {"get": {"responses": {"200": {"description": "OK"}}}}}})
        import_api(c, "Swagger Petstore", {**PETSTORE, "info": {"title": "Swagger Petstore", "version": "1.0"}})
        policy_id = pets["policies"][0]
        policy = ok(c.get(f"{R}/policies/{policy_id}"))["policy"]
        for stage, action in ACTIONS.items():
            created = ok(c.post(f"{R}/policyActions", json={"policyAction": action}))["policyAction"]
            policy["policyEnforcements"].append({"stageKey": stage, "enforcements": [{"enforcementObjectId": created["id"]}]})
        ok(c.put(f"{R}/policies/{policy_id}", json={"policy": policy}))
        orders_policy = ok(c.get(f"{R}/policies/{orders['policies'][0]}"))["policy"]
        iam = ok(c.post(f"{R}/policyActions", json={"policyAction": ACTIONS["IAM"]}))["policyAction"]
        orders_policy["policyEnforcements"].append({"stageKey": "IAM", "enforcements": [{"enforcementObjectId": iam["id"]}]})
        ok(c.put(f"{R}/policies/{orders['policies'][0]}", json={"policy": orders_policy}))
        for api in (pets, orders):
            ok(c.put(f"{R}/apis/{api['id']}/activate"))
        app = ok(c.post(f"{R}/applications", json={"name": "Mobile Banking", "description": "Mobile banking app",
                                                   "contactEmails": ["mobile@example.com"], "identifiers": []}))
        ok(c.put(f"{R}/applications/{app['id']}/apis", json={"apiIDs": [pets["id"], orders["id"]]}))
        ok(c.post(f"{R}/alias", json={"name": "orders-backend", "description": "Orders upstream", "type": "endpoint",
                                      "endPointURI": "https://orders.internal:8443", "connectionTimeout": 30,
                                      "readTimeout": 60, "passSecurityHeaders": False}))
        ok(c.post(f"{R}/alias", json={
            "name": "corp-idp", "description": "Corporate IdP", "type": "authServerAlias", "authServerType": "EXTERNAL",
            "discoveryURL": "https://idp.example.com/.well-known/openid-configuration",
            "remoteIntrospectionConfig": {"introspectionEndpoint": "https://idp.example.com/introspect",
                                          "clientId": "gateway", "clientSecret": {"secret": IDP_SECRET}},
            "scopes": [{"name": "read", "description": "Read"}], "supportedGrantTypes": ["client_credentials"]}))
        ok(c.post(f"{R}/strategies", json={"name": "corp-oauth", "description": "Partners", "type": "OAUTH2",
                                           "authServerAlias": "corp-idp", "clientId": "partner-app"}))
        ok(c.post(f"{R}/scopes", json={"scopeName": "pets-read", "scopeDescription": "Read pets", "audience": "",
                                       "apiScopes": [pets["id"]],
                                       "requiredAuthScopes": [{"authServerAlias": "corp-idp", "scopeName": "read"}]}))


def test_import_then_adopt_round_trip(tmp_path: Path, wm: WebMethodsEmulator, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    seed(wm)
    monkeypatch.setenv("MOBILE_BANKING_API_KEY", "not-sent-the-gateway-makes-keys")
    monkeypatch.setenv("CORP_IDP_CLIENT_SECRET", IDP_SECRET)
    repo = gateway_repo(tmp_path / "repo", GATEWAY)
    endpoints = {"wm-prod": wm.url}
    report = round_trip(repo, "wm-prod", endpoints, capsys, expect={
        ("API", "petstore"), ("API", "orders"), ("Policy", "petstore-throttling"), ("Policy", "petstore-cors"),
        ("Consumer", "mobile-banking"), ("Alias", "orders-backend"), ("AuthServer", "corp-idp"),
        ("Strategy", "corp-oauth"), ("Scope", "pets-read")})
    assert ("API Swagger Petstore (unowned): its name 'Swagger Petstore' is no manifest name (DNS-1123 label), "
            "and webMethods refers to APIs by name") in report, report
    assert "CORP_IDP_CLIENT_SECRET" in report and "MOBILE_BANKING_API_KEY" in report
    out = repo / "imported" / "wm-prod"
    for path in [*out.rglob("*.yaml")]:
        assert IDP_SECRET not in path.read_text(), path
    assert IDP_SECRET not in report
    # the OpenAPI document is saved beside the API, as the gateway holds it
    saved = yaml.safe_load((out / "openapi" / "petstore.yaml").read_text())
    assert saved["paths"] == PETSTORE["paths"] and saved["openapi"] == "3.0.3"
    api = yaml.safe_load((out / "apis" / "petstore.yaml").read_text())["spec"]
    assert api["methods"] == ["GET", "POST"] and api["openapi"] == "../openapi/petstore.yaml"

    # adopted in place: same ids, names, one Identify & Authorize per API, the application's APIs kept
    pets = next(a for a in wm.apis.values() if a["apiName"] == "petstore")
    assert pets["isActive"] and pets["apiDefinition"]["paths"] == PETSTORE["paths"]
    app = next(iter(wm.applications.values()))
    assert app["name"] == "mobile-banking" and len(wm.app_apis[app["id"]]) == 2

    wm.clear_log()
    assert run_cli("apply", repo, endpoints) == 0
    assert wm.writes == []
