"""Adapter against the emulator over HTTP: every kind applied, idempotent, drift, prune, 3.1, export."""

from __future__ import annotations

import io
import json
import zipfile

import httpx

from reconciler.adapters.webmethods.adapter import WebMethodsAdapter
from reconciler.emulators.webmethods import WebMethodsEmulator
from tests.webmethods.conftest import make_adapter
from tests.webmethods.helpers import OWNER, apply, full_set, plan

AUTH = ("Administrator", "manage")
ALL_KINDS = {"API", "Policy", "Consumer", "AuthServer", "Strategy", "Scope", "Alias", "GatewayConfig"}


def admin(emulator: WebMethodsEmulator) -> httpx.Client:
    return httpx.Client(base_url=emulator.url + "/rest/apigateway", auth=AUTH)


async def test_full_set_applies_then_second_apply_sends_zero_writes(
        adapter: WebMethodsAdapter, emulator: WebMethodsEmulator) -> None:
    results = await apply(adapter, full_set())
    assert all(ok for *_, ok, _ in results), results
    assert {kind for _, kind, *_ in results} == ALL_KINDS
    assert await plan(adapter, full_set()) == []
    emulator.clear_log()
    async with make_adapter(emulator.url) as fresh:
        assert isinstance(fresh, WebMethodsAdapter)
        assert await apply(fresh, full_set()) == []
    assert emulator.writes == []


async def test_api_is_updated_in_place_and_stays_active(adapter: WebMethodsAdapter, emulator: WebMethodsEmulator) -> None:
    await apply(adapter, full_set())
    before = {a["apiName"]: a["id"] for a in emulator.apis.values()}
    desired = full_set()
    desired[0]["spec"]["backend"] = "https://pets-v2.example.com/v1"
    emulator.clear_log()
    results = await apply(adapter, desired)
    assert [(op, kind, name) for op, kind, name, *_ in results] == [("update", "API", "pets")]
    after = {a["apiName"]: a["id"] for a in emulator.apis.values()}
    assert after == before  # same gateway ids: no delete and re-import
    assert [(w.method, w.path.rsplit("/", 1)[-1]) for w in emulator.writes] == [("PUT", before["pets"])]
    assert emulator.apis[before["pets"]]["isActive"] is True
    assert emulator.apis[before["pets"]]["nativeEndpoint"][0]["uri"] == "https://pets-v2.example.com/v1"


async def test_openapi_31_lands_as_303_with_notes(adapter: WebMethodsAdapter, emulator: WebMethodsEmulator) -> None:
    orders = full_set()[1]
    result = await adapter.sync_api(orders, "acme")
    assert result.success, result.error
    stored = emulator.apis[str(result.resource_id)]["apiDefinition"]
    assert stored["openapi"] == "3.0.3"
    assert "webhooks" not in stored
    note = stored["components"]["schemas"]["Order"]["properties"]["note"]
    assert note == {"type": "string", "nullable": True, "example": "a"}
    assert stored["components"]["schemas"]["Order"]["properties"]["id"] == {
        "type": "integer", "minimum": 0, "exclusiveMinimum": True}
    notes = (result.data or {})["notes"]
    assert any("webhooks" in n for n in notes) and any("examples" in n for n in notes)


async def test_drift_on_every_kind_is_detected_and_repaired(
        adapter: WebMethodsAdapter, emulator: WebMethodsEmulator) -> None:
    await apply(adapter, full_set())
    with admin(emulator) as http:
        pets = next(a for a in emulator.apis.values() if a["apiName"] == "pets")
        assert http.put(f"/apis/{pets['id']}", json={"apiDescription": "changed by hand"}).status_code == 200
        orders = next(a for a in emulator.apis.values() if a["apiName"] == "orders")
        assert http.put(f"/apis/{orders['id']}/deactivate").status_code == 200
        rate = next(a for a in emulator.policy_actions.values() if a["templateKey"] == "throttle")
        rate_body = json.loads(json.dumps(rate))
        rate_body["parameters"][0]["parameters"][2]["values"] = ["5"]
        assert http.put(f"/policyActions/{rate['id']}", json={"policyAction": rate_body}).status_code == 200
        app = next(iter(emulator.applications.values()))
        assert http.put(f"/applications/{app['id']}/apis", json={"apiIDs": []}).status_code == 200
        strategy = next(iter(emulator.strategies.values()))
        assert http.put(f"/strategies/{strategy['id']}", json={**strategy, "clientId": "other"}).status_code == 200
        scope = next(iter(emulator.scopes.values()))
        assert http.put(f"/scopes/{scope['id']}", json={**scope, "audience": "x"}).status_code == 200
        for alias in emulator.aliases.values():
            if alias["name"] == "keycloak":
                changed = {**alias, "scopes": [{"name": "pets:read"}, {"name": "extra"}]}
                assert http.put(f"/alias/{alias['id']}", json=changed).status_code == 200
            if alias["name"] == "pets-backend":
                assert http.put(f"/alias/{alias['id']}", json={**alias, "readTimeout": 99}).status_code == 200
        assert http.put("/configurations/errorProcessing", json={"sendNativeProviderFault": "false"}).status_code == 200
    drift = await plan(adapter, full_set())
    assert {(op, kind) for op, kind, _ in drift} == {("update", k) for k in ALL_KINDS}
    assert ("update", "API", "orders") in drift  # a deactivated API is drift too
    results = await apply(adapter, full_set())
    assert all(ok for *_, ok, _ in results), results
    assert await plan(adapter, full_set()) == []
    assert all(a["isActive"] for a in emulator.apis.values())


