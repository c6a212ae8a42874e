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
from reconciler.adapters.webmethods.mappers import identify_payload
from reconciler.model.records import make_record
from tests.webmethods.helpers import OPENAPI_31, api, full_set

BASE = "http://wm.test/rest/apigateway"
OWNER_DESC = "[stoa:owner=platform]"


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        # An empty gateway's policy lists; a test that needs more re-mocks the same pattern (respx replaces it).
        router.get("/policyActions").respond(200, json={"policyAction": []})
        router.get("/policies").respond(200, json={"policy": []})
        router.post("/policyActions").respond(201, json={"policyAction": {"id": "iam-new"}})
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


def identify(action_id: str = "iam-1", api_name: str = "pets", owner: str = "platform",
             anonymous: bool = False) -> dict[str, Any]:
    return {**identify_payload(api_name, owner, anonymous=anonymous)["policyAction"], "id": action_id}


def policy_of(mock: respx.MockRouter, api_id: str, stages: list[dict[str, Any]],
              actions: list[dict[str, Any]] | None = None) -> respx.Route:
    """The API's policy (by id and in the list) with these stages, as the last PUT left it (what the
    adapter reads back after a write); returns the PUT route."""
    policy = {"id": f"pol-{api_id}", "policyEnforcements": stages}

    def put(request: httpx.Request) -> httpx.Response:
        policy["policyEnforcements"] = json.loads(request.content)["policy"]["policyEnforcements"]
        return httpx.Response(200, json={"policy": policy})

    mock.get(f"/policies/pol-{api_id}").mock(side_effect=lambda _: httpx.Response(200, json={"policy": policy}))
    mock.get("/policies").mock(side_effect=lambda _: httpx.Response(200, json={"policy": [policy]}))
    if actions is not None:
        mock.get("/policyActions").respond(200, json={"policyAction": actions})
    return mock.put(f"/policies/pol-{api_id}").mock(side_effect=put)


def iam_in_place(mock: respx.MockRouter, api_id: str = "a1") -> respx.Route:
    """Our Identify & Authorize action already enforced: syncing the API writes nothing more."""
    return policy_of(mock, api_id, [{"stageKey": "IAM", "enforcements": [{"enforcementObjectId": "iam-1"}]}],
                     [identify()])


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
    assert records["pets"]["spec"]["protection"] == "none"
    # made by hand: read as the import declares it (the placeholder tenant, nothing guarding it)
    legacy = records["legacy"]["spec"]
    assert legacy["protection"] == "none" and legacy["tenant"] == "default" and legacy["basePath"] == "/legacy"


@pytest.mark.parametrize(("stages", "actions", "expected"), [
    ([{"stageKey": "IAM", "enforcements": [{"enforcementObjectId": "iam-1"}]}], [identify()], "apiKey"),
    ([{"stageKey": "IAM", "enforcements": [{"enforcementObjectId": "iam-1"}]}], [identify(anonymous=True)],
     "anonymous"),
    ([], [identify()], "none"),  # created, but no stage enforces it
    ([{"stageKey": "IAM", "enforcements": [{"enforcementObjectId": "iam-1"}]}], [identify(owner="team-b")], "none"),
    ([{"stageKey": "IAM", "enforcements": [{"enforcementObjectId": "iam-1"}]}],
     [{**identify(), "parameters": identify()["parameters"][:2]}], "none"),  # no API key rule: changed by hand
])
async def test_fetch_apis_reads_what_guards_the_api(mock: respx.MockRouter, wm: WebMethodsAdapter,
                                                    stages: list[dict[str, Any]], actions: list[dict[str, Any]],
                                                    expected: str) -> None:
    list_apis(mock, api_obj("a1"))
    policy_of(mock, "a1", stages, actions)
    (record,) = await wm.fetch_apis()
    assert record["spec"]["protection"] == expected


