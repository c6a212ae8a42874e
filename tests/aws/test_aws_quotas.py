"""Account-level control-plane quotas: the adapter through a throttling proxy in front of moto.

The proxy (`tests/aws/throttle.py`) enforces the documented per-operation buckets at a scaled-down
period (`SCALE`); the adapter gets the same `quotaScale`. Paced, an apply converges with no 429
surfacing; unpaced, the proxy's 429s reach the results (the layer bites).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from reconciler.adapters.aws import quotas
from reconciler.adapters.aws.adapter import AwsApiGatewayAdapter
from reconciler.engine.plan import PlanOptions, plan_gateway
from reconciler.executor.apply import apply_gateway
from reconciler.model.changes import Status
from reconciler.model.records import make_record
from reconciler.runner import read_live
from tests.aws.throttle import ThrottleProxy
from tests.aws.throttle import operation_of as proxy_operation_of

SCALE = 0.02  # CreateRestApi 1 per 60 ms, DeleteRestApi 1 per 600 ms, CreateDeployment 1 per 100 ms


@pytest.fixture
def proxy(moto_url: str) -> Iterator[ThrottleProxy]:
    httpx.post(f"{moto_url}/moto-api/reset")
    with ThrottleProxy(moto_url, scale=SCALE) as throttle:
        yield throttle


SLOW = 0.2  # DeleteRestApi 1 per 6 s: two requests of a loaded machine always fall into one bucket period


@pytest.fixture
def slow_proxy(moto_url: str) -> Iterator[ThrottleProxy]:
    httpx.post(f"{moto_url}/moto-api/reset")
    with ThrottleProxy(moto_url, scale=SLOW) as throttle:
        yield throttle


def config(url: str, owner: str = "platform", **options: Any) -> dict[str, Any]:
    opts = {"region": "us-east-1", "stage": "prod", "deploymentIntervalSeconds": 0,
            "requestsPerSecond": 10 / SCALE, "quotaScale": SCALE, "throttleRetrySeconds": 30, **options}
    return {"name": f"aws-{owner}", "gateway_type": "aws_apigateway", "base_url": url, "owner": owner,
            "auth": {"access_key_id": "testing", "secret_access_key": "testing-secret"}, "options": opts}


def apis(prefix: str, n: int) -> list[dict[str, Any]]:
    return [make_record("API", f"{prefix}{i}", {
        "tenant": "acme", "version": "1.0.0", "basePath": f"/{prefix}{i}", "backend": f"https://{prefix}{i}.example.com",
        "methods": ["GET", "POST"], "displayName": None, "description": None, "openapi": None, "openapiHash": None})
        for i in range(n)]


async def apply(adapter: AwsApiGatewayAdapter, desired: list[dict[str, Any]], owner: str = "platform") -> list[Any]:
    live = await read_live(adapter)
    changes = plan_gateway(adapter.name, desired, live, PlanOptions(owner=owner), view=adapter.desired_view)
    report = await apply_gateway(adapter, changes, secrets={})
    return list(report.results)


def test_operation_tables_agree_with_botocore() -> None:
    """The adapter's hand-written routes name the same operations botocore's model does."""
    cases = [("POST", "/restapis", ""), ("POST", "/restapis", "mode=import"), ("PUT", "/restapis/a", ""),
             ("DELETE", "/restapis/a", ""), ("POST", "/restapis/a/deployments", ""),
             ("GET", "/restapis/a/resources", "embed=methods&limit=500"), ("POST", "/restapis/a/resources/b", ""),
             ("DELETE", "/restapis/a/resources/b", ""), ("POST", "/apikeys", ""), ("DELETE", "/apikeys/k", ""),
             ("PATCH", "/usageplans/p", ""), ("PATCH", "/account", ""), ("POST", "/domainnames", ""),
             ("DELETE", "/domainnames/d", ""), ("PATCH", "/domainnames/d", ""),
             ("POST", "/restapis/a/documentation/versions", ""), ("PUT", "/restapis/a/documentation/parts", "")]
    for method, path, query in cases:
        assert quotas.operation_of(method, path, query) == proxy_operation_of(method, path, query), (method, path)
    assert set(quotas.QUOTAS) == {quotas.operation_of(m, p, q) for m, p, q in cases}
    assert quotas.operation_of("PUT", "/restapis/a/resources/b/methods/GET") is None


def test_proxy_answers_aws_throttle_shape(slow_proxy: ThrottleProxy) -> None:
    """Over the bucket: 429, x-amzn-ErrorType TooManyRequestsException, JSON message; not forwarded."""
    proxy = slow_proxy
    with httpx.Client(base_url=proxy.url) as client:
        first = client.delete("/restapis/nope")
        second = client.delete("/restapis/nope")
    assert first.status_code == 404
    assert second.status_code == 429
    assert second.headers["x-amzn-ErrorType"] == "TooManyRequestsException"
    assert second.json() == {"message": "Too Many Requests"}
    assert proxy.throttled == [("DeleteRestApi", "DELETE", "/restapis/nope")]


async def test_paced_apply_converges_without_surfacing_429s(proxy: ThrottleProxy) -> None:
    desired = apis("svc", 4)
    async with AwsApiGatewayAdapter(config(proxy.url)) as adapter:
        results = await apply(adapter, desired)
        assert [r.status for r in results] == [Status.APPLIED] * 4, results
        assert adapter.quota_transport is not None and adapter.quota_transport.waited.get("CreateRestApi", 0) > 0
    async with AwsApiGatewayAdapter(config(proxy.url)) as adapter:  # then delete two: DeleteRestApi 1 per 600 ms
        results = await apply(adapter, desired[:2])
        assert [r.status for r in results if r.status is not Status.SKIPPED] == [Status.APPLIED] * 2, results
        assert sorted(a["name"] for a in await adapter.fetch_apis()) == ["svc0", "svc1"]
    forwarded = [op for op, _, _ in proxy.forwarded]
    assert forwarded.count("CreateRestApi") == 4 and forwarded.count("DeleteRestApi") == 2
    assert forwarded.count("CreateDeployment") == 4


async def test_two_adapters_share_the_account_pacer(moto_url: str) -> None:
    """Two owners, one account, in parallel: the pacer is per account, so their creates interleave paced.

    A coarser scale (CreateRestApi 1 per 300 ms) keeps loopback jitter far below the pacer's margin."""
    httpx.post(f"{moto_url}/moto-api/reset")
    scale = 0.1
    with ThrottleProxy(moto_url, scale=scale) as proxy:
        async with AwsApiGatewayAdapter(config(proxy.url, "team-a", quotaScale=scale)) as a, \
                AwsApiGatewayAdapter(config(proxy.url, "team-b", quotaScale=scale)) as b:
            ra, rb = await asyncio.gather(apply(a, apis("a", 3), "team-a"), apply(b, apis("b", 3), "team-b"))
            assert a.quota_transport is not None and b.quota_transport is not None
            assert a.quota_transport.pacers["CreateRestApi"] is b.quota_transport.pacers["CreateRestApi"]
    assert all(r.status is Status.APPLIED for r in ra + rb), (ra, rb)
    # The 429 count itself is not asserted: on a loaded 2-core machine a paced call can be scheduled late
    # and land early at the proxy. What must hold is above: one pacer per account, every create applied
    # (a throttled call is waited out). test_without_pacing_the_proxy_429s_surface shows the proxy bites.


