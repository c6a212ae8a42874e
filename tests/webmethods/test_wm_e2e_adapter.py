"""Adapter against the emulator over HTTP: every kind applied, idempotent, drift, prune, 3.1, export."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile

import httpx

from reconciler.adapters.webmethods.adapter import WebMethodsAdapter
from reconciler.emulators.webmethods import WebMethodsEmulator
from tests.changes import delete_change, upsert_change
from tests.faults import FaultProxy, Faults
from tests.webmethods.conftest import make_adapter
from tests.webmethods.helpers import API_KEY, OWNER, apply, full_set, plan

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
    assert {a["templateKey"] for a in emulator.policy_actions.values()} == {
        "entryProtocolPolicy", "straightThroughRouting", "evaluatePolicy"}  # pets keeps its Identify & Authorize
    assert sum(1 for a in emulator.policy_actions.values() if a["templateKey"] == "evaluatePolicy") == 1
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


# ------------------------------------------------------------------ what the policy enforces (issue 12)
def enforced(emulator: WebMethodsEmulator, api_name: str) -> dict[str, set[str]]:
    """stage key -> template keys the API's policy enforces there."""
    api = next(a for a in emulator.apis.values() if a["apiName"] == api_name)
    out: dict[str, set[str]] = {}
    for stage in emulator.policies[api["policies"][0]]["policyEnforcements"]:
        for item in stage["enforcements"]:
            out.setdefault(stage["stageKey"], set()).add(emulator.policy_actions[item["enforcementObjectId"]]["templateKey"])
    return out


def slow_policy_reads(emulator: WebMethodsEmulator) -> FaultProxy:
    """A real HTTP hop that holds every read of one policy, so two read-modify-writes overlap."""
    return FaultProxy(emulator.url, Faults(delays=[("GET", r"/rest/apigateway/policies/[^/]+", 0.3)]))


async def test_every_action_sits_in_its_stage_and_apis_identify_by_api_key(
        adapter: WebMethodsAdapter, emulator: WebMethodsEmulator) -> None:
    assert all(ok for *_, ok, _ in await apply(adapter, full_set()))
    assert enforced(emulator, "pets") == {"transport": {"entryProtocolPolicy"}, "routing": {"straightThroughRouting"},
                                          "IAM": {"evaluatePolicy"}, "LMT": {"throttle"},
                                          "responseProcessing": {"corsPolicy"}}
    assert enforced(emulator, "orders")["IAM"] == {"evaluatePolicy"}
    iam = next(a for a in emulator.policy_actions.values() if a["templateKey"] == "evaluatePolicy")
    assert {"templateKey": "allowAnonymous", "values": ["false"]} in iam["parameters"]
    assert {"templateKey": "IdentificationRule", "parameters": [
        {"templateKey": "identificationType", "values": ["apiKey"]}]} in iam["parameters"]
    throttle = next(a for a in emulator.policy_actions.values() if a["templateKey"] == "throttle")
    assert {"templateKey": "consumerIds", "values": ["AnyConsumers"]} in throttle["parameters"]
    # the application's key is the one the gateway made; the declared key never reached it
    (app,) = emulator.applications.values()
    assert app["accessTokens"]["apiAccessKey_credentials"]["apiAccessKey"] != API_KEY
    assert not any(API_KEY.encode() in r.body for r in emulator.requests)


async def test_two_policies_of_one_api_applied_at_once_are_both_enforced(emulator: WebMethodsEmulator) -> None:
    records = full_set()
    with slow_policy_reads(emulator) as proxy:
        async with make_adapter(proxy.url) as wm:
            assert isinstance(wm, WebMethodsAdapter)
            assert (await wm.sync_api(records[0], "acme")).success
            rate, cors = await asyncio.gather(wm.upsert(upsert_change(records[2])), wm.upsert(upsert_change(records[3])))
            assert rate.success and cors.success, (rate.error, cors.error)
            assert enforced(emulator, "pets")["LMT"] == {"throttle"}
            assert enforced(emulator, "pets")["responseProcessing"] == {"corsPolicy"}
            live = {r["name"]: r for r in await wm.fetch("Policy")}
            assert live["pets-rate"]["spec"]["attached"] and live["pets-cors"]["spec"]["attached"]
            # pruning both at once: each is detached, then deleted (the gateway refuses an enforced one)
            gone = await asyncio.gather(*(wm.remove(delete_change(r)) for r in live.values()))
            assert all(g.success for g in gone), [g.error for g in gone]
    assert {a["templateKey"] for a in emulator.policy_actions.values()} == {
        "entryProtocolPolicy", "straightThroughRouting", "evaluatePolicy"}
    assert set(enforced(emulator, "pets")) == {"transport", "routing", "IAM"}


