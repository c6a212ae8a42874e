"""Unit tests of single adapter methods against respx-mocked Gravitee responses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

from reconciler.adapters.gravitee import mappers as m
from reconciler.adapters.gravitee.adapter import GraviteeAdapter
from reconciler.model.changes import Change, Op, Status
from reconciler.model.errors import GatewayError
from reconciler.model.records import secret_fingerprint
from tests.changes import upsert_change
from tests.gravitee.conftest import api_record, consumer_record, cors_record, rate_record

BASE = "http://gravitee.test"
V2 = f"{BASE}/management/v2/organizations/DEFAULT/environments/DEFAULT"
V1 = f"{BASE}/management/organizations/DEFAULT/environments/DEFAULT"
PASSWORD = "s3cret-admin-password"


def page(items: list[dict[str, Any]], count: int = 1) -> dict[str, Any]:
    return {"data": items, "pagination": {"page": 1, "perPage": 100, "pageCount": count, "pageItemsCount": len(items),
                                          "totalCount": len(items)}}


def v1_page(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"data": items, "metadata": {}, "page": {"current": 1, "size": len(items), "per_page": 100,
                                                     "total_pages": 1 if items else 0, "total_elements": len(items)}}


def live_api(record: dict[str, Any] | None = None, api_id: str = "a1", owner: str = "platform",
             state: str = "STARTED", deployment: str = "DEPLOYED", cors: dict[str, Any] | None = None) -> dict[str, Any]:
    """A live API; `cors` is a CORS policy record held by its HTTP listener (as the adapter writes it)."""
    body = m.api_update_body(record or api_record(), owner, None)
    if cors is not None:
        body = m.with_cors(body, cors["name"], m.cors_from_policy(cors["spec"]))
    return {**body, "id": api_id, "state": state, "deploymentState": deployment}


def live_plan(name: str, plan_id: str, policies: dict[str, dict[str, Any]] | None = None,
              status: str = "PUBLISHED") -> dict[str, Any]:
    body = m.plan_create_body(name, policies or {})
    return {**body, "id": plan_id, "apiId": "a1", "status": status}


def ok(body: Any) -> httpx.Response:
    return httpx.Response(200, json=body)


def gravitee_error(status: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"httpStatus": status, "message": message, "technicalCode": "x",
                                        "parameters": {}, "details": []})


@pytest.fixture
def adapter() -> GraviteeAdapter:
    return GraviteeAdapter({"name": "gv", "base_url": BASE, "owner": "platform", "timeout": 2.0,
                            "auth": {"username": "admin", "password": PASSWORD}})


PLUGINS = f"{BASE}/management/v2/organizations/DEFAULT/plugins/policies"


def key_settings(custom: bool, reuse: bool = False) -> dict[str, Any]:
    """PortalSettingsEntity's `plan.security` as GET .../settings returns it."""
    return {"plan": {"security": {"apikey": {"enabled": True}, "customApiKey": {"enabled": custom},
                                  "customApiKeyReuse": {"enabled": reuse}, "sharedApiKey": {"enabled": False}}}}
INSTALLED = [{"id": pid, "name": pid, "deployed": True} for pid in ("api-key", "key-less", "mock", "quota", "rate-limit")]


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.get(PLUGINS).mock(return_value=httpx.Response(200, json=INSTALLED))
        router.get(f"{V1}/settings").mock(return_value=httpx.Response(200, json=key_settings(custom=True)))
        yield router


def writes(mock: respx.MockRouter) -> list[tuple[str, str]]:
    return [(c.request.method, c.request.url.path.split("DEFAULT")[-1]) for c in mock.calls
            if c.request.method not in ("GET", "HEAD")]


def body_of(mock: respx.MockRouter, method: str, suffix: str) -> Any:
    for call in mock.calls:
        if call.request.method == method and call.request.url.path.endswith(suffix):
            return json.loads(call.request.content)
    raise AssertionError(f"no {method} …{suffix}")


def plans_route(mock: respx.MockRouter, plans: list[dict[str, Any]], api_id: str = "a1") -> respx.Route:
    return mock.get(f"{V2}/apis/{api_id}/plans").mock(return_value=httpx.Response(200, json=page(plans)))


