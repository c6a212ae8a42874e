"""Unit tests of single Kong adapter methods against canned Admin API answers (respx)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import respx
import yaml

from reconciler.adapters.http import RetryPolicy
from reconciler.adapters.kong import dbless
from reconciler.adapters.kong import mappers as m
from reconciler.adapters.kong.adapter import KongAdapter
from reconciler.model.changes import Change, Op, Status
from reconciler.model.errors import GatewayError
from reconciler.model.records import make_record, secret_fingerprint
from tests.changes import upsert_change

BASE = "http://kong.test:8001"
OWNER = "platform"
SID = "11111111-1111-4111-8111-111111111111"
API_SPEC: dict[str, Any] = {"tenant": "acme", "version": "1.0.0", "basePath": "/pets",
                            "backend": "https://pets.example.com/v1", "methods": ["GET", "POST"],
                            "openapi": None, "openapiHash": None}


def info(database: str) -> dict[str, Any]:
    return {"version": "3.9.1", "configuration": {"database": database}}


def page(data: list[dict[str, Any]], nxt: str | None = None, offset: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"data": data, "next": nxt}
    if offset:
        body["offset"] = offset
    return body


def tags(kind: str, name: str, *extra: str, owner: str = OWNER) -> list[str]:
    return m.base_tags(owner, kind, name, *extra)


def service(name: str = "pets", owner: str | None = OWNER, **extra: Any) -> dict[str, Any]:
    t = m.api_tags(make_record("API", name, API_SPEC), owner) if owner else None
    return {"id": SID, "name": name, "protocol": "https", "host": "pets.example.com", "port": 443, "path": "/v1",
            "tags": t, **extra}


def route(name: str = "pets", owner: str | None = OWNER) -> dict[str, Any]:
    return {"id": "22222222-2222-4222-8222-222222222222", "name": name, "paths": ["/pets"], "methods": ["POST", "GET"],
            "service": {"id": SID}, "tags": tags("API", name) if owner else None}


def consumer_record(key: str = "the-api-key-123", subs: tuple[str, ...] = ("pets",)) -> dict[str, Any]:
    record = make_record("Consumer", "mobile", {"subscriptions": list(subs), "credential": {
        "type": "apiKey", "fingerprint": secret_fingerprint(key)}}, owner=OWNER)
    record["secret"] = {"apiKey": key}
    return record


@pytest.fixture
def kong() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


@pytest.fixture
async def adapter() -> AsyncIterator[KongAdapter]:
    a = KongAdapter({"name": "kong-unit", "base_url": BASE, "owner": OWNER, "auth": {"token": "adm-token-xyz"},
                     "options": {}, "timeout": 2.0})
    await a.connect()
    assert a.http is not None
    a.http.retry = RetryPolicy(attempts=2, base=0.0, cap=0.0, deadline=1.0)
    yield a
    await a.disconnect()


def db_mode(kong: respx.MockRouter) -> None:
    kong.get("/").respond(200, json=info("postgres"))


def _flat(posted: dict[str, Any]) -> dict[str, Any]:
    """A POSTed declarative document as `GET /config` exports it: credentials un-nested."""
    doc = {k: (list(v) if isinstance(v, list) else v) for k, v in posted.items()}
    for consumer in doc.get("consumers") or []:
        for table in dbless.CREDENTIALS:
            for cred in consumer.pop(table, None) or []:
                doc.setdefault(table, []).append({**cred, "consumer": {"id": consumer["id"]}})
    return doc


def posted(request: httpx.Request) -> dict[str, Any]:
    """The declarative document of a `POST /config`: sent as text in the `config` parameter."""
    document: dict[str, Any] = json.loads(json.loads(request.content)["config"])
    return document


def dbless_mode(kong: respx.MockRouter, config: dict[str, Any] | None = None) -> respx.Route:
    """A DB-less Kong whose `GET /config` and `GET /status` follow the last accepted `POST /config`
    (the returned route: tests set its answer with `.respond(...)`); the hash of a text body is its
    md5, as Kong's (declarative/init.lua)."""
    kong.get("/").respond(200, json=info("off"))
    initial = config or {"_format_version": "3.0", "_transform": False}
    route = kong.post("/config")

    def accepted() -> list[Any]:
        return [c for c in route.calls if c.response is not None and c.response.status_code < 300]

    def export(request: httpx.Request) -> httpx.Response:
        done = accepted()
        doc = _flat(posted(done[-1].request)) if done else initial
        return httpx.Response(200, json={"config": yaml.safe_dump(doc)})

    def status(request: httpx.Request) -> httpx.Response:
        done = accepted()
        text = json.loads(done[-1].request.content)["config"] if done else ""
        return httpx.Response(200, json={"configuration_hash": hashlib.md5(text.encode()).hexdigest() if done else
                                         "0" * 32, "server": {}})

    kong.get("/config").mock(side_effect=export)
    kong.get("/status").mock(side_effect=status)
    return route


