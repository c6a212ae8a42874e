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
    assert httpx.get(base, auth=("Administrator", "manage")).status_code == 200  # a fresh gateway's user


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
    policy["policyEnforcements"].append({"stageKey": "LMT", "enforcements": [{"enforcementObjectId": action_id}]})
    assert http.put(f"/policies/{policy['id']}", json={"policy": policy}).status_code == 200
    assert http.delete(f"/policyActions/{action_id}").status_code == 400
    policy["policyEnforcements"].pop()
    http.put(f"/policies/{policy['id']}", json={"policy": policy})
    assert http.delete(f"/policyActions/{action_id}").status_code == 204
    assert http.post("/policyActions", json={"policyAction": {"names": []}}).status_code == 400


def attach(http: httpx.Client, api: dict[str, Any], *pairs: tuple[str, str]) -> httpx.Response:
    """PUT the API's policy with its default stages plus (stage, action id) pairs."""
    policy = http.get(f"/policies/{api['policies'][0]}").json()["policy"]
    for stage, action_id in pairs:
        policy["policyEnforcements"].append({"stageKey": stage, "enforcements": [{"enforcementObjectId": action_id}]})
    return http.put(f"/policies/{policy['id']}", json={"policy": policy})


def action(http: httpx.Client, template: str, **params: list[str]) -> str:
    body = {"templateKey": template, "parameters": [{"templateKey": k, "values": v} for k, v in params.items()]}
    response = http.post("/policyActions", json={"policyAction": body})
    assert response.status_code == 201, response.text
    return str(response.json()["policyAction"]["id"])


def test_policy_stages_are_served_as_the_sample(http: httpx.Client) -> None:
    stages = http.get("/policyStages").json()["stages"]
    assert [s["stageKey"] for s in stages] == ["threatProtection", "transport", "IAM", "requestPayloadProcessing",
                                               "routing", "LMT", "responseProcessing", "responseFaultProcessing"]
    templates = {s["stageKey"]: s["policyActionTemplates"] for s in stages}
    assert "throttle" in templates["LMT"] and "evaluatePolicy" in templates["IAM"]
    assert "corsPolicy" in templates["responseProcessing"]
    assert stages[2]["names"] == [{"value": "Identity and Access Management", "locale": "en"}]
    assert stages[2]["sequence"] is None and stages[7]["sequence"] == "faultsequence"


def test_a_stage_key_not_in_policy_stages_is_refused(http: httpx.Client) -> None:
    api = create_api(http)
    throttle = action(http, "throttle")
    for stage in ("trafficOptimization", "processing", "lmt"):
        refused = attach(http, api, (stage, throttle))
        assert refused.status_code == 400 and stage in refused.json()["errorDetails"]
    assert attach(http, api, ("LMT", throttle)).status_code == 200


def test_an_action_sits_only_in_a_stage_that_takes_its_template(http: httpx.Client) -> None:
    api = create_api(http)
    throttle, cors = action(http, "throttle"), action(http, "corsPolicy")
    assert attach(http, api, ("transport", throttle)).status_code == 400
    assert attach(http, api, ("transport", cors)).status_code == 400
    assert attach(http, api, ("LMT", throttle), ("responseProcessing", cors)).status_code == 200
    stages = http.get(f"/policies/{api['policies'][0]}").json()["policy"]["policyEnforcements"]
    assert {s["stageKey"] for s in stages} == {"transport", "routing", "LMT", "responseProcessing"}


def test_an_api_takes_one_identify_and_authorize_action(http: httpx.Client) -> None:
    api = create_api(http)
    one, two = action(http, "evaluatePolicy"), action(http, "evaluatePolicy")
    refused = attach(http, api, ("IAM", one), ("IAM", two))
    assert refused.status_code == 500
    assert "only one policy action with template id Identify & Authorize" in refused.json()["errorDetails"]
    assert attach(http, api, ("IAM", one)).status_code == 200


