"""Base paths are unique on Gravitee: swaps, chains and renames converge in one apply; a half-made API
(killed between `POST /apis` and its labelling PUT) is completed, not duplicated (issue 13)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from reconciler.adapters.gravitee import mappers as m
from reconciler.adapters.gravitee.adapter import GraviteeAdapter
from reconciler.adapters.unique import Step, order_moves, path_clash
from reconciler.emulators.gravitee import GraviteeEmulator
from reconciler.engine.plan import PlanOptions, plan_gateway
from reconciler.model.changes import Change, Op, Status
from reconciler.runner import read_live
from tests.gravitee.conftest import adapter_config, api_record, consumer_record, rate_record

V2 = "/management/v2/organizations/DEFAULT/environments/DEFAULT"


@pytest.fixture
def emulator() -> Iterator[GraviteeEmulator]:
    with GraviteeEmulator() as emu:
        yield emu


async def plan(adapter: GraviteeAdapter, desired: list[dict[str, Any]]) -> list[Change]:
    changes = plan_gateway("gravitee-dev", desired, await read_live(adapter), PlanOptions(owner="platform"),
                           view=adapter.desired_view)
    notes = adapter.batch_notes(changes)
    return [replace(c, notes=c.notes + tuple(notes.get((c.kind, c.name), []))) for c in changes]


async def apply(adapter: GraviteeAdapter, desired: list[dict[str, Any]]) -> list[Change]:
    changes = [c for c in await plan(adapter, desired) if c.op is not Op.NOOP]
    results = await adapter.apply_batch(changes) or []
    assert all(r.status is Status.APPLIED for r in results), results
    return changes


def paths(emulator: GraviteeEmulator) -> dict[str, str]:
    return {m.api_name(a): a["listeners"][0]["paths"][0]["path"] for a in emulator.env().apis.values()}


def test_order_moves_parks_one_member_of_a_cycle_and_orders_a_chain() -> None:
    swap = order_moves({"a": "/a", "b": "/b"}, {"a": "/b", "b": "/a"}, path_clash)
    assert swap == [Step("park", ("a",)), Step("write", ("b",)), Step("write", ("a",))]
    chain = order_moves({"a": "/a", "b": "/b", "c": None}, {"a": "/b", "b": "/c", "c": "/a"}, path_clash)
    assert chain == [Step("write", ("b",)), Step("write", ("a",)), Step("write", ("c",))]
    assert order_moves({"a": "/a", "b": "/b"}, {"a": None, "b": "/x"}, path_clash) == [Step("write", ("a", "b"))]
    assert path_clash("/pets", "/pets/v2/") and not path_clash("/pets", "/petshop")


async def test_a_swap_of_base_paths_converges_in_one_apply_and_the_plan_says_how(emulator: GraviteeEmulator) -> None:
    first = [api_record("report"), api_record("billing"), rate_record(api="report")]
    swapped = [api_record("report", basePath="/billing"), api_record("billing", basePath="/report"),
               rate_record(api="report")]
    async with GraviteeAdapter(adapter_config(emulator.url)) as adapter:
        await apply(adapter, first)
        changes = await apply(adapter, swapped)
        [parked] = [c for c in changes if any("temporary path" in n for n in c.notes)]
        assert parked.name == "billing" and "taken by API(s) report" in " ".join(parked.notes)
        assert paths(emulator) == {"report": "/billing/", "billing": "/report/"}
        assert [c for c in await plan(adapter, swapped) if c.op is not Op.NOOP] == []
        assert all(a["deploymentState"] == "DEPLOYED" for a in emulator.env().apis.values())
        await apply(adapter, first)  # and back
        assert paths(emulator) == {"report": "/report/", "billing": "/billing/"}


async def test_a_rename_keeping_the_path_converges_in_one_apply(emulator: GraviteeEmulator) -> None:
    async with GraviteeAdapter(adapter_config(emulator.url)) as adapter:
        await apply(adapter, [api_record("pets"), rate_record()])
        renamed = [api_record("pets-v2", basePath="/pets"), rate_record(api="pets-v2")]
        ops = {(c.kind, c.name, c.op) for c in await apply(adapter, renamed)}
        assert ("API", "pets", Op.DELETE) in ops and ("API", "pets-v2", Op.CREATE) in ops
        assert paths(emulator) == {"pets-v2": "/pets/"}
        assert [c for c in await plan(adapter, renamed) if c.op is not Op.NOOP] == []


async def test_an_api_created_without_its_labels_is_read_as_ours_and_completed(emulator: GraviteeEmulator) -> None:
    """What a kill right after `POST /apis` leaves: the create's marker flow, no labels, no plans."""
    body = m.api_create_body(api_record())
    body["flows"] = [*body["flows"], m.create_marker_flow("pets", "platform")]
    with httpx.Client(base_url=emulator.url, auth=("admin", "admin")) as client:
        assert client.post(f"{V2}/apis", json=body).status_code == 201
        client.post(f"{V2}/apis", json={**body, "name": "x", "flows": [], "listeners": [
            {**body["listeners"][0], "paths": [{"path": "/other"}]}]}).raise_for_status()
    async with GraviteeAdapter(adapter_config(emulator.url, owner="team-b")) as theirs:
        live = {r["name"]: r for r in await read_live(theirs) if r["kind"] == "API"}
        assert live["pets"]["owner"] == "platform"  # another owner sees it as platform's, not as its own
    async with GraviteeAdapter(adapter_config(emulator.url)) as adapter:
        changes = await apply(adapter, [api_record(), rate_record()])
        assert {(c.name, c.op) for c in changes if c.kind == "API"} == {("pets", Op.UPDATE)}
        [api] = [a for a in emulator.env().apis.values() if m.api_name(a) == "pets"]
        assert m.MANAGED_LABEL in api["labels"] and not m.is_half_made(api)
        assert not any(str(f.get("name")).startswith(m.CREATE_FLOW_PREFIX) for f in api["flows"])
        assert len(emulator.env().apis) == 2 and [c for c in await plan(adapter, [api_record(), rate_record()])
                                                  if c.op is not Op.NOOP] == []