# ---------------------------------------------------------------------------------------------- mode / health
async def test_mode_dbless_from_root(kong: respx.MockRouter, adapter: KongAdapter) -> None:
    kong.get("/").respond(200, json=info("off"))
    assert await adapter.mode() == "dbless"


async def test_mode_database_from_root_and_cached(kong: respx.MockRouter, adapter: KongAdapter) -> None:
    root = kong.get("/").respond(200, json=info("postgres"))
    assert await adapter.mode() == "database"
    assert await adapter.mode() == "database"
    assert root.call_count == 1


async def test_admin_token_header_is_sent(kong: respx.MockRouter, adapter: KongAdapter) -> None:
    root = kong.get("/").respond(200, json=info("off"))
    await adapter.mode()
    assert root.calls.last.request.headers["Kong-Admin-Token"] == "adm-token-xyz"


async def test_health_check_reports_status(kong: respx.MockRouter, adapter: KongAdapter) -> None:
    kong.get("/").respond(200, json=info("off"))
    kong.get("/status").respond(200, json={"database": {"reachable": True}, "server": {"connections_active": 3},
                                           "configuration_hash": "abc"})
    result = await adapter.health_check()
    assert result.success and result.data == {"mode": "dbless", "version": "3.9.1", "database_reachable": True,
                                              "connections_active": 3, "configuration_hash": "abc"}


async def test_health_check_never_raises_and_hides_token(kong: respx.MockRouter, adapter: KongAdapter) -> None:
    kong.get("/").respond(401, json={"message": "Invalid credentials adm-token-xyz", "status": 401})
    result = await adapter.health_check()
    assert not result.success and "401" in (result.error or "")
    assert "adm-token-xyz" not in (result.error or "")


async def test_extended_methods_are_not_supported(adapter: KongAdapter) -> None:
    for call in (adapter.upsert_auth_server({}), adapter.upsert_strategy({}), adapter.upsert_scope({}),
                 adapter.upsert_alias({}), adapter.apply_config({}), adapter.export_archive()):
        result = await call
        assert not result.success and result.error == "Not supported by kong"


# ---------------------------------------------------------------------------------------------- reads
async def test_fetch_apis_follows_every_page(kong: respx.MockRouter, adapter: KongAdapter) -> None:
    db_mode(kong)  # the listings of database mode (DB-less reads the export)
    other = {**service("orders"), "id": "33333333-3333-4333-8333-333333333333"}
    other["tags"] = m.api_tags(make_record("API", "orders", API_SPEC), OWNER)
    services = kong.get("/services")
    services.side_effect = [httpx.Response(200, json=page([service()], "/services?offset=T1&size=1000", "T1")),
                            httpx.Response(200, json=page([other]))]
    kong.get("/routes").respond(200, json=page([route()]))
    kong.get("/plugins").respond(200, json=page([]))
    records = await adapter.fetch_apis()
    assert sorted(r["name"] for r in records) == ["orders", "pets"]
    assert services.calls[1].request.url.params["offset"] == "T1"


async def test_fetch_reads_every_service_and_an_untagged_one_is_unowned(kong: respx.MockRouter,
                                                                        adapter: KongAdapter) -> None:
    """No server-side tag filter: a service made by hand must reach the plan (conflict or adoption)."""
    db_mode(kong)  # the listings of database mode (DB-less reads the export)
    untagged = {**service(), "tags": None}
    services = kong.get("/services").respond(200, json=page([untagged]))
    kong.get("/routes").respond(200, json=page([{**route(), "tags": ["team-a"]}]))
    kong.get("/plugins").respond(200, json=page([]))
    [record] = await adapter.fetch_apis()
    params = services.calls.last.request.url.params
    assert "tags" not in params and params["size"] == "1000"
    assert record["owner"] is None and record["name"] == "pets" and record["spec"]["basePath"] == "/pets"
    assert record["spec"]["tenant"] is None and record["spec"]["protection"] == "none"