async def test_prune_deletes_owned_objects_only(adapter: WebMethodsAdapter, emulator: WebMethodsEmulator) -> None:
    with admin(emulator) as http:
        foreign = http.post("/alias", json={"name": "legacy", "type": "endpoint", "endPointURI": "https://legacy"})
        assert foreign.status_code == 201
        other = http.post("/applications", json={"name": "partner", "description": "not ours"})
        assert other.status_code == 200
    await apply(adapter, full_set())
    results = await apply(adapter, [full_set()[0]])  # keep only the pets API
    deleted = {(kind, name) for op, kind, name, ok, _ in results if op == "delete" and ok}
    assert deleted == {("API", "orders"), ("Policy", "pets-rate"), ("Policy", "pets-cors"), ("Consumer", "mobile"),
                       ("AuthServer", "keycloak"), ("Strategy", "keycloak-oauth"), ("Scope", "pets-read"),
                       ("Alias", "pets-backend"), ("GatewayConfig", "error-processing")}
    assert all(ok for *_, ok, _ in results), results
    assert [a["apiName"] for a in emulator.apis.values()] == ["pets"]
    assert [a["name"] for a in emulator.aliases.values()] == ["legacy"]
    assert [a["name"] for a in emulator.applications.values()] == ["partner"]
    assert {a["templateKey"] for a in emulator.policy_actions.values()} == {"entryProtocolPolicy", "straightThroughRouting"}
    assert emulator.strategies == {} and emulator.scopes == {}


async def test_unowned_object_with_the_desired_name_is_a_conflict_and_untouched(
        adapter: WebMethodsAdapter, emulator: WebMethodsEmulator) -> None:
    with admin(emulator) as http:
        assert http.post("/alias", json={"name": "pets-backend", "type": "endpoint",
                                         "endPointURI": "https://theirs"}).status_code == 201
    alias = next(r for r in full_set() if r["kind"] == "Alias")
    assert await plan(adapter, [alias]) == [("conflict", "Alias", "pets-backend")]
    result = await adapter.upsert_alias(alias)
    assert not result.success and result.category == "conflict"
    assert next(iter(emulator.aliases.values()))["endPointURI"] == "https://theirs"


async def test_other_owner_sees_our_objects_as_foreign(adapter: WebMethodsAdapter, emulator: WebMethodsEmulator) -> None:
    await apply(adapter, full_set())
    async with make_adapter(emulator.url, owner="team-b") as other:
        assert isinstance(other, WebMethodsAdapter)
        assert await apply(other, []) == []  # nothing of team-b's to prune
        api_id = next(iter(emulator.apis))
        refused = await other.delete_api(api_id)
        assert not refused.success and "owned by platform" in str(refused.error)
    assert len(emulator.apis) == 2


async def test_export_zip_lists_what_was_applied(adapter: WebMethodsAdapter) -> None:
    await apply(adapter, full_set())
    result = await adapter.export_archive()
    assert result.success and result.data is not None
    assert result.data["media_type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(result.data["content"])) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        names = {(a["type"], a["name"]) for a in manifest["assets"]}
        assert len(archive.namelist()) == len(manifest["assets"]) + 1
    assert {("api", "pets"), ("api", "orders"), ("application", "mobile"), ("alias", "keycloak"),
            ("alias", "pets-backend"), ("gatewayScope", "pets-read")} <= names
    assert sum(1 for t, _ in names if t == "policyAction") >= 2


async def test_wrong_credentials_fail_reads_loudly(emulator: WebMethodsEmulator) -> None:
    async with make_adapter(emulator.url, username="Administrator", password="wrong") as bad:
        health = await bad.health_check()
        assert not health.success and "401" in str(health.error)
        assert "wrong" not in str(health.error)
        assert await bad.list_apis() == []
        try:
            await bad.fetch_apis()
        except Exception as exc:  # noqa: BLE001
            assert "401" in str(exc)
        else:
            raise AssertionError("fetch_apis must raise on 401")


async def test_health_check_reports_green(adapter: WebMethodsAdapter) -> None:
    result = await adapter.health_check()
    assert result.success and result.data is not None
    assert result.data["status"] == "green" and result.data["serverInfo"]["version"].startswith("10.15")


def test_owner_constant() -> None:
    assert OWNER == "platform"
