"""One read of Apigee at the fewest requests its management API allows: one listing per collection
(proxies with their labels and revisions, deployments, products, developers), a bundle downloaded only
for a deployed revision this process has not read or deployed, and those downloads at most
`readConcurrency` at a time."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from reconciler.adapters.apigee.adapter import ApigeeAdapter
from reconciler.adapters.apigee.bundle import build_bundle
from reconciler.emulators.apigee import ApigeeEmulator
from reconciler.engine.plan import PlanOptions, plan_gateway
from reconciler.model.changes import Op
from reconciler.model.records import make_record, secret_fingerprint
from reconciler.runner import read_live
from tests.changes import reconcile

TOKEN = "ya29.test-token"
ORG = "/v1/organizations/acme-org"
N = 8


@pytest.fixture
def emu() -> Iterator[ApigeeEmulator]:
    ApigeeAdapter.forget_bundles()
    with ApigeeEmulator(token=TOKEN) as emulator:
        yield emulator  # type: ignore[misc]
    ApigeeAdapter.forget_bundles()


class Counting(httpx.AsyncBaseTransport):
    """Counts requests in flight (each waits a little, as over a network)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.in_flight = 0
        self.peak = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(0.01)
            return await self.inner.handle_async_request(request)
        finally:
            self.in_flight -= 1

    async def aclose(self) -> None:
        await self.inner.aclose()


def adapter(url: str, transport: httpx.AsyncBaseTransport | None = None, **options: Any) -> ApigeeAdapter:
    return ApigeeAdapter({"name": "apigee-dev", "gateway_type": "apigee", "base_url": url, "owner": "platform",
                          "auth": {"token": TOKEN}, "transport": transport,
                          "options": {"organization": "acme-org", "environment": "test", **options}})


def spec(i: int, backend: str | None = None) -> dict[str, Any]:
    return {"tenant": "acme", "version": "1.0.0", "basePath": f"/api{i}",
            "backend": backend or f"https://api{i}.example.com/v1", "methods": ["GET"], "openapi": None,
            "openapiHash": None}


def workload(n: int = N) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(n):
        out.append(make_record("API", f"api{i}", spec(i)))
        out.append(make_record("Policy", f"api{i}-rate", {"api": f"api{i}", "type": "rate_limit",
                                                           "config": {"requests": 10 + i, "period": "minute"}}))
        key = f"key-{i:02d}-0123456789"
        consumer = make_record("Consumer", f"app{i}", {"subscriptions": [f"api{i}"], "credential": {
            "type": "apiKey", "fingerprint": secret_fingerprint(key)}})
        consumer["secret"] = {"apiKey": key}
        out.append(consumer)
    return out


def gets(emu: ApigeeEmulator) -> Counter[str]:
    return Counter(r.path.removeprefix(ORG) for r in emu.requests if r.method == "GET")


def downloads(paths: Counter[str]) -> int:
    return sum(n for p, n in paths.items() if "/revisions/" in p)


async def pending(a: ApigeeAdapter, desired: list[dict[str, Any]]) -> list[tuple[str, str]]:
    records = [{k: v for k, v in r.items() if k != "secret"} for r in desired]
    changes = plan_gateway(a.name, records, await read_live(a), PlanOptions(owner="platform"), view=a.desired_view)
    return [(c.kind, c.name) for c in changes if c.op is not Op.NOOP]


async def test_an_in_sync_read_lists_each_collection_once(emu: ApigeeEmulator) -> None:
    desired = workload()
    async with adapter(emu.url) as a:
        await reconcile(a, desired)
    ApigeeAdapter.forget_bundles()  # as the first plan of a new process
    emu.clear_log()
    transport = Counting()
    async with adapter(emu.url, transport, readConcurrency=3) as a:
        assert await pending(a, desired) == []
    paths = gets(emu)
    listings = {p: n for p, n in paths.items() if "/revisions/" not in p}
    # no GET per proxy: the listing carries labels and revisions; products listed once for three kinds
    assert listings == {"/apis": 1, "/environments/test/deployments": 1, "/apiproducts": 1, "/developers": 1,
                        "/developers/platform@stoa-reconciler.invalid/apps": 1}
    # each deployed bundle once, though APIs and policies (CORS) both read it, at most 3 at a time
    assert downloads(paths) == N and all(n == 1 for p, n in paths.items() if "/revisions/" in p)
    assert 1 < transport.peak <= 3
    assert len(emu.requests) == 5 + N


async def test_no_bundle_download_while_the_deployed_revision_is_known(emu: ApigeeEmulator) -> None:
    desired = workload(3)
    async with adapter(emu.url) as a:
        await reconcile(a, desired)
    emu.clear_log()
    async with adapter(emu.url) as a:  # after the apply: the revisions it deployed are known
        assert await pending(a, desired) == []
    assert downloads(gets(emu)) == 0

    # another revision deployed by hand: only its bundle is downloaded, and it reads as drift
    async with httpx.AsyncClient(base_url=emu.url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        data = build_bundle("api1", spec(1, backend="https://elsewhere.example.com"), owner="platform")
        imported = await http.post(f"{ORG}/apis", params={"name": "api1", "action": "import"},
                                   files={"file": ("api1.zip", data, "application/octet-stream")})
        rev = imported.json()["revision"]
        deployed = await http.post(f"{ORG}/environments/test/apis/api1/revisions/{rev}/deployments",
                                   params={"override": "true"})
        assert deployed.status_code == 200, deployed.text
    emu.clear_log()
    async with adapter(emu.url) as a:
        assert await pending(a, desired) == [("API", "api1")]
    assert {p for p in gets(emu) if "/revisions/" in p} == {f"/apis/api1/revisions/{rev}"}
    emu.clear_log()
    async with adapter(emu.url) as a:
        assert await pending(a, desired) == [("API", "api1")]
    assert downloads(gets(emu)) == 0


async def test_a_write_or_a_new_session_lists_again(emu: ApigeeEmulator) -> None:
    desired = workload(2)
    async with adapter(emu.url) as a:
        await reconcile(a, desired)
        emu.clear_log()
        await a.fetch("API")
        await a.fetch("Consumer")
        assert gets(emu)["/apiproducts"] == 1
        # a quota changed by this adapter: the policies' read sees it, from a new listing
        policy = make_record("Policy", "api0-rate", {"api": "api0", "type": "rate_limit",
                                                     "config": {"requests": 99, "period": "minute"}})
        assert (await a.upsert_policy(policy)).success
        quotas = {p["name"]: p["spec"]["config"]["requests"] for p in await a.fetch("Policy")}
        assert quotas["api0-rate"] == 99 and gets(emu)["/apiproducts"] == 2
        # the same kind read again is the next read: listed afresh
        await a.fetch("Policy")
        assert gets(emu)["/apiproducts"] == 3
        emu.clear_log()
        await a.connect()  # a new session forgets the listings (the one the last read made, too)
        await a.fetch("API")
        assert gets(emu)["/apiproducts"] == 1 and gets(emu)["/apis"] == 1


async def test_a_product_changed_by_hand_between_two_reads_is_seen(emu: ApigeeEmulator) -> None:
    desired = workload(2)
    async with adapter(emu.url) as a:
        await reconcile(a, desired)
        assert await pending(a, desired) == []
        emu.orgs["acme-org"].products["api1"]["quota"] = "5"  # by hand, between two plans of one session
        assert await pending(a, desired) == [("Policy", "api1-rate")]
