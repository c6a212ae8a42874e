"""Single adapter methods against respx-mocked STOA admin responses."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import respx

from reconciler.adapters.http import RetryPolicy
from reconciler.adapters.registry import adapter_class
from reconciler.adapters.stoa.adapter import StoaAdapter
from reconciler.model.records import make_record, secret_fingerprint

BASE = "http://stoa.test"
TOKEN = "tok-very-secret-123"
API_KEY = "consumer-key-ABC-987"
API_SPEC: dict[str, Any] = {"tenant": "acme", "version": "1.0.0", "basePath": "/pets",
                            "backend": "https://pets.example.com/v1", "methods": ["GET"], "openapiHash": None}


def config(**extra: Any) -> dict[str, Any]:
    return {"name": "stoa-dev", "gateway_type": "stoa", "base_url": BASE, "owner": "platform",
            "auth": {"token": TOKEN}, "options": {}, "timeout": 5.0, **extra}


@pytest.fixture
async def adapter() -> AsyncIterator[StoaAdapter]:
    a = StoaAdapter(config())
    await a.connect()
    a.http = a.make_http(retry=RetryPolicy(attempts=3, base=0.001, cap=0.01, deadline=2.0))
    yield a
    await a.disconnect()


def consumer(subscriptions: list[str], name: str = "mobile", id: str | None = None) -> dict[str, Any]:
    record = make_record("Consumer", name, {"subscriptions": subscriptions,
                                            "credential": {"type": "apiKey", "fingerprint": secret_fingerprint(API_KEY)}},
                         id=id)
    record["secret"] = {"apiKey": API_KEY}
    return record


def cred(route: str, consumer_id: str = "platform.mobile", value: str = API_KEY) -> dict[str, Any]:
    return {"route_id": route, "consumer_id": consumer_id, "auth_type": "api_key", "header_name": "X-API-Key",
            "header_value": value}


@pytest.mark.parametrize("gateway_type", ["stoa", "stoa_edge_mcp", "stoa_sidecar", "stoa_proxy", "stoa_shadow"])
def test_registry_serves_every_stoa_type(gateway_type: str) -> None:
    assert adapter_class(gateway_type) is StoaAdapter


@respx.mock(base_url=BASE)
async def test_health_check_sends_bearer_and_returns_body(respx_mock: respx.MockRouter, adapter: StoaAdapter) -> None:
    route = respx_mock.get("/admin/health").respond(200, json={"status": "ok", "version": "1.2.3", "routes_count": 4})
    result = await adapter.health_check()
    assert result.success and result.data == {"status": "ok", "version": "1.2.3", "routes_count": 4}
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"


@respx.mock(base_url=BASE)
async def test_health_check_degraded_is_reachable(respx_mock: respx.MockRouter, adapter: StoaAdapter) -> None:
    respx_mock.get("/admin/health").respond(200, json={"status": "degraded"})
    result = await adapter.health_check()
    assert result.success and result.data == {"status": "degraded"} and result.error is None


@respx.mock(base_url=BASE)
async def test_401_is_permanent_and_never_shows_the_token(respx_mock: respx.MockRouter, adapter: StoaAdapter,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    route = respx_mock.get("/admin/health").respond(401, json={"status": "error", "message": f"bad token {TOKEN}"})
    caplog.set_level(logging.DEBUG)
    result = await adapter.health_check()
    assert not result.success and result.category == "permanent"
    assert "401" in (result.error or "") and TOKEN not in (result.error or "")
    assert TOKEN not in caplog.text
    assert route.call_count == 1


@respx.mock(base_url=BASE)
async def test_503_admin_disabled_fails_fast_with_a_clear_message(respx_mock: respx.MockRouter,
                                                                  adapter: StoaAdapter) -> None:
    route = respx_mock.get("/admin/apis").respond(
        503, json={"status": "error", "message": "Admin API disabled - no admin_api_token configured"})
    records = await adapter.list_apis()
    assert records == [] and route.call_count == 1
    health = respx_mock.get("/admin/health").respond(
        503, json={"status": "error", "message": "Admin API disabled - no admin_api_token configured"})
    result = await adapter.health_check()
    assert not result.success and result.category == "permanent"
    assert "Admin API disabled" in (result.error or "") and "admin_api_token" in (result.error or "")
    assert health.call_count == 1


@respx.mock(base_url=BASE)
async def test_other_503_is_retried(respx_mock: respx.MockRouter, adapter: StoaAdapter) -> None:
    route = respx_mock.get("/admin/health")
    route.side_effect = [httpx.Response(503, text="upstream busy"), httpx.Response(503, text="busy"),
                         httpx.Response(200, json={"status": "ok"})]
    result = await adapter.health_check()
    assert result.success and route.call_count == 3


@respx.mock(base_url=BASE)
async def test_retry_on_429_with_retry_after_then_success(respx_mock: respx.MockRouter, adapter: StoaAdapter) -> None:
    route = respx_mock.post("/admin/apis")
    route.side_effect = [
        httpx.Response(429, headers={"Retry-After": "0"}, json={"status": "error", "message": "Admin API rate limit exceeded"}),
        httpx.Response(201, json={"id": "platform.pets", "status": "ok", "deployment_id": "d-1"}),
    ]
    result = await adapter.sync_api(make_record("API", "pets", API_SPEC), "acme")
    assert result.success and result.resource_id == "platform.pets" and result.data and result.data["created"] is True
    assert route.call_count == 2


async def test_connection_refused_never_raises() -> None:
    from tests.conftest import free_port
    a = StoaAdapter(config(base_url=f"http://127.0.0.1:{free_port()}"))
    a.http = a.make_http(retry=RetryPolicy(attempts=2, base=0.001, cap=0.01, deadline=1.0))
    try:
        health = await a.health_check()
        deleted = await a.delete_api("platform.pets")
        listed = await a.list_policies()
    finally:
        await a.disconnect()
    assert not health.success and health.category == "temporary"
    assert not deleted.success and listed == []


async def test_fetch_raises_where_list_returns_empty() -> None:
    from reconciler.model.errors import GatewayError
    with respx.mock(base_url=BASE) as mock:
        mock.get("/admin/policies").respond(500, json={"status": "error", "message": "boom"})
        a = StoaAdapter(config())
        try:
            assert await a.list_policies() == []
            with pytest.raises(GatewayError):
                await a.fetch("Policy")
        finally:
            await a.disconnect()


@respx.mock(base_url=BASE)
async def test_fetch_rejects_a_non_list_body(respx_mock: respx.MockRouter, adapter: StoaAdapter) -> None:
    from reconciler.model.errors import GatewayError
    respx_mock.get("/admin/apis").respond(200, json={"routes": []})
    with pytest.raises(GatewayError, match="expected a JSON array"):
        await adapter.fetch_apis()


@respx.mock(base_url=BASE)
async def test_sync_api_payload(respx_mock: respx.MockRouter, adapter: StoaAdapter) -> None:
    route = respx_mock.post("/admin/apis").respond(200, json={"id": "platform.pets", "status": "ok", "deployment_id": "d"})
    result = await adapter.sync_api(make_record("API", "pets", {**API_SPEC, "methods": ["POST", "GET"]}), "acme")
    sent = json.loads(route.calls.last.request.content)
    assert sent["id"] == "platform.pets" and sent["name"] == "pets" and sent["tenant_id"] == "acme"
    assert sent["path_prefix"] == "/pets" and sent["backend_url"] == "https://pets.example.com/v1"
    assert sent["methods"] == ["GET", "POST"] and sent["activated"] is True and sent["spec_hash"].startswith("description=")
    assert result.success and result.data and result.data["created"] is False


@respx.mock(base_url=BASE)
async def test_sync_api_400_reports_the_gateway_errors(respx_mock: respx.MockRouter, adapter: StoaAdapter) -> None:
    respx_mock.post("/admin/apis").respond(400, json={"status": "error", "errors": ["tenant_id must not be empty"]})
    result = await adapter.sync_api(make_record("API", "pets", {**API_SPEC, "tenant": ""}), "")
    assert not result.success and result.category == "permanent"
    assert "400" in (result.error or "") and "tenant_id must not be empty" in (result.error or "")


@respx.mock(base_url=BASE)
async def test_sync_api_ssrf_400_detail(respx_mock: respx.MockRouter, adapter: StoaAdapter) -> None:
    respx_mock.post("/admin/apis").respond(400, json={"error": "Invalid backend URL", "detail": "loopback"})
    result = await adapter.sync_api(make_record("API", "pets", {**API_SPEC, "backend": "http://127.0.0.1"}), "acme")
    assert not result.success and "Invalid backend URL" in (result.error or "")


@pytest.mark.parametrize("status", [204, 200, 404])
@pytest.mark.parametrize(("method", "path"), [("delete_api", "/admin/apis/platform.pets"),
                                              ("delete_policy", "/admin/policies/platform.pets")])
async def test_delete_is_idempotent(status: int, method: str, path: str) -> None:
    with respx.mock(base_url=BASE) as mock:
        route = mock.delete(path).respond(status)
        a = StoaAdapter(config())
        try:
            result = await getattr(a, method)("platform.pets")
        finally:
            await a.disconnect()
    assert result.success and result.resource_id == "platform.pets" and route.call_count == 1


@respx.mock(base_url=BASE)
async def test_delete_403_fails(respx_mock: respx.MockRouter, adapter: StoaAdapter) -> None:
    respx_mock.delete("/admin/apis/x").respond(403, json={"status": "error", "message": "forbidden"})
    result = await adapter.delete_api("x")
    assert not result.success and "403" in (result.error or "")


@respx.mock(base_url=BASE)
async def test_ids_are_url_escaped(respx_mock: respx.MockRouter, adapter: StoaAdapter) -> None:
    route = respx_mock.delete("/admin/apis/a%2Fb").respond(204)
    assert (await adapter.delete_api("a/b")).success and route.called


@respx.mock(base_url=BASE)
async def test_upsert_policy_payload(respx_mock: respx.MockRouter, adapter: StoaAdapter) -> None:
    route = respx_mock.post("/admin/policies").respond(201, json={"id": "platform.pets-cors", "status": "ok"})
    spec = {"api": "pets", "type": "cors", "config": {"origins": ["https://a.example.com"], "methods": ["GET"],
                                                       "headers": [], "exposeHeaders": [], "credentials": True,
                                                       "maxAge": 60}}
    result = await adapter.upsert_policy(make_record("Policy", "pets-cors", spec))
    assert json.loads(route.calls.last.request.content) == {
        "id": "platform.pets-cors", "name": "pets-cors", "policy_type": "cors", "priority": 100,
        "api_id": "platform.pets", "config": {"allowOrigins": ["https://a.example.com"], "allowMethods": ["GET"],
                                             "allowHeaders": [], "exposeHeaders": [], "allowCredentials": True,
                                             "maxAge": 60}}
    assert result.success and result.resource_id == "platform.pets-cors"


@respx.mock(base_url=BASE)
async def test_fetch_policies_ownership(respx_mock: respx.MockRouter, adapter: StoaAdapter) -> None:
    respx_mock.get("/admin/policies").respond(200, json=[
        {"id": "platform.r", "name": "r", "policy_type": "rate_limit", "config": {"maxRequests": 1, "intervalSeconds": 1},
         "priority": 100, "api_id": "platform.pets"},
        {"id": "other.r", "name": "r", "policy_type": "rate_limit", "config": {"maxRequests": 2, "intervalSeconds": 60},
         "priority": 100, "api_id": "other.pets"},
        {"id": "q1", "name": "quota", "policy_type": "rate_limit", "config": {"maxRequests": 3, "intervalSeconds": 60},
         "priority": 50, "api_id": "cat-42"},
    ])
    records = await adapter.fetch_policies()
    assert [(r["owner"], r["name"], r["id"]) for r in records] == [
        ("platform", "r", "platform.r"), ("other", "r", "other.r"), (None, "quota", "q1")]
    assert records[0]["spec"] == {"api": "pets", "type": "rate_limit", "config": {"requests": 1, "period": "second"}}


@respx.mock(base_url=BASE)
async def test_provision_writes_missing_and_deletes_stale_only_for_this_consumer(
        respx_mock: respx.MockRouter, adapter: StoaAdapter) -> None:
    respx_mock.get("/admin/consumer-credentials").respond(200, json=[
        cred("platform.pets"),                       # already right: no write
        cred("platform.old"),                        # no longer subscribed: delete
        cred("platform.orders", value="old-key"),    # wrong key: rewrite
        cred("platform.old", consumer_id="other.mobile"),  # someone else's: untouched
        cred("legacy", consumer_id="mobile"),               # unowned: untouched
    ])
    post = respx_mock.post("/admin/consumer-credentials").respond(200, json={"status": "ok"})
    delete = respx_mock.delete(path__startswith="/admin/consumer-credentials/").respond(204)
    result = await adapter.provision_application(consumer(["pets", "orders", "users"]))
    assert result.success and result.resource_id == "platform.mobile"
    posted = [json.loads(c.request.content) for c in post.calls]
    assert [p["route_id"] for p in posted] == ["platform.orders", "platform.users"]
    assert all(p["consumer_id"] == "platform.mobile" and p["header_value"] == API_KEY for p in posted)
    assert [c.request.url.path for c in delete.calls] == ["/admin/consumer-credentials/platform.old/platform.mobile"]
    assert API_KEY not in str(result)


@respx.mock(base_url=BASE)
async def test_provision_failure_never_leaks_the_key(respx_mock: respx.MockRouter, adapter: StoaAdapter,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    respx_mock.get("/admin/consumer-credentials").respond(200, json=[])
    respx_mock.post("/admin/consumer-credentials").respond(400, json={"status": "error",
                                                                      "errors": [f"bad header_value {API_KEY}"]})
    result = await adapter.provision_application(consumer(["pets"]))
    assert not result.success and "400" in (result.error or "")
    assert API_KEY not in (result.error or "") and API_KEY not in caplog.text


async def test_provision_without_secret_fails_without_calls() -> None:
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        a = StoaAdapter(config())
        record = consumer(["pets"])
        del record["secret"]
        try:
            result = await a.provision_application(record)
        finally:
            await a.disconnect()
        assert not result.success and "no API key" in (result.error or "")
        assert len(mock.calls) == 0


@respx.mock(base_url=BASE)
async def test_deprovision_deletes_only_this_consumer(respx_mock: respx.MockRouter, adapter: StoaAdapter) -> None:
    respx_mock.get("/admin/consumer-credentials").respond(200, json=[
        cred("platform.pets"), cred("platform.orders"), cred("platform.pets", consumer_id="platform.web")])
    delete = respx_mock.delete(path__startswith="/admin/consumer-credentials/")
    delete.side_effect = [httpx.Response(204), httpx.Response(404, json={"status": "error"})]
    result = await adapter.deprovision_application("platform.mobile")
    assert result.success and result.data == {"deleted": 2}
    assert sorted(c.request.url.path for c in delete.calls) == [
        "/admin/consumer-credentials/platform.orders/platform.mobile",
        "/admin/consumer-credentials/platform.pets/platform.mobile"]


@pytest.mark.parametrize("method", ["upsert_auth_server", "upsert_strategy", "upsert_scope", "upsert_alias",
                                    "apply_config", "export_archive"])
async def test_extended_methods_are_not_supported(method: str) -> None:
    a = StoaAdapter(config())
    result = await (getattr(a, method)() if method == "export_archive" else getattr(a, method)({}))
    assert not result.success and result.error == "Not supported by stoa" and result.category == "unsupported"


async def test_missing_token_warns_and_sends_no_auth_header(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    with respx.mock(base_url=BASE) as mock:
        route = mock.get("/admin/health").respond(401, json={"status": "error", "message": "Unauthorized"})
        a = StoaAdapter(config(auth={}))
        try:
            result = await a.health_check()
        finally:
            await a.disconnect()
    assert "no admin token" in caplog.text
    assert not result.success and "authorization" not in route.calls.last.request.headers
