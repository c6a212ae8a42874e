"""The workload of issue #17, shared by the per-gateway benchmarks: per i an API, its rate-limit
policy, and a consumer whose own key is subscribed to it (3N canonical records plus their secrets);
the read -> plan (-> apply) they all time, and a client transport that adds a round trip.

Imported after a benchmark has put the checkout it measures (`--code DIR`) first on `sys.path`."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx

from reconciler.adapters.base import GatewayAdapter
from reconciler.engine.plan import PlanOptions, plan_gateway
from reconciler.executor.apply import apply_gateway
from reconciler.model.changes import Op
from reconciler.model.records import make_record, secret_fingerprint

KINDS = ("API", "Consumer", "Policy")


class Delayed(httpx.AsyncBaseTransport):
    """Every request waits `seconds` first, independently of the others (round trips overlap)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(self.seconds)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def read_plan_apply(a: GatewayAdapter, desired: list[dict[str, Any]], owner: str, *, apply: bool,
                          secrets: dict[tuple[str, str], dict[str, str]] | None = None) -> tuple[Counter[str], int]:
    """One connected adapter: fetch every kind, plan, apply when asked and there is something to do.
    Returns (requests by method, pending changes); exits when the apply fails."""
    live = []
    for kind in KINDS:
        live.extend(await a.fetch(kind))
    changes = plan_gateway(a.name, desired, live, PlanOptions(owner=owner), view=a.desired_view)
    pending = [c for c in changes if c.op is not Op.NOOP]
    if apply and pending:
        report = await apply_gateway(a, changes, secrets=secrets or {}, concurrency=10)
        if report.failed:
            raise SystemExit(f"apply failed: {[r for r in report.results if not r.ok][:3]}")
    assert a.http is not None
    return Counter(a.http.counts), len(pending)


def records(n: int, owner: str = "bench") -> tuple[list[dict[str, Any]], dict[tuple[str, str], dict[str, str]]]:
    out: list[dict[str, Any]] = []
    secrets: dict[tuple[str, str], dict[str, str]] = {}
    for i in range(n):
        api = f"api-{i:04d}"
        out.append(make_record("API", api, {
            "tenant": "acme", "version": "1.0.0", "basePath": f"/{api}", "backend": f"https://{api}.example.com/v1",
            "methods": ["GET", "POST"], "openapi": None, "openapiHash": None}, owner=owner))
        out.append(make_record("Policy", f"{api}-rate", {"api": api, "type": "rate_limit",
                                                         "config": {"requests": 100 + i, "period": "minute"}},
                               owner=owner))
        key = f"key-{i:04d}-0123456789"
        out.append(make_record("Consumer", f"app-{i:04d}", {
            "subscriptions": [api], "credential": {"type": "apiKey", "fingerprint": secret_fingerprint(key)}},
            owner=owner))
        secrets[("Consumer", f"app-{i:04d}")] = {"apiKey": key}
    return out, secrets