def test_traffic_optimization_of_an_active_api_needs_identify_and_authorize(http: httpx.Client) -> None:
    api = create_api(http)
    throttle = action(http, "throttle", consumerIds=["AnyConsumers"])
    assert attach(http, api, ("LMT", throttle)).status_code == 200  # an inactive API may be built in steps
    refused = http.put(f"/apis/{api['id']}/activate")
    assert refused.status_code == 500 and "[Identify & Authorize Application]" in refused.json()["errorDetails"]
    identify = action(http, "evaluatePolicy", allowAnonymous=["false"])
    assert attach(http, api, ("IAM", identify)).status_code == 200
    assert http.put(f"/apis/{api['id']}/activate").status_code == 200
    policy = http.get(f"/policies/{api['policies'][0]}").json()["policy"]
    without_iam = [s for s in policy["policyEnforcements"] if s["stageKey"] != "IAM"]
    put = http.put(f"/policies/{policy['id']}", json={"policy": {**policy, "policyEnforcements": without_iam}})
    assert put.status_code == 500  # the active API would lose the dependency


def test_an_active_api_keeps_its_name_and_version(http: httpx.Client) -> None:
    api_id = create_api(http)["id"]
    assert http.put(f"/apis/{api_id}/activate").status_code == 200
    for change in ({"apiVersion": "2"}, {"apiName": "cats"}):
        refused = http.put(f"/apis/{api_id}", json={"type": "openapi", "apiDefinition": DOC_30, **change})
        assert refused.status_code == 400
        assert "cannot modify the name and version of an API" in refused.json()["errorDetails"]
    same = http.put(f"/apis/{api_id}", json={"apiName": "pets", "apiVersion": "1", "apiDescription": "d"})
    assert same.status_code == 200  # unchanged name and version: an ordinary update
    assert http.put(f"/apis/{api_id}/deactivate").status_code == 200
    moved = http.put(f"/apis/{api_id}", json={"apiName": "pets", "apiVersion": "2"})
    assert moved.status_code == 200 and moved.json()["apiResponse"]["api"]["apiVersion"] == "2"


def test_the_gateway_generates_api_keys_and_only_regenerates_them(http: httpx.Client) -> None:
    created = http.post("/applications", json={"name": "a", "accessTokens": {
        "apiAccessKey_credentials": {"apiAccessKey": "chosen-by-client"}}}).json()
    key = created["accessTokens"]["apiAccessKey_credentials"]["apiAccessKey"]
    assert key != "chosen-by-client" and len(key) == 64
    updated = http.put(f"/applications/{created['id']}", json={"name": "a", "accessTokens": {
        "apiAccessKey_credentials": {"apiAccessKey": "chosen-by-client"}}}).json()
    assert updated["accessTokens"]["apiAccessKey_credentials"]["apiAccessKey"] == key
    regenerated = http.post(f"/applications/{created['id']}/accessTokens", json={"type": "apiAccessKeyCredentials"})
    assert regenerated.status_code == 201
    (shown,) = http.get(f"/applications/{created['id']}").json()["applications"]  # the sample's envelope
    new_key = shown["accessTokens"]["apiAccessKey_credentials"]
    assert new_key["apiAccessKey"] not in (key, "chosen-by-client")
    assert http.post("/applications/nope/accessTokens", json={"type": "apiAccessKeyCredentials"}).status_code == 400


def test_post_of_an_application_api_list_replaces_it_too(http: httpx.Client) -> None:
    one, two = create_api(http, "one")["id"], create_api(http, "two")["id"]
    app = http.post("/applications", json={"name": "a"}).json()
    assert http.post(f"/applications/{app['id']}/apis", json={"apiIDs": [one, two]}).status_code == 200
    assert http.post(f"/applications/{app['id']}/apis", json=[two]).status_code == 200
    assert http.get(f"/applications/{app['id']}/apis").json() == {"apiIDs": [two]}


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