async def test_fetch_apis_reads_back_desired_view(kong: respx.MockRouter, adapter: KongAdapter) -> None:
    db_mode(kong)  # the listings of database mode (DB-less reads the export)
    spec = {**API_SPEC, "displayName": "Pets, v1/β", "description": "100% pets", "openapiHash": "sha256:ab"}
    svc = service()
    svc["tags"] = m.api_tags(make_record("API", "pets", spec), OWNER) + ["team-tag"]
    kong.get("/services").respond(200, json=page([svc]))
    kong.get("/routes").respond(200, json=page([route()]))
    auth = [{**p, "service": {"id": SID}} for p in m.api_auth_plugins("pets", OWNER)]
    plugins = kong.get("/plugins").respond(200, json=page(auth))
    [record] = await adapter.fetch_apis()
    assert record["spec"] == adapter.desired_view("API", spec)
    assert record["owner"] == OWNER and record["id"] == SID
    # An interrupted apply (plugins never written) or a plugin disabled by hand is drift, not "in sync".
    plugins.respond(200, json=page([auth[0], {**auth[1], "enabled": False}]))
    [record] = await adapter.fetch_apis()
    assert record["spec"]["protection"] == "key-auth" != adapter.desired_view("API", spec)["protection"]
    plugins.respond(200, json=page([]))
    [record] = await adapter.fetch_apis()
    assert record["spec"]["protection"] == "none"


async def test_fetch_apis_reports_other_owner(kong: respx.MockRouter, adapter: KongAdapter) -> None:
    db_mode(kong)  # the listings of database mode (DB-less reads the export)
    svc = service()
    svc["tags"] = m.api_tags(make_record("API", "pets", API_SPEC), "team-b")
    kong.get("/services").respond(200, json=page([svc]))
    kong.get("/routes").respond(200, json=page([]))
    kong.get("/plugins").respond(200, json=page([]))
    [record] = await adapter.fetch_apis()
    assert record["owner"] == "team-b"
    assert record["spec"]["basePath"] is None  # route missing: drift the engine will see


async def test_fetch_raises_but_list_returns_empty(kong: respx.MockRouter, adapter: KongAdapter) -> None:
    db_mode(kong)  # the listings of database mode (DB-less reads the export)
    kong.get("/services").respond(500, json={"message": "An unexpected error occurred"})
    kong.get("/routes").respond(200, json=page([]))
    with pytest.raises(GatewayError):
        await adapter.fetch_apis()
    assert await adapter.list_apis() == []


async def test_fetch_policies_maps_rate_limit_back(kong: respx.MockRouter, adapter: KongAdapter) -> None:
    db_mode(kong)  # the listings of database mode (DB-less reads the export)
    plugin = {"id": "p1", "name": "rate-limiting", "service": {"id": SID}, "config": {
        "second": None, "minute": 100.0, "hour": None, "policy": "local"}, "tags": tags("Policy", "pets-rate")}
    kong.get("/plugins").respond(200, json=page([plugin]))
    kong.get("/services").respond(200, json=page([service()]))
    [record] = await adapter.fetch_policies()
    assert record["spec"] == {"api": "pets", "type": "rate_limit", "config": {"requests": 100, "period": "minute"}}


async def test_fetch_policies_two_limits_never_equal_a_single_limit(kong: respx.MockRouter,
                                                                    adapter: KongAdapter) -> None:
    db_mode(kong)  # the listings of database mode (DB-less reads the export)
    plugin = {"id": "p1", "name": "rate-limiting", "service": {"id": SID}, "config": {"minute": 100, "hour": 5000},
              "tags": tags("Policy", "pets-rate")}
    kong.get("/plugins").respond(200, json=page([plugin]))
    kong.get("/services").respond(200, json=page([service()]))
    [record] = await adapter.fetch_policies()
    assert record["spec"]["config"] != {"requests": 100, "period": "minute"}


async def test_fetch_policies_maps_cors_and_skips_api_auth_plugins(kong: respx.MockRouter,
                                                                   adapter: KongAdapter) -> None:
    db_mode(kong)  # the listings of database mode (DB-less reads the export)
    cors = {"id": "p2", "name": "cors", "service": {"id": SID}, "config": {
        "origins": ["https://b", "https://a"], "methods": ["POST", "GET"], "headers": None, "exposed_headers": ["X"],
        "credentials": True, "max_age": 600}, "tags": tags("Policy", "pets-cors")}
    acl = {"id": "p3", "name": "acl", "service": {"id": SID}, "config": {"allow": ["pets"]},
           "tags": tags("API", "pets", "stoa-part:acl")}
    kong.get("/plugins").respond(200, json=page([cors, acl]))
    kong.get("/services").respond(200, json=page([service()]))
    [record] = await adapter.fetch_policies()
    assert record["name"] == "pets-cors"
    assert record["spec"]["config"] == {"origins": ["https://a", "https://b"], "methods": ["GET", "POST"],
                                        "headers": [], "exposeHeaders": ["X"], "credentials": True, "maxAge": 600}


