"""Two owners applying to one Kong DB-less gateway at once: `POST /config` replaces everything, so
without concurrency control the last writer erases the other team's services. Both must survive."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from reconciler.adapters.kong.adapter import KongAdapter
from reconciler.emulators.kong import KongEmulator
from reconciler.engine.plan import PlanOptions, plan_gateway
from reconciler.executor.apply import apply_gateway
from reconciler.model.records import make_record
from reconciler.runner import read_live
from tests.faults import FaultProxy, Faults

TOKEN = "race-admin-token"


def apis(prefix: str) -> list[dict[str, Any]]:
    return [make_record("API", f"{prefix}-{i}", {"tenant": prefix, "version": "1", "basePath": f"/{prefix}-{i}",
                                                  "backend": f"https://{prefix}.example.com/{i}", "methods": ["GET"]})
            for i in range(3)]


def adapter_of(owner: str, url: str) -> KongAdapter:
    return KongAdapter({"name": "kong", "gateway_type": "kong", "base_url": url, "owner": owner,
                        "auth": {"token": TOKEN}, "timeout": 10.0})


async def apply_as(owner: str, url: str, desired: list[dict[str, Any]]) -> bool:
    async with adapter_of(owner, url) as adapter:
        live = await read_live(adapter)
        changes = plan_gateway("kong", desired, live, PlanOptions(owner=owner), view=adapter.desired_view)
        report = await apply_gateway(adapter, changes)
        return not report.failed


@pytest.mark.parametrize("trial", range(10))
async def test_two_owners_racing_both_survive(trial: int) -> None:
    with KongEmulator(mode="dbless", admin_token=TOKEN) as kong:
        # The POST is slow, so both writers read the same configuration before either lands.
        faults = Faults(seed=trial, delays=[("POST", "/config", 0.15 + 0.02 * trial), ("GET", "/config", 0.05)])
        with FaultProxy(kong.url, faults) as proxy:
            ok = await asyncio.gather(apply_as("team-a", proxy.url, apis("a")),
                                      apply_as("team-b", proxy.url, apis("b")))
        assert ok == [True, True]
        async with adapter_of("team-a", kong.url) as reader:
            owners = sorted((r["owner"], r["name"]) for r in await reader.fetch("API"))
    assert owners == [(f"team-{p}", f"{p}-{i}") for p in "ab" for i in range(3)]