async def test_fetch_apis_raises_but_list_apis_returns_empty(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    mock.get("/apis").respond(500, json={"errorDetails": "boom"})
    with pytest.raises(Exception, match="500"):
        await wm.fetch_apis()
    assert await wm.list_apis() == []


async def test_sync_api_creates_identifies_then_activates(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    mock.get("/apis").respond(200, json={"apiResponse": []})
    post = mock.post("/apis").respond(200, json=wrap(api_obj("new", active=False)))
    activate = mock.put("/apis/new/activate").respond(200, json=wrap(api_obj("new")))
    put_policy = policy_of(mock, "new", [{"stageKey": "routing", "enforcements": [{"enforcementObjectId": "r"}]}])
    result = await wm.sync_api(api(), "acme")
    assert result.success and result.resource_id == "new"
    sent = body(post.calls.last)
    assert sent["type"] == "openapi" and sent["apiName"] == "pets" and sent["apiVersion"] == "1.0.0"
    assert {"name": "stoa:owner=platform"} in sent["apiDefinition"]["tags"]
    assert sent["apiDefinition"]["servers"] == [{"url": "https://pets.example.com/v1"}]
    # Identify & Authorize (API key) in the IAM stage before the API is activated
    assert writes(mock) == [("POST", "/apis"), ("POST", "/policyActions"), ("PUT", "/policies/pol-new"),
                            ("PUT", "/apis/new/activate")]
    iam = next(c for c in mock.calls if c.request.method == "POST" and c.request.url.path.endswith("/policyActions"))
    assert body(iam)["policyAction"]["templateKey"] == "evaluatePolicy"
    assert {"templateKey": "allowAnonymous", "values": ["false"]} in body(iam)["policyAction"]["parameters"]
    assert body(put_policy.calls.last)["policy"]["policyEnforcements"] == [
        {"stageKey": "routing", "enforcements": [{"enforcementObjectId": "r"}]},
        {"stageKey": "IAM", "enforcements": [{"enforcementObjectId": "iam-new"}]}]
    assert activate.called


async def test_sync_api_unprotected_identifies_anonymous_calls(mock: respx.MockRouter) -> None:
    adapter = WebMethodsAdapter({"name": "wm", "base_url": "http://wm.test", "owner": "platform",
                                 "options": {"protectApis": False}, "auth": {"username": "u", "password": "p"}})
    async with adapter:
        mock.put("/apis/a1").respond(200, json=wrap(api_obj("a1")))
        mock.get("/apis/a1").respond(200, json=wrap(api_obj("a1")))
        iam_in_place(mock)
        put_action = mock.put("/policyActions/iam-1").respond(200, json={"policyAction": identify()})
        assert (await adapter.sync_api({**api(), "id": "a1"}, "acme")).success
        assert writes(mock) == [("PUT", "/apis/a1"), ("PUT", "/policyActions/iam-1")]
        assert {"templateKey": "allowAnonymous", "values": ["true"]} in body(put_action.calls.last)["policyAction"][
            "parameters"]
        assert adapter.desired_view("API", api()["spec"])["protection"] == "anonymous"


async def test_sync_api_updates_in_place_without_reimport(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    mock.get("/apis/a1").respond(200, json=wrap(api_obj("a1", active=True)))
    iam_in_place(mock)
    put = mock.put("/apis/a1").respond(200, json=wrap(api_obj("a1", active=True)))
    result = await wm.sync_api({**api(), "id": "a1"}, "acme")
    assert result.success and result.resource_id == "a1"
    assert put.called and writes(mock) == [("PUT", "/apis/a1")]


async def test_new_version_of_an_active_api_deactivates_updates_activates(mock: respx.MockRouter,
                                                                         wm: WebMethodsAdapter) -> None:
    mock.get("/apis/a1").respond(200, json=wrap(api_obj("a1", active=True)))  # version 1.0.0
    iam_in_place(mock)
    mock.put("/apis/a1/deactivate").respond(200, json=wrap(api_obj("a1", active=False)))
    put = mock.put("/apis/a1").respond(200, json=wrap({**api_obj("a1", active=False), "apiVersion": "2.0.0"}))
    mock.put("/apis/a1/activate").respond(200, json=wrap(api_obj("a1")))
    assert (await wm.sync_api({**api(version="2.0.0"), "id": "a1"}, "acme")).success
    assert writes(mock) == [("PUT", "/apis/a1/deactivate"), ("PUT", "/apis/a1"), ("PUT", "/apis/a1/activate")]
    assert body(put.calls.last)["apiVersion"] == "2.0.0"


async def test_sync_api_reactivates_an_inactive_api(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    mock.get("/apis/a1").respond(200, json=wrap(api_obj("a1", active=False)))
    iam_in_place(mock)
    mock.put("/apis/a1").respond(200, json=wrap(api_obj("a1", active=False)))
    mock.put("/apis/a1/activate").respond(200, json=wrap(api_obj("a1")))
    assert (await wm.sync_api({**api(), "id": "a1"}, "acme")).success
    assert writes(mock) == [("PUT", "/apis/a1"), ("PUT", "/apis/a1/activate")]


async def test_sync_api_finds_existing_owned_api_by_name(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    list_apis(mock, api_obj("a1"))
    iam_in_place(mock)
    mock.put("/apis/a1").respond(200, json=wrap(api_obj("a1")))
    assert (await wm.sync_api(api(), "acme")).resource_id == "a1"
    assert writes(mock) == [("PUT", "/apis/a1")]


async def test_sync_api_converts_openapi_31(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    mock.get("/apis").respond(200, json={"apiResponse": []})
    post = mock.post("/apis").respond(200, json=wrap(api_obj("o1")))
    policy_of(mock, "o1", [])
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
    mock.get("/policyActions").respond(200, json={"policyAction": [identify(), identify("iam-2", "orders")]})
    mock.delete("/policyActions/iam-1").respond(204)
    assert (await wm.delete_api("a1")).success
    # the API's Identify & Authorize action goes with it (not the one of another API)
    assert writes(mock) == [("PUT", "/apis/a1/deactivate"), ("DELETE", "/apis/a1"), ("DELETE", "/policyActions/iam-1")]
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
    list_apis(mock, api_obj("a1"))
    policy_of(mock, "a1", [{"stageKey": "LMT", "enforcements": [{"enforcementObjectId": "p1"}]}], [
        throttle("p1"), {"id": "p2", "templateKey": "entryProtocolPolicy", "parameters": []}, identify()])
    records = await wm.fetch_policies()
    assert [(r["name"], r["owner"]) for r in records] == [("pets-rate", "platform")]
    assert records[0]["spec"] == {"api": "pets", "type": "rate_limit", "config": {"requests": 7, "period": "hour"},
                                  "attached": True}


@pytest.mark.parametrize("stages", [
    [],  # created, never attached
    [{"stageKey": "IAM", "enforcements": [{"enforcementObjectId": "p1"}]}],  # not in its stage
])
async def test_an_action_no_stage_enforces_reads_as_not_attached(mock: respx.MockRouter, wm: WebMethodsAdapter,
                                                                 stages: list[dict[str, Any]]) -> None:
    list_apis(mock, api_obj("a1"))
    policy_of(mock, "a1", stages, [throttle("p1")])
    (record,) = await wm.fetch_policies()
    assert record["spec"]["attached"] is False
    assert wm.desired_view("Policy", full_set()[2]["spec"])["attached"] is True  # so it plans as an update


async def test_an_action_of_an_api_deleted_by_hand_reads_as_not_attached(mock: respx.MockRouter,
                                                                        wm: WebMethodsAdapter) -> None:
    list_apis(mock)
    mock.get("/policyActions").respond(200, json={"policyAction": [throttle("p1")]})
    (record,) = await wm.fetch_policies()
    assert record["spec"]["attached"] is False


def attach_mocks(mock: respx.MockRouter, enforcements: list[dict[str, Any]]) -> respx.Route:
    list_apis(mock, api_obj("a1"))
    return policy_of(mock, "a1", enforcements)


async def test_upsert_policy_creates_and_enforces_on_the_api(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    put_policy = attach_mocks(mock, [{"stageKey": "transport", "enforcements": [{"enforcementObjectId": "x"}]}])
    post = mock.post("/policyActions").respond(201, json={"policyAction": throttle("p1")})
    result = await wm.upsert_policy(full_set()[2])
    assert result.success and result.resource_id == "p1"
    assert body(post.calls.last)["policyAction"]["templateKey"] == "throttle"
    sent = body(post.calls.last)["policyAction"]["parameters"]
    assert {"templateKey": "consumerIds", "values": ["AnyConsumers"]} in sent
    stages = body(put_policy.calls.last)["policy"]["policyEnforcements"]
    assert {"stageKey": "LMT", "enforcements": [{"enforcementObjectId": "p1"}]} in stages
    assert stages[0]["enforcements"] == [{"enforcementObjectId": "x"}]


async def test_cors_is_enforced_in_response_processing(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    put_policy = attach_mocks(mock, [])
    mock.post("/policyActions").respond(201, json={"policyAction": {"id": "c1"}})
    assert (await wm.upsert_policy(full_set()[3])).success
    assert body(put_policy.calls.last)["policy"]["policyEnforcements"] == [
        {"stageKey": "responseProcessing", "enforcements": [{"enforcementObjectId": "c1"}]}]


async def test_an_action_in_a_wrong_stage_moves_to_its_own(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    put_policy = attach_mocks(mock, [{"stageKey": "transport", "enforcements": [{"enforcementObjectId": "t"},
                                                                                {"enforcementObjectId": "p1"}]}])
    mock.get("/policyActions/p1").respond(200, json={"policyAction": throttle("p1")})
    mock.put("/policyActions/p1").respond(200, json={"policyAction": throttle("p1")})
    assert (await wm.upsert_policy({**full_set()[2], "id": "p1"})).success
    assert body(put_policy.calls.last)["policy"]["policyEnforcements"] == [
        {"stageKey": "transport", "enforcements": [{"enforcementObjectId": "t"}]},
        {"stageKey": "LMT", "enforcements": [{"enforcementObjectId": "p1"}]}]


async def test_upsert_policy_already_enforced_skips_policy_put(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    attach_mocks(mock, [{"stageKey": "LMT", "enforcements": [{"enforcementObjectId": "p1"}]}])
    mock.get("/policyActions/p1").respond(200, json={"policyAction": throttle("p1")})
    mock.put("/policyActions/p1").respond(200, json={"policyAction": throttle("p1")})
    assert (await wm.upsert_policy({**full_set()[2], "id": "p1"})).success
    assert writes(mock) == [("PUT", "/policyActions/p1")]


async def test_upsert_policy_for_unknown_api_fails(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    mock.get("/apis").respond(200, json={"apiResponse": []})
    result = await wm.upsert_policy(full_set()[2])
    assert not result.success and "pets" in str(result.error) and writes(mock) == []


async def test_delete_policy_detaches_then_deletes(mock: respx.MockRouter, wm: WebMethodsAdapter) -> None:
    put_policy = attach_mocks(mock, [{"stageKey": "LMT", "enforcements": [{"enforcementObjectId": "p1"}]}])
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
    assert sent["identifiers"] == [] and "accessTokens" not in sent  # the gateway makes the key
    assert "mobile-key-0001" not in json.dumps([body(c) for c in mock.calls if c.request.content])
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


async def test_fetch_applications_never_reads_the_generated_key(mock: respx.MockRouter,
                                                                wm: WebMethodsAdapter) -> None:
    list_apis(mock, api_obj("a1"))
    mock.get("/applications").respond(200, json={"applications": [
        {"id": "app1", "name": "mobile", "description": "Mobile " + OWNER_DESC, "contactEmails": ["m@x.io"],
         "identifiers": [], "accessTokens": {"apiAccessKey_credentials": {"apiAccessKey": "k-1"}}},
        {"id": "app2", "name": "TestApp", "description": None}]})
    mock.get("/applications/app1/apis").respond(200, json={"apiIDs": ["a1"]})
    mock.get("/applications/app2/apis").respond(200, json={"apiIDs": ["a1"]})
    records = {r["name"]: r for r in await wm.fetch_applications()}
    assert records["mobile"]["spec"] == {"displayName": "Mobile", "email": "m@x.io", "subscriptions": ["pets"]}
    assert "k-1" not in json.dumps(records)
    # made by hand: named as the import names it, read with its APIs so an adoption pairs it
    assert records["testapp"]["owner"] is None and records["testapp"]["spec"]["subscriptions"] == ["pets"]


@pytest.mark.parametrize(("owner", "deleted"), [("platform", True), ("team-b", False)])
async def test_deprovision_reads_the_owner_inside_the_samples_envelope(mock: respx.MockRouter, wm: WebMethodsAdapter,
                                                                       owner: str, deleted: bool) -> None:
    mock.get("/applications/app1").respond(200, json={"applications": [
        {"id": "app1", "name": "mobile", "description": f"Mobile [stoa:owner={owner}]"}]})
    mock.delete("/applications/app1").respond(204)
    result = await wm.deprovision_application("app1")
    assert result.success is deleted
    assert writes(mock) == ([("DELETE", "/applications/app1")] if deleted else [])


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


def test_desired_view_of_an_api_compares_the_hash_activation_and_protection() -> None:
    spec = {**api()["spec"], "openapi": OPENAPI_31, "openapiHash": "sha256:x", "methods": ["POST", "GET"]}
    view = WebMethodsAdapter({}).desired_view("API", spec)
    assert "openapi" not in view and view["openapiHash"] == "sha256:x"
    assert view["methods"] == ["GET", "POST"] and view["active"] is True and view["protection"] == "apiKey"


def test_desired_view_of_a_consumer_has_no_key_to_compare() -> None:
    view = WebMethodsAdapter({}).desired_view("Consumer", full_set()[4]["spec"])
    assert "credential" not in view and view["subscriptions"] == ["pets"]


def test_desired_view_of_an_auth_server_drops_the_secret_reference() -> None:
    view = WebMethodsAdapter({}).desired_view("AuthServer", full_set()[5]["spec"])
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


# ------------------------------------------------------------------ plan-time checks and notes
def test_a_consumer_with_a_declared_key_is_a_problem_unless_keys_are_gateway_generated() -> None:
    records = full_set()
    problems = WebMethodsAdapter.check(records, {})
    assert [(p.kind, p.name, p.field) for p in problems] == [("Consumer", "mobile", "spec.credential")]
    assert "generates each application's API key itself" in problems[0].message
    assert "options.consumerKeys: gateway-generated" in problems[0].message
    assert "mobile-key-0001" not in problems[0].message
    assert WebMethodsAdapter.check(records, {"consumerKeys": "gateway-generated"}) == []
    assert len(WebMethodsAdapter.check(records, {"consumerKeys": "declared"})) == 1
    assert WebMethodsAdapter.check([r for r in records if r["kind"] != "Consumer"], {}) == []


def test_plan_notes_say_the_gateway_makes_the_key_and_guards_the_api() -> None:
    adapter = WebMethodsAdapter({"options": {"consumerKeys": "gateway-generated"}})
    (note,) = adapter.plan_notes("Consumer", full_set()[4]["spec"])
    assert "generates this application's API key" in note and "mobile-key" not in note
    (guard,) = adapter.plan_notes("API", api()["spec"])
    assert "Identify & Authorize" in guard and "protectApis: false" in guard
    (open_note,) = WebMethodsAdapter({"options": {"protectApis": "false"}}).plan_notes("API", api()["spec"])
    assert "allows anonymous calls" in open_note