async def test_fetch_applications_fingerprint_and_owned_acls(kong: respx.MockRouter, adapter: KongAdapter) -> None:
    db_mode(kong)  # the listings of database mode (DB-less reads the export)
    cid = "44444444-4444-4444-8444-444444444444"
    kong.get("/consumers").respond(200, json=page([{"id": cid, "username": "mobile", "tags": tags(
        "Consumer", "mobile", "stoa-display:Mobile%2C app")}]))
    kong.get("/key-auths").respond(200, json=page([{"id": "k1", "key": "the-api-key-123", "consumer": {"id": cid},
                                                    "tags": tags("Consumer", "mobile")}]))
    kong.get("/acls").respond(200, json=page([
        {"id": "a1", "group": "pets", "consumer": {"id": cid}, "tags": tags("Consumer", "mobile")},
        {"id": "a2", "group": "orders", "consumer": {"id": cid}, "tags": tags("Consumer", "mobile", owner="other")},
    ]))
    [record] = await adapter.fetch_applications()
    assert record["spec"] == {"subscriptions": ["pets"], "displayName": "Mobile, app", "credential": {
        "type": "apiKey", "fingerprint": secret_fingerprint("the-api-key-123")}}


async def test_fetch_applications_fingerprint_from_tag_when_key_hidden(kong: respx.MockRouter,
                                                                       adapter: KongAdapter) -> None:
    db_mode(kong)  # the listings of database mode (DB-less reads the export)
    cid = "44444444-4444-4444-8444-444444444444"
    kong.get("/consumers").respond(200, json=page([{"id": cid, "username": "mobile", "tags": tags("Consumer",
                                                                                                   "mobile")}]))
    kong.get("/key-auths").respond(200, json=page([{"id": "k1", "consumer": {"id": cid}, "tags": tags(
        "Consumer", "mobile", "stoa-fingerprint:sha256:0123456789abcdef")}]))
    kong.get("/acls").respond(200, json=page([]))
    [record] = await adapter.fetch_applications()
    assert record["spec"]["credential"]["fingerprint"] == "sha256:0123456789abcdef"


# ---------------------------------------------------------------------------------------------- database mode
async def test_db_apply_batch_returns_none(kong: respx.MockRouter, adapter: KongAdapter) -> None:
    db_mode(kong)
    assert await adapter.apply_batch([]) is None


async def test_db_sync_api_creates_service_route_and_auth_plugins(kong: respx.MockRouter,
                                                                  adapter: KongAdapter) -> None:
    db_mode(kong)
    kong.get("/services/pets").respond(404, json={"message": "Not found"})
    put_service = kong.put(f"/services/{m.entity_id(OWNER, 'API', 'pets')}").respond(200, json=service())
    kong.get("/routes/pets").respond(404, json={"message": "Not found"})
    put_route = kong.put(f"/routes/{m.entity_id(OWNER, 'API', 'pets', 'route')}").respond(200, json=route())
    plugins = kong.put(url__regex=rf"/services/{SID}/plugins/.+").respond(200, json={})
    result = await adapter.sync_api(make_record("API", "pets", API_SPEC), "acme")
    assert result.success and result.resource_id == SID
    body = json.loads(put_service.calls.last.request.content)
    assert body["host"] == "pets.example.com" and body["port"] == 443 and body["path"] == "/v1"
    assert m.MANAGED_TAG in body["tags"] and "stoa-owner:platform" in body["tags"]
    route_body = json.loads(put_route.calls.last.request.content)
    assert route_body["service"] == {"id": SID} and route_body["paths"] == ["/pets"]
    assert sorted(json.loads(c.request.content)["name"] for c in plugins.calls) == ["acl", "key-auth"]


async def test_db_sync_api_updates_owned_with_patch_keeping_foreign_tags(kong: respx.MockRouter,
                                                                         adapter: KongAdapter) -> None:
    db_mode(kong)
    existing = service()
    existing["tags"] = [*existing["tags"], "team-a"]
    kong.get("/services/pets").respond(200, json=existing)
    patch = kong.patch(f"/services/{SID}").respond(200, json=existing)
    kong.get("/routes/pets").respond(200, json=route())
    kong.patch("/routes/22222222-2222-4222-8222-222222222222").respond(200, json=route())
    ours = [{**p, "service": {"id": SID}} for p in m.api_auth_plugins("pets", OWNER)]
    kong.get(f"/services/{SID}/plugins").respond(200, json=page(ours))
    put = kong.put(url__regex=rf"/services/{SID}/plugins/.+").respond(200, json={})
    result = await adapter.sync_api(make_record("API", "pets", API_SPEC, id=SID), "acme")
    assert result.success
    assert "team-a" in json.loads(patch.calls.last.request.content)["tags"]
    assert sorted(str(c.request.url).rsplit("/", 1)[1] for c in put.calls) == sorted(p["id"] for p in ours)


