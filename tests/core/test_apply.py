"""Executor: per-item results, dependants of a failed API not attempted, conflicts never sent."""

from __future__ import annotations

from reconciler.engine.plan import PlanOptions, plan_gateway
from reconciler.executor.apply import apply_gateway
from reconciler.model.changes import Status
from reconciler.model.records import make_record
from tests.core.memory_adapter import MemoryAdapter


async def test_failed_api_skips_its_dependants_but_not_the_others() -> None:
    gw = MemoryAdapter({"name": "mem", "owner": "o"}, fail_names={"bad"})
    desired = [make_record("API", "bad", {}, owner="o"), make_record("API", "good", {}, owner="o"),
               make_record("Policy", "p-bad", {"api": "bad"}, owner="o"),
               make_record("Policy", "p-good", {"api": "good"}, owner="o"),
               make_record("Consumer", "c", {"subscriptions": ["bad", "good"]}, owner="o")]
    report = await apply_gateway(gw, plan_gateway("mem", desired, [], PlanOptions(owner="o")))
    status = {r.name: r.status for r in report.results}
    assert status == {"bad": Status.FAILED, "good": Status.APPLIED, "p-bad": Status.NOT_ATTEMPTED,
                      "p-good": Status.APPLIED, "c": Status.NOT_ATTEMPTED}
    assert report.failed
    assert ("upsert", "p-bad") not in gw.calls


async def test_conflicts_are_reported_and_not_sent() -> None:
    gw = MemoryAdapter({"name": "mem", "owner": "o"}, objects={"x": make_record("API", "a", {}, owner=None, id="x")})
    changes = plan_gateway("mem", [make_record("API", "a", {"v": 1}, owner="o")], await gw.fetch("API"),
                           PlanOptions(owner="o"))
    report = await apply_gateway(gw, changes)
    assert [(r.status, r.category) for r in report.results] == [(Status.FAILED, "conflict")]
    assert gw.calls == [] and gw.objects["x"]["spec"] == {}


async def test_secrets_reach_the_adapter_only_at_apply() -> None:
    seen: list[dict[str, str]] = []

    class Spy(MemoryAdapter):
        async def provision_application(self, app_spec, auth_token=None):  # type: ignore[no-untyped-def]
            seen.append(app_spec.get("secret", {}))
            return await super().provision_application(app_spec)

    gw = Spy({"name": "mem", "owner": "o"})
    changes = plan_gateway("mem", [make_record("Consumer", "c", {}, owner="o")], [], PlanOptions(owner="o"))
    assert all("secret" not in (c.desired or {}) for c in changes)
    await apply_gateway(gw, changes, secrets={("Consumer", "c"): {"apiKey": "k-123"}})
    assert seen == [{"apiKey": "k-123"}]
