"""Single adapter methods against respx-mocked webMethods responses (envelopes as in the samples)."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import respx

from reconciler.adapters.webmethods.adapter import WebMethodsAdapter
from reconciler.model.records import make_record, secret_fingerprint
from tests.webmethods.helpers import OPENAPI_31, api, full_set

BASE = "http://wm.test/rest/apigateway"
OWNER_DESC = "[stoa:owner=platform]"


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


@pytest.fixture
async def wm() -> AsyncIterator[WebMethodsAdapter]:
    adapter = WebMethodsAdapter({"name": "wm", "base_url": "http://wm.test", "owner": "platform",
                                 "auth": {"username": "Administrator", "password": "s3cr3t-pass"}, "timeout": 5.0})
    async with adapter:
        yield adapter


def api_obj(api_id: str, name: str = "pets", owner: str | None = "platform", active: bool = True) -> dict[str, Any]:
    tags = [{"name": f"stoa:owner={owner}"}] if owner else []
    tags += [{"name": "stoa:tenant=acme"}, {"name": "stoa:basePath=/pets"}, {"name": "stoa:methods=GET,POST"}]
    return {"id": api_id, "apiName": name, "apiVersion": "1.0.0", "isActive": active, "policies": [f"pol-{api_id}"],
            "nativeEndpoint": [{"uri": "https://pets.example.com/v1"}],
            "apiDefinition": {"type": "rest", "info": {"title": name}, "tags": tags}}


def wrap(obj: dict[str, Any]) -> dict[str, Any]:
    return {"apiResponse": {"api": obj, "responseStatus": "SUCCESS"}}


def body(call: Any) -> Any:
    return json.loads(call.request.content)


def writes(mock: respx.MockRouter) -> list[tuple[str, str]]:
    return [(c.request.method, c.request.url.path.removeprefix("/rest/apigateway"))
            for c in mock.calls if c.request.method != "GET"]


def list_apis(mock: respx.MockRouter, *apis: dict[str, Any]) -> None:
    mock.get("/apis").respond(200, json={"apiResponse": [{"api": {"id": a["id"], "apiName": a["apiName"]},
                                                          "responseStatus": "SUCCESS"} for a in apis]})
    for a in apis:
        mock.get(f"/apis/{a['id']}").respond(200, json=wrap(a))


# ------------------------------------------------------------------ lifecycle
async def test_health_green(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    mock.get("/health/all").respond(200, json={"status": "green"})
    mock.get("/is/serverinfo").respond(200, json={"version": "10.15"})
    result = await wm.health_check()
    assert result.success and result.data == {"status": "green", "health": {"status": "green"},
                                              "serverInfo": {"version": "10.15"}}


async def test_health_red_is_a_temporary_failure(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    mock.get("/health/all").respond(200, json={"status": "red"})
    mock.get("/is/serverinfo").respond(404)
    result = await wm.health_check()
    assert not result.success and result.category == "temporary" and "red" in str(result.error)


async def test_unauthorized_never_leaks_password(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    mock.get("/health/all").respond(401, json={"errorDetails": "bad credentials for s3cr3t-pass"})
    result = await wm.health_check()
    assert not result.success and "401" in str(result.error)
    assert "s3cr3t-pass" not in str(result.error)


async def test_basic_auth_header_is_sent(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    route = mock.get("/apis").respond(200, json={"apiResponse": []})
    await wm.fetch_apis()
    assert route.calls.last.request.headers["authorization"].startswith("Basic ")


def test_base_url_with_api_prefix_is_normalised() -> None:
    adapter = WebMethodsAdapter({"base_url": "http://wm.test/rest/apigateway/"})
    assert adapter._config["base_url"] == "http://wm.test"


# ------------------------------------------------------------------ APIs
async def test_fetch_apis_reads_owner_from_tags(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    list_apis(mock, api_obj("a1"), api_obj("a2", name="legacy", owner=None))
    records = {r["name"]: r for r in await wm.fetch_apis()}
    assert records["pets"]["owner"] == "platform" and records["legacy"]["owner"] is None
    assert records["pets"]["spec"]["basePath"] == "/pets"
    assert records["pets"]["spec"]["methods"] == ["GET", "POST"]
    assert records["pets"]["spec"]["backend"] == "https://pets.example.com/v1"


async def test_fetch_apis_raises_but_list_apis_returns_empty(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    mock.get("/apis").respond(500, json={"errorDetails": "boom"})
    with pytest.raises(Exception, match="500"):
        await wm.fetch_apis()
    assert await wm.list_apis() == []


async def test_sync_api_creates_then_activates(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    mock.get("/apis").respond(200, json={"apiResponse": []})
    post = mock.post("/apis").respond(200, json=wrap(api_obj("new", active=False)))
    activate = mock.put("/apis/new/activate").respond(200, json=wrap(api_obj("new")))
    result = await wm.sync_api(api(), "acme")
    assert result.success and result.resource_id == "new"
    sent = body(post.calls.last)
    assert sent["type"] == "openapi" and sent["apiName"] == "pets" and sent["apiVersion"] == "1.0.0"
    assert {"name": "stoa:owner=platform"} in sent["apiDefinition"]["tags"]
    assert sent["apiDefinition"]["servers"] == [{"url": "https://pets.example.com/v1"}]
    assert activate.called


async def test_sync_api_updates_in_place_without_reimport(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    put = mock.put("/apis/a1").respond(200, json=wrap(api_obj("a1", active=True)))
    result = await wm.sync_api({**api(), "id": "a1"}, "acme")
    assert result.success and result.resource_id == "a1"
    assert put.called and writes(mock) == [("PUT", "/apis/a1")]


async def test_sync_api_reactivates_an_inactive_api(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    mock.put("/apis/a1").respond(200, json=wrap(api_obj("a1", active=False)))
    mock.put("/apis/a1/activate").respond(200, json=wrap(api_obj("a1")))
    assert (await wm.sync_api({**api(), "id": "a1"}, "acme")).success
    assert writes(mock) == [("PUT", "/apis/a1"), ("PUT", "/apis/a1/activate")]


async def test_sync_api_finds_existing_owned_api_by_name(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    list_apis(mock, api_obj("a1"))
    mock.put("/apis/a1").respond(200, json=wrap(api_obj("a1")))
    assert (await wm.sync_api(api(), "acme")).resource_id == "a1"
    assert writes(mock) == [("PUT", "/apis/a1")]


async def test_sync_api_converts_openapi_31(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    mock.get("/apis").respond(200, json={"apiResponse": []})
    post = mock.post("/apis").respond(200, json=wrap(api_obj("o1")))
    result = await wm.sync_api(api("orders", openapi=OPENAPI_31), "acme")
    assert body(post.calls.last)["apiDefinition"]["openapi"] == "3.0.3"
    assert result.data is not None and any("webhooks" in n for n in result.data["notes"])


async def test_sync_api_reports_gateway_error_details(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    mock.get("/apis").respond(200, json={"apiResponse": []})
    mock.post("/apis").respond(400, json={"errorDetails": "Unable to parse the OpenAPI document"})
    result = await wm.sync_api(api(), "acme")
    assert not result.success and result.category == "permanent"
    assert "Unable to parse" in str(result.error)


async def test_sync_api_never_raises_on_network_error(wm: WebMethodsAdapter) -> None:
    with respx.mock(base_url=BASE) as router:
        router.route().mock(side_effect=httpx.ConnectError("refused"))
        wm.client.retry.attempts = 1
        result = await wm.sync_api(api(), "acme")
    assert not result.success and result.category == "temporary"


async def test_delete_api_deactivates_first(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    mock.get("/apis/a1").respond(200, json=wrap(api_obj("a1", active=True)))
    mock.put("/apis/a1/deactivate").respond(200, json=wrap(api_obj("a1", active=False)))
    delete = mock.delete("/apis/a1").respond(204)
    assert (await wm.delete_api("a1")).success
    assert writes(mock) == [("PUT", "/apis/a1/deactivate"), ("DELETE", "/apis/a1")]
    assert delete.calls.last.request.url.params["forceDelete"] == "false"


async def test_delete_inactive_api_skips_deactivate(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    mock.get("/apis/a1").respond(200, json=wrap(api_obj("a1", active=False)))
    mock.delete("/apis/a1").respond(204)
    assert (await wm.delete_api("a1")).success
    assert writes(mock) == [("DELETE", "/apis/a1")]


async def test_delete_missing_api_is_success(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    mock.get("/apis/gone").respond(404, json={"errorDetails": "Unable to find the resource: gone"})
    assert (await wm.delete_api("gone")).success
    assert writes(mock) == []


async def test_delete_foreign_api_is_refused(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    mock.get("/apis/a9").respond(200, json=wrap(api_obj("a9", owner="team-b")))
    result = await wm.delete_api("a9")
    assert not result.success and result.category == "conflict" and writes(mock) == []


# ------------------------------------------------------------------ policies
def throttle(action_id: str, owner: str = "platform", api_name: str = "pets") -> dict[str, Any]:
    record = make_record("Policy", "pets-rate", {"api": api_name, "type": "rate_limit",
                                                  "config": {"requests": 7, "period": "hour"}})
    from reconciler.adapters.webmethods.mappers import policy_payload
    return {**policy_payload(record, owner)["policyAction"], "id": action_id}


async def test_fetch_policies_maps_throttle_and_ignores_foreign_templates(mock: respx.MockRouter,
                                                                          wm: WebMethodsAdapter) -> None:
    mock.get("/policyActions").respond(200, json={"policyAction": [
        throttle("p1"), {"id": "p2", "templateKey": "entryProtocolPolicy", "parameters": []}]})
    records = await wm.fetch_policies()
    assert [(r["name"], r["owner"]) for r in records] == [("pets-rate", "platform")]
    assert records[0]["spec"] == {"api": "pets", "type": "rate_limit", "config": {"requests": 7, "period": "hour"}}


def attach_mocks(mock: respx.MockRouter, enforcements: list[dict[str, Any]]) -> respx.Route:
    list_apis(mock, api_obj("a1"))
    mock.get("/policies/pol-a1").respond(200, json={"policy": {"id": "pol-a1", "policyEnforcements": enforcements}})
    return mock.put("/policies/pol-a1").respond(200, json={"policy": {"id": "pol-a1"}})


async def test_upsert_policy_creates_and_enforces_on_the_api(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    put_policy = attach_mocks(mock, [{"stageKey": "transport", "enforcements": [{"enforcementObjectId": "x"}]}])
    post = mock.post("/policyActions").respond(201, json={"policyAction": throttle("p1")})
    result = await wm.upsert_policy(full_set()[2])
    assert result.success and result.resource_id == "p1"
    assert body(post.calls.last)["policyAction"]["templateKey"] == "throttle"
    stages = body(put_policy.calls.last)["policy"]["policyEnforcements"]
    assert {"stageKey": "trafficOptimization", "enforcements": [{"enforcementObjectId": "p1"}]} in stages
    assert stages[0]["enforcements"] == [{"enforcementObjectId": "x"}]


async def test_upsert_policy_already_enforced_skips_policy_put(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    attach_mocks(mock, [{"stageKey": "trafficOptimization", "enforcements": [{"enforcementObjectId": "p1"}]}])
    mock.get("/policyActions/p1").respond(200, json={"policyAction": throttle("p1")})
    mock.put("/policyActions/p1").respond(200, json={"policyAction": throttle("p1")})
    assert (await wm.upsert_policy({**full_set()[2], "id": "p1"})).success
    assert writes(mock) == [("PUT", "/policyActions/p1")]


async def test_upsert_policy_for_unknown_api_fails(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    mock.get("/apis").respond(200, json={"apiResponse": []})
    result = await wm.upsert_policy(full_set()[2])
    assert not result.success and "pets" in str(result.error) and writes(mock) == []


async def test_delete_policy_detaches_then_deletes(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    put_policy = attach_mocks(mock, [{"stageKey": "trafficOptimization", "enforcements": [{"enforcementObjectId": "p1"}]}])
    mock.get("/policyActions/p1").respond(200, json={"policyAction": throttle("p1")})
    mock.delete("/policyActions/p1").respond(204)
    assert (await wm.delete_policy("p1")).success
    assert writes(mock) == [("PUT", "/policies/pol-a1"), ("DELETE", "/policyActions/p1")]
    assert body(put_policy.calls.last)["policy"]["policyEnforcements"] == []


async def test_delete_foreign_policy_is_refused(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    mock.get("/policyActions/p1").respond(200, json={"policyAction": throttle("p1", owner="team-b")})
    result = await wm.delete_policy("p1")
    assert not result.success and writes(mock) == []


# ------------------------------------------------------------------ applications
async def test_provision_application_creates_and_associates_full_list(mock: respx.MockRouter,
                                                                      wm: WebMethodsAdapter) -> None:
    list_apis(mock, api_obj("a1"))
    mock.get("/applications").respond(200, json={"applications": []})
    post = mock.post("/applications").respond(200, json={"id": "app1", "name": "mobile"})
    assoc = mock.put("/applications/app1/apis").respond(200, json={"apiIDs": ["a1"]})
    result = await wm.provision_application(full_set()[4])
    assert result.success and result.resource_id == "app1"
    sent = body(post.calls.last)
    assert sent["description"] == "Mobile app " + OWNER_DESC
    assert sent["identifiers"] == [{"key": "token", "name": "stoa-apiKey", "value": ["mobile-key-0001"]}]
    assert body(assoc.calls.last) == {"apiIDs": ["a1"]}


async def test_provision_application_is_idempotent_by_owner_and_name(mock: respx.MockRouter,
                                                                     wm: WebMethodsAdapter) -> None:
    list_apis(mock, api_obj("a1"))
    mock.get("/applications").respond(200, json={"applications": [
        {"id": "theirs", "name": "mobile", "description": "[stoa:owner=team-b]"},
        {"id": "ours", "name": "mobile", "description": OWNER_DESC}]})
    mock.put("/applications/ours").respond(200, json={"id": "ours"})
    mock.put("/applications/ours/apis").respond(200, json={"apiIDs": ["a1"]})
    assert (await wm.provision_application(full_set()[4])).resource_id == "ours"
    assert writes(mock) == [("PUT", "/applications/ours"), ("PUT", "/applications/ours/apis")]


async def test_fetch_applications_fingerprints_the_key(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    list_apis(mock, api_obj("a1"))
    mock.get("/applications").respond(200, json={"applications": [
        {"id": "app1", "name": "mobile", "description": "Mobile " + OWNER_DESC, "contactEmails": ["m@x.io"],
         "identifiers": [{"key": "token", "name": "stoa-apiKey", "value": ["k-1"]}]},
        {"id": "app2", "name": "TestApp", "description": None}]})
    mock.get("/applications/app1/apis").respond(200, json={"apiIDs": ["a1"]})
    records = {r["name"]: r for r in await wm.fetch_applications()}
    assert records["mobile"]["spec"] == {"displayName": "Mobile", "email": "m@x.io", "subscriptions": ["pets"],
                                         "credential": {"type": "apiKey", "fingerprint": secret_fingerprint("k-1")}}
    assert "k-1" not in json.dumps(records)
    assert records["TestApp"]["owner"] is None


async def test_deprovision_missing_application_is_success(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    mock.get("/applications/nope").respond(404, json={"errorDetails": "Unable to find the resource"})
    assert (await wm.deprovision_application("nope")).success and writes(mock) == []


# ------------------------------------------------------------------ extended
async def test_upsert_auth_server_posts_alias_with_resolved_secret(mock: respx.MockRouter,
                                                                   wm: WebMethodsAdapter) -> None:
    mock.get("/alias").respond(200, json={"alias": []})
    post = mock.post("/alias").respond(201, json={"id": "al1", "name": "keycloak"})
    record = {**full_set()[5], "secret": {"clientSecret": "kc-secret"}}
    result = await wm.upsert_auth_server(record)
    assert result.success and result.resource_id == "al1"
    sent = body(post.calls.last)
    assert sent["type"] == "authServerAlias" and sent["authServerType"] == "EXTERNAL"
    assert sent["remoteIntrospectionConfig"] == {"introspectionEndpoint": "https://kc.example.com/introspect",
                                                 "clientId": "gw", "clientSecret": {"secret": "kc-secret"}}


async def test_upsert_alias_updates_by_id_and_accepts_bare_echo(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    put = mock.put("/alias/al2").respond(200, json={"id": "al2", "name": "pets-backend"})
    result = await wm.upsert_alias({**full_set()[8], "id": "al2"})
    assert result.success and result.resource_id == "al2"
    assert body(put.calls.last)["endPointURI"] == "https://pets.example.com"


async def test_upsert_strategy_reads_wrapped_response(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    mock.get("/strategies").respond(200, json={"strategies": []})
    post = mock.post("/strategies").respond(200, json={"strategy": {"id": "st1", "name": "keycloak-oauth"}})
    result = await wm.upsert_strategy(full_set()[6])
    assert result.resource_id == "st1"
    assert body(post.calls.last) == {"name": "keycloak-oauth", "description": OWNER_DESC, "type": "OAUTH2",
                                     "authServerAlias": "keycloak", "clientId": "pets-app"}


async def test_upsert_scope_resolves_api_ids(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    list_apis(mock, api_obj("a1"))
    mock.get("/scopes").respond(200, json={"scopes": []})
    post = mock.post("/scopes").respond(201, json={"scope": {"id": "sc1"}})
    assert (await wm.upsert_scope(full_set()[7])).resource_id == "sc1"
    assert body(post.calls.last) == {"scopeName": "pets-read", "scopeDescription": OWNER_DESC, "audience": "",
                                     "apiScopes": ["a1"],
                                     "requiredAuthScopes": [{"authServerAlias": "keycloak", "scopeName": "pets:read"}]}


async def test_apply_config_puts_value_and_records_ownership(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    mock.get("/alias").respond(200, json={"alias": []})
    put = mock.put("/configurations/errorProcessing").respond(200, json={})
    post = mock.post("/alias").respond(201, json={"id": "cfg"})
    assert (await wm.apply_config(full_set()[9])).success
    assert body(put.calls.last)["defaultErrorMessage"] == "oops"
    assert body(post.calls.last) == {"name": "stoa-reconciler.platform.configurations", "type": "simple",
                                     "description": "Configuration keys managed by stoa-reconciler " + OWNER_DESC,
                                     "value": "errorProcessing"}


async def test_apply_config_managed_by_another_owner_is_a_conflict(mock: respx.MockRouter,
                                                                   wm: WebMethodsAdapter) -> None:
    mock.get("/alias").respond(200, json={"alias": [{"id": "c", "name": "stoa-reconciler.team-b.configurations",
                                                     "type": "simple", "value": "errorProcessing",
                                                     "description": "[stoa:owner=team-b]"}]})
    result = await wm.apply_config(full_set()[9])
    assert not result.success and result.category == "conflict" and writes(mock) == []


async def test_release_last_config_key_deletes_the_marker_alias(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    mock.get("/alias").respond(200, json={"alias": [{"id": "c", "name": "stoa-reconciler.platform.configurations",
                                                     "type": "simple", "value": "errorProcessing",
                                                     "description": OWNER_DESC}]})
    mock.delete("/alias/c").respond(204)
    assert (await wm.release_config("errorProcessing")).success
    assert writes(mock) == [("DELETE", "/alias/c")]


async def test_fetch_configs_names_records_after_the_key(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    mock.get("/alias").respond(200, json={"alias": [{"id": "c", "name": "stoa-reconciler.platform.configurations",
                                                     "type": "simple", "value": "loadBalancer",
                                                     "description": OWNER_DESC}]})
    mock.get("/configurations/loadBalancer").respond(200, json={"httpUrls": ["http://lb"]})
    records = await wm.fetch_configs()
    assert records == [make_record("GatewayConfig", "load-balancer", {"key": "loadBalancer",
                                                                      "value": {"httpUrls": ["http://lb"]}},
                                   id="loadBalancer", owner="platform")]


async def test_fetch_aliases_hides_the_config_marker(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    mock.get("/alias").respond(200, json={"alias": [
        {"id": "c", "name": "stoa-reconciler.platform.configurations", "type": "simple", "value": "x"},
        {"id": "k", "name": "keycloak", "type": "authServerAlias"},
        {"id": "e", "name": "pets-backend", "type": "endpoint", "endPointURI": "https://p", "readTimeout": "30",
         "description": OWNER_DESC}]})
    aliases = await wm.fetch_aliases()
    assert [(a["name"], a["owner"], a["spec"].get("readTimeout")) for a in aliases] == [("pets-backend", "platform", 30)]
    assert [a["name"] for a in await wm.fetch_auth_servers()] == ["keycloak"]


async def test_export_archive_returns_zip_bytes(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("api/x.json", "{}")
    route = mock.get("/archive").respond(200, content=buffer.getvalue())
    result = await wm.export_archive()
    assert result.success and result.data == {"content": buffer.getvalue(), "media_type": "application/zip"}
    params = route.calls.last.request.url.params
    assert params["apis"] == "*" and params["policyActions"] == "*" and "include" not in params


async def test_export_archive_rejects_a_non_zip_body(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    mock.get("/archive").respond(200, json={"errorDetails": "nothing"})
    result = await wm.export_archive()
    assert not result.success and "ZIP" in str(result.error)


async def test_retries_a_503_then_succeeds(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    wm.client.retry.base = 0.0
    mock.get("/apis").mock(side_effect=[httpx.Response(503), httpx.Response(200, json={"apiResponse": []})])
    assert await wm.fetch_apis() == []


def test_desired_view_of_an_api_compares_the_hash_and_activation() -> None:
    spec = {**api()["spec"], "openapi": OPENAPI_31, "openapiHash": "sha256:x", "methods": ["POST", "GET"]}
    view = WebMethodsAdapter.desired_view("API", spec)
    assert "openapi" not in view and view["openapiHash"] == "sha256:x"
    assert view["methods"] == ["GET", "POST"] and view["active"] is True


def test_desired_view_of_an_auth_server_drops_the_secret_reference() -> None:
    view = WebMethodsAdapter.desired_view("AuthServer", full_set()[5]["spec"])
    assert "clientSecret" not in view and view["clientId"] == "gw"


def test_adapter_supports_every_kind_and_export() -> None:
    adapter = WebMethodsAdapter({"gateway_type": "webmethods"})
    assert adapter.supported_kinds == {"API", "Policy", "Consumer", "AuthServer", "Strategy", "Scope",
                                       "Alias", "GatewayConfig"}
    assert adapter.can_export


async def test_echoed_api_key_is_scrubbed_from_errors_and_logs(mock: respx.MockRouter, wm: WebMethodsAdapter,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    list_apis(mock, api_obj("a1"))
    mock.get("/applications").respond(200, json={"applications": []})
    mock.post("/applications").respond(400, json={"errorDetails": "invalid identifier value mobile-key-0001"})
    result = await wm.provision_application(full_set()[4])
    assert not result.success and "invalid identifier" in str(result.error)
    assert "mobile-key-0001" not in str(result.error) and "mobile-key-0001" not in caplog.text
    # The run's scrubber keeps the key: a later message of this run (any gateway) cannot carry it either.
    assert "mobile-key-0001" in wm.scrubber and wm.client.scrubber is wm.scrubber


async def test_echoed_client_secret_is_scrubbed(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    mock.get("/alias").respond(200, json={"alias": []})
    mock.post("/alias").respond(400, json={"errorDetails": "bad secret kc-secret-value"})
    result = await wm.upsert_auth_server({**full_set()[5], "secret": {"clientSecret": "kc-secret-value"}})
    assert not result.success and "kc-secret-value" not in str(result.error)


async def test_fetch_apis_pages_through_the_list(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    import reconciler.adapters.webmethods.adapter as module

    def page(request: httpx.Request) -> httpx.Response:
        start = int(request.url.params["from"])
        ids = [f"a{i}" for i in range(start, min(start + 2, 5))]
        return httpx.Response(200, json={"apiResponse": [{"api": {"id": i}} for i in ids]})

    module_page = module.PAGE_SIZE
    module.PAGE_SIZE = 2
    try:
        mock.get("/apis").mock(side_effect=page)
        mock.get(url__regex=r".*/apis/a\d$").mock(
            side_effect=lambda request: httpx.Response(200, json=wrap(api_obj(request.url.path.rsplit("/", 1)[-1],
                                                                              name=request.url.path[-2:]))))
        records = await wm.fetch_apis()
    finally:
        module.PAGE_SIZE = module_page
    assert sorted(r["id"] for r in records) == ["a0", "a1", "a2", "a3", "a4"]
    froms = [c.request.url.params["from"] for c in mock.calls if c.request.url.path.endswith("/apis")]
    assert froms == ["0", "2", "4"]


async def test_existing_application_found_by_name_gets_its_api_list_emptied(mock: respx.MockRouter,
                                                                            wm: WebMethodsAdapter) -> None:
    list_apis(mock)
    mock.get("/applications").respond(200, json={"applications": [
        {"id": "ours", "name": "mobile", "description": OWNER_DESC}]})
    mock.put("/applications/ours").respond(200, json={"id": "ours"})
    assoc = mock.put("/applications/ours/apis").respond(200, json={"apiIDs": []})
    record = full_set()[4]
    record["spec"]["subscriptions"] = []
    assert (await wm.provision_application(record)).success
    assert body(assoc.calls.last) == {"apiIDs": []}


async def test_connect_forgets_ids_cached_by_an_earlier_run(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    list_apis(mock, api_obj("a1"))
    await wm.fetch_apis()
    assert await wm._api_id("pets") == "a1"
    await wm.disconnect()
    mock.get("/apis").respond(200, json={"apiResponse": []})
    await wm.connect()
    with pytest.raises(Exception, match="not on this gateway"):
        await wm._api_id("pets")
