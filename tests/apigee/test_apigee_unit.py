"""Unit tests of single Apigee adapter methods (respx) and its pure parts (bundle, mappers)."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import httpx
import pytest
import respx

from reconciler.adapters.apigee import mappers as m
from reconciler.adapters.apigee.adapter import ApigeeAdapter
from reconciler.adapters.apigee.bundle import build_bundle, bundle_hash, read_bundle
from reconciler.adapters.http import RetryPolicy
from reconciler.model.errors import GatewayError
from reconciler.model.records import make_record, secret_fingerprint

BASE = "https://apigee.googleapis.com"
ORG = f"{BASE}/v1/organizations/acme"
TOKEN = "ya29.unit-test-token"
OWNED = [{"name": "managed-by", "value": "stoa-reconciler"}, {"name": "stoa-owner", "value": "platform"}]
SPEC = {"tenant": "acme", "version": "1.0.0", "basePath": "/pets", "backend": "https://b.example.com/v1",
        "methods": ["POST", "GET"], "displayName": "Pets", "description": None, "openapi": None, "openapiHash": None}


def adapter(**options: Any) -> ApigeeAdapter:
    a = ApigeeAdapter({"name": "apigee", "owner": "platform", "auth": {"token": TOKEN},
                       "options": {"organization": "acme", "environment": "test", **options}})
    a.http = a.make_http(retry=RetryPolicy(attempts=3, base=0.001, cap=0.01))
    return a


def api_record(**over: Any) -> dict[str, Any]:
    return make_record("API", "pets", {**SPEC, **over})


def labels_for(spec: dict[str, Any], rev: str = "1") -> dict[str, str]:
    return m.proxy_labels({}, "platform", bundle_hash(build_bundle("pets", spec, owner="platform")), rev)


# ------------------------------------------------------------------ bundle and mappers (pure)
def test_bundle_is_a_deterministic_zip_with_proxy_and_target() -> None:
    data = build_bundle("pets", SPEC)
    assert data == build_bundle("pets", dict(SPEC)) and bundle_hash(data) == bundle_hash(build_bundle("pets", SPEC))
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert {"apiproxy/pets.xml", "apiproxy/proxies/default.xml", "apiproxy/targets/default.xml"} <= set(names)


def test_bundle_round_trips_the_spec() -> None:
    got = read_bundle(build_bundle("pets", {**SPEC, "description": "a & b <c>", "openapiHash": "sha256:ab"}))
    assert got["basePath"] == "/pets" and got["backend"] == "https://b.example.com/v1"
    assert got["methods"] == ["GET", "POST"] and got["description"] == "a & b <c>" and got["openapiHash"] == "sha256:ab"


def test_bundle_hash_changes_with_content() -> None:
    assert bundle_hash(build_bundle("pets", SPEC)) != bundle_hash(build_bundle("pets", {**SPEC, "backend": "https://x"}))


def test_read_bundle_rejects_foreign_archives() -> None:
    with pytest.raises(ValueError):
        read_bundle(b"not a zip")


def test_second_rate_is_a_minute_quota_with_exact_read_back() -> None:
    body = m.product_body("pets", "test", "platform", policy=("pets-rate", {"requests": 5, "period": "second"}))
    assert (body["quota"], body["quotaTimeUnit"]) == ("300", "minute")
    rec = m.policy_from_product(body)
    assert rec is not None and rec["spec"]["config"] == {"requests": 5, "period": "second"}


def test_product_without_policy_attributes_carries_no_policy() -> None:
    assert m.policy_from_product(m.product_body("pets", "test", "platform")) is None


def test_consumer_fingerprint_comes_from_the_only_key() -> None:
    app = {"name": "c", "attributes": OWNED, "credentials": [
        {"consumerKey": "k-1", "apiProducts": [{"apiproduct": "pets", "status": "approved"},
                                               {"apiproduct": "other", "status": "approved"}]}]}
    rec = m.consumer_from_app(app, {"pets": "pets"})
    assert rec["spec"]["credential"]["fingerprint"] == secret_fingerprint("k-1")
    assert rec["spec"]["subscriptions"] == ["pets"] and rec["owner"] == "platform"


def test_desired_view_drops_openapi_and_sorts_methods() -> None:
    view = ApigeeAdapter.desired_view("API", {**SPEC, "openapi": {"x": 1}})
    assert "openapi" not in view and view["methods"] == ["GET", "POST"]


# ------------------------------------------------------------------ adapter methods (respx)
@respx.mock
async def test_health_check_reads_environment_with_bearer_token() -> None:
    route = respx.get(f"{ORG}/environments/test").mock(return_value=httpx.Response(200, json={"name": "test"}))
    assert (await adapter().health_check()).success
    assert route.calls[0].request.headers["authorization"] == f"Bearer {TOKEN}"


@respx.mock
async def test_health_check_401_is_a_clean_failure() -> None:
    respx.get(f"{ORG}/environments/test").mock(return_value=httpx.Response(401, json={"error": {
        "code": 401, "message": f"bad token {TOKEN}", "status": "UNAUTHENTICATED"}}))
    result = await adapter().health_check()
    assert not result.success and TOKEN not in (result.error or "")


async def test_missing_organization_fails_without_raising() -> None:
    a = ApigeeAdapter({"name": "apigee", "owner": "platform", "auth": {"token": TOKEN}, "options": {}})
    result = await a.health_check()
    assert not result.success and "organization" in (result.error or "")


@respx.mock
async def test_fetch_apis_reads_the_deployed_revision_bundle() -> None:
    # the listing carries labels and revisions (ApiProxy in ListApiProxiesResponse): no GET per proxy
    listing = respx.get(f"{ORG}/apis", params={"includeRevisions": "true"}).mock(return_value=httpx.Response(200, json={
        "proxies": [{"name": "pets", "labels": labels_for(SPEC), "revision": ["1", "3"]},
                    {"name": "legacy", "revision": ["1"]}]}))
    respx.get(f"{ORG}/environments/test/deployments").mock(return_value=httpx.Response(200, json={"deployments": [
        {"apiProxy": "pets", "revision": "3"}]}))
    per_proxy = respx.get(url__regex=rf"{ORG}/apis/[^/]+$").mock(return_value=httpx.Response(500))
    bundle = respx.get(f"{ORG}/apis/pets/revisions/3", params={"format": "bundle"}).mock(
        return_value=httpx.Response(200, content=build_bundle("pets", SPEC)))
    legacy = respx.get(f"{ORG}/apis/legacy/revisions/1", params={"format": "bundle"}).mock(
        return_value=httpx.Response(200, content=b"not a zip"))
    products = respx.get(f"{ORG}/apiproducts").mock(return_value=httpx.Response(200, json={"apiProduct": [
        m.product_body("pets", "test", "platform")]}))
    records = {r["name"]: r for r in await adapter().fetch_apis()}
    assert listing.call_count == 1 and not per_proxy.called and legacy.call_count == 1
    assert bundle.called and records["pets"]["owner"] == "platform" and records["legacy"]["owner"] is None
    assert records["pets"]["spec"]["backend"] == SPEC["backend"] and records["legacy"]["spec"] == {
        "product": "missing", "importNotes": ["no single deployed revision whose bundle can be read"]}
    assert records["pets"]["spec"]["product"] == "present"
    # An apply cut after the deployment and before the product (or a product deleted by hand): drift.
    products.mock(return_value=httpx.Response(200, json={"apiProduct": []}))
    records = {r["name"]: r for r in await adapter().fetch_apis()}
    assert records["pets"]["spec"]["product"] == "missing" != adapter().desired_view("API", SPEC)["product"]


@respx.mock
async def test_fetch_apis_raises_when_the_gateway_fails() -> None:
    respx.get(f"{ORG}/apiproducts").mock(return_value=httpx.Response(200, json={"apiProduct": []}))
    respx.get(f"{ORG}/apis").mock(return_value=httpx.Response(503, json={"error": {"code": 503, "message": "x"}}))
    respx.get(f"{ORG}/environments/test/deployments").mock(return_value=httpx.Response(200, json={"deployments": []}))
    a = adapter()
    with pytest.raises(GatewayError):
        await a.fetch_apis()
    assert await a.list_apis() == []


@respx.mock
async def test_sync_api_new_proxy_imports_labels_deploys_and_creates_product() -> None:
    respx.get(f"{ORG}/apis/pets").mock(return_value=httpx.Response(404, json={"error": {"code": 404}}))
    imp = respx.post(f"{ORG}/apis", params={"name": "pets", "action": "import"}).mock(
        return_value=httpx.Response(200, json={"name": "pets", "revision": "1"}))
    label = respx.patch(f"{ORG}/apis/pets", params={"updateMask": "labels"}).mock(return_value=httpx.Response(200, json={}))
    respx.get(f"{ORG}/environments/test/apis/pets/deployments").mock(side_effect=[
        httpx.Response(200, json={}), httpx.Response(200, json={"deployments": [{"revision": "1"}]})])
    deploy = respx.post(f"{ORG}/environments/test/apis/pets/revisions/1/deployments").mock(
        return_value=httpx.Response(200, json={}))
    respx.get(f"{ORG}/apiproducts/pets").mock(return_value=httpx.Response(404, json={"error": {"code": 404}}))
    product = respx.post(f"{ORG}/apiproducts").mock(return_value=httpx.Response(200, json={}))
    result = await adapter().sync_api(api_record(), "acme")
    assert result.success and result.data == {"id": "pets", "revision": "1"}
    request = imp.calls[0].request
    assert request.headers["content-type"].startswith("multipart/form-data") and b"PK\x03\x04" in request.content
    assert json.loads(label.calls[0].request.content)["labels"]["stoa-rev"] == "1"
    assert "override" not in str(deploy.calls[0].request.url)
    body = json.loads(product.calls[0].request.content)
    assert body["proxies"] == ["pets"] and body["environments"] == ["test"]


@respx.mock
async def test_sync_api_unchanged_content_reuses_revision_without_writes() -> None:
    respx.get(f"{ORG}/apis/pets").mock(return_value=httpx.Response(200, json={
        "name": "pets", "revision": ["1"], "labels": labels_for(SPEC)}))
    respx.get(f"{ORG}/environments/test/apis/pets/deployments").mock(return_value=httpx.Response(
        200, json={"deployments": [{"revision": "1"}]}))
    respx.get(f"{ORG}/apis/pets/revisions/1").mock(return_value=httpx.Response(200, content=build_bundle("pets", SPEC)))
    respx.get(f"{ORG}/apiproducts/pets").mock(return_value=httpx.Response(200, json=m.product_body("pets", "test", "platform")))
    a = adapter()
    assert (await a.sync_api({**api_record(), "id": "pets"}, "acme")).success
    assert a.write_count == 0


@respx.mock
async def test_sync_api_changed_content_imports_and_overrides_deployment() -> None:
    respx.get(f"{ORG}/apis/pets").mock(return_value=httpx.Response(200, json={
        "name": "pets", "revision": ["1"], "labels": labels_for(SPEC)}))
    respx.post(f"{ORG}/apis").mock(return_value=httpx.Response(200, json={"revision": "2"}))
    respx.patch(f"{ORG}/apis/pets").mock(return_value=httpx.Response(200, json={}))
    respx.get(f"{ORG}/environments/test/apis/pets/deployments").mock(side_effect=[
        httpx.Response(200, json={"deployments": [{"revision": "1"}]}),
        httpx.Response(200, json={"deployments": [{"revision": "1"}]}),
        httpx.Response(200, json={"deployments": [{"revision": "1"}, {"revision": "2"}]})])
    respx.get(f"{ORG}/apis/pets/revisions/1").mock(return_value=httpx.Response(200, content=build_bundle("pets", SPEC)))
    deploy = respx.post(f"{ORG}/environments/test/apis/pets/revisions/2/deployments").mock(
        return_value=httpx.Response(200, json={}))
    undeploy = respx.delete(f"{ORG}/environments/test/apis/pets/revisions/1/deployments").mock(
        return_value=httpx.Response(200, json={}))
    respx.get(f"{ORG}/apiproducts/pets").mock(return_value=httpx.Response(200, json=m.product_body("pets", "test", "platform")))
    assert (await adapter().sync_api({**api_record(backend="https://v2"), "id": "pets"}, "acme")).success
    assert deploy.calls[0].request.url.params["override"] == "true"
    assert undeploy.called  # a revision left deployed after the swap is undeployed explicitly


@respx.mock
async def test_sync_api_refuses_unowned_proxy() -> None:
    respx.get(f"{ORG}/apis/pets").mock(return_value=httpx.Response(200, json={"name": "pets", "revision": ["1"]}))
    # An operator's bundle (no owner marker of ours): not recognised as an interrupted import of ours.
    respx.get(f"{ORG}/apis/pets/revisions/1", params={"format": "bundle"}).mock(
        return_value=httpx.Response(200, content=build_bundle("pets", SPEC)))
    imp = respx.post(f"{ORG}/apis")
    result = await adapter().sync_api(api_record(), "acme")
    assert not result.success and result.category == "conflict" and not imp.called


@respx.mock
async def test_delete_api_undeploys_then_deletes_product_and_proxy() -> None:
    respx.get(f"{ORG}/apis/pets").mock(return_value=httpx.Response(200, json={"name": "pets", "labels": labels_for(SPEC)}))
    respx.get(f"{ORG}/environments/test/apis/pets/deployments").mock(return_value=httpx.Response(
        200, json={"deployments": [{"revision": "4"}]}))
    undeploy = respx.delete(f"{ORG}/environments/test/apis/pets/revisions/4/deployments").mock(
        return_value=httpx.Response(200, json={}))
    respx.get(f"{ORG}/apiproducts/pets").mock(return_value=httpx.Response(200, json=m.product_body("pets", "test", "platform")))
    del_product = respx.delete(f"{ORG}/apiproducts/pets").mock(return_value=httpx.Response(200, json={}))
    del_proxy = respx.delete(f"{ORG}/apis/pets").mock(return_value=httpx.Response(200, json={}))
    assert (await adapter().delete_api("pets")).success
    assert undeploy.called and del_product.called and del_proxy.called


@respx.mock
async def test_delete_api_refuses_unowned_proxy() -> None:
    respx.get(f"{ORG}/apis/legacy").mock(return_value=httpx.Response(200, json={"name": "legacy", "labels": {"team": "x"}}))
    delete = respx.delete(f"{ORG}/apis/legacy")
    assert not (await adapter().delete_api("legacy")).success and not delete.called


@respx.mock
async def test_upsert_policy_puts_the_full_product_with_quota() -> None:
    respx.get(f"{ORG}/apiproducts/pets").mock(return_value=httpx.Response(200, json=m.product_body("pets", "test", "platform")))
    put = respx.put(f"{ORG}/apiproducts/pets").mock(return_value=httpx.Response(200, json={}))
    rec = make_record("Policy", "pets-rate", {"api": "pets", "type": "rate_limit",
                                              "config": {"requests": 1000, "period": "day"}})
    result = await adapter().upsert_policy(rec)
    body = json.loads(put.calls[0].request.content)
    assert result.success and result.resource_id == "pets:pets-rate"
    assert (body["quota"], body["quotaInterval"], body["quotaTimeUnit"]) == ("1000", "1", "day")
    assert body["proxies"] == ["pets"] and {"name": "stoa-policy", "value": "pets-rate"} in body["attributes"]


CORS = {"origins": ["https://app.example.com"], "methods": ["GET"], "headers": ["X-Api-Key"], "exposeHeaders": [],
        "credentials": False, "maxAge": 600}


@respx.mock
async def test_cors_policy_is_added_to_the_bundle_as_a_new_revision() -> None:
    respx.get(f"{ORG}/apis/pets").mock(return_value=httpx.Response(200, json={
        "name": "pets", "revision": ["1"], "labels": labels_for(SPEC)}))
    respx.get(f"{ORG}/environments/test/apis/pets/deployments").mock(side_effect=[
        httpx.Response(200, json={"deployments": [{"revision": "1"}]}),
        httpx.Response(200, json={"deployments": [{"revision": "1"}]}),
        httpx.Response(200, json={"deployments": [{"revision": "2"}]})])
    respx.get(f"{ORG}/apis/pets/revisions/1").mock(return_value=httpx.Response(200, content=build_bundle("pets", SPEC)))
    imp = respx.post(f"{ORG}/apis").mock(return_value=httpx.Response(200, json={"revision": "2"}))
    respx.patch(f"{ORG}/apis/pets").mock(return_value=httpx.Response(200, json={}))
    respx.post(f"{ORG}/environments/test/apis/pets/revisions/2/deployments").mock(return_value=httpx.Response(200, json={}))
    rec = make_record("Policy", "pets-cors", {"api": "pets", "type": "cors", "config": CORS})
    result = await adapter().upsert_policy(rec)
    assert result.success and result.resource_id == "cors:pets:pets-cors"
    body = imp.calls[0].request.content
    data = body[body.index(b"PK\x03\x04"):]
    got = read_bundle(data)
    assert got["cors"] == {"pets-cors": CORS} and got["backend"] == SPEC["backend"]


async def test_unknown_policy_type_is_not_supported() -> None:
    rec = make_record("Policy", "c", {"api": "pets", "type": "jwt", "config": {}})
    result = await adapter().upsert_policy(rec)
    assert not result.success and "Not supported by apigee" in (result.error or "")


@respx.mock
async def test_delete_policy_clears_quota_but_keeps_product() -> None:
    live = m.product_body("pets", "test", "platform", policy=("pets-rate", {"requests": 1, "period": "hour"}))
    respx.get(f"{ORG}/apiproducts/pets").mock(return_value=httpx.Response(200, json=live))
    put = respx.put(f"{ORG}/apiproducts/pets").mock(return_value=httpx.Response(200, json={}))
    assert (await adapter().delete_policy("pets:pets-rate")).success
    body = json.loads(put.calls[0].request.content)
    assert "quota" not in body and all(a["name"] not in ("stoa-policy", "stoa-rate") for a in body["attributes"])


@respx.mock
async def test_fetch_policies_follows_start_key_paging() -> None:
    first = [{**m.product_body(f"p{i:04d}", "test", "platform")} for i in range(1000)]
    second = [first[-1], m.product_body("zz", "test", "platform", policy=("zz-rate", {"requests": 2, "period": "minute"}))]
    respx.get(f"{ORG}/apiproducts", params={"startKey": "p0999"}).mock(
        return_value=httpx.Response(200, json={"apiProduct": second}))
    respx.get(f"{ORG}/apiproducts").mock(return_value=httpx.Response(200, json={"apiProduct": first}))
    respx.get(f"{ORG}/apis").mock(return_value=httpx.Response(200, json={"proxies": []}))
    respx.get(f"{ORG}/environments/test/deployments").mock(return_value=httpx.Response(200, json={}))
    (rec,) = await adapter().fetch_policies()
    assert rec["name"] == "zz-rate" and rec["id"] == "zz:zz-rate"


@respx.mock
async def test_provision_creates_developer_app_custom_key_and_products() -> None:
    dev = f"{ORG}/developers/platform@stoa-reconciler.invalid"
    respx.get(dev).mock(return_value=httpx.Response(404, json={"error": {"code": 404}}))
    new_dev = respx.post(f"{ORG}/developers").mock(return_value=httpx.Response(200, json={}))
    respx.get(f"{dev}/apps/mobile").mock(return_value=httpx.Response(404, json={"error": {"code": 404}}))
    respx.post(f"{dev}/apps").mock(return_value=httpx.Response(200, json={"name": "mobile", "credentials": [
        {"consumerKey": "generated"}]}))
    drop = respx.delete(f"{dev}/apps/mobile/keys/generated").mock(return_value=httpx.Response(200, json={}))
    key = respx.post(f"{dev}/apps/mobile/keys").mock(return_value=httpx.Response(200, json={
        "consumerKey": "my-key_123", "apiProducts": []}))
    respx.get(f"{ORG}/apiproducts/pets").mock(return_value=httpx.Response(200, json=m.product_body("pets", "test", "platform")))
    attach = respx.post(f"{dev}/apps/mobile/keys/my-key_123").mock(return_value=httpx.Response(200, json={}))
    rec = make_record("Consumer", "mobile", {"displayName": "Mobile", "subscriptions": ["pets"],
                                             "credential": {"type": "apiKey"}})
    rec["secret"] = {"apiKey": "my-key_123"}
    result = await adapter().provision_application(rec)
    assert result.success, result.error
    assert new_dev.called and drop.called and "apiProducts" not in json.loads(key.calls[0].request.content)
    assert json.loads(attach.calls[0].request.content)["apiProducts"] == ["pets"]


@respx.mock
async def test_provision_errors_never_contain_the_key() -> None:
    dev = f"{ORG}/developers/platform@stoa-reconciler.invalid"
    respx.get(dev).mock(return_value=httpx.Response(200, json={"email": "x"}))
    respx.get(f"{dev}/apps/mobile").mock(return_value=httpx.Response(200, json={
        "name": "mobile", "attributes": m.attrs_list(m.app_attributes({}, "platform")), "credentials": [
            {"consumerKey": "secret-key-value", "apiProducts": []}]}))
    respx.get(f"{ORG}/apiproducts/pets").mock(return_value=httpx.Response(200, json=m.product_body("pets", "test", "platform")))
    respx.post(f"{dev}/apps/mobile/keys/secret-key-value").mock(return_value=httpx.Response(
        500, json={"error": {"code": 500, "message": "boom"}}))
    rec = make_record("Consumer", "mobile", {"subscriptions": ["pets"], "credential": {"type": "apiKey"}})
    rec["secret"] = {"apiKey": "secret-key-value"}
    result = await adapter().provision_application(rec)
    assert not result.success and "secret-key-value" not in (result.error or "") and "***" in (result.error or "")


@respx.mock
async def test_provision_refuses_invalid_key_characters() -> None:
    dev = f"{ORG}/developers/platform@stoa-reconciler.invalid"
    respx.get(dev).mock(return_value=httpx.Response(200, json={}))
    respx.get(f"{dev}/apps/mobile").mock(return_value=httpx.Response(200, json={
        "name": "mobile", "attributes": m.attrs_list(m.app_attributes({}, "platform")), "credentials": []}))
    rec = make_record("Consumer", "mobile", {"subscriptions": [], "credential": {"type": "apiKey"}})
    rec["secret"] = {"apiKey": "has spaces/and+slashes"}
    result = await adapter().provision_application(rec)
    assert not result.success and "letters" in (result.error or "")


@respx.mock
async def test_deprovision_refuses_unowned_app() -> None:
    path = f"{ORG}/developers/platform@stoa-reconciler.invalid/apps/x"
    respx.get(path).mock(return_value=httpx.Response(200, json={"name": "x", "attributes": []}))
    delete = respx.delete(path)
    assert not (await adapter().deprovision_application("x")).success and not delete.called


@respx.mock
async def test_fetch_applications_without_developer_is_empty() -> None:
    respx.get(f"{ORG}/developers").mock(return_value=httpx.Response(200, json={"developer": []}))
    respx.get(f"{ORG}/developers/platform@stoa-reconciler.invalid/apps").mock(
        return_value=httpx.Response(404, json={"error": {"code": 404}}))
    assert await adapter().fetch_applications() == []


@respx.mock
async def test_retry_on_429_then_success() -> None:
    route = respx.get(f"{ORG}/environments/test").mock(side_effect=[
        httpx.Response(429, json={"error": {"code": 429, "status": "RESOURCE_EXHAUSTED"}}),
        httpx.Response(200, json={"name": "test"})])
    assert (await adapter().health_check()).success and route.call_count == 2


async def test_extended_methods_are_not_supported() -> None:
    a = adapter()
    for call in (a.upsert_auth_server({}), a.upsert_strategy({}), a.upsert_scope({}), a.upsert_alias({}),
                 a.apply_config({}), a.export_archive()):
        result = await call
        assert not result.success and result.error == "Not supported by apigee"


def test_a_per_second_limit_says_it_becomes_a_per_minute_quota() -> None:
    notes = adapter().plan_notes("Policy", {"api": "pets", "type": "rate_limit",
                                            "config": {"requests": 20, "period": "second"}})
    assert notes == ["Apigee: 20 requests/second is enforced as an API product quota of 1200 per minute "
                     "(a burst within a minute is not cut; no SpikeArrest policy)"]
    assert adapter().plan_notes("Policy", {"type": "rate_limit", "config": {"requests": 5, "period": "minute"}}) == []