async def test_db_adopting_a_service_takes_over_its_route_and_auth_plugins(kong: respx.MockRouter,
                                                                           adapter: KongAdapter) -> None:
    """Kong allows one plugin of a name per service and routes keep their own names: adoption writes
    the operator's route and plugins in place (by id) instead of adding second ones."""
    db_mode(kong)
    kong.get("/services/pets").respond(200, json=service(owner=None))
    kong.patch(f"/services/{SID}").respond(200, json=service())
    kong.get("/routes/pets").respond(404, json={"message": "Not found"})
    kong.get(f"/services/{SID}/routes").respond(200, json=page([{**route("pets-route", owner=None)}]))
    patched = kong.patch("/routes/22222222-2222-4222-8222-222222222222").respond(200, json=route())
    theirs = [{"id": f"0000000{i}-0000-4000-8000-000000000000", "name": n, "service": {"id": SID}, "route": None,
               "consumer": None, "tags": ["team-a"], "config": {}} for i, n in enumerate(("key-auth", "acl"))]
    kong.get(f"/services/{SID}/plugins").respond(200, json=page(theirs))
    put = kong.put(url__regex=rf"/services/{SID}/plugins/.+").respond(200, json={})
    record = {**make_record("API", "pets", API_SPEC, id=SID), "adopt": True}
    assert (await adapter.sync_api(record, "acme")).success
    assert json.loads(patched.calls.last.request.content)["name"] == "pets-route"
    assert sorted(str(c.request.url).rsplit("/", 1)[1] for c in put.calls) == sorted(p["id"] for p in theirs)
    assert all("team-a" in json.loads(c.request.content)["tags"] for c in put.calls)


async def test_db_sync_api_refuses_unowned_service(kong: respx.MockRouter, adapter: KongAdapter) -> None:
    db_mode(kong)
    kong.get("/services/pets").respond(200, json=service(owner=None))
    writes = kong.route(method__in=["PUT", "PATCH", "POST", "DELETE"]).respond(200, json={})
    result = await adapter.sync_api(make_record("API", "pets", API_SPEC), "acme")
    assert not result.success and result.category == "conflict"
    assert writes.call_count == 0


async def test_db_sync_api_without_protection_adds_no_plugins(kong: respx.MockRouter) -> None:
    db_mode(kong)
    kong.get("/services/pets").respond(404, json={"message": "Not found"})
    kong.put(f"/services/{m.entity_id(OWNER, 'API', 'pets')}").respond(200, json=service())
    kong.get("/routes/pets").respond(404, json={"message": "Not found"})
    kong.put(f"/routes/{m.entity_id(OWNER, 'API', 'pets', 'route')}").respond(200, json=route())
    plugins = kong.put(url__regex=r"/plugins/").respond(200, json={})
    async with KongAdapter({"base_url": BASE, "owner": OWNER, "options": {"protectApis": False}}) as a:
        assert (await a.sync_api(make_record("API", "pets", API_SPEC), "acme")).success
    assert plugins.call_count == 0


async def test_db_delete_api_removes_routes_then_service(kong: respx.MockRouter, adapter: KongAdapter) -> None:
    db_mode(kong)
    kong.get(f"/services/{SID}").respond(200, json=service())
    kong.get(f"/services/{SID}/routes").respond(200, json=page([route()]))
    kong.get(f"/services/{SID}/plugins").respond(200, json=page([]))
    del_route = kong.delete("/routes/22222222-2222-4222-8222-222222222222").respond(204)
    del_service = kong.delete(f"/services/{SID}").respond(204)
    result = await adapter.delete_api(SID)
    assert result.success and del_route.called and del_service.called


async def test_db_delete_api_refuses_when_foreign_route_uses_it(kong: respx.MockRouter, adapter: KongAdapter) -> None:
    db_mode(kong)
    kong.get(f"/services/{SID}").respond(200, json=service())
    kong.get(f"/services/{SID}/routes").respond(200, json=page([route(owner=None)]))
    kong.get(f"/services/{SID}/plugins").respond(200, json=page([]))
    deletes = kong.route(method="DELETE").respond(204)
    result = await adapter.delete_api(SID)
    assert not result.success and result.category == "conflict" and deletes.call_count == 0


async def test_db_delete_api_never_deletes_unowned(kong: respx.MockRouter, adapter: KongAdapter) -> None:
    db_mode(kong)
    kong.get(f"/services/{SID}").respond(200, json=service(owner=None))
    deletes = kong.route(method="DELETE").respond(204)
    result = await adapter.delete_api(SID)
    assert not result.success and deletes.call_count == 0


