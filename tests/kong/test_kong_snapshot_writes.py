"""Database mode writes from the plan's snapshot: no GET per object, one listing per collection per
read, and a GET only when Kong answers that the gateway changed since the read (404/409)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from reconciler.emulators.kong import KongEmulator
from reconciler.engine.plan import PlanOptions, plan_gateway
from reconciler.executor.apply import apply_gateway
from reconciler.model.changes import Op, Status
from tests.kong.kong_helpers import KEY, OWNER, desired, make_adapter, reconcile


@pytest.fixture
def emulator() -> Iterator[KongEmulator]:
    emu = KongEmulator(mode="postgres")
    emu.start()
    try:
        yield emu
    finally:
        emu.stop()


def gets(emulator: KongEmulator) -> Counter[str]:
    return Counter(r.path for r in emulator.requests if r.method == "GET")


async def test_first_apply_reads_each_collection_once_and_sends_no_get_per_object(emulator: KongEmulator) -> None:
    records = desired(apis=tuple(f"api{i}" for i in range(6)) + ("pets",))
    async with make_adapter(emulator.url) as adapter:
        emulator.clear_log()
        changes, report = await reconcile(adapter, records)
    assert not report.failed and len(changes) == len(records)
    counted = gets(emulator)
    assert set(counted) == {"/", "/services", "/routes", "/plugins", "/consumers", "/key-auths", "/acls"}
    assert all(n == 1 for n in counted.values()), counted  # /plugins and /services shared by the kinds
    async with make_adapter(emulator.url) as adapter:
        again, _ = await reconcile(adapter, records)
    assert again == []


async def test_a_second_read_of_the_same_adapter_lists_afresh(emulator: KongEmulator) -> None:
    """Memoised within one read only: a drift check on a long-lived adapter sees a change made by hand."""
    records = desired(apis=("pets",))
    async with make_adapter(emulator.url) as adapter:
        await reconcile(adapter, records)
        first = [c for c in plan_gateway(adapter.name, records, await adapter.fetch("API") + await adapter.fetch(
            "Policy") + await adapter.fetch("Consumer"), PlanOptions(owner=OWNER), view=adapter.desired_view)
                 if c.op is not Op.NOOP]
        service = next(s for s in emulator.entities("services") if s["name"] == "pets")
        httpx.patch(f"{emulator.url}/services/{service['id']}", json={"port": 8443}).raise_for_status()
        live = await adapter.fetch("API")
    assert first == []
    assert next(r for r in live if r["name"] == "pets")["spec"]["backend"] == "https://pets.example.com:8443/v1"


async def test_a_same_name_service_made_after_the_read_is_found_by_the_409_and_not_touched(
        emulator: KongEmulator) -> None:
    records = desired(apis=("pets", "orders"))
    async with make_adapter(emulator.url) as adapter:
        live = [r for kind in ("API", "Policy", "Consumer") for r in await adapter.fetch(kind)]
        changes = plan_gateway(adapter.name, records, live, PlanOptions(owner=OWNER), view=adapter.desired_view)
        # an operator makes "orders" between the plan and the apply
        httpx.post(f"{emulator.url}/services", json={"name": "orders", "url": "http://ops.internal"}).raise_for_status()
        report = await apply_gateway(adapter, changes, secrets={("Consumer", "mobile"): {"apiKey": KEY}})
    by_name = {(r.kind, r.name): r for r in report.results}
    assert by_name[("API", "pets")].status is Status.APPLIED
    assert by_name[("API", "orders")].status is Status.FAILED and by_name[("API", "orders")].category == "conflict"
    theirs = next(s for s in emulator.entities("services") if s["name"] == "orders")
    assert theirs["host"] == "ops.internal" and not theirs.get("tags")
    assert ("GET", "/services/orders") in {(r.method, r.path) for r in emulator.requests}  # the re-read
    assert ("GET", "/services/pets") not in {(r.method, r.path) for r in emulator.requests}


async def test_an_entity_deleted_after_the_read_is_recreated_after_the_404(emulator: KongEmulator) -> None:
    records = desired(apis=("pets",))
    async with make_adapter(emulator.url) as adapter:
        await reconcile(adapter, records)
    changed = desired(apis=("pets",), rate=7)
    async with make_adapter(emulator.url) as adapter:
        live = [r for kind in ("API", "Policy", "Consumer") for r in await adapter.fetch(kind)]
        changes = plan_gateway(adapter.name, changed, live, PlanOptions(owner=OWNER), view=adapter.desired_view)
        service = next(s for s in emulator.entities("services") if s["name"] == "pets")
        for route in emulator.entities("routes"):
            httpx.delete(f"{emulator.url}/routes/{route['id']}").raise_for_status()
        httpx.delete(f"{emulator.url}/services/{service['id']}").raise_for_status()  # takes its plugins along
        report = await apply_gateway(adapter, changes, secrets={("Consumer", "mobile"): {"apiKey": KEY}})
    failed = [r for r in report.results if not r.ok]
    assert [(r.kind, r.name) for r in failed] == [("Policy", "pets-rate")]  # its API is gone: said, not hidden
    assert "not on this gateway" in (failed[0].error or "")