def in_sync_plans(policies: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    return [live_plan(m.API_KEY_PLAN, "p-key", policies), live_plan(m.KEYLESS_PLAN, "p-open", policies)]


# ------------------------------------------------------------------ lifecycle
async def test_health_check_reports_organization_and_environment(adapter: GraviteeAdapter,
                                                                 mock: respx.MockRouter) -> None:
    route = mock.get(V2).mock(return_value=httpx.Response(200, json={"id": "DEFAULT", "organizationId": "DEFAULT"}))
    result = await adapter.health_check()
    assert result.success and result.data == {"organization": "DEFAULT", "environment": "DEFAULT"}
    assert route.calls[0].request.headers["authorization"].startswith("Basic ")


async def test_health_check_failure_never_raises_nor_leaks_the_password(adapter: GraviteeAdapter,
                                                                        mock: respx.MockRouter) -> None:
    mock.get(V2).mock(return_value=gravitee_error(401, f"bad credentials {PASSWORD}"))
    result = await adapter.health_check()
    assert not result.success and "401" in (result.error or "") and PASSWORD not in (result.error or "")


async def test_organization_and_environment_options_change_the_base_paths(mock: respx.MockRouter) -> None:
    adapter = GraviteeAdapter({"base_url": BASE, "options": {"organization": "ORG", "environment": "ENV"},
                               "auth": {"username": "u", "password": "p"}})
    route = mock.get(f"{BASE}/management/v2/organizations/ORG/environments/ENV").mock(
        return_value=httpx.Response(200, json={"id": "ENV", "organizationId": "ORG"}))
    assert (await adapter.health_check()).success and route.called
    assert adapter.v1 == "/management/organizations/ORG/environments/ENV"


@pytest.mark.parametrize("method", ["upsert_auth_server", "upsert_strategy", "upsert_scope", "upsert_alias",
                                    "apply_config"])
async def test_extended_methods_are_not_supported(adapter: GraviteeAdapter, method: str) -> None:
    result = await getattr(adapter, method)({})
    assert not result.success and result.error == "Not supported by gravitee"


async def test_export_archive_is_not_supported(adapter: GraviteeAdapter) -> None:
    result = await adapter.export_archive()
    assert not result.success and result.error == "Not supported by gravitee"


# ------------------------------------------------------------------ reads
async def test_fetch_apis_reads_back_the_canonical_spec(adapter: GraviteeAdapter, mock: respx.MockRouter) -> None:
    api = live_api(api_record(methods=["GET", "POST"], openapiHash="sha256:abc", displayName="Pet store"))
    api["listeners"][0]["paths"][0]["path"] = "/pets/"  # Gravitee stores paths with a trailing slash
    mock.get(f"{V2}/apis").mock(return_value=httpx.Response(200, json=page([api])))
    plans_route(mock, in_sync_plans())
    [record] = await adapter.fetch_apis()
    assert record["name"] == "pets" and record["owner"] == "platform" and record["id"] == "a1"
    spec = record["spec"]
    assert spec["basePath"] == "/pets" and spec["methods"] == ["GET", "POST"] and spec["tenant"] == "acme"
    assert spec["backend"] == "https://pets.example.com/v1" and spec["openapiHash"] == "sha256:abc"
    assert spec["displayName"] == "Pet store" and spec["gatewayState"] == "STARTED/DEPLOYED"
    assert spec["plans"] == [m.API_KEY_PLAN, m.KEYLESS_PLAN]


async def test_fetch_apis_asks_for_every_open_plan_status(adapter: GraviteeAdapter, mock: respx.MockRouter) -> None:
    mock.get(f"{V2}/apis").mock(return_value=httpx.Response(200, json=page([live_api()])))
    route = plans_route(mock, in_sync_plans())
    await adapter.fetch_apis()
    assert route.calls[0].request.url.params["statuses"] == "STAGING,PUBLISHED,DEPRECATED"


async def test_fetch_apis_follows_every_page(adapter: GraviteeAdapter, mock: respx.MockRouter) -> None:
    first, second = live_api(api_record("a"), "a1"), {**live_api(api_record("b"), "b1")}
    route = mock.get(f"{V2}/apis").mock(side_effect=[httpx.Response(200, json=page([first], count=2)),
                                                      httpx.Response(200, json=page([second], count=2))])
    plans_route(mock, [], "a1")
    plans_route(mock, [], "b1")
    names = [r["name"] for r in await adapter.fetch_apis()]
    assert names == ["a", "b"] and [c.request.url.params["page"] for c in route.calls] == ["1", "2"]


async def test_unlabelled_api_is_unowned_and_named_as_the_import_names_it(adapter: GraviteeAdapter,
                                                                          mock: respx.MockRouter) -> None:
    foreign = {**live_api(), "labels": ["team-b"], "name": "Legacy Pets API"}
    mock.get(f"{V2}/apis").mock(return_value=httpx.Response(200, json=page([foreign])))
    plans_route(mock, [{**live_plan(m.API_KEY_PLAN, "p-key"), "name": "Gold"}])
    [record] = await adapter.fetch_apis()
    assert record["owner"] is None and record["name"] == "legacy-pets-api"
    assert record["spec"]["displayName"] == "Legacy Pets API" and record["spec"]["tenant"] == m.IMPORT_TENANT
    # the console's API-key plan is the one an adoption takes over; no keyless plan: adding one is said
    assert record["spec"]["plans"] == [m.API_KEY_PLAN]
    notes = " ".join(record["spec"][m.IMPORT_NOTES])
    assert "labels 'team-b'" in notes and "no published KEY_LESS plan" in notes


async def test_fetch_raises_but_list_returns_empty_on_failure(adapter: GraviteeAdapter, mock: respx.MockRouter) -> None:
    mock.get(f"{V2}/apis").mock(return_value=gravitee_error(500, "boom"))
    with pytest.raises(GatewayError):
        await adapter.fetch_apis()
    assert await adapter.list_apis() == []


async def test_fetch_policies_reads_plan_flows_and_the_listeners_cors(adapter: GraviteeAdapter,
                                                                      mock: respx.MockRouter) -> None:
    mock.get(f"{V2}/apis").mock(return_value=httpx.Response(200, json=page([live_api(cors=cors_record())])))
    plans_route(mock, in_sync_plans({"pets-rate": rate_record()["spec"]}))
    records = {r["name"]: r for r in await adapter.fetch_policies()}
    assert records["pets-rate"]["spec"] == rate_record()["spec"] and records["pets-rate"]["id"] == "a1:pets-rate"
    assert records["pets-cors"]["spec"] == cors_record()["spec"] and records["pets-cors"]["owner"] == "platform"
    assert records["pets-cors"]["id"] == "a1:pets-cors"


async def test_a_listener_cors_without_our_label_is_not_a_policy_and_a_disabled_one_is_drift(
        adapter: GraviteeAdapter, mock: respx.MockRouter) -> None:
    foreign = live_api()
    foreign["listeners"][0]["cors"] = {"enabled": True, "allowOrigin": ["*"]}
    disabled = live_api(api_record("orders"), "b1", cors=cors_record("orders-cors", "orders"))
    disabled["listeners"][0]["cors"]["enabled"] = False
    mock.get(f"{V2}/apis").mock(return_value=httpx.Response(200, json=page([foreign, disabled])))
    plans_route(mock, in_sync_plans())
    plans_route(mock, in_sync_plans(), "b1")
    [record] = await adapter.fetch_policies()
    assert record["name"] == "orders-cors" and record["spec"]["config"]["enabled"] is False


async def test_a_legacy_cors_plan_flow_is_not_read_and_makes_the_plan_out_of_sync() -> None:
    legacy = {"name": "stoa-policy:pets-cors", "enabled": True, "selectors": [],
              "request": [{"name": "CORS", "enabled": True, "policy": "cors", "configuration": {}}], "response": []}
    plan = {**live_plan(m.API_KEY_PLAN, "p-key"), "flows": [legacy]}
    assert m.plan_policies(plan, "pets") == {} and not m.plan_in_sync(plan, {}, "pets")


async def test_fetch_policies_reports_plans_that_disagree_as_incomparable(adapter: GraviteeAdapter,
                                                                          mock: respx.MockRouter) -> None:
    mock.get(f"{V2}/apis").mock(return_value=httpx.Response(200, json=page([live_api()])))
    plans_route(mock, [live_plan(m.API_KEY_PLAN, "p-key", {"pets-rate": rate_record()["spec"]}),
                       live_plan(m.KEYLESS_PLAN, "p-open", {"pets-rate": rate_record(requests=5)["spec"]})])
    [record] = await adapter.fetch_policies()
    assert record["spec"]["config"] == {}


async def test_fetch_applications_reads_marker_and_managed_subscriptions(adapter: GraviteeAdapter,
                                                                         mock: respx.MockRouter) -> None:
    record = consumer_record(email="m@example.com")
    app = {"id": "app1", **m.app_body(record, "platform", secret_fingerprint("mobile-key-0123456789"))}
    foreign = {"id": "app2", "name": "Someone", "description": "hand made"}
    mock.get(f"{V2}/apis").mock(return_value=httpx.Response(200, json=page([live_api()])))
    plans_route(mock, in_sync_plans())
    mock.get(f"{V1}/applications/_paged").mock(return_value=httpx.Response(200, json=v1_page([app, foreign])))
    subs = mock.get(f"{V1}/applications/app1/subscriptions").mock(return_value=httpx.Response(200, json=v1_page([
        {"id": "s1", "api": "a1", "plan": "p-key", "status": "ACCEPTED"},
        {"id": "s2", "api": "x", "plan": "other-plan", "status": "ACCEPTED"}])))
    mock.get(f"{V1}/applications/app2/subscriptions").mock(return_value=httpx.Response(200, json=v1_page([
        {"id": "s3", "api": "a1", "plan": "p-key", "status": "ACCEPTED"}])))
    mock.get(f"{V2}/apis/a1/subscriptions/s3/api-keys").mock(return_value=httpx.Response(200, json=page([
        {"id": "k1", "key": "console-key-42", "revoked": False, "expired": False}])))
    found = {r["name"]: r for r in await adapter.fetch_applications()}
    mine = found["mobile"]
    assert mine["owner"] == "platform" and mine["id"] == "app1"
    assert mine["spec"] == {"displayName": "Mobile app", "email": "m@example.com", "subscriptions": ["pets"],
                            "credential": {"type": "apiKey", "fingerprint": secret_fingerprint("mobile-key-0123456789")}}
    # made in the console: named as the import names it, its live key's fingerprint read (never the key)
    theirs = found["someone"]
    assert theirs["owner"] is None and theirs["spec"]["subscriptions"] == ["pets"]
    assert theirs["spec"]["credential"]["fingerprint"] == secret_fingerprint("console-key-42")
    assert "console-key-42" not in str(theirs)
    assert subs.calls[0].request.url.params["status"] == "ACCEPTED,PENDING,PAUSED"


# ------------------------------------------------------------------ sync_api
async def test_sync_api_creates_labels_plans_publishes_and_starts_in_order(adapter: GraviteeAdapter,
                                                                           mock: respx.MockRouter) -> None:
    created = {**m.api_create_body(api_record()), "id": "a1", "state": "STOPPED", "deploymentState": "NEED_REDEPLOY",
               "labels": []}
    mock.get(f"{V2}/apis").mock(return_value=httpx.Response(200, json=page([])))
    mock.post(f"{V2}/apis").mock(return_value=httpx.Response(201, json=created))
    mock.put(f"{V2}/apis/a1").mock(return_value=httpx.Response(200, json=live_api(state="STOPPED",
                                                                                  deployment="NEED_REDEPLOY")))
    mock.post(f"{V2}/apis/a1/plans").mock(side_effect=[
        httpx.Response(201, json=live_plan(m.API_KEY_PLAN, "p-key", status="STAGING")),
        httpx.Response(201, json=live_plan(m.KEYLESS_PLAN, "p-open", status="STAGING"))])
    mock.post(f"{V2}/apis/a1/plans/p-key/_publish").mock(return_value=ok(live_plan(m.API_KEY_PLAN, "p-key")))
    mock.post(f"{V2}/apis/a1/plans/p-open/_publish").mock(return_value=ok(live_plan(m.KEYLESS_PLAN, "p-open")))
    mock.post(f"{V2}/apis/a1/_start").mock(return_value=httpx.Response(204))
    mock.get(f"{V2}/apis/a1").mock(return_value=httpx.Response(200, json=live_api()))
    result = await adapter.sync_api(api_record(), "acme")
    assert result.success and result.resource_id == "a1"
    assert writes(mock) == [("POST", "/apis"), ("PUT", "/apis/a1"), ("POST", "/apis/a1/plans"),
                            ("POST", "/apis/a1/plans/p-key/_publish"), ("POST", "/apis/a1/plans"),
                            ("POST", "/apis/a1/plans/p-open/_publish"), ("POST", "/apis/a1/_start")]
    assert "labels" not in body_of(mock, "POST", "/apis")
    labels = body_of(mock, "PUT", "/apis/a1")["labels"]
    assert {m.MANAGED_LABEL, "stoa-owner:platform", "stoa-name:pets", "stoa-tenant:acme"} <= set(labels)
    plans = [json.loads(c.request.content) for c in mock.calls if c.request.url.path.endswith("/plans")
             and c.request.method == "POST"]
    assert [p["security"]["type"] for p in plans] == ["API_KEY", "KEY_LESS"]
    assert all(p["definitionVersion"] == "V4" and p["validation"] == "AUTO" for p in plans)


async def test_sync_api_deletes_the_new_api_when_labelling_fails(adapter: GraviteeAdapter,
                                                                 mock: respx.MockRouter) -> None:
    mock.get(f"{V2}/apis").mock(return_value=httpx.Response(200, json=page([])))
    mock.post(f"{V2}/apis").mock(return_value=httpx.Response(201, json={"id": "a1", "labels": []}))
    mock.put(f"{V2}/apis/a1").mock(return_value=gravitee_error(400, "invalid"))
    mock.get(f"{V2}/apis/a1").mock(return_value=httpx.Response(200, json={"id": "a1", "state": "STOPPED"}))
    mock.delete(f"{V2}/apis/a1").mock(return_value=httpx.Response(204))
    result = await adapter.sync_api(api_record(), "acme")
    assert not result.success and writes(mock) == [("POST", "/apis"), ("PUT", "/apis/a1"), ("DELETE", "/apis/a1")]


async def test_sync_api_deletes_the_new_api_when_a_plan_fails(adapter: GraviteeAdapter, mock: respx.MockRouter) -> None:
    """A new API left without plans would be STOPPED and unusable: the create is undone."""
    mock.get(f"{V2}/apis").mock(return_value=httpx.Response(200, json=page([])))
    mock.post(f"{V2}/apis").mock(return_value=httpx.Response(201, json={"id": "a1", "labels": []}))
    mock.put(f"{V2}/apis/a1").mock(return_value=httpx.Response(200, json=live_api(state="STOPPED")))
    mock.post(f"{V2}/apis/a1/plans").mock(return_value=gravitee_error(404, "Plugin [x] cannot be found."))
    mock.get(f"{V2}/apis/a1").mock(return_value=httpx.Response(200, json=live_api(state="STOPPED")))
    delete = mock.delete(f"{V2}/apis/a1").mock(return_value=httpx.Response(204))
    result = await adapter.sync_api(api_record(), "acme")
    assert not result.success and "Plugin [x]" in (result.error or "")
    assert writes(mock)[-1] == ("DELETE", "/apis/a1") and delete.calls[0].request.url.params["closePlans"] == "true"


async def test_a_missing_policy_plugin_fails_before_any_write(adapter: GraviteeAdapter, mock: respx.MockRouter) -> None:
    mock.get(PLUGINS).mock(return_value=httpx.Response(200, json=[{"id": "mock"}, {"id": "quota"}]))
    mock.get(f"{V2}/apis").mock(return_value=httpx.Response(200, json=page([])))
    result = await adapter.apply_batch([upsert_change(api_record(), gateway="gv"),
                                        upsert_change(rate_record(), gateway="gv")]) or []
    assert [r.status for r in result] == [Status.FAILED, Status.FAILED] and writes(mock) == []
    assert "no rate-limit policy plugin installed" in (result[0].error or "")


async def test_sync_api_unchanged_sends_no_write(adapter: GraviteeAdapter, mock: respx.MockRouter) -> None:
    mock.get(f"{V2}/apis/a1").mock(return_value=httpx.Response(200, json=live_api()))
    plans_route(mock, in_sync_plans())
    result = await adapter.sync_api({**api_record(), "id": "a1"}, "acme")
    assert result.success and writes(mock) == []


async def test_sync_api_changed_backend_updates_and_redeploys_once(adapter: GraviteeAdapter,
                                                                   mock: respx.MockRouter) -> None:
    changed = api_record(backend="https://new.example.com")
    mock.get(f"{V2}/apis/a1").mock(side_effect=[httpx.Response(200, json=live_api()),
                                                httpx.Response(200, json=live_api(changed, deployment="NEED_REDEPLOY"))])
    mock.put(f"{V2}/apis/a1").mock(return_value=httpx.Response(200, json=live_api(changed, deployment="NEED_REDEPLOY")))
    plans_route(mock, in_sync_plans())
    mock.post(f"{V2}/apis/a1/deployments").mock(return_value=httpx.Response(202, json={}))
    result = await adapter.sync_api({**changed, "id": "a1"}, "acme")
    assert result.success
    assert writes(mock) == [("PUT", "/apis/a1"), ("POST", "/apis/a1/deployments")]
    target = body_of(mock, "PUT", "/apis/a1")["endpointGroups"][0]["endpoints"][0]["configuration"]["target"]
    assert target == "https://new.example.com"
    assert body_of(mock, "POST", "/deployments") == {"deploymentLabel": "stoa-reconciler"}


async def test_sync_api_update_keeps_foreign_labels_and_flows(adapter: GraviteeAdapter, mock: respx.MockRouter) -> None:
    live = live_api()
    live["labels"] = [*live["labels"], "team:pets"]
    live["flows"] = [*live["flows"], {"name": "hand-made", "enabled": True, "request": [], "response": []}]
    live["tags"] = ["internal"]
    mock.get(f"{V2}/apis/a1").mock(return_value=httpx.Response(200, json=live))
    mock.put(f"{V2}/apis/a1").mock(return_value=httpx.Response(200, json=live))
    plans_route(mock, in_sync_plans())
    mock.post(f"{V2}/apis/a1/deployments").mock(return_value=httpx.Response(202, json={}))
    await adapter.sync_api({**api_record(version="2.0.0"), "id": "a1"}, "acme")
    body = body_of(mock, "PUT", "/apis/a1")
    assert "team:pets" in body["labels"] and "hand-made" in [f["name"] for f in body["flows"]]
    assert body["tags"] == ["internal"] and body["apiVersion"] == "2.0.0"
    assert "state" not in body and "id" not in body


async def test_sync_api_starts_a_stopped_api_and_deploys_pending_changes(adapter: GraviteeAdapter,
                                                                          mock: respx.MockRouter) -> None:
    mock.get(f"{V2}/apis/a1").mock(side_effect=[
        httpx.Response(200, json=live_api(state="STOPPED", deployment="NEED_REDEPLOY")),
        httpx.Response(200, json=live_api(state="STARTED", deployment="NEED_REDEPLOY"))])
    plans_route(mock, in_sync_plans())
    mock.post(f"{V2}/apis/a1/_start").mock(return_value=httpx.Response(204))
    mock.post(f"{V2}/apis/a1/deployments").mock(return_value=httpx.Response(202, json={}))
    assert (await adapter.sync_api({**api_record(), "id": "a1"}, "acme")).success
    assert writes(mock) == [("POST", "/apis/a1/_start"), ("POST", "/apis/a1/deployments")]


async def test_sync_api_publishes_a_staging_plan_only(adapter: GraviteeAdapter, mock: respx.MockRouter) -> None:
    mock.get(f"{V2}/apis/a1").mock(side_effect=[httpx.Response(200, json=live_api()),
                                                httpx.Response(200, json=live_api(deployment="NEED_REDEPLOY"))])
    plans_route(mock, [live_plan(m.API_KEY_PLAN, "p-key", status="STAGING"), live_plan(m.KEYLESS_PLAN, "p-open")])
    mock.post(f"{V2}/apis/a1/plans/p-key/_publish").mock(return_value=ok(live_plan(m.API_KEY_PLAN, "p-key")))
    mock.post(f"{V2}/apis/a1/deployments").mock(return_value=httpx.Response(202, json={}))
    assert (await adapter.sync_api({**api_record(), "id": "a1"}, "acme")).success
    assert writes(mock) == [("POST", "/apis/a1/plans/p-key/_publish"), ("POST", "/apis/a1/deployments")]


async def test_sync_api_refuses_an_api_it_does_not_own(adapter: GraviteeAdapter, mock: respx.MockRouter) -> None:
    mock.get(f"{V2}/apis/a1").mock(return_value=httpx.Response(200, json=live_api(owner="team-b")))
    result = await adapter.sync_api({**api_record(), "id": "a1"}, "acme")
    assert not result.success and result.category == "conflict" and writes(mock) == []


async def test_sync_api_reports_a_failed_deployment(adapter: GraviteeAdapter, mock: respx.MockRouter) -> None:
    mock.get(f"{V2}/apis/a1").mock(return_value=httpx.Response(200, json=live_api(deployment="NEED_REDEPLOY")))
    plans_route(mock, in_sync_plans())
    mock.post(f"{V2}/apis/a1/deployments").mock(return_value=gravitee_error(500, "deployment failed"))
    result = await adapter.sync_api({**api_record(), "id": "a1"}, "acme")
    assert not result.success and "deployment failed" in (result.error or "")


# ------------------------------------------------------------------ policies
async def test_upsert_policy_writes_the_flow_into_both_plans_and_deploys_once(adapter: GraviteeAdapter,
                                                                              mock: respx.MockRouter) -> None:
    mock.get(f"{V2}/apis").mock(return_value=httpx.Response(200, json=page([live_api()])))
    plans_route(mock, in_sync_plans())
    mock.put(f"{V2}/apis/a1/plans/p-key").mock(return_value=ok(live_plan(m.API_KEY_PLAN, "p-key")))
    mock.put(f"{V2}/apis/a1/plans/p-open").mock(return_value=ok(live_plan(m.KEYLESS_PLAN, "p-open")))
    mock.get(f"{V2}/apis/a1").mock(return_value=httpx.Response(200, json=live_api(deployment="NEED_REDEPLOY")))
    mock.post(f"{V2}/apis/a1/deployments").mock(return_value=httpx.Response(202, json={}))
    result = await adapter.upsert_policy(rate_record())
    assert result.success and result.resource_id == "a1:pets-rate"
    assert writes(mock) == [("PUT", "/apis/a1/plans/p-key"), ("PUT", "/apis/a1/plans/p-open"),
                            ("POST", "/apis/a1/deployments")]
    step = body_of(mock, "PUT", "/plans/p-key")["flows"][0]["request"][0]
    assert step["policy"] == "rate-limit"
    assert step["configuration"] == {"rate": {"limit": 100, "periodTime": 1, "periodTimeUnit": "MINUTES"}}


async def test_daily_rate_limit_maps_to_a_quota(adapter: GraviteeAdapter, mock: respx.MockRouter) -> None:
    flow = m.policy_flow("q", rate_record(period="day", requests=1000)["spec"])
    assert flow["request"][0]["policy"] == "quota"
    assert flow["request"][0]["configuration"]["quota"]["periodTimeUnit"] == "DAYS"
    assert m.policy_from_flow(flow, "pets") == ("q", rate_record(period="day", requests=1000)["spec"])


async def test_upsert_policy_on_a_missing_api_fails_without_writes(adapter: GraviteeAdapter,
                                                                   mock: respx.MockRouter) -> None:
    mock.get(f"{V2}/apis").mock(return_value=httpx.Response(200, json=page([])))
    result = await adapter.upsert_policy(rate_record())
    assert not result.success and "not on the gateway" in (result.error or "") and writes(mock) == []


async def test_delete_policy_removes_its_flow(adapter: GraviteeAdapter, mock: respx.MockRouter) -> None:
    policies = {"pets-rate": rate_record()["spec"], "pets-cors": rate_record("pets-quota", period="day")["spec"]}
    mock.get(f"{V2}/apis/a1").mock(side_effect=[httpx.Response(200, json=live_api()),
                                                httpx.Response(200, json=live_api(deployment="NEED_REDEPLOY"))])
    plans_route(mock, in_sync_plans(policies))
    mock.put(f"{V2}/apis/a1/plans/p-key").mock(return_value=ok(live_plan(m.API_KEY_PLAN, "p-key")))
    mock.put(f"{V2}/apis/a1/plans/p-open").mock(return_value=ok(live_plan(m.KEYLESS_PLAN, "p-open")))
    mock.post(f"{V2}/apis/a1/deployments").mock(return_value=httpx.Response(202, json={}))
    assert (await adapter.delete_policy("a1:pets-cors")).success
    flows = body_of(mock, "PUT", "/plans/p-key")["flows"]
    assert [f["name"] for f in flows] == ["stoa-policy:pets-rate"]


async def test_upsert_cors_writes_the_listener_and_its_label_not_a_plan(adapter: GraviteeAdapter,
                                                                        mock: respx.MockRouter) -> None:
    mock.get(f"{V2}/apis").mock(return_value=httpx.Response(200, json=page([live_api()])))
    plans_route(mock, in_sync_plans())
    mock.put(f"{V2}/apis/a1").mock(return_value=httpx.Response(200, json=live_api(cors=cors_record(),
                                                                                  deployment="NEED_REDEPLOY")))
    mock.get(f"{V2}/apis/a1").mock(return_value=httpx.Response(200, json=live_api(cors=cors_record(),
                                                                                  deployment="NEED_REDEPLOY")))
    mock.post(f"{V2}/apis/a1/deployments").mock(return_value=httpx.Response(202, json={}))
    result = await adapter.upsert_policy(cors_record())
    assert result.success and result.resource_id == "a1:pets-cors"
    assert writes(mock) == [("PUT", "/apis/a1"), ("POST", "/apis/a1/deployments")]
    body = body_of(mock, "PUT", "/apis/a1")
    assert body["listeners"][0]["cors"] == {
        "enabled": True, "allowOrigin": ["https://app.example.com"], "allowMethods": ["GET"], "allowHeaders": [],
        "exposeHeaders": [], "allowCredentials": False, "maxAge": 600}
    assert "stoa-cors:pets-cors" in body["labels"] and m.MANAGED_LABEL in body["labels"]


async def test_delete_cors_clears_the_listener_and_keeps_the_api(adapter: GraviteeAdapter,
                                                                 mock: respx.MockRouter) -> None:
    mock.get(f"{V2}/apis/a1").mock(side_effect=[httpx.Response(200, json=live_api(cors=cors_record())),
                                                httpx.Response(200, json=live_api(deployment="NEED_REDEPLOY"))])
    plans_route(mock, in_sync_plans())
    mock.put(f"{V2}/apis/a1").mock(return_value=httpx.Response(200, json=live_api(deployment="NEED_REDEPLOY")))
    mock.post(f"{V2}/apis/a1/deployments").mock(return_value=httpx.Response(202, json={}))
    assert (await adapter.delete_policy("a1:pets-cors")).success
    body = body_of(mock, "PUT", "/apis/a1")
    assert "cors" not in body["listeners"][0] and not any(lb.startswith("stoa-cors:") for lb in body["labels"])
    assert body["name"] == "pets" and writes(mock) == [("PUT", "/apis/a1"), ("POST", "/apis/a1/deployments")]


def test_overlapping_base_paths_are_refused_before_any_request() -> None:
    records = [api_record("pets"), api_record("pets-v2", basePath="/pets/v2"), api_record("petshop", basePath="/petshop")]
    problems = GraviteeAdapter.check(records, {})
    assert [(p.name, p.field, p.other) for p in problems] == [("pets-v2", "spec.basePath", ("API", "pets"))]
    assert "/pets/v2/ and /pets/" in problems[0].message


async def test_two_cors_policies_on_one_api_are_refused_before_any_request() -> None:
    problems = GraviteeAdapter.check([api_record(), cors_record("a"), cors_record("b"), rate_record()], {})
    assert [(p.kind, p.name, p.field, p.other) for p in problems] == [("Policy", "b", "spec.type", ("Policy", "a"))]
    assert "HTTP listener" in problems[0].message


async def test_delete_policy_with_a_malformed_id_fails(adapter: GraviteeAdapter) -> None:
    result = await adapter.delete_policy("no-separator")
    assert not result.success and "policy id" in (result.error or "")


# ------------------------------------------------------------------ delete_api
async def test_delete_started_api_stops_then_deletes_with_close_plans(adapter: GraviteeAdapter,
                                                                     mock: respx.MockRouter) -> None:
    mock.get(f"{V2}/apis/a1").mock(return_value=httpx.Response(200, json=live_api()))
    mock.post(f"{V2}/apis/a1/_stop").mock(return_value=httpx.Response(204))
    route = mock.delete(f"{V2}/apis/a1").mock(return_value=httpx.Response(204))
    assert (await adapter.delete_api("a1")).success
    assert writes(mock) == [("POST", "/apis/a1/_stop"), ("DELETE", "/apis/a1")]
    assert route.calls[0].request.url.params["closePlans"] == "true"


async def test_delete_stopped_api_does_not_stop_it_again(adapter: GraviteeAdapter, mock: respx.MockRouter) -> None:
    mock.get(f"{V2}/apis/a1").mock(return_value=httpx.Response(200, json=live_api(state="STOPPED")))
    mock.delete(f"{V2}/apis/a1").mock(return_value=httpx.Response(204))
    assert (await adapter.delete_api("a1")).success and writes(mock) == [("DELETE", "/apis/a1")]


async def test_delete_missing_api_is_a_success_without_writes(adapter: GraviteeAdapter, mock: respx.MockRouter) -> None:
    mock.get(f"{V2}/apis/a1").mock(return_value=gravitee_error(404, "Api [a1] cannot be found."))
    result = await adapter.delete_api("a1")
    assert result.success and writes(mock) == []


async def test_delete_foreign_api_is_refused(adapter: GraviteeAdapter, mock: respx.MockRouter) -> None:
    mock.get(f"{V2}/apis/a1").mock(return_value=httpx.Response(200, json={**live_api(), "labels": []}))
    result = await adapter.delete_api("a1")
    assert not result.success and result.category == "conflict" and writes(mock) == []


# ------------------------------------------------------------------ consumers
def consumer_mocks(mock: respx.MockRouter, apps: list[dict[str, Any]], subs: list[dict[str, Any]]) -> None:
    mock.get(f"{V2}/apis").mock(return_value=httpx.Response(200, json=page([live_api()])))
    plans_route(mock, in_sync_plans())
    mock.get(f"{V1}/applications/_paged").mock(return_value=httpx.Response(200, json=v1_page(apps)))
    for app in apps:
        mock.get(f"{V1}/applications/{app['id']}").mock(return_value=httpx.Response(200, json=app))
        mock.get(f"{V1}/applications/{app['id']}/subscriptions").mock(
            return_value=httpx.Response(200, json=v1_page(subs)))


async def test_provision_creates_application_and_api_key_subscription(adapter: GraviteeAdapter,
                                                                      mock: respx.MockRouter) -> None:
    consumer_mocks(mock, [], [])
    record = consumer_record()
    mock.post(f"{V1}/applications").mock(return_value=httpx.Response(201, json={"id": "app1", **m.app_body(
        record, "platform", secret_fingerprint("mobile-key-0123456789"))}))
    sub = mock.post(f"{V2}/apis/a1/subscriptions").mock(return_value=httpx.Response(201, json={"id": "s1"}))
    result = await adapter.provision_application(record)
    assert result.success and result.resource_id == "app1"
    assert writes(mock) == [("POST", "/applications"), ("POST", "/apis/a1/subscriptions")]
    created = body_of(mock, "POST", "/applications")
    assert "mobile-key-0123456789" not in json.dumps(created)
    assert m.app_marker(created["description"]) == {"owner": "platform", "name": "mobile",
                                                   "fingerprint": secret_fingerprint("mobile-key-0123456789")}
    assert json.loads(sub.calls[0].request.content) == {"applicationId": "app1", "planId": "p-key",
                                                        "customApiKey": "mobile-key-0123456789"}


async def test_provision_in_sync_sends_no_write(adapter: GraviteeAdapter, mock: respx.MockRouter) -> None:
    record = consumer_record()
    app = {"id": "app1", **m.app_body(record, "platform", secret_fingerprint("mobile-key-0123456789"))}
    consumer_mocks(mock, [app], [{"id": "s1", "api": "a1", "plan": "p-key", "status": "ACCEPTED"}])
    assert (await adapter.provision_application({**record, "id": "app1"})).success and writes(mock) == []


async def test_provision_rotates_the_key_then_updates_the_marker(adapter: GraviteeAdapter,
                                                                 mock: respx.MockRouter) -> None:
    app = {"id": "app1", **m.app_body(consumer_record(), "platform", secret_fingerprint("mobile-key-0123456789"))}
    consumer_mocks(mock, [app], [{"id": "s1", "api": "a1", "plan": "p-key", "status": "ACCEPTED"}])
    keys = f"{V2}/apis/a1/subscriptions/s1/api-keys"
    mock.get(keys).mock(return_value=httpx.Response(200, json=page([{"id": "k1", "key": "mobile-key-0123456789",
                                                                     "revoked": False, "expired": False}])))
    renew = mock.post(f"{keys}/_renew").mock(return_value=httpx.Response(200, json={}))
    mock.post(f"{keys}/k1/_revoke").mock(return_value=httpx.Response(200, json={}))
    mock.put(f"{V1}/applications/app1").mock(return_value=httpx.Response(200, json=app))
    assert (await adapter.provision_application({**consumer_record(key="new-key-987654321"), "id": "app1"})).success
    assert writes(mock) == [("POST", "/apis/a1/subscriptions/s1/api-keys/_renew"),
                            ("POST", "/apis/a1/subscriptions/s1/api-keys/k1/_revoke"), ("PUT", "/applications/app1")]
    assert json.loads(renew.calls[0].request.content) == {"customApiKey": "new-key-987654321"}
    marker = m.app_marker(body_of(mock, "PUT", "/applications/app1")["description"])
    assert marker is not None and marker["fingerprint"] == secret_fingerprint("new-key-987654321")


async def test_rotating_back_reactivates_the_old_key_and_revokes_the_others(adapter: GraviteeAdapter,
                                                                           mock: respx.MockRouter) -> None:
    """Gravitee will not create a key value this subscription had (canCreate): the old record is reactivated."""
    app = {"id": "app1", **m.app_body(consumer_record(), "platform", secret_fingerprint("new-key-987654321"))}
    consumer_mocks(mock, [app], [{"id": "s1", "api": "a1", "plan": "p-key", "status": "ACCEPTED"}])
    keys = f"{V2}/apis/a1/subscriptions/s1/api-keys"
    mock.get(keys).mock(return_value=httpx.Response(200, json=page([
        {"id": "k1", "key": "mobile-key-0123456789", "revoked": True, "expired": False},
        {"id": "k2", "key": "new-key-987654321", "revoked": False, "expired": False}])))
    mock.post(f"{keys}/k1/_reactivate").mock(return_value=httpx.Response(200, json={}))
    mock.post(f"{keys}/k2/_revoke").mock(return_value=httpx.Response(200, json={}))
    mock.put(f"{V1}/applications/app1").mock(return_value=httpx.Response(200, json=app))
    assert (await adapter.provision_application({**consumer_record(), "id": "app1"})).success
    assert writes(mock) == [("POST", "/apis/a1/subscriptions/s1/api-keys/k1/_reactivate"),
                            ("POST", "/apis/a1/subscriptions/s1/api-keys/k2/_revoke"), ("PUT", "/applications/app1")]


async def test_provision_closes_a_subscription_no_longer_wanted(adapter: GraviteeAdapter,
                                                                mock: respx.MockRouter) -> None:
    record = consumer_record(subs=[])
    app = {"id": "app1", **m.app_body(record, "platform", secret_fingerprint("mobile-key-0123456789"))}
    consumer_mocks(mock, [app], [{"id": "s1", "api": "a1", "plan": "p-key", "status": "ACCEPTED"}])
    mock.post(f"{V2}/apis/a1/subscriptions/s1/_close").mock(return_value=httpx.Response(200, json={}))
    assert (await adapter.provision_application({**record, "id": "app1"})).success
    assert writes(mock) == [("POST", "/apis/a1/subscriptions/s1/_close")]


async def test_provision_refuses_an_application_it_does_not_own(adapter: GraviteeAdapter,
                                                                mock: respx.MockRouter) -> None:
    app = {"id": "app1", **m.app_body(consumer_record(), "team-b", "sha256:x")}
    consumer_mocks(mock, [app], [])
    result = await adapter.provision_application({**consumer_record(), "id": "app1"})
    assert not result.success and result.category == "conflict" and writes(mock) == []


async def test_provision_to_an_unknown_api_fails(adapter: GraviteeAdapter, mock: respx.MockRouter) -> None:
    app = {"id": "app1", **m.app_body(consumer_record(), "platform", secret_fingerprint("mobile-key-0123456789"))}
    consumer_mocks(mock, [app], [])
    result = await adapter.provision_application({**consumer_record(subs=["nope"]), "id": "app1"})
    assert not result.success and "'nope'" in (result.error or "") and "mobile-key" not in (result.error or "")


async def test_deprovision_deletes_owned_application_only(adapter: GraviteeAdapter, mock: respx.MockRouter) -> None:
    mine = {"id": "app1", **m.app_body(consumer_record(), "platform", "sha256:x")}
    theirs = {"id": "app2", "name": "x", "description": "not ours"}
    mock.get(f"{V1}/applications/app1").mock(return_value=httpx.Response(200, json=mine))
    mock.get(f"{V1}/applications/app2").mock(return_value=httpx.Response(200, json=theirs))
    mock.get(f"{V1}/applications/gone").mock(return_value=httpx.Response(404, json={"message": "no", "http_status": 404}))
    mock.delete(f"{V1}/applications/app1").mock(return_value=httpx.Response(204))
    assert (await adapter.deprovision_application("app1")).success
    denied = await adapter.deprovision_application("app2")
    assert not denied.success and denied.category == "conflict"
    assert (await adapter.deprovision_application("gone")).success
    assert writes(mock) == [("DELETE", "/applications/app1")]


# ------------------------------------------------------------------ reconciler hooks
def test_desired_view_of_an_api() -> None:
    spec = api_record(openapi={"openapi": "3.0.0"}, openapiHash="sha256:1", methods=["POST", "GET"])["spec"]
    view = GraviteeAdapter.desired_view("API", spec)
    assert "openapi" not in view and view["openapiHash"] == "sha256:1" and view["methods"] == ["GET", "POST"]
    assert view["gatewayState"] == "STARTED/DEPLOYED" and view["plans"] == [m.API_KEY_PLAN, m.KEYLESS_PLAN]


def test_desired_view_of_a_consumer_drops_unset_fields() -> None:
    view = GraviteeAdapter.desired_view("Consumer", {"email": None, "subscriptions": ["b", "a"],
                                                     "credential": {"type": "apiKey", "fingerprint": "f"}})
    assert view == {"subscriptions": ["a", "b"], "credential": {"type": "apiKey", "fingerprint": "f"}}


async def test_apply_batch_updates_an_api_and_two_policies_with_one_deployment(adapter: GraviteeAdapter,
                                                                               mock: respx.MockRouter) -> None:
    old = {"pets-rate": rate_record()["spec"]}
    changed = api_record(version="2.0.0")
    mock.get(f"{V2}/apis/a1").mock(side_effect=[httpx.Response(200, json=live_api(cors=cors_record())),
                                                httpx.Response(200, json=live_api(changed, deployment="NEED_REDEPLOY"))])
    mock.put(f"{V2}/apis/a1").mock(return_value=httpx.Response(200, json=live_api(changed, deployment="NEED_REDEPLOY")))
    plans_route(mock, in_sync_plans(old))
    mock.put(f"{V2}/apis/a1/plans/p-key").mock(return_value=ok(live_plan(m.API_KEY_PLAN, "p-key")))
    mock.put(f"{V2}/apis/a1/plans/p-open").mock(return_value=ok(live_plan(m.KEYLESS_PLAN, "p-open")))
    deploy = mock.post(f"{V2}/apis/a1/deployments").mock(return_value=httpx.Response(202, json={}))
    rate, cors = rate_record(requests=5), cors_record(origins=["https://b.example.com"])
    changes = [
        Change("gv", Op.UPDATE, "API", "pets", desired={**changed, "id": "a1"}, actual={**api_record(), "id": "a1"}),
        Change("gv", Op.UPDATE, "Policy", "pets-rate", desired=rate, actual={**rate_record(), "id": "a1:pets-rate"}),
        Change("gv", Op.UPDATE, "Policy", "pets-cors", desired=cors, actual={**cors_record(), "id": "a1:pets-cors"}),
    ]
    results = await adapter.apply_batch(changes)
    assert results is not None and [r.status for r in results] == [Status.APPLIED] * 3
    assert results[1].resource_id == "a1:pets-rate"
    assert len(deploy.calls) == 1
    assert writes(mock) == [("PUT", "/apis/a1"), ("PUT", "/apis/a1/plans/p-key"), ("PUT", "/apis/a1/plans/p-open"),
                            ("POST", "/apis/a1/deployments")]
    flows = {f["name"]: f for f in body_of(mock, "PUT", "/plans/p-open")["flows"]}
    assert flows["stoa-policy:pets-rate"]["request"][0]["configuration"]["rate"]["limit"] == 5
    assert list(flows) == ["stoa-policy:pets-rate"]
    api = body_of(mock, "PUT", "/apis/a1")
    assert api["apiVersion"] == "2.0.0" and api["listeners"][0]["cors"]["allowOrigin"] == ["https://b.example.com"]


async def test_apply_batch_marks_policies_failed_when_their_api_fails(adapter: GraviteeAdapter,
                                                                      mock: respx.MockRouter) -> None:
    mock.get(f"{V2}/apis/a1").mock(return_value=httpx.Response(200, json=live_api(deployment="NEED_REDEPLOY")))
    plans_route(mock, in_sync_plans())
    mock.put(f"{V2}/apis/a1/plans/p-key").mock(return_value=gravitee_error(400, "Plan is closed"))
    changes = [Change("gv", Op.CREATE, "Policy", "pets-rate", desired=rate_record(),
                      actual=None),
               Change("gv", Op.UPDATE, "API", "pets", desired={**api_record(), "id": "a1"},
                      actual={**api_record(), "id": "a1"})]
    results = await adapter.apply_batch(changes)
    assert results is not None and {r.status for r in results} == {Status.FAILED}
    assert "Plan is closed" in (results[0].error or "")


async def test_an_error_echoing_the_api_key_never_shows_it(adapter: GraviteeAdapter, mock: respx.MockRouter) -> None:
    consumer_mocks(mock, [], [])
    record = consumer_record()
    mock.post(f"{V1}/applications").mock(return_value=httpx.Response(201, json={"id": "app1", **m.app_body(
        record, "platform", secret_fingerprint("mobile-key-0123456789"))}))
    mock.post(f"{V2}/apis/a1/subscriptions").mock(
        return_value=gravitee_error(400, "API key [mobile-key-0123456789] already exists"))
    result = await adapter.provision_application(record)
    assert not result.success and "already exists" in (result.error or "")
    assert "mobile-key-0123456789" not in (result.error or "")
    [item] = await adapter.apply_batch([upsert_change(record, gateway="gv")]) or []
    assert item.status is Status.FAILED and "mobile-key-0123456789" not in (item.error or "")


# ------------------------------------------------------------------ API-key settings (issue 12 #3)
async def test_custom_keys_off_fails_the_consumer_before_any_write_and_names_the_setting(
        adapter: GraviteeAdapter, mock: respx.MockRouter) -> None:
    consumer_mocks(mock, [], [])
    mock.get(f"{V1}/settings").mock(return_value=httpx.Response(200, json=key_settings(custom=False)))
    result = await adapter.provision_application(consumer_record())
    assert not result.success and result.category == "permanent" and writes(mock) == []
    assert "plan.security.apikey.allowCustom.enabled is off" in (result.error or "")
    assert "mobile-key-0123456789" not in (result.error or "")


async def test_custom_keys_off_still_lets_a_consumer_without_new_keys_converge(adapter: GraviteeAdapter,
                                                                               mock: respx.MockRouter) -> None:
    """Closing a subscription or renaming the application sends no key: that much Gravitee accepts."""
    app = {"id": "app1", **m.app_body(consumer_record(), "platform", secret_fingerprint("mobile-key-0123456789"))}
    consumer_mocks(mock, [app], [{"id": "s1", "api": "a1", "plan": "p-key", "status": "ACCEPTED"}])
    mock.get(f"{V1}/settings").mock(return_value=httpx.Response(200, json=key_settings(custom=False)))
    mock.post(f"{V2}/apis/a1/subscriptions/s1/_close").mock(return_value=httpx.Response(200, json={}))
    assert (await adapter.provision_application({**consumer_record(subs=[]), "id": "app1"})).success
    assert writes(mock) == [("POST", "/apis/a1/subscriptions/s1/_close")]


async def test_the_plan_notes_a_keyed_consumer_when_custom_keys_are_off(adapter: GraviteeAdapter,
                                                                        mock: respx.MockRouter) -> None:
    consumer_mocks(mock, [], [])
    spec = consumer_record()["spec"]
    await adapter.fetch_applications()
    assert not any("allowCustom" in n for n in adapter.plan_notes("Consumer", spec))
    mock.get(f"{V1}/settings").mock(return_value=httpx.Response(200, json=key_settings(custom=False)))
    await adapter.fetch_apis()  # a new cycle forgets what the last one read
    await adapter.fetch_applications()
    [note] = [n for n in adapter.plan_notes("Consumer", spec) if "allowCustom" in n]
    assert "plan.security.apikey.allowCustom.enabled is off" in note and "fail this consumer" in note
    assert not adapter.plan_notes("Consumer", {**spec, "subscriptions": []})


async def test_unreadable_settings_are_unknown_not_an_error(adapter: GraviteeAdapter, mock: respx.MockRouter) -> None:
    consumer_mocks(mock, [], [])
    mock.get(f"{V1}/settings").mock(return_value=httpx.Response(403, json={"message": "no", "http_status": 403}))
    record = consumer_record()
    mock.post(f"{V1}/applications").mock(return_value=httpx.Response(201, json={"id": "app1", **m.app_body(
        record, "platform", secret_fingerprint("mobile-key-0123456789"))}))
    mock.post(f"{V2}/apis/a1/subscriptions").mock(return_value=httpx.Response(201, json={"id": "s1"}))
    assert [r["owner"] for r in await adapter.fetch_applications()] == []
    assert (await adapter.provision_application(record)).success


async def test_a_key_gravitee_will_not_reuse_names_the_reuse_setting(adapter: GraviteeAdapter,
                                                                     mock: respx.MockRouter) -> None:
    app = {"id": "app1", **m.app_body(consumer_record(), "platform", secret_fingerprint("mobile-key-0123456789"))}
    consumer_mocks(mock, [app], [])
    mock.post(f"{V2}/apis/a1/subscriptions").mock(return_value=httpx.Response(400, json={
        "httpStatus": 400, "message": "API Key already exists", "technicalCode": "apiKey.existing"}))
    result = await adapter.provision_application({**consumer_record(), "id": "app1"})
    assert not result.success and "plan.security.apikey.allowCustomReuse.enabled, which is off here" in (
        result.error or "")
    assert "API 'pets'" in (result.error or "") and "mobile-key-0123456789" not in (result.error or "")


async def test_an_archived_application_is_gone(adapter: GraviteeAdapter, mock: respx.MockRouter) -> None:
    archived = {"id": "app1", "status": "ARCHIVED", **m.app_body(consumer_record(), "platform", "sha256:x")}
    mock.get(f"{V1}/applications/app1").mock(return_value=httpx.Response(200, json=archived))
    result = await adapter.deprovision_application("app1")
    assert result.success and result.data == {"deleted": False} and writes(mock) == []