async def test_a_bucket_spent_elsewhere_is_waited_out(slow_proxy: ThrottleProxy) -> None:
    """Another client spends DeleteRestApi's bucket: the adapter's first try gets 429, it waits and succeeds."""
    proxy, slow = slow_proxy, {"requestsPerSecond": 10 / SLOW, "quotaScale": SLOW}
    async with AwsApiGatewayAdapter(config(proxy.url, **slow)) as adapter:
        assert all(r.status is Status.APPLIED for r in await apply(adapter, apis("gone", 1)))
    await asyncio.sleep(30 * SLOW)  # the bucket is full again
    async with httpx.AsyncClient(base_url=proxy.url) as other:
        assert (await other.delete("/restapis/not-ours")).status_code == 404  # spends the one token
    async with AwsApiGatewayAdapter(config(proxy.url, **slow)) as adapter:
        results = await apply(adapter, [])
        assert [r.status for r in results] == [Status.APPLIED], results
    assert [t[0] for t in proxy.throttled] == ["DeleteRestApi"]


async def test_without_pacing_the_proxy_429s_surface(proxy: ThrottleProxy) -> None:
    """The layer bites: pacing off and one attempt per call, the same apply fails with throttles."""
    async with AwsApiGatewayAdapter(config(proxy.url, accountQuotas=False, throttleRetries=1)) as adapter:
        results = await apply(adapter, apis("raw", 4))
    failed = [r for r in results if r.status is Status.FAILED]
    assert proxy.throttled and failed, results
    assert any("429" in (r.error or "") for r in failed), failed
