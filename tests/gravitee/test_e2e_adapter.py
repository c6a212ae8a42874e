"""The adapter against the running emulator: idempotent contract methods, no duplicates, exact read-back."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from reconciler.adapters.gravitee.adapter import GraviteeAdapter
from reconciler.emulators.gravitee import GraviteeEmulator
from reconciler.engine.diff import diff_spec
from reconciler.engine.plan import PlanOptions, plan_gateway
from reconciler.model.changes import Op
from tests.gravitee.conftest import adapter_config, api_record, consumer_record, cors_record, rate_record


@pytest.fixture
def emulator() -> Iterator[GraviteeEmulator]:
    """An environment where an admin turned plan.security.apikey.allowCustom.enabled on (Gravitee's default
    is off; tests/gravitee/test_adapter_unit.py and test_e2e_cli.py cover that case)."""
    with GraviteeEmulator(allow_custom_api_key=True) as emu:
        yield emu

async def test_every_method_twice_gives_the_same_state_and_no_second_write(emulator: GraviteeEmulator) -> None:
    async with GraviteeAdapter(adapter_config(emulator.url)) as adapter:
        for _ in range(2):
            emulator.clear_log()
            assert (await adapter.sync_api(api_record(), "acme")).success
            assert (await adapter.upsert_policy(rate_record())).success
            assert (await adapter.provision_application(consumer_record())).success
        assert emulator.writes == []
        env = emulator.env()
        assert len(env.apis) == 1 and len(env.plans) == 2 and len(env.apps) == 1
        assert len([s for s in env.subscriptions.values() if s["status"] == "ACCEPTED"]) == 1


async def test_read_back_equals_the_desired_view(emulator: GraviteeEmulator) -> None:
    desired = [api_record(displayName="Pet store", description="Pets", openapiHash="sha256:1",
                          methods=["DELETE", "GET", "POST"]),
               rate_record(period="hour"), cors_record(),
               consumer_record(email="m@example.com")]
    async with GraviteeAdapter(adapter_config(emulator.url)) as adapter:
        result = await adapter.apply_batch([])
        assert result == []
        assert (await adapter.sync_api(desired[0], "acme")).success
        for policy in desired[1:3]:
            assert (await adapter.upsert_policy(policy)).success
        assert (await adapter.provision_application(desired[3])).success
        for record in desired:
            [live] = [r for r in await adapter.fetch(record["kind"]) if r["name"] == record["name"]]
            assert live["owner"] == "platform"
            assert diff_spec(GraviteeAdapter.desired_view(record["kind"], record["spec"]), live["spec"]) == ()


async def test_delete_started_api_and_policy_and_application_are_idempotent(emulator: GraviteeEmulator) -> None:
    async with GraviteeAdapter(adapter_config(emulator.url)) as adapter:
        api_id = str((await adapter.sync_api(api_record(), "acme")).resource_id)
        policy_id = str((await adapter.upsert_policy(rate_record())).resource_id)
        app_id = str((await adapter.provision_application(consumer_record())).resource_id)
        assert emulator.env().apis[api_id]["state"] == "STARTED"
        for _ in range(2):
            emulator.clear_log()
            assert (await adapter.delete_policy(policy_id)).success
            assert (await adapter.deprovision_application(app_id)).success
            assert (await adapter.delete_api(api_id)).success
        assert emulator.writes == []  # the second time: nothing left to delete (an archived application is gone)
        assert emulator.env().apis == {} and await adapter.fetch_policies() == []
        assert [a for a in await adapter.fetch_applications() if a["owner"] == "platform"] == []


async def test_another_owner_cannot_touch_our_objects(emulator: GraviteeEmulator) -> None:
    async with GraviteeAdapter(adapter_config(emulator.url)) as ours:
        api_id = str((await ours.sync_api(api_record(), "acme")).resource_id)
        app_id = str((await ours.provision_application(consumer_record())).resource_id)
    emulator.clear_log()
    async with GraviteeAdapter(adapter_config(emulator.url, owner="team-b")) as theirs:
        assert not (await theirs.delete_api(api_id)).success
        assert not (await theirs.deprovision_application(app_id)).success
        assert not (await theirs.sync_api({**api_record(backend="https://evil.example.com"), "id": api_id}, "x")).success
        assert not (await theirs.upsert_policy(rate_record())).success
        records = {r["name"]: r for r in await theirs.fetch_apis()}
        assert records["pets"]["owner"] == "platform"
    assert emulator.writes == []


async def test_key_rotation_keeps_one_subscription_per_api(emulator: GraviteeEmulator) -> None:
    async with GraviteeAdapter(adapter_config(emulator.url)) as adapter:
        await adapter.sync_api(api_record("pets"), "acme")
        await adapter.sync_api(api_record("orders"), "acme")
        assert (await adapter.provision_application(consumer_record(subs=["pets", "orders"]))).success
        assert (await adapter.provision_application(consumer_record(subs=["pets", "orders"], key="rotated-0000"))).success
        env = emulator.env()
        live_keys = sorted(k["key"] for k in env.api_keys.values() if emulator._key_active(k))
        assert live_keys == ["rotated-0000", "rotated-0000"]  # the old ones revoked, not left to expire in 2 h
        assert len([s for s in env.subscriptions.values() if s["status"] == "ACCEPTED"]) == 2
        [record] = [r for r in await adapter.fetch_applications() if r["name"] == "mobile"]
        assert record["spec"]["credential"] == consumer_record(key="rotated-0000")["spec"]["credential"]


async def test_a_policy_moved_to_another_api_leaves_the_old_plans(emulator: GraviteeEmulator) -> None:
    records = [api_record("pets"), api_record("orders"), rate_record(api="pets")]
    moved = [api_record("pets"), api_record("orders"), rate_record(api="orders")]
    async with GraviteeAdapter(adapter_config(emulator.url)) as adapter:
        for desired in (records, moved):
            live = [r for kind in ("API", "Policy", "Consumer") for r in await adapter.fetch(kind)]
            changes = [c for c in plan_gateway("gv", desired, live, PlanOptions(owner="platform"),
                                               view=adapter.desired_view) if c.op is not Op.NOOP]
            results = await adapter.apply_batch(changes)
            assert results is not None and all(r.ok for r in results), results
        env = emulator.env()
        names = {a["id"]: a["name"] for a in env.apis.values()}
        flows = {(names[p["apiId"]], p["name"]): [f["name"] for f in p["flows"]] for p in env.plans.values()}
        assert flows == {("pets", "stoa-api-key"): [], ("pets", "stoa-keyless"): [],
                         ("orders", "stoa-api-key"): ["stoa-policy:pets-rate"],
                         ("orders", "stoa-keyless"): ["stoa-policy:pets-rate"]}
        [policy] = await adapter.fetch_policies()
        assert policy["spec"]["api"] == "orders"


async def test_a_duplicate_managed_plan_is_closed_and_foreign_plans_are_kept(emulator: GraviteeEmulator) -> None:
    async with GraviteeAdapter(adapter_config(emulator.url)) as adapter:
        api_id = str((await adapter.sync_api(api_record(), "acme")).resource_id)
        with httpx.Client(base_url=emulator.url, auth=("admin", "admin")) as c:
            base = f"/management/v2/organizations/DEFAULT/environments/DEFAULT/apis/{api_id}/plans"
            for name in ("stoa-api-key", "gold"):
                plan = c.post(base, json={"definitionVersion": "V4", "name": name, "security": {"type": "API_KEY"},
                                          "validation": "AUTO"}).json()
                c.post(f"{base}/{plan['id']}/_publish")
        assert (await adapter.sync_api({**api_record(), "id": api_id}, "acme")).success
        statuses = sorted((p["name"], p["status"]) for p in emulator.env().plans.values())
        assert statuses == [("gold", "PUBLISHED"), ("stoa-api-key", "CLOSED"), ("stoa-api-key", "PUBLISHED"),
                            ("stoa-keyless", "PUBLISHED")]
        assert emulator.env().apis[api_id]["deploymentState"] == "DEPLOYED"
        emulator.clear_log()
        assert (await adapter.sync_api({**api_record(), "id": api_id}, "acme")).success and emulator.writes == []


async def test_cors_lives_in_the_listener_and_a_failed_create_leaves_no_api(emulator: GraviteeEmulator) -> None:
    """Issue 12 #2. Before: a `cors` plan step got 404 plugin.notFound and the new API stayed STOPPED without
    plans, so every later apply failed. Now CORS is HttpListener.cors, and a create that fails half-way is undone."""
    desired = [api_record(), rate_record(), cors_record()]
    async with GraviteeAdapter(adapter_config(emulator.url)) as adapter:
        live = [r for kind in ("API", "Policy") for r in await adapter.fetch(kind)]
        changes = [c for c in plan_gateway("gv", desired, live, PlanOptions(owner="platform"), view=adapter.desired_view)
                   if c.op is not Op.NOOP]
        emulator.policies.pop("rate-limit")  # uninstalled after the plan read it: the plan create is refused
        results = await adapter.apply_batch(changes)
        assert results is not None and not any(r.ok for r in results)
        assert "Plugin [rate-limit] cannot be found" in (results[0].error or "")
        assert emulator.env().apis == {} and emulator.env().plans == {}
        emulator.policies["rate-limit"] = ("Rate Limit", "others")
        live = [r for kind in ("API", "Policy") for r in await adapter.fetch(kind)]
        changes = [c for c in plan_gateway("gv", desired, live, PlanOptions(owner="platform"), view=adapter.desired_view)
                   if c.op is not Op.NOOP]
        results = await adapter.apply_batch(changes)
        assert results is not None and all(r.ok for r in results), results
        [api] = emulator.env().apis.values()
        assert api["listeners"][0]["cors"]["allowOrigin"] == ["https://app.example.com"]
        assert all(step["policy"] == "rate-limit" for p in emulator.env().plans.values() for f in p["flows"]
                   for step in f["request"])
        live = [r for kind in ("API", "Policy") for r in await adapter.fetch(kind)]
        assert [c.op for c in plan_gateway("gv", desired, live, PlanOptions(owner="platform"),
                                           view=adapter.desired_view)] == [Op.NOOP] * 3


async def test_a_rotation_stops_the_old_key_and_rotating_back_works(emulator: GraviteeEmulator) -> None:
    """ApiKeyServiceImpl.renew leaves the old key valid two more hours, and a key value this application had on
    that API is refused again (isConflictingKeyForReference): a rotation revokes the old key, and a rotation
    back reactivates the old one (ApiKeyServiceImpl.reactivate) instead of asking for it anew."""
    def active() -> list[str]:
        return sorted(k["key"] for k in emulator.env().api_keys.values() if emulator._key_active(k))

    async with GraviteeAdapter(adapter_config(emulator.url)) as adapter:
        await adapter.sync_api(api_record("pets"), "acme")
        await adapter.sync_api(api_record("orders"), "acme")
        assert (await adapter.provision_application(consumer_record(subs=["pets", "orders"]))).success
        assert (await adapter.provision_application(consumer_record(subs=["pets", "orders"], key="rotated-0000"))).success
        assert active() == ["rotated-0000", "rotated-0000"]
        back = await adapter.provision_application(consumer_record(subs=["pets", "orders"]))
        assert back.success, back.error
        assert active() == ["mobile-key-0123456789", "mobile-key-0123456789"]
        emulator.clear_log()
        assert (await adapter.provision_application(consumer_record(subs=["pets", "orders"]))).success
        assert emulator.writes == []


async def test_a_consumer_made_again_after_its_application_was_archived_gets_a_new_one(emulator: GraviteeEmulator) -> None:
    """ApplicationServiceImpl.findById still finds an ARCHIVED application, whose update is refused
    (application.archived): the adapter treats it as gone."""
    async with GraviteeAdapter(adapter_config(emulator.url)) as adapter:
        await adapter.sync_api(api_record(), "acme")
        old = str((await adapter.provision_application(consumer_record())).resource_id)
        assert (await adapter.deprovision_application(old)).success
        again = await adapter.provision_application({**consumer_record(), "id": old})
        assert again.success, again.error
        assert again.resource_id != old and emulator.env().apps[old]["status"] == "ARCHIVED"
