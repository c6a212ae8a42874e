"""The emulator behaves like the gateway's REST API (status codes, envelopes, lifecycle rules)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from reconciler.emulators.webmethods import WebMethodsEmulator
from tests.conftest import ROOT, free_port

DOC_30 = {"openapi": "3.0.3", "info": {"title": "pets", "version": "1"}, "servers": [{"url": "https://b.example"}],
          "paths": {"/": {"get": {"responses": {"200": {"description": "ok"}}}}}}


@pytest.fixture
def http(emulator: WebMethodsEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.url + "/rest/apigateway", auth=("Administrator", "manage"), timeout=5) as c:
        yield c


def create_api(http: httpx.Client, name: str = "pets", doc: dict[str, Any] | None = None) -> dict[str, Any]:
    response = http.post("/apis", json={"apiName": name, "apiVersion": "1", "type": "openapi",
                                        "apiDefinition": doc or DOC_30})
    assert response.status_code == 200, response.text
    api: dict[str, Any] = response.json()["apiResponse"]["api"]
    return api


def test_basic_auth_is_required(emulator: WebMethodsEmulator) -> None:
    base = emulator.url + "/rest/apigateway/apis"
    assert httpx.get(base).status_code == 401
    wrong = httpx.get(base, auth=("Administrator", "nope"))
    assert wrong.status_code == 401 and "errorDetails" in wrong.json()


def test_from_credentials_sets_the_accepted_user() -> None:
    emu = WebMethodsEmulator.from_credentials({"username": "u", "password": "p"}, {})
    assert isinstance(emu, WebMethodsEmulator) and (emu.username, emu.password) == ("u", "p")


def test_openapi_31_is_rejected(http: httpx.Client) -> None:
    response = http.post("/apis", json={"apiName": "x", "type": "openapi",
                                        "apiDefinition": {**DOC_30, "openapi": "3.1.0"}})
    assert response.status_code == 400 and "3.1.0" in response.json()["errorDetails"]


def test_created_api_is_wrapped_inactive_and_has_a_policy(http: httpx.Client) -> None:
    api = create_api(http)
    assert api["isActive"] is False and api["nativeEndpoint"][0]["uri"] == "https://b.example"
    policy = http.get(f"/policies/{api['policies'][0]}").json()["policy"]
    assert {s["stageKey"] for s in policy["policyEnforcements"]} == {"transport", "routing"}
    listed = http.get("/apis").json()["apiResponse"]
    assert listed == [{"api": {k: api[k] for k in ("apiName", "apiVersion", "apiDescription", "isActive", "type",
                                                  "publishedPortals", "systemVersion", "id")},
                       "responseStatus": "SUCCESS"}]


def test_same_name_and_version_is_a_conflict(http: httpx.Client) -> None:
    create_api(http)
    again = http.post("/apis", json={"apiName": "pets", "apiVersion": "1", "type": "openapi", "apiDefinition": DOC_30})
    assert again.status_code == 409


def test_lifecycle_rules(http: httpx.Client) -> None:
    api_id = create_api(http)["id"]
    assert http.put(f"/apis/{api_id}/deactivate").status_code == 400
    assert http.put(f"/apis/{api_id}/activate").status_code == 200
    assert http.put(f"/apis/{api_id}/activate").status_code == 400
    assert http.delete(f"/apis/{api_id}").status_code == 400  # active
    updated = http.put(f"/apis/{api_id}", json={"apiName": "pets", "type": "openapi",
                                                 "apiDefinition": {**DOC_30, "servers": [{"url": "https://c"}]}})
    assert updated.status_code == 200
    api = updated.json()["apiResponse"]["api"]
    assert api["id"] == api_id and api["isActive"] is True and api["nativeEndpoint"][0]["uri"] == "https://c"
    assert http.put(f"/apis/{api_id}/deactivate").status_code == 200
    assert http.delete(f"/apis/{api_id}").status_code == 204
    assert http.get(f"/apis/{api_id}").status_code == 404


def test_delete_with_applications_needs_force(http: httpx.Client) -> None:
    api_id = create_api(http)["id"]
    app = http.post("/applications", json={"name": "a"}).json()
    assert http.put(f"/applications/{app['id']}/apis", json={"apiIDs": [api_id]}).status_code == 200
    assert http.delete(f"/apis/{api_id}", params={"forceDelete": "false"}).status_code == 400
    assert http.delete(f"/apis/{api_id}").status_code == 204  # forceDelete defaults to true
    assert http.get(f"/applications/{app['id']}/apis").json() == {"apiIDs": []}


def test_application_api_list_is_replaced_not_merged(http: httpx.Client) -> None:
    one, two = create_api(http, "one")["id"], create_api(http, "two")["id"]
    app = http.post("/applications", json={"name": "a", "identifiers": [{"key": "token", "value": ["t"]}]}).json()
    assert app["accessTokens"]["apiAccessKey_credentials"]["apiAccessKey"]
    assert app["identifiers"][0]["id"]
    http.put(f"/applications/{app['id']}/apis", json={"apiIDs": [one, two]})
    http.put(f"/applications/{app['id']}/apis", json={"apiIDs": [two]})
    assert http.get(f"/applications/{app['id']}/apis").json() == {"apiIDs": [two]}
    assert http.put(f"/applications/{app['id']}/apis", json={"apiIDs": ["nope"]}).status_code == 400


def test_enforced_policy_action_cannot_be_deleted(http: httpx.Client) -> None:
    api = create_api(http)
    action = http.post("/policyActions", json={"policyAction": {"templateKey": "throttle"}})
    assert action.status_code == 201
    action_id = action.json()["policyAction"]["id"]
    policy = http.get(f"/policies/{api['policies'][0]}").json()["policy"]
    policy["policyEnforcements"].append({"stageKey": "trafficOptimization",
                                         "enforcements": [{"enforcementObjectId": action_id}]})
    assert http.put(f"/policies/{policy['id']}", json={"policy": policy}).status_code == 200
    assert http.delete(f"/policyActions/{action_id}").status_code == 400
    policy["policyEnforcements"].pop()
    http.put(f"/policies/{policy['id']}", json={"policy": policy})
    assert http.delete(f"/policyActions/{action_id}").status_code == 204
    assert http.post("/policyActions", json={"policyAction": {"names": []}}).status_code == 400


def test_strategies_and_scopes_check_their_references(http: httpx.Client) -> None:
    assert http.post("/strategies", json={"name": "s", "type": "OAUTH2", "authServerAlias": "kc"}).status_code == 400
    created = http.post("/alias", json={"name": "kc", "type": "authServerAlias", "scopes": [{"name": "read"}]})
    assert created.status_code == 201 and created.json()["name"] == "kc"  # echoed bare
    strategy = http.post("/strategies", json={"name": "s", "type": "OAUTH2", "authServerAlias": "kc"})
    assert strategy.status_code == 200 and strategy.json()["strategy"]["clientId"]
    bad = http.post("/scopes", json={"scopeName": "x", "requiredAuthScopes": [{"authServerAlias": "kc",
                                                                               "scopeName": "write"}]})
    assert bad.status_code == 400
    good = http.post("/scopes", json={"scopeName": "x", "requiredAuthScopes": [{"authServerAlias": "kc",
                                                                                "scopeName": "read"}]})
    assert good.status_code == 201 and set(good.json()) == {"scope"}
    assert http.get("/scopes").json()["scopes"][0]["scopeName"] == "x"
    alias_id = created.json()["id"]
    assert http.delete(f"/alias/{alias_id}").status_code == 400  # used by strategy s
    assert http.post("/alias", json={"name": "kc", "type": "simple", "value": "v"}).status_code == 400


def test_configurations_round_trip(http: httpx.Client) -> None:
    assert http.get("/configurations/loadBalancer").json()["httpUrls"] == []
    assert http.put("/configurations/loadBalancer", json={"httpUrls": ["http://lb"]}).status_code == 200
    assert http.get("/configurations/loadBalancer").json() == {"httpUrls": ["http://lb"]}
    assert http.get("/configurations/nope").status_code == 404


def test_archive_is_a_zip_of_the_selected_assets(http: httpx.Client) -> None:
    create_api(http)
    http.post("/alias", json={"name": "e", "type": "endpoint", "endPointURI": "https://e"})
    response = http.get("/archive", params={"apis": "*"})
    assert response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        names = archive.namelist()
    assert len(names) == 2 and "manifest.json" in names and any(n.startswith("api/") for n in names)
    assert http.get("/archive").status_code == 400


def test_paging_and_health(http: httpx.Client) -> None:
    for name in ("a", "b", "c"):
        create_api(http, name)
    page = http.get("/apis", params={"from": 1, "size": 1}).json()["apiResponse"]
    assert [p["api"]["apiName"] for p in page] == ["b"]
    for part in ("all", "admin", "engine", "externalServices"):
        assert http.get(f"/health/{part}").json()["status"] == "green"
    assert http.get("/is/serverinfo").json()["version"].startswith("10.15")


def test_reconciler_emulate_serves_webmethods() -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WM_U": "ops", "WM_P": "ops-pass"}
    proc = subprocess.Popen([sys.executable, "-m", "reconciler", "emulate", "webmethods", "--port", str(port),
                             "--username-env", "WM_U", "--password-env", "WM_P"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/rest/apigateway/health/all",
                                     auth=("ops", "ops-pass"), timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.1)
        assert response.json()["status"] == "green"
        default = httpx.get(f"http://127.0.0.1:{port}/rest/apigateway/health/all", auth=("Administrator", "manage"))
        assert default.status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=10)
