"""Two runs of one owner writing one webMethods gateway at once (issue 13): the policy each API's
actions sit in is read back after every write and settled, creates raced by the other run collapse
to one object, and a policy that keeps changing under us fails naming the concurrent writer."""

from __future__ import annotations

import asyncio
from typing import Any

from reconciler.adapters.webmethods import mappers, settle
from reconciler.adapters.webmethods.adapter import WebMethodsAdapter
from reconciler.emulators.webmethods import WebMethodsEmulator
from tests.changes import upsert_change
from tests.faults import FaultProxy, Faults
from tests.webmethods.conftest import make_adapter
from tests.webmethods.helpers import OWNER, full_set


def action(action_id: str, name: str, template: str = "throttle", owner: str = OWNER, api: str = "pets") -> dict[str, Any]:
    return {"id": action_id, "templateKey": template, "names": [{"value": name}],
            "descriptions": [{"value": mappers.mark(None, owner, api)}]}


def stage(key: str, *ids: str) -> dict[str, Any]:
    return {"stageKey": key, "enforcements": [{"enforcementObjectId": i} for i in ids]}


# ------------------------------------------------------------------ the pure rule
def test_the_smallest_id_of_a_name_stays_whoever_looks() -> None:
    actions = [action("b", "pets-rate"), action("a", "pets-rate"), action("c", "pets-cors", "corsPolicy"),
               action("d", "pets-rate", owner="team-b"), action("e", "pets-rate", api="orders"),
               action("f", "pets-cors", "corsPolicy")]
    kept, losers = settle.survivors(reversed(actions), OWNER, "pets")
    assert {k: a["id"] for k, a in kept.items()} == {("throttle", "pets-rate"): "a", ("corsPolicy", "pets-cors"): "c"}
    assert losers == ["b", "f"]  # another owner's or another API's action is no duplicate of ours
    kept, losers = settle.survivors(actions, OWNER, "pets", leaving=frozenset({"a"}))
    assert kept[("throttle", "pets-rate")]["id"] == "b" and losers == ["f"]


def test_settled_stages_enforce_each_survivor_once_in_its_stage() -> None:
    kept = {("throttle", "pets-rate"): action("a", "pets-rate"),
            ("evaluatePolicy", mappers.IAM_NAME): action("i1", mappers.IAM_NAME, "evaluatePolicy")}
    templates = {"a": "throttle", "b": "throttle", "i1": "evaluatePolicy", "i2": "evaluatePolicy", "t": "x"}
    stages = [stage("transport", "t", "a"), stage("IAM", "i2"), stage("LMT", "b")]  # a clobbered, b a duplicate
    assert settle.settled(stages, kept, ["b"], templates) == [
        stage("transport", "t"), stage("IAM", "i1"), stage("LMT", "a")]
    settled = settle.settled(stages, kept, ["b"], templates)
    assert settle.settled(settled, kept, ["b"], templates) == settled  # a settled policy needs no write


# ------------------------------------------------------------------ against the emulator
def throttles(emulator: WebMethodsEmulator, name: str) -> list[str]:
    return [a["id"] for a in emulator.policy_actions.values() if a["names"][0]["value"] == name]


def enforced_ids(emulator: WebMethodsEmulator, api_name: str, stage_key: str) -> list[str]:
    api = next(a for a in emulator.apis.values() if a["apiName"] == api_name)
    policy = emulator.policies[api["policies"][0]]
    return [str(e["enforcementObjectId"]) for s in policy["policyEnforcements"] if s["stageKey"] == stage_key
            for e in s["enforcements"]]


async def test_two_runs_creating_one_policy_at_once_leave_one_enforced_action(emulator: WebMethodsEmulator) -> None:
    records = full_set()
    async with make_adapter(emulator.url) as first:
        assert (await first.sync_api(records[0], "acme")).success
    # every read of the policy held, so both runs read it before either writes: the second PUT
    # overwrites the first (the lost update of issue 13)
    with FaultProxy(emulator.url, Faults(delays=[("GET", r"/rest/apigateway/policies/[^/]+", 0.3)])) as proxy:
        async with make_adapter(proxy.url) as ci, make_adapter(proxy.url) as laptop:
            assert isinstance(ci, WebMethodsAdapter) and isinstance(laptop, WebMethodsAdapter)
            results = await asyncio.gather(*(run.upsert(upsert_change(records[2])) for run in (ci, laptop)))
    assert all(r.success for r in results), [r.error for r in results]
    (kept,) = throttles(emulator, "pets-rate")
    assert kept in {r.resource_id for r in results}
    assert enforced_ids(emulator, "pets", "LMT") == [kept]
    assert enforced_ids(emulator, "pets", "IAM") != []  # what the API had is still there


async def test_two_runs_creating_one_application_at_once_leave_one(emulator: WebMethodsEmulator) -> None:
    records = full_set()
    async with make_adapter(emulator.url) as first:
        assert (await first.sync_api(records[0], "acme")).success
    with FaultProxy(emulator.url, Faults(delays=[("POST", r".*", 0.2)])) as proxy:
        async with make_adapter(proxy.url) as ci, make_adapter(proxy.url) as laptop:
            results = await asyncio.gather(*(run.upsert(upsert_change(records[4])) for run in (ci, laptop)))
    assert all(r.success for r in results), [r.error for r in results]
    (app,) = emulator.applications.values()
    # (a run that saw no copy yet may report the id of one the other run deleted: ids are not kept)
    assert app["id"] in {r.resource_id for r in results}
    assert emulator.app_apis[app["id"]] == [next(a["id"] for a in emulator.apis.values() if a["apiName"] == "pets")]


async def test_a_policy_that_never_settles_fails_naming_the_concurrent_writer(emulator: WebMethodsEmulator) -> None:
    records = full_set()
    async with make_adapter(emulator.url) as first:
        assert (await first.sync_api(records[0], "acme")).success

    emulator.clear_log()

    def other_writer(method: str, path: str) -> None:
        """After each of our policy PUTs, another writer puts back a list without any throttle."""
        if method == "PUT" and "/policies/" in path:
            for policy in emulator.policies.values():
                for s in policy["policyEnforcements"]:
                    s["enforcements"] = [e for e in s["enforcements"] if emulator.policy_actions.get(
                        e["enforcementObjectId"], {}).get("templateKey") != "throttle"]

    with FaultProxy(emulator.url, Faults(forwarded=other_writer)) as proxy:
        async with make_adapter(proxy.url) as run:
            result = await run.upsert(upsert_change(records[2]))
    assert not result.success and result.category == "conflict"
    assert "changed by a concurrent writer" in str(result.error) and "pets" in str(result.error)
    puts = [r for r in emulator.requests if r.method == "PUT" and "/policies/" in r.path]
    assert len(puts) == 1 + 3  # the write, then three settling writes, then it gives up
