"""One read of webMethods at the fewest requests its API allows: one list per collection, the
per-object reads (API details, application API lists) at most `readConcurrency` at a time, and the
policy actions and stages read once for both APIs and policies."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx

from reconciler.adapters.webmethods.adapter import WebMethodsAdapter
from reconciler.emulators.webmethods import WebMethodsEmulator
from reconciler.model.records import make_record
from tests.webmethods.helpers import OWNER, api, apply, plan

N = 12


def workload() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(N):
        out.append(api(f"api{i}"))
        out.append(make_record("Policy", f"api{i}-rate", {"api": f"api{i}", "type": "rate_limit",
                                                           "config": {"requests": 10 + i, "period": "minute"}}))
        out.append(make_record("Consumer", f"app{i}", {"subscriptions": [f"api{i}"], "credential": None}))
    return out


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


def adapter(url: str, transport: httpx.AsyncBaseTransport | None = None, **options: Any) -> WebMethodsAdapter:
    return WebMethodsAdapter({"name": "wm-dev", "gateway_type": "webmethods", "base_url": url, "owner": OWNER,
                              "auth": {"username": "Administrator", "password": "manage"}, "timeout": 10.0,
                              "options": {"consumerKeys": "gateway-generated", **options}, "transport": transport})


async def test_an_in_sync_read_lists_once_and_reads_objects_concurrently(emulator: WebMethodsEmulator) -> None:
    desired = workload()
    async with adapter(emulator.url) as a:
        assert all(ok for *_, ok, _ in await apply(a, desired, prune=False))
    transport = Counting()
    emulator.clear_log()
    async with adapter(emulator.url, transport, readConcurrency=4) as a:
        for kind in ("API", "Consumer", "Policy"):
            await a.fetch(kind)
    paths = Counter(r.path.removeprefix("/rest/apigateway") for r in emulator.requests if r.method == "GET")
    assert paths["/policyActions"] == 1 and paths["/applications"] == 1 and paths["/policies"] == 1
    assert sum(n for p, n in paths.items() if p.startswith("/apis/")) == N
    assert sum(n for p, n in paths.items() if p.startswith("/applications/")) == N
    # the API details and the applications' API lists run side by side, each at most 4 at a time
    assert 4 < transport.peak <= 8


async def test_a_second_read_sees_what_changed_by_hand(emulator: WebMethodsEmulator) -> None:
    desired = workload()[:3]
    async with adapter(emulator.url) as a:
        await apply(a, desired, prune=False)
        assert await plan(a, desired, prune=False) == []
        action = next(x for x in emulator.policy_actions.values() if x.get("templateKey") == "throttle")
        action["parameters"] = []  # the throttle's limits removed by hand
        assert ("update", "Policy", "api0-rate") in await plan(a, desired, prune=False)