async def test_a_consumer_renamed_with_its_key_keeps_its_application() -> None:
    """Gravitee never takes a key value another application held, even a deleted one (ApiKeyServiceImpl.
    isConflictingKeyForReference): a rename that kept the key as delete + create would fail for ever."""
    with GraviteeEmulator(allow_custom_api_key=True) as emulator:
        async with GraviteeAdapter(adapter_config(emulator.url)) as adapter:
            key = {"apiKey": "mobile-key-0123456789"}
            for name in ("mobile", "mobile-2", "mobile"):
                desired = [api_record(), consumer_record(name)]
                changes = [replace(c, secrets=key if c.kind == "Consumer" and c.op is not Op.DELETE else {})
                           for c in await plan(adapter, desired) if c.op is not Op.NOOP]
                results = await adapter.apply_batch(changes) or []
                assert all(r.status is Status.APPLIED for r in results), results
                assert [c for c in await plan(adapter, desired) if c.op is not Op.NOOP] == []
                apps = [a for a in emulator.env().apps.values() if a.get("status") != "ARCHIVED"]
                assert [m.app_marker(a["description"])["name"] for a in apps] == [name]  # type: ignore[index]


async def test_a_second_open_plan_of_one_name_is_drift_and_is_closed(emulator: GraviteeEmulator) -> None:
    """Two runs creating one API's plans at once leave a second `stoa-keyless` (STAGING: Gravitee refuses to
    publish a second key-less plan): the plan shows it, the next apply closes it."""
    async with GraviteeAdapter(adapter_config(emulator.url)) as adapter:
        await apply(adapter, [api_record()])
        [api_id] = emulator.env().apis
        with httpx.Client(base_url=emulator.url, auth=("admin", "admin")) as client:
            client.post(f"{V2}/apis/{api_id}/plans", json=m.plan_create_body(m.KEYLESS_PLAN, {})).raise_for_status()
        [change] = [c for c in await plan(adapter, [api_record()]) if c.op is not Op.NOOP]
        assert change.op is Op.UPDATE and any("duplicate" in str(d.after) + str(d.before) for d in change.diffs)
        await apply(adapter, [api_record()])
        open_plans = [p["name"] for p in emulator.env().plans.values() if p["status"] != "CLOSED"]
        assert sorted(open_plans) == [m.API_KEY_PLAN, m.KEYLESS_PLAN]
        assert [c for c in await plan(adapter, [api_record()]) if c.op is not Op.NOOP] == []