# ------------------------------------------------------------------ one test per ledger rule still without one
def test_a_body_that_is_not_json_is_a_400_and_imports_need_json(http: httpx.Client) -> None:
    broken = http.post("/apis", content=b"{not json", headers={"Content-Type": "application/json"})
    assert broken.status_code == 400 and "Malformed JSON" in broken.json()["errorDetails"]
    multipart = http.post("/apis", files={"file": ("pets.json", b"{}")}, data={"apiName": "x", "type": "openapi"})
    assert multipart.status_code == 415
    by_url = http.post("/apis", json={"apiName": "x", "type": "openapi", "url": "https://petstore.example/openapi"})
    assert by_url.status_code == 400


def test_an_api_needs_name_type_and_a_definition(http: httpx.Client) -> None:
    assert http.post("/apis", json={"apiName": "x", "apiDefinition": DOC_30}).status_code == 400  # no type
    assert http.post("/apis", json={"type": "openapi", "apiDefinition": DOC_30}).status_code == 400  # no name
    assert http.post("/apis", json={"apiName": "x", "type": "openapi"}).status_code == 400  # no definition
    api_id = create_api(http)["id"]
    assert http.put(f"/apis/{api_id}", json={"apiDefinition": DOC_30}).status_code == 400  # a definition needs type


def test_the_api_list_filters_by_id_and_bulk_delete_answers_per_id(http: httpx.Client) -> None:
    one, two = create_api(http, "one")["id"], create_api(http, "two")["id"]
    listed = http.get("/apis", params={"apiIds": two}).json()["apiResponse"]
    assert [a["api"]["id"] for a in listed] == [two]
    assert http.put(f"/apis/{two}/activate").status_code == 200
    answer = http.delete("/apis", params={"apiIds": f"{one},{two}"})
    assert answer.status_code == 200
    assert [(r["apiId"], r["responseStatus"]) for r in answer.json()["apiResponse"]] == [(one, "SUCCESS"),
                                                                                        (two, "ERROR")]
    assert [a["api"]["id"] for a in http.get("/apis").json()["apiResponse"]] == [two]  # active: kept


def test_an_api_has_the_samples_fields_and_its_own_scopes(http: httpx.Client) -> None:
    api = create_api(http)
    assert api["maturityState"] == "Beta" and api["scopes"] == [] and api["type"] == "REST"
    assert http.get(f"/apis/{api['id']}/scopes").json() == {"scopeReferences": []}
    assert http.get("/apis/nope").status_code == 404
    assert http.get("/apis/nope").json()["errorDetails"] == " Unable to find the resource: nope"


def test_policies_and_actions_list_by_ids_and_unknown_ids_are_left_out(http: httpx.Client) -> None:
    one, two = create_api(http, "one"), create_api(http, "two")
    listed = http.get("/policies", params={"policyIds": one["policies"][0]}).json()["policy"]
    assert [p["id"] for p in listed] == [one["policies"][0]]
    assert len(http.get("/policies").json()["policy"]) == 2
    throttle = action(http, "throttle")
    picked = http.get("/policyActions", params={"policyActionIds": f"{throttle},nope"}).json()["policyAction"]
    assert [a["id"] for a in picked] == [throttle]
    assert http.get("/policyActions/nope").status_code == 404
    assert http.get(f"/policies/{two['policies'][0]}x").status_code == 404


def test_a_policy_action_update_is_wrapped(http: httpx.Client) -> None:
    throttle = action(http, "throttle")
    bare = http.put(f"/policyActions/{throttle}", json={"templateKey": "throttle"})
    assert bare.status_code == 400
    wrapped = http.put(f"/policyActions/{throttle}", json={"policyAction": {"templateKey": "throttle",
                                                                             "parameters": [{"values": ["1"]}]}})
    assert wrapped.status_code == 400  # a parameter without templateKey
    ok = http.put(f"/policyActions/{throttle}", json={"policyAction": {"templateKey": "throttle"}})
    assert ok.status_code == 200 and ok.json()["policyAction"]["id"] == throttle