async def test_db_delete_api_already_gone_is_success(kong: respx.MockRouter, adapter: KongAdapter) -> None:
    db_mode(kong)
    kong.get(f"/services/{SID}").respond(404, json={"message": "Not found"})
    assert (await adapter.delete_api(SID)).success


async def test_db_upsert_policy_puts_plugin_on_service(kong: respx.MockRouter, adapter: KongAdapter) -> None:
    db_mode(kong)
    kong.get("/services/pets").respond(200, json=service())
    kong.get(url__regex=r"/plugins/.+").respond(404, json={"message": "Not found"})
    put = kong.put(url__regex=rf"/services/{SID}/plugins/.+").respond(200, json={"id": "pid"})
    record = make_record("Policy", "pets-rate", {"api": "pets", "type": "rate_limit",
                                                  "config": {"requests": 10, "period": "hour"}})
    result = await adapter.upsert_policy(record)
    assert result.success
    body = json.loads(put.calls.last.request.content)
    assert body["name"] == "rate-limiting" and body["config"] == {"hour": 10}
    assert put.calls.last.request.url.path.endswith(m.entity_id(OWNER, "Policy", "pets-rate"))


async def test_db_upsert_policy_without_api_fails(kong: respx.MockRouter, adapter: KongAdapter) -> None:
    db_mode(kong)
    kong.get("/services/pets").respond(404, json={"message": "Not found"})
    record = make_record("Policy", "pets-rate", {"api": "pets", "type": "rate_limit",
                                                  "config": {"requests": 10, "period": "hour"}})
    result = await adapter.upsert_policy(record)
    assert not result.success and "not on this gateway" in (result.error or "")


async def test_db_delete_policy_refuses_unowned(kong: respx.MockRouter, adapter: KongAdapter) -> None:
    db_mode(kong)
    kong.get("/plugins/p9").respond(200, json={"id": "p9", "name": "cors", "tags": ["someone"]})
    deletes = kong.route(method="DELETE").respond(204)
    result = await adapter.delete_policy("p9")
    assert not result.success and deletes.call_count == 0


async def test_db_provision_creates_consumer_key_and_acls(kong: respx.MockRouter, adapter: KongAdapter) -> None:
    db_mode(kong)
    cid = "44444444-4444-4444-8444-444444444444"
    kong.get("/consumers/mobile").respond(404, json={"message": "Not found"})
    kong.put(f"/consumers/{m.entity_id(OWNER, 'Consumer', 'mobile')}").respond(200, json={"id": cid,
                                                                                        "username": "mobile"})
    kong.get(f"/consumers/{cid}/key-auth").respond(200, json=page([]))
    key_put = kong.put(url__regex=rf"/consumers/{cid}/key-auth/.+").respond(200, json={})
    kong.get(f"/consumers/{cid}/acls").respond(200, json=page([]))
    acl_put = kong.put(url__regex=rf"/consumers/{cid}/acls/.+").respond(200, json={})
    result = await adapter.provision_application(consumer_record(subs=("pets", "orders")))
    assert result.success and result.resource_id == cid
    key_body = json.loads(key_put.calls.last.request.content)
    assert key_body["key"] == "the-api-key-123"
    assert f"stoa-fingerprint:{secret_fingerprint('the-api-key-123')}" in key_body["tags"]
    assert sorted(json.loads(c.request.content)["group"] for c in acl_put.calls) == ["orders", "pets"]


async def test_db_provision_same_key_is_not_rewritten(kong: respx.MockRouter, adapter: KongAdapter) -> None:
    db_mode(kong)
    cid = "44444444-4444-4444-8444-444444444444"
    record = consumer_record()
    kong.get("/consumers/mobile").respond(200, json={"id": cid, "username": "mobile", "tags": m.consumer_to_kong(
        record, OWNER)["tags"]})
    kong.get(f"/consumers/{cid}/key-auth").respond(200, json=page([{"id": "k1", "key": "the-api-key-123",
                                                                     "tags": tags("Consumer", "mobile")}]))
    kong.get(f"/consumers/{cid}/acls").respond(200, json=page([
        {"id": "a1", "group": "pets", "tags": tags("Consumer", "mobile")},
        {"id": "a2", "group": "old", "tags": tags("Consumer", "mobile")},
        {"id": "a3", "group": "theirs", "tags": None}]))
    writes = kong.route(method__in=["PUT", "PATCH"]).respond(200, json={})
    delete = kong.delete(f"/consumers/{cid}/acls/a2").respond(204)
    other_deletes = kong.delete(f"/consumers/{cid}/acls/a3").respond(204)
    result = await adapter.provision_application(record)
    assert result.success
    assert writes.call_count == 0 and delete.called and not other_deletes.called