async def test_an_action_detached_by_hand_is_drift_and_reattached(adapter: WebMethodsAdapter,
                                                                  emulator: WebMethodsEmulator) -> None:
    await apply(adapter, full_set())
    pets = next(a for a in emulator.apis.values() if a["apiName"] == "pets")
    policy = json.loads(json.dumps(emulator.policies[pets["policies"][0]]))
    policy["policyEnforcements"] = [s for s in policy["policyEnforcements"] if s["stageKey"] != "responseProcessing"]
    with admin(emulator) as http:
        assert http.put(f"/policies/{policy['id']}", json={"policy": policy}).status_code == 200
    assert await plan(adapter, full_set()) == [("update", "Policy", "pets-cors")]
    assert all(ok for *_, ok, _ in await apply(adapter, full_set()))
    assert enforced(emulator, "pets")["responseProcessing"] == {"corsPolicy"}
    assert await plan(adapter, full_set()) == []


async def test_an_api_deleted_by_hand_comes_back_with_its_actions_enforced(adapter: WebMethodsAdapter,
                                                                          emulator: WebMethodsEmulator) -> None:
    await apply(adapter, full_set())
    pets = next(a for a in emulator.apis.values() if a["apiName"] == "pets")
    with admin(emulator) as http:
        assert http.put(f"/apis/{pets['id']}/deactivate").status_code == 200
        assert http.delete(f"/apis/{pets['id']}").status_code == 204
    drift = await plan(adapter, full_set())
    assert ("create", "API", "pets") in drift
    assert {("update", "Policy", "pets-rate"), ("update", "Policy", "pets-cors")} <= set(drift)
    results = await apply(adapter, full_set())
    assert all(ok for *_, ok, _ in results), results
    assert {"IAM", "LMT", "responseProcessing"} <= set(enforced(emulator, "pets"))
    assert sum(1 for a in emulator.policy_actions.values() if a["templateKey"] == "evaluatePolicy") == 2  # reused
    assert await plan(adapter, full_set()) == []


async def test_identify_and_authorize_removed_by_hand_is_drift(adapter: WebMethodsAdapter,
                                                              emulator: WebMethodsEmulator) -> None:
    await apply(adapter, full_set())
    orders = next(a for a in emulator.apis.values() if a["apiName"] == "orders")
    policy = json.loads(json.dumps(emulator.policies[orders["policies"][0]]))
    policy["policyEnforcements"] = [s for s in policy["policyEnforcements"] if s["stageKey"] != "IAM"]
    with admin(emulator) as http:
        assert http.put(f"/policies/{policy['id']}", json={"policy": policy}).status_code == 200
    live = {r["name"]: r for r in await adapter.fetch("API")}
    assert live["orders"]["spec"]["protection"] == "none"
    assert await plan(adapter, full_set()) == [("update", "API", "orders")]
    assert all(ok for *_, ok, _ in await apply(adapter, full_set()))
    assert enforced(emulator, "orders")["IAM"] == {"evaluatePolicy"}
    assert await plan(adapter, full_set()) == []


async def test_a_new_version_of_an_active_api_is_applied_in_place(adapter: WebMethodsAdapter,
                                                                  emulator: WebMethodsEmulator) -> None:
    await apply(adapter, full_set())
    before = next(a["id"] for a in emulator.apis.values() if a["apiName"] == "pets")
    desired = full_set()
    desired[0]["spec"]["version"] = "2.0.0"
    emulator.clear_log()
    results = await apply(adapter, desired)
    assert [(op, kind, name, ok) for op, kind, name, ok, _ in results] == [("update", "API", "pets", True)], results
    pets = emulator.apis[before]
    assert pets["apiVersion"] == "2.0.0" and pets["isActive"] is True
    assert [(w.method, w.path.rsplit("/", 1)[-1]) for w in emulator.writes] == [
        ("PUT", "deactivate"), ("PUT", before), ("PUT", "activate")]
    assert await plan(adapter, desired) == []