def test_applications_need_a_name_and_delete_in_bulk(http: httpx.Client) -> None:
    assert http.post("/applications", json={"description": "x"}).status_code == 400
    one, two = (http.post("/applications", json={"name": n}).json()["id"] for n in ("a", "b"))
    assert http.put(f"/applications/{one}", json={"description": "no name"}).status_code == 400
    assert http.delete("/applications", params={"ids": f"{one},{two}"}).status_code == 204
    assert http.get("/applications").json() == {"applications": []}
    assert http.get(f"/applications/{one}").status_code == 404


def test_alias_rules(http: httpx.Client) -> None:
    assert http.post("/alias", json={"name": "a"}).status_code == 400  # no type
    assert http.post("/alias", json={"name": "a", "type": "tcp"}).status_code == 400  # not in the enum
    assert http.post("/alias", json={"name": "a", "type": "endpoint"}).status_code == 400  # no endPointURI
    created = http.post("/alias", json={"name": "a", "type": "simple", "value": "v"})
    assert created.status_code == 201 and created.json()["value"] == "v"
    alias_id = created.json()["id"]
    assert http.post("/alias", json={"name": "a", "type": "simple", "value": "w"}).status_code == 400  # same name
    assert http.get(f"/alias/{alias_id}").json()["name"] == "a"  # bare, as the sample
    assert http.put(f"/alias/{alias_id}", json={"name": "a", "type": "endpoint",
                                                "endPointURI": "https://x"}).status_code == 400  # type change
    missing = http.get("/alias/nope")
    assert missing.status_code == 404 and missing.json() == {"errorDetails": " Alias with id: nope does not exist."}
    assert http.delete(f"/alias/{alias_id}").status_code == 204


def test_strategies_need_a_known_type(http: httpx.Client) -> None:
    http.post("/alias", json={"name": "kc", "type": "authServerAlias"})
    assert http.post("/strategies", json={"name": "s", "type": "BASIC", "authServerAlias": "kc"}).status_code == 400
    made = http.post("/strategies", json={"name": "s", "type": "JWT_RSA", "authServerAlias": "kc"}).json()
    assert http.get(f"/strategies/{made['strategy']['id']}").json()["strategy"]["name"] == "s"
    assert http.delete(f"/strategies/{made['strategy']['id']}").status_code == 204
    assert http.get(f"/strategies/{made['strategy']['id']}").status_code == 404


def test_scopes_need_existing_apis(http: httpx.Client) -> None:
    assert http.post("/scopes", json={"scopeName": "s", "apiScopes": ["nope"]}).status_code == 400
    assert http.post("/scopes", json={"apiScopes": []}).status_code == 400  # no scopeName
    api_id = create_api(http)["id"]
    made = http.post("/scopes", json={"scopeName": "s", "apiScopes": [api_id]}).json()["scope"]
    assert http.delete(f"/apis/{api_id}").status_code == 204
    assert http.get(f"/scopes/{made['id']}").json()["scope"]["apiScopes"] == []  # a deleted API leaves its scopes


def test_configuration_keys_are_the_documented_ones(http: httpx.Client) -> None:
    for key in ("errorProcessing", "loadBalancer", "keystore", "whiteListingIPs", "settings", "mobileApp"):
        assert http.get(f"/configurations/{key}").status_code == 200
    assert http.put("/configurations/errorProcessing", json=["not", "an", "object"]).status_code == 400


def test_a_policy_enforces_only_existing_actions(http: httpx.Client) -> None:
    api = create_api(http)
    refused = attach(http, api, ("LMT", "no-such-action"))
    assert refused.status_code == 400 and "no-such-action" in refused.json()["errorDetails"]
