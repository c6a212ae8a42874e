"""The STOA adapter against the STOA emulator over HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from reconciler.adapters.http import RetryPolicy
from reconciler.adapters.stoa.adapter import StoaAdapter
from reconciler.adapters.stoa.emulator import StoaEmulator
from reconciler.model.records import make_record, secret_fingerprint

TOKEN = "e2e-admin-token"
KEY = "mobile-secret-key-42"
API: dict[str, Any] = {"tenant": "acme", "version": "1.0.0", "basePath": "/pets", "backend": "https://pets.example.com/v1",
                       "methods": ["POST", "GET"], "displayName": "Pets", "openapi": None, "openapiHash": None}
RATE: dict[str, Any] = {"api": "pets", "type": "rate_limit", "config": {"requests": 100, "period": "minute"}}
CORS: dict[str, Any] = {"api": "pets", "type": "cors", "config": {
    "origins": ["https://app.example.com"], "methods": ["GET"], "headers": [], "exposeHeaders": ["X-Id"],
    "credentials": False, "maxAge": 600}}


def consumer_spec(subscriptions: list[str], key: str = KEY) -> dict[str, Any]:
    return {"displayName": "Mobile", "subscriptions": subscriptions,
            "credential": {"type": "apiKey", "fingerprint": secret_fingerprint(key)}}


def consumer(subscriptions: list[str], key: str = KEY, id: str | None = None) -> dict[str, Any]:
    record = make_record("Consumer", "mobile", consumer_spec(subscriptions, key), id=id)
    record["secret"] = {"apiKey": key}
    return record


@pytest.fixture(scope="module")
def emulator() -> Iterator[StoaEmulator]:
    with StoaEmulator(admin_token=TOKEN) as emu:
        yield emu


@pytest.fixture
async def adapter(emulator: StoaEmulator) -> AsyncIterator[StoaAdapter]:
    emulator.restart()
    emulator.clear_log()
    a = StoaAdapter({"name": "stoa-e2e", "gateway_type": "stoa", "base_url": emulator.url, "owner": "platform",
                     "auth": {"token": TOKEN}, "options": {}, "timeout": 5.0})
    async with a:
        yield a


def admin(emulator: StoaEmulator) -> httpx.Client:
    return httpx.Client(base_url=emulator.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)


def by_name(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in records}


async def sync_all(a: StoaAdapter) -> None:
    assert (await a.sync_api(make_record("API", "pets", API), "acme")).success
    assert (await a.sync_api(make_record("API", "orders", {**API, "basePath": "/orders"}), "acme")).success
    assert (await a.upsert_policy(make_record("Policy", "pets-rate", RATE))).success
    assert (await a.upsert_policy(make_record("Policy", "pets-cors", CORS))).success
    assert (await a.provision_application(consumer(["pets", "orders"]))).success


async def test_sync_then_fetch_equals_desired_view(adapter: StoaAdapter, emulator: StoaEmulator) -> None:
    await sync_all(adapter)
    apis = by_name(await adapter.fetch("API"))
    policies = by_name(await adapter.fetch("Policy"))
    consumers = by_name(await adapter.fetch("Consumer"))
    assert apis["pets"]["spec"] == adapter.desired_view("API", API)
    assert apis["orders"]["spec"] == adapter.desired_view("API", {**API, "basePath": "/orders"})
    assert policies["pets-rate"]["spec"] == adapter.desired_view("Policy", RATE)
    assert policies["pets-cors"]["spec"] == adapter.desired_view("Policy", CORS)
    assert consumers["mobile"]["spec"] == adapter.desired_view("Consumer", consumer_spec(["orders", "pets"]))
    for record in [*apis.values(), *policies.values(), *consumers.values()]:
        assert record["owner"] == "platform" and record["id"] == f"platform.{record['name']}"
    assert KEY not in str(consumers)


async def test_resync_sends_no_credential_writes_and_health_counts(adapter: StoaAdapter, emulator: StoaEmulator) -> None:
    await sync_all(adapter)
    emulator.clear_log()
    assert (await adapter.provision_application(consumer(["pets", "orders"]))).data == {
        "routes": ["platform.orders", "platform.pets"], "written": 0, "deleted": 0}
    assert emulator.writes == []
    health = await adapter.health_check()
    assert health.success and health.data and health.data["routes_count"] == 2 and health.data["policies_count"] == 2


async def test_version_bump_shows_as_spec_hash_drift(adapter: StoaAdapter) -> None:
    await sync_all(adapter)
    live = by_name(await adapter.fetch_apis())["pets"]["spec"]
    assert live != adapter.desired_view("API", {**API, "version": "1.1.0"})
    assert live == adapter.desired_view("API", API)


async def test_consumer_subscription_and_key_changes(adapter: StoaAdapter, emulator: StoaEmulator) -> None:
    await sync_all(adapter)
    emulator.clear_log()
    result = await adapter.provision_application(consumer(["pets"], key="rotated-key-77"))
    assert result.success and result.data == {"routes": ["platform.pets"], "written": 1, "deleted": 1}
    [mobile] = await adapter.fetch_applications()
    assert mobile["spec"] == adapter.desired_view("Consumer", consumer_spec(["pets"], "rotated-key-77"))
    assert [(w.method, w.status) for w in emulator.writes] == [("POST", 200), ("DELETE", 204)]
    assert (await adapter.deprovision_application("platform.mobile")).success
    assert await adapter.fetch_applications() == []
    assert (await adapter.deprovision_application("platform.mobile")).success  # idempotent


async def test_out_of_band_change_is_read_back_as_drift(adapter: StoaAdapter, emulator: StoaEmulator) -> None:
    await sync_all(adapter)
    with admin(emulator) as c:
        c.post("/admin/policies", json={"id": "platform.pets-rate", "name": "pets-rate", "policy_type": "rate_limit",
                                        "config": {"maxRequests": 100, "intervalSeconds": 90}, "priority": 100,
                                        "api_id": "platform.pets"})
        c.post("/admin/consumer-credentials", json={"route_id": "platform.pets", "consumer_id": "platform.mobile",
                                                    "auth_type": "api_key", "header_name": "X-API-Key",
                                                    "header_value": "tampered"})
    policies = by_name(await adapter.fetch_policies())
    assert policies["pets-rate"]["spec"]["config"] == {"requests": 100, "period": "90s"}
    [mobile] = await adapter.fetch_applications()
    assert mobile["spec"]["credential"]["fingerprint"] != secret_fingerprint(KEY)
    # healing it rewrites only the tampered route's credential
    emulator.clear_log()
    assert (await adapter.provision_application(consumer(["pets", "orders"]))).data == {
        "routes": ["platform.orders", "platform.pets"], "written": 1, "deleted": 0}


async def test_foreign_objects_are_reported_and_never_touched(adapter: StoaAdapter, emulator: StoaEmulator) -> None:
    await sync_all(adapter)
    with admin(emulator) as c:
        c.post("/admin/apis", json={"id": "legacy-7", "name": "legacy", "tenant_id": "old", "path_prefix": "/legacy",
                                    "backend_url": "https://legacy.example.com"})
        c.post("/admin/apis", json={"id": "other.pets", "name": "pets", "tenant_id": "acme", "path_prefix": "/o",
                                    "backend_url": "https://o.example.com"})
        c.post("/admin/policies", json={"id": "quota-1", "name": "quota", "policy_type": "rate_limit",
                                        "config": {"maxRequests": 5, "intervalSeconds": 60}, "priority": 50,
                                        "api_id": "platform.pets"})
        for route, cid in [("platform.pets", "other.mobile"), ("legacy-7", "mobile"), ("platform.orders", "mobile")]:
            assert c.post("/admin/consumer-credentials", json={
                "route_id": route, "consumer_id": cid, "auth_type": "api_key", "header_name": "X-API-Key",
                "header_value": "theirs"}).status_code == 201
    apis = {(r["owner"], r["name"]): r["id"] for r in await adapter.fetch_apis()}
    assert apis[(None, "legacy")] == "legacy-7" and apis[("other", "pets")] == "other.pets"
    assert ("platform", "pets") in apis
    policies = {(r["owner"], r["name"]) for r in await adapter.fetch_policies()}
    assert (None, "quota") in policies
    consumers = {(r["owner"], r["name"]): r for r in await adapter.fetch_applications()}
    assert consumers[(None, "mobile")]["spec"]["subscriptions"] == ["legacy-7", "orders"]
    assert consumers[("other", "mobile")]["spec"]["subscriptions"] == ["pets"]

    emulator.clear_log()
    assert (await adapter.provision_application(consumer(["pets"]))).success
    assert (await adapter.deprovision_application("platform.mobile")).success
    for write in emulator.writes:
        assert write.path.endswith("/platform.mobile"), write.path
    theirs = {(c["route_id"], c["consumer_id"]) for c in (await adapter.client.get_json("/admin/consumer-credentials"))}
    assert theirs == {("platform.pets", "other.mobile"), ("legacy-7", "mobile"), ("platform.orders", "mobile")}


async def test_adoption_rekeys_an_unowned_route(adapter: StoaAdapter, emulator: StoaEmulator) -> None:
    with admin(emulator) as c:
        c.post("/admin/apis", json={"id": "pets", "name": "pets", "tenant_id": "acme", "path_prefix": "/pets",
                                    "backend_url": "https://pets.example.com/v1"})
    [live] = await adapter.fetch_apis()
    assert live["owner"] is None
    result = await adapter.sync_api({**make_record("API", "pets", API, id=live["id"]), "adopt": True}, "acme")
    assert result.success
    [adopted] = await adapter.fetch_apis()
    assert (adopted["id"], adopted["owner"]) == ("platform.pets", "platform")


async def test_emulator_ssrf_rejection_reaches_the_result(adapter: StoaAdapter) -> None:
    result = await adapter.sync_api(make_record("API", "pets", {**API, "backend": "http://10.0.0.5/api"}), "acme")
    assert not result.success and result.category == "permanent" and "Invalid backend URL" in (result.error or "")


async def test_wrong_token_and_disabled_admin(emulator: StoaEmulator) -> None:
    a = StoaAdapter({"name": "x", "base_url": emulator.url, "owner": "platform", "auth": {"token": "wrong-token-1"}})
    async with a:
        result = await a.health_check()
    assert not result.success and "401" in (result.error or "") and "wrong-token-1" not in (result.error or "")
    with StoaEmulator(admin_token=None) as disabled:
        b = StoaAdapter({"name": "y", "base_url": disabled.url, "owner": "platform", "auth": {"token": TOKEN}})
        async with b:
            result = await b.health_check()
        assert len(disabled.requests) == 1
    assert not result.success and "Admin API disabled" in (result.error or "")


async def test_retry_on_429_against_the_emulator(adapter: StoaAdapter, emulator: StoaEmulator) -> None:
    adapter.http = adapter.make_http(retry=RetryPolicy(attempts=4, base=0.001, deadline=5.0))
    emulator.inject_failure(429, times=2, retry_after="0")
    result = await adapter.sync_api(make_record("API", "pets", API), "acme")
    assert result.success
    assert [r.status for r in emulator.requests] == [429, 429, 201]


async def test_restart_loses_everything_and_a_resync_restores_it(adapter: StoaAdapter, emulator: StoaEmulator) -> None:
    await sync_all(adapter)
    emulator.restart()
    assert await adapter.fetch_apis() == [] and await adapter.fetch_applications() == []
    await sync_all(adapter)
    assert len(await adapter.fetch_apis()) == 2 and len(await adapter.fetch_policies()) == 2


async def test_provisioning_many_consumers_lists_credentials_once(adapter: StoaAdapter, emulator: StoaEmulator) -> None:
    await sync_all(adapter)
    await adapter.fetch_applications()
    emulator.clear_log()
    for i in range(5):
        record = consumer(["pets"])
        record["name"] = f"app-{i}"
        assert (await adapter.provision_application(record)).success
    assert (await adapter.deprovision_application("platform.app-0")).success
    assert [r.method for r in emulator.requests] == ["POST"] * 5 + ["DELETE"]
    await adapter.disconnect()  # drops the index: the next call lists again
    await adapter.connect()
    assert (await adapter.deprovision_application("platform.app-1")).success
    assert [r.method for r in emulator.requests][-2:] == ["GET", "DELETE"]


#: Field sets of the gateway's types (stoa-platform.md §5: ApiRoute, PolicyEntry, consumer credential).
GATEWAY_FIELDS = {
    "/admin/apis": {"id", "name", "tenant_id", "path_prefix", "backend_url", "methods", "spec_hash", "activated",
                    "classification", "contract_key", "upstream_http_version", "upstreams", "load_balancer",
                    "trusted_backend"},
    "/admin/policies": {"id", "name", "policy_type", "config", "priority", "api_id"},
    "/admin/consumer-credentials": {"route_id", "consumer_id", "auth_type", "header_name", "header_value"},
}


async def test_adapter_sends_only_fields_the_gateway_stores(adapter: StoaAdapter, emulator: StoaEmulator) -> None:
    """Nothing the adapter relies on can be silently dropped by serde on the gateway side."""
    await sync_all(adapter)
    posts = [r for r in emulator.requests if r.method == "POST"]
    assert {r.path for r in posts} == set(GATEWAY_FIELDS)
    for request in posts:
        body = request.json()
        assert set(body) <= GATEWAY_FIELDS[request.path], request.path
        assert request.status in (200, 201)