async def test_db_deprovision_refuses_unowned(kong: respx.MockRouter, adapter: KongAdapter) -> None:
    db_mode(kong)
    kong.get("/consumers/c1").respond(200, json={"id": "c1", "username": "ops", "tags": None})
    deletes = kong.route(method="DELETE").respond(204)
    result = await adapter.deprovision_application("c1")
    assert not result.success and deletes.call_count == 0


async def test_db_409_is_a_conflict_result(kong: respx.MockRouter, adapter: KongAdapter) -> None:
    db_mode(kong)
    kong.get("/consumers/mobile").respond(404, json={"message": "Not found"})
    kong.put(f"/consumers/{m.entity_id(OWNER, 'Consumer', 'mobile')}").respond(409, json={
        "code": 5, "name": "unique constraint violation",
        "message": "UNIQUE violation detected on '{custom_id=\"x\"}'"})
    result = await adapter.provision_application(consumer_record())
    assert not result.success and result.category == "conflict"


# ---------------------------------------------------------------------------------------------- DB-less
def api_change(name: str = "pets", **spec: Any) -> Change:
    return Change("kong", Op.CREATE, "API", name, desired=make_record("API", name, {**API_SPEC, **spec}))


async def test_dbless_batch_reads_once_and_posts_once(kong: respx.MockRouter, adapter: KongAdapter) -> None:
    foreign = {"_format_version": "3.0", "_transform": False,
               "upstreams": [{"id": "u1", "name": "up", "slots": 100}],
               "targets": [{"id": "t1", "upstream": "u1", "target": "10.0.0.1:80", "created_at": 1.5}]}
    post = dbless_mode(kong, foreign).respond(201, json={})
    changes = [api_change("pets"), api_change("orders", basePath="/orders")]
    results = await adapter.apply_batch(changes)
    assert results is not None and [r.status for r in results] == [Status.APPLIED, Status.APPLIED]
    assert post.call_count == 1
    assert post.calls.last.request.url.params["flatten_errors"] == "1"
    body = posted(post.calls.last.request)
    assert body["_transform"] is False
    assert body["upstreams"] == [{"id": "u1", "name": "up", "slots": 100,
                                  "targets": [{"id": "t1", "target": "10.0.0.1:80", "created_at": 1.5}]}]
    assert sorted(s["name"] for s in body["services"]) == ["orders", "pets"]


async def test_dbless_400_is_mapped_to_the_faulty_resource(kong: respx.MockRouter, adapter: KongAdapter) -> None:
    route_id = m.entity_id(OWNER, "API", "orders", "route")
    dbless_mode(kong).respond(400, json={
        "code": 14, "name": "invalid declarative configuration", "message": "declarative config is invalid: ...",
        "fields": {}, "flattened_errors": [{"entity_type": "route", "entity_id": route_id, "entity_name": "orders",
                                            "entity_tags": [], "entity": {},
                                            "errors": [{"type": "field", "field": "paths.0",
                                                        "message": "should start with: /"}]}]})
    results = await adapter.apply_batch([api_change("pets"), api_change("orders", basePath="orders")])
    assert results is not None
    by = {r.name: r for r in results}
    assert by["orders"].status is Status.FAILED and "paths.0: should start with: /" in (by["orders"].error or "")
    assert by["pets"].status is Status.NOT_ATTEMPTED


async def test_dbless_400_mapped_by_tags_when_id_unknown(kong: respx.MockRouter, adapter: KongAdapter) -> None:
    dbless_mode(kong).respond(400, json={"code": 14, "message": "invalid", "flattened_errors": [
        {"entity_type": "plugin", "entity_tags": tags("Policy", "pets-rate"), "entity": {},
         "errors": [{"type": "entity", "message": "at least one of these fields must be non-empty"}]}]})
    policy = make_record("Policy", "pets-rate", {"api": "pets", "type": "rate_limit",
                                                 "config": {"requests": 1, "period": "minute"}})
    results = await adapter.apply_batch([api_change("pets"), Change("kong", Op.CREATE, "Policy", "pets-rate",
                                                                    desired=policy)])
    assert results is not None
    assert {r.name: r.status for r in results} == {"pets": Status.NOT_ATTEMPTED, "pets-rate": Status.FAILED}


async def test_dbless_400_without_details_fails_every_change(kong: respx.MockRouter, adapter: KongAdapter) -> None:
    dbless_mode(kong).respond(400, json={"message": "expected a declarative configuration"})
    results = await adapter.apply_batch([api_change("pets")])
    assert results is not None and results[0].status is Status.FAILED
    assert "expected a declarative configuration" in (results[0].error or "")


