"""Unit tests of single AWS adapter methods and the pure mappers, with respx (no network)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from reconciler.adapters.aws import mappers as m
from reconciler.adapters.aws.adapter import AwsApiGatewayAdapter
from reconciler.adapters.aws.sigv4 import SigV4HttpxAuth, resolve_credentials
from reconciler.adapters.http import RetryPolicy
from reconciler.model.errors import GatewayError
from reconciler.model.records import make_record, secret_fingerprint

BASE = "https://apigateway.eu-west-1.amazonaws.com"
SECRET = "very-secret-access-key"
OWNED = {"managed-by": "stoa-reconciler", "stoa-owner": "platform", "stoa-tenant": "acme", "stoa-version": "1"}


def adapter(**options: Any) -> AwsApiGatewayAdapter:
    opts = {"region": "eu-west-1", "deploymentIntervalSeconds": 0, "requestsPerSecond": 1000, "quotaScale": 0.001, **options}
    a = AwsApiGatewayAdapter({"name": "aws", "owner": "platform", "options": opts,
                              "auth": {"access_key_id": "AKIDEXAMPLE", "secret_access_key": SECRET}})
    a.http = a.make_http(retry=RetryPolicy(attempts=3, base=0.001, cap=0.01))
    return a


def api_record(**over: Any) -> dict[str, Any]:
    spec = {"tenant": "acme", "version": "1", "basePath": "/pets", "backend": "https://b.example.com",
            "methods": ["GET"], "openapi": None, "openapiHash": None}
    spec.update(over)
    return make_record("API", "pets", spec)


def resources(uri: str = "https://b.example.com", methods: tuple[str, ...] = ("GET",), key: bool = True) -> dict[str, Any]:
    def meths(proxy: bool) -> dict[str, Any]:
        return {v: {"apiKeyRequired": key, "methodIntegration": {
            "type": "HTTP_PROXY", "httpMethod": v, "uri": uri + ("/{proxy}" if proxy else "")}} for v in methods}
    return {"item": [{"id": "root", "path": "/"},
                     {"id": "base", "parentId": "root", "pathPart": "pets", "path": "/pets", "resourceMethods": meths(False)},
                     {"id": "px", "parentId": "base", "pathPart": "{proxy+}", "path": "/pets/{proxy+}",
                      "resourceMethods": meths(True)}]}


PLAN = {"id": "up1", "name": "pets", "apiStages": [{"apiId": "a1", "stage": "prod"}],
        "tags": {"managed-by": "stoa-reconciler", "stoa-owner": "platform", "stoa-api": "pets"}}


# ------------------------------------------------------------------ mappers (pure)
def test_throttle_mapping_is_integral_and_bounded() -> None:
    assert m.throttle_for(100, "minute") == {"rateLimit": 2, "burstLimit": 100}
    assert m.throttle_for(10, "second") == {"rateLimit": 10, "burstLimit": 10}
    assert m.throttle_for(1, "day") == {"rateLimit": 1, "burstLimit": 1}
    assert m.throttle_for(10**6, "second")["burstLimit"] == 10**6


def test_quota_only_for_day() -> None:
    assert m.quota_for(50, "day") == {"limit": 50, "period": "DAY", "offset": 0}
    assert m.quota_for(50, "hour") is None


def test_policy_read_back_is_exact_through_marker() -> None:
    plan = {**PLAN, "description": m.policy_marker("pets-rate", "platform", 100, "minute"),
            "throttle": m.throttle_for(100, "minute")}
    rec = m.policy_from_plan(plan)
    assert rec is not None and rec["spec"]["config"] == {"requests": 100, "period": "minute"}
    assert rec["owner"] == "platform" and rec["name"] == "pets-rate"


def test_policy_numbers_changed_out_of_band_show_as_drift() -> None:
    plan = {**PLAN, "description": m.policy_marker("pets-rate", "platform", 100, "minute"),
            "throttle": {"rateLimit": 10.0, "burstLimit": 100}}
    rec = m.policy_from_plan(plan)
    assert rec is not None and rec["spec"]["config"]["requests"] == 600


def test_plan_without_marker_carries_no_policy() -> None:
    assert m.policy_from_plan({**PLAN, "description": "hand made"}) is None


def test_unmanaged_tags_mean_no_owner() -> None:
    assert m.owner_of({"stoa-owner": "platform"}) is None
    assert m.owner_of(OWNED) == "platform"


def test_api_from_gateway_reads_layout() -> None:
    rec = m.api_from_gateway({"id": "a1", "name": "pets", "tags": OWNED, "description": "d"}, resources()["item"])
    assert rec["spec"]["basePath"] == "/pets" and rec["spec"]["backend"] == "https://b.example.com"
    assert rec["spec"]["methods"] == ["GET"] and rec["spec"]["description"] == "d"


def test_desired_view_drops_openapi_document() -> None:
    view = AwsApiGatewayAdapter.desired_view("API", {"openapi": {"x": 1}, "openapiHash": "h", "methods": ["POST", "GET"]})
    assert view == {"openapiHash": "h", "methods": ["GET", "POST"]}


def test_api_key_payload_tags_fingerprint_not_value() -> None:
    body = m.api_key_payload("c", {"displayName": "C"}, "k" * 20, secret_fingerprint("k" * 20), "platform")
    assert body["tags"]["stoa-fingerprint"] == secret_fingerprint("k" * 20)
    assert "k" * 20 not in json.dumps(body["tags"])


def test_sigv4_auth_signs_with_botocore() -> None:
    creds = resolve_credentials("AKIDEXAMPLE", SECRET)
    assert creds is not None
    request = httpx.Request("GET", f"{BASE}/restapis")
    SigV4HttpxAuth(creds, "eu-west-1").sign(request)
    assert request.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "x-amz-date" in request.headers


def test_credentials_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "envsecret")
    creds = resolve_credentials(None, None)
    assert creds is not None and creds.access_key == "AKIDENV"


# ------------------------------------------------------------------ adapter methods
@respx.mock
async def test_health_check_ok_and_default_endpoint() -> None:
    route = respx.get(f"{BASE}/restapis").mock(return_value=httpx.Response(200, json={"item": []}))
    result = await adapter().health_check()
    assert result.success and route.called
    assert route.calls[0].request.headers["accept"] == "application/json"  # not HAL


@respx.mock
async def test_health_check_failure_never_raises_nor_leaks_secret() -> None:
    respx.get(f"{BASE}/restapis").mock(return_value=httpx.Response(
        403, json={"message": f"bad signature for {SECRET}"}))
    result = await adapter().health_check()
    assert not result.success and SECRET not in (result.error or "")


@respx.mock
async def test_throttled_requests_are_retried() -> None:
    route = respx.get(f"{BASE}/restapis").mock(side_effect=[
        httpx.Response(429, json={"message": "Too Many Requests"}), httpx.Response(200, json={"item": []})])
    assert (await adapter().health_check()).success
    assert route.call_count == 2


@respx.mock
async def test_fetch_apis_follows_position_paging() -> None:
    respx.get(f"{BASE}/restapis", params={"position": "p2"}).mock(return_value=httpx.Response(
        200, json={"item": [{"id": "b", "name": "other", "tags": {}}]}))
    respx.get(f"{BASE}/restapis").mock(return_value=httpx.Response(
        200, json={"item": [{"id": "a", "name": "legacy", "tags": {}}], "position": "p2"}))
    for api_id in ("a", "b"):  # unowned REST APIs are read whole too (adoption, import)
        respx.get(f"{BASE}/restapis/{api_id}/resources").mock(return_value=httpx.Response(200, json={"item": []}))
    names = [r["name"] for r in await adapter().fetch_apis()]
    assert names == ["legacy", "other"]


@respx.mock
async def test_fetch_apis_raises_on_error_and_list_apis_does_not() -> None:
    respx.get(f"{BASE}/restapis").mock(return_value=httpx.Response(500, json={"message": "boom"}))
    a = adapter()
    with pytest.raises(GatewayError):
        await a.fetch_apis()
    assert await a.list_apis() == []


@respx.mock
async def test_sync_api_creates_layout_deploys_once_and_creates_plan() -> None:
    respx.get(f"{BASE}/restapis").mock(return_value=httpx.Response(200, json={"item": []}))
    create = respx.post(f"{BASE}/restapis").mock(return_value=httpx.Response(201, json={"id": "a1", "name": "pets"}))
    respx.get(f"{BASE}/restapis/a1/resources").mock(return_value=httpx.Response(200, json={"item": [
        {"id": "root", "path": "/"}]}))
    res = respx.post(url__regex=rf"{BASE}/restapis/a1/resources/\w+").mock(side_effect=[
        httpx.Response(201, json={"id": "base", "path": "/pets"}),
        httpx.Response(201, json={"id": "px", "path": "/pets/{proxy+}"})])
    puts = respx.put(url__regex=rf"{BASE}/restapis/a1/resources/.*").mock(return_value=httpx.Response(201, json={}))
    respx.get(f"{BASE}/restapis/a1/stages/prod").mock(return_value=httpx.Response(404, json={"message": "nf"}))
    deploy = respx.post(f"{BASE}/restapis/a1/deployments").mock(return_value=httpx.Response(201, json={"id": "d"}))
    respx.get(f"{BASE}/usageplans").mock(return_value=httpx.Response(200, json={"item": []}))
    plan = respx.post(f"{BASE}/usageplans").mock(return_value=httpx.Response(201, json={"id": "up1"}))
    a = adapter()
    result = await a.sync_api(api_record(), "acme")
    assert result.success and result.resource_id == "a1"
    body = json.loads(create.calls[0].request.content)
    assert body["tags"]["stoa-owner"] == "platform" and body["tags"]["stoa-tenant"] == "acme"
    assert res.call_count == 2 and puts.call_count == 4 and deploy.call_count == 1 and a.deployments == 1
    integ = next(json.loads(c.request.content) for c in puts.calls if c.request.url.path.endswith("/integration")
                 and "/px/" in c.request.url.path)
    assert integ["uri"] == "https://b.example.com/{proxy}" and integ["type"] == "HTTP_PROXY"
    assert json.loads(plan.calls[0].request.content)["apiStages"] == [{"apiId": "a1", "stage": "prod"}]


@respx.mock
async def test_sync_api_unchanged_layout_sends_no_writes() -> None:
    respx.get(f"{BASE}/restapis/a1").mock(return_value=httpx.Response(200, json={"id": "a1", "name": "pets", "tags": OWNED}))
    respx.get(f"{BASE}/restapis/a1/resources").mock(return_value=httpx.Response(200, json=resources()))
    respx.get(f"{BASE}/restapis/a1/stages/prod").mock(return_value=httpx.Response(200, json={"stageName": "prod"}))
    respx.get(f"{BASE}/usageplans").mock(return_value=httpx.Response(200, json={"item": [PLAN]}))
    a = adapter()
    result = await a.sync_api({**api_record(), "id": "a1"}, "acme")
    assert result.success and a.write_count == 0 and a.deployments == 0


@respx.mock
async def test_sync_api_changed_backend_replaces_integrations_and_deploys() -> None:
    respx.get(f"{BASE}/restapis/a1").mock(return_value=httpx.Response(200, json={"id": "a1", "name": "pets", "tags": OWNED}))
    respx.get(f"{BASE}/restapis/a1/resources").mock(return_value=httpx.Response(200, json=resources("https://old")))
    integ = respx.put(url__regex=rf"{BASE}/restapis/a1/resources/\w+/methods/GET/integration").mock(
        return_value=httpx.Response(201, json={}))
    respx.get(f"{BASE}/restapis/a1/stages/prod").mock(return_value=httpx.Response(200, json={}))
    deploy = respx.post(f"{BASE}/restapis/a1/deployments").mock(return_value=httpx.Response(201, json={}))
    respx.get(f"{BASE}/usageplans").mock(return_value=httpx.Response(200, json={"item": [PLAN]}))
    a = adapter()
    assert (await a.sync_api({**api_record(), "id": "a1"}, "acme")).success
    assert integ.call_count == 2 and deploy.call_count == 1


@respx.mock
async def test_sync_api_retags_when_tenant_changes() -> None:
    respx.get(f"{BASE}/restapis/a1").mock(return_value=httpx.Response(200, json={"id": "a1", "name": "pets", "tags": OWNED}))
    tag = respx.put(url__regex=rf"{BASE}/tags/.*").mock(return_value=httpx.Response(204))
    respx.get(f"{BASE}/restapis/a1/resources").mock(return_value=httpx.Response(200, json=resources()))
    respx.get(f"{BASE}/restapis/a1/stages/prod").mock(return_value=httpx.Response(200, json={}))
    respx.get(f"{BASE}/usageplans").mock(return_value=httpx.Response(200, json={"item": [PLAN]}))
    assert (await adapter().sync_api({**api_record(tenant="other"), "id": "a1"}, "other")).success
    assert tag.called and "arn%3Aaws%3Aapigateway%3Aeu-west-1%3A%3A%2Frestapis%2Fa1" in str(tag.calls[0].request.url)
    assert json.loads(tag.calls[0].request.content)["tags"]["stoa-tenant"] == "other"


@respx.mock
async def test_sync_api_refuses_unowned_api_of_same_name() -> None:
    respx.get(f"{BASE}/restapis").mock(return_value=httpx.Response(200, json={"item": [{"id": "x", "name": "pets"}]}))
    result = await adapter().sync_api(api_record(), "acme")
    assert not result.success and result.category == "conflict"


@respx.mock
async def test_deployments_are_paced_per_api(monkeypatch: pytest.MonkeyPatch) -> None:
    import reconciler.adapters.aws.adapter as mod
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)
    monkeypatch.setattr(mod.asyncio, "sleep", fake_sleep)
    respx.post(f"{BASE}/restapis/a9/deployments").mock(return_value=httpx.Response(201, json={}))
    a = adapter(deploymentIntervalSeconds=5)
    await a._deploy("a9")
    await a._deploy("a9")
    long_waits = [s for s in sleeps if s > 1]  # the shared pacer's own tiny sleeps are ignored
    assert len(long_waits) == 1 and 4 < long_waits[0] <= 5


@respx.mock
async def test_delete_api_refuses_unowned() -> None:
    respx.get(f"{BASE}/restapis/x").mock(return_value=httpx.Response(200, json={"id": "x", "name": "legacy", "tags": {}}))
    delete = respx.delete(f"{BASE}/restapis/x")
    result = await adapter().delete_api("x")
    assert not result.success and not delete.called


@respx.mock
async def test_delete_api_removes_plan_then_api_and_404_is_success() -> None:
    respx.get(f"{BASE}/restapis/a1").mock(return_value=httpx.Response(200, json={"id": "a1", "name": "pets", "tags": OWNED}))
    respx.get(f"{BASE}/usageplans").mock(return_value=httpx.Response(200, json={"item": [PLAN]}))
    unbind = respx.patch(f"{BASE}/usageplans/up1").mock(return_value=httpx.Response(200, json={}))
    del_plan = respx.delete(f"{BASE}/usageplans/up1").mock(return_value=httpx.Response(202))
    del_api = respx.delete(f"{BASE}/restapis/a1").mock(return_value=httpx.Response(202))
    assert (await adapter().delete_api("a1")).success
    assert unbind.called and del_plan.called and del_api.called
    respx.get(f"{BASE}/restapis/gone").mock(return_value=httpx.Response(404, json={"message": "nf"}))
    assert (await adapter().delete_api("gone")).success


@respx.mock
async def test_upsert_policy_patches_the_api_plan() -> None:
    respx.get(f"{BASE}/usageplans").mock(return_value=httpx.Response(200, json={"item": [PLAN]}))
    patch = respx.patch(f"{BASE}/usageplans/up1").mock(return_value=httpx.Response(200, json={}))
    rec = make_record("Policy", "pets-rate", {"api": "pets", "type": "rate_limit",
                                              "config": {"requests": 7200, "period": "hour"}})
    result = await adapter().upsert_policy(rec)
    assert result.success and result.resource_id == "up1:pets-rate"
    ops = {o["path"]: o.get("value") for o in json.loads(patch.calls[0].request.content)["patchOperations"]}
    assert ops["/throttle/rateLimit"] == "2" and ops["/description"] == "stoa-policy pets-rate owner=platform rate=7200/hour"


@respx.mock
async def test_upsert_policy_without_api_plan_fails_cleanly() -> None:
    respx.get(f"{BASE}/usageplans").mock(return_value=httpx.Response(200, json={"item": []}))
    rec = make_record("Policy", "p", {"api": "nope", "type": "rate_limit", "config": {"requests": 1, "period": "second"}})
    result = await adapter().upsert_policy(rec)
    assert not result.success and "nope" in (result.error or "")


CORS = {"origins": ["https://a.example.com", "https://b.example.com"], "methods": ["GET", "POST"],
        "headers": ["X-Api-Key"], "exposeHeaders": [], "credentials": True, "maxAge": 600}


def test_cors_preflight_reads_back_exactly() -> None:
    method = {"operationName": m.cors_marker("pets-cors", "platform"), "methodIntegration": {
        "type": "MOCK", "integrationResponses": {"200": m.cors_integration_response(CORS)}}}
    assert m.cors_from_method(method) == CORS
    template = m.cors_integration_response(CORS)["responseTemplates"]["application/json"]
    assert '["https://a.example.com", "https://b.example.com"]' in template and "responseOverride" in template


@respx.mock
async def test_cors_policy_puts_preflight_methods_and_deploys_once() -> None:
    respx.get(f"{BASE}/restapis").mock(return_value=httpx.Response(200, json={"item": [
        {"id": "a1", "name": "pets", "tags": OWNED}]}))
    respx.get(f"{BASE}/restapis/a1/resources").mock(return_value=httpx.Response(200, json=resources()))
    puts = respx.put(url__regex=rf"{BASE}/restapis/a1/resources/\w+/methods/OPTIONS.*").mock(
        return_value=httpx.Response(201, json={}))
    deploy = respx.post(f"{BASE}/restapis/a1/deployments").mock(return_value=httpx.Response(201, json={}))
    rec = make_record("Policy", "pets-cors", {"api": "pets", "type": "cors", "config": CORS})
    a = adapter()
    result = await a.upsert_policy(rec)
    assert result.success and result.resource_id == "cors:a1:pets-cors"
    assert puts.call_count == 8 and deploy.call_count == 1
    method = next(json.loads(c.request.content) for c in puts.calls if c.request.url.path.endswith("/OPTIONS"))
    assert method == {"authorizationType": "NONE", "apiKeyRequired": False,
                      "operationName": "stoa-cors pets-cors owner=platform"}


@respx.mock
async def test_api_change_with_pending_cors_change_defers_its_deployment() -> None:
    from reconciler.model.changes import Change, Op
    a = adapter()
    cors = make_record("Policy", "pets-cors", {"api": "pets", "type": "cors", "config": CORS})
    assert await a.apply_batch([Change("aws", Op.UPDATE, "API", "pets", desired=api_record()),
                                Change("aws", Op.CREATE, "Policy", "pets-cors", desired=cors)]) is None
    respx.get(f"{BASE}/restapis/a1").mock(return_value=httpx.Response(200, json={"id": "a1", "name": "pets", "tags": OWNED}))
    respx.get(f"{BASE}/restapis/a1/resources").mock(return_value=httpx.Response(200, json=resources("https://old")))
    respx.put(url__regex=rf"{BASE}/restapis/a1/resources/.*").mock(return_value=httpx.Response(201, json={}))
    respx.get(f"{BASE}/restapis/a1/stages/prod").mock(return_value=httpx.Response(200, json={}))
    respx.get(f"{BASE}/usageplans").mock(return_value=httpx.Response(200, json={"item": [PLAN]}))
    deploy = respx.post(f"{BASE}/restapis/a1/deployments").mock(return_value=httpx.Response(201, json={}))
    assert (await a.sync_api({**api_record(), "id": "a1"}, "acme")).success
    assert deploy.call_count == 0  # owed to the cors change
    respx.get(f"{BASE}/restapis").mock(return_value=httpx.Response(200, json={"item": [
        {"id": "a1", "name": "pets", "tags": OWNED}]}))
    assert (await a.upsert_policy(cors)).success
    assert deploy.call_count == 1


@respx.mock
async def test_delete_policy_ignores_other_policy_marker() -> None:
    plan = {**PLAN, "description": m.policy_marker("newer", "platform", 1, "second"), "throttle": {"rateLimit": 1}}
    respx.get(f"{BASE}/usageplans/up1").mock(return_value=httpx.Response(200, json=plan))
    patch = respx.patch(f"{BASE}/usageplans/up1")
    assert (await adapter().delete_policy("up1:older")).success
    assert not patch.called


@respx.mock
async def test_provision_requires_long_enough_key_and_never_leaks_it() -> None:
    respx.get(f"{BASE}/apikeys").mock(return_value=httpx.Response(200, json={"item": []}))
    respx.get(f"{BASE}/usageplans").mock(return_value=httpx.Response(200, json={"item": []}))
    rec = make_record("Consumer", "c", {"subscriptions": [], "credential": {"type": "apiKey"}})
    rec["secret"] = {"apiKey": "short-key"}
    result = await adapter().provision_application(rec)
    assert not result.success and "20 characters" in (result.error or "") and "short-key" not in (result.error or "")


@respx.mock
async def test_provision_creates_key_and_attaches_to_plans() -> None:
    respx.get(f"{BASE}/apikeys").mock(return_value=httpx.Response(200, json={"item": []}))
    respx.get(f"{BASE}/usageplans").mock(return_value=httpx.Response(200, json={"item": [PLAN]}))
    create = respx.post(f"{BASE}/apikeys").mock(return_value=httpx.Response(201, json={"id": "k1", "name": "c"}))
    respx.get(f"{BASE}/usageplans/up1/keys").mock(return_value=httpx.Response(200, json={"item": []}))
    attach = respx.post(f"{BASE}/usageplans/up1/keys").mock(return_value=httpx.Response(201, json={}))
    value = "a-very-long-api-key-value-1234"
    rec = make_record("Consumer", "c", {"subscriptions": ["pets"], "credential": {"type": "apiKey"}})
    rec["secret"] = {"apiKey": value}
    result = await adapter().provision_application(rec)
    assert result.success and result.resource_id == "k1"
    assert json.loads(create.calls[0].request.content)["tags"]["stoa-fingerprint"] == secret_fingerprint(value)
    assert json.loads(attach.calls[0].request.content) == {"keyId": "k1", "keyType": "API_KEY"}


@respx.mock
async def test_deprovision_refuses_unowned_key() -> None:
    respx.get(f"{BASE}/apikeys/k9").mock(return_value=httpx.Response(200, json={"id": "k9", "tags": {"x": "y"}}))
    delete = respx.delete(f"{BASE}/apikeys/k9")
    assert not (await adapter().deprovision_application("k9")).success
    assert not delete.called


async def test_extended_methods_are_not_supported() -> None:
    a = adapter()
    for call in (a.upsert_auth_server({}), a.upsert_strategy({}), a.upsert_scope({}), a.upsert_alias({}),
                 a.apply_config({}), a.export_archive()):
        result = await call
        assert not result.success and result.error == "Not supported by aws_apigateway"


@respx.mock
async def test_missing_credentials_fail_without_raising(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    a = AwsApiGatewayAdapter({"name": "aws", "owner": "platform", "options": {}})
    result = await a.health_check()
    assert not result.success and "credentials" in (result.error or "")


def test_credentials_from_a_named_profile(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    creds_file = tmp_path / "credentials"
    creds_file.write_text("[deploy]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = profilesecret\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds_file))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    creds = resolve_credentials(None, None, profile="deploy")
    assert creds is not None and creds.access_key == "AKIDPROFILE"
