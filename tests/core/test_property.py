"""Property: for random desired and live states, applying the plan converges and touches nothing unowned."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.engine.plan import PlanOptions, plan_gateway
from reconciler.executor.apply import apply_gateway
from reconciler.model.records import make_record
from tests.core.memory_adapter import MemoryAdapter

OWNER = "platform"
names = st.sampled_from(["a", "b", "c", "d", "e"])
kinds = st.sampled_from(["API", "Policy", "Consumer"])
specs = st.fixed_dictionaries({"x": st.integers(0, 3), "y": st.sampled_from(["p", "q"])},
                              optional={"z": st.lists(st.integers(0, 2), max_size=2)})


@st.composite
def states(draw: Any) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    desired = {(k, n): make_record(k, n, s, owner=OWNER)
               for k, n, s in draw(st.lists(st.tuples(kinds, names, specs), max_size=8))}
    live: dict[str, dict[str, Any]] = {}
    for i, (k, n, s, owner, extra) in enumerate(draw(st.lists(
            st.tuples(kinds, names, specs, st.sampled_from([OWNER, None, "team-b"]), st.booleans()), max_size=8))):
        spec = {**s, "serverDefault": True} if extra else s
        live[f"live-{i}"] = make_record(k, n, spec, owner=owner, id=f"live-{i}")
    return list(desired.values()), live


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(states(), st.booleans())
def test_apply_converges_and_spares_unowned(state: Any, adopt: bool) -> None:
    desired, live = state
    unowned_before = {i: copy.deepcopy(o) for i, o in live.items() if o["owner"] != OWNER}
    gateway = MemoryAdapter({"name": "mem", "owner": OWNER}, objects=live)
    options = PlanOptions(owner=OWNER, adopt=adopt)

    changes = plan_gateway("mem", desired, asyncio.run(_read(gateway)), options)
    report = asyncio.run(apply_gateway(gateway, changes))
    conflicts = {(c.kind, c.name) for c in changes if c.op.value == "conflict"}

    # 1. every desired object that was not in conflict is on the gateway with its spec
    mine = {(o["kind"], o["name"]): o for o in gateway.objects.values() if o["owner"] == OWNER}
    for record in desired:
        key = (record["kind"], record["name"])
        if key in conflicts:
            assert key not in mine
            continue
        assert {k: mine[key]["spec"].get(k) for k in record["spec"]} == record["spec"]
    # 2. nothing owned is left that is not desired
    assert set(mine) <= {(r["kind"], r["name"]) for r in desired}
    # 3. unowned objects are untouched, except unowned-by-anyone objects adopted on request
    for obj_id, before in unowned_before.items():
        adopted = adopt and before["owner"] is None and (before["kind"], before["name"]) in {
            (r["kind"], r["name"]) for r in desired}
        if not adopted:
            assert gateway.objects.get(obj_id) == before
    # 4. the next plan is empty (conflicts aside) and the report covers every change
    again = plan_gateway("mem", desired, asyncio.run(_read(gateway)), options)
    assert [c for c in again if c.op.value not in ("no-op", "conflict")] == []
    assert len(report.results) == sum(1 for c in changes if c.op.value != "no-op")


async def _read(adapter: MemoryAdapter) -> list[dict[str, Any]]:
    return [r for kind in ("API", "Policy", "Consumer") for r in await adapter.fetch(kind)]