async def test_dbless_error_never_echoes_the_api_key(kong: respx.MockRouter, adapter: KongAdapter) -> None:
    record = consumer_record(key="super-secret-key-9")
    dbless_mode(kong).respond(400, json={"code": 14, "message": "invalid", "flattened_errors": [
        {"entity_type": "keyauth_credential", "entity_tags": tags("Consumer", "mobile"), "entity": {},
         "errors": [{"type": "entity", "message": "uniqueness violation: 'keyauth_credentials' entity with key "
                                                  "set to 'super-secret-key-9' already declared"}]}]})
    results = await adapter.apply_batch([upsert_change(record, gateway="kong")])
    assert results is not None and results[0].status is Status.FAILED
    assert "super-secret-key-9" not in (results[0].error or "") and "uniqueness" in (results[0].error or "")


async def test_dbless_conflict_fails_only_that_change(kong: respx.MockRouter, adapter: KongAdapter) -> None:
    foreign = {"_format_version": "3.0", "services": [{"id": SID, "name": "pets", "host": "x", "port": 80,
                                                       "protocol": "http"}]}
    post = dbless_mode(kong, foreign).respond(201, json={})
    results = await adapter.apply_batch([api_change("pets"), api_change("orders", basePath="/orders")])
    assert results is not None
    by = {r.name: r for r in results}
    assert by["pets"].status is Status.FAILED and by["pets"].category == "conflict"
    assert by["orders"].status is Status.APPLIED
    body = posted(post.calls.last.request)
    assert {"id": SID, "name": "pets", "host": "x", "port": 80, "protocol": "http"} in body["services"]


async def test_dbless_single_method_posts_full_config(kong: respx.MockRouter, adapter: KongAdapter) -> None:
    post = dbless_mode(kong).respond(201, json={})
    result = await adapter.sync_api(make_record("API", "pets", API_SPEC), "acme")
    assert result.success and post.call_count == 1


async def test_dbless_delete_keeps_foreign_plugin_guard(kong: respx.MockRouter, adapter: KongAdapter) -> None:
    svc = {**service(), "tags": m.api_tags(make_record("API", "pets", API_SPEC), OWNER)}
    svc.pop("path")
    foreign = {"_format_version": "3.0", "services": [svc], "plugins": [
        {"id": "p0", "name": "prometheus", "service": SID}]}
    post = dbless_mode(kong, foreign).respond(201, json={})
    change = Change("kong", Op.DELETE, "API", "pets", actual=make_record("API", "pets", API_SPEC, id=SID,
                                                                          owner=OWNER))
    results = await adapter.apply_batch([change])
    assert results is not None and results[0].status is Status.FAILED
    assert "prometheus" in (results[0].error or "")
    assert post.call_count == 0  # nothing left to apply: no write at all


async def test_dbless_merge_order_does_not_depend_on_input_order(kong: respx.MockRouter, adapter: KongAdapter) -> None:
    post = dbless_mode(kong).respond(201, json={})
    policy = make_record("Policy", "pets-rate", {"api": "pets", "type": "rate_limit",
                                                 "config": {"requests": 1, "period": "minute"}})
    results = await adapter.apply_batch([Change("kong", Op.CREATE, "Policy", "pets-rate", desired=policy),
                                         api_change("pets")])
    assert results is not None and [r.name for r in results] == ["pets-rate", "pets"]
    assert all(r.status is Status.APPLIED for r in results)
    body = posted(post.calls.last.request)
    assert any(p["name"] == "rate-limiting" for p in body["plugins"])


async def test_dbless_400_unflattened_fields_keyed_by_name_are_mapped(kong: respx.MockRouter,
                                                                     adapter: KongAdapter) -> None:
    """Kong leaves a reference error keyed by the entity's endpoint key in `fields` when it cannot
    flatten it (no top-level list of that table), with `flattened_errors` an empty object."""
    dbless_mode(kong).respond(400, json={
        "code": 14, "name": "invalid declarative configuration", "message": "declarative config is invalid: {}",
        "fields": {"routes": {"orders": ["invalid reference 'service: gone' (no such entry in 'services')"]}},
        "flattened_errors": {}})
    results = await adapter.apply_batch([api_change("pets"), api_change("orders", basePath="/orders")])
    assert results is not None
    by = {r.name: r for r in results}
    assert by["orders"].status is Status.FAILED and "invalid reference 'service: gone'" in (by["orders"].error or "")
    assert by["pets"].status is Status.NOT_ATTEMPTED
