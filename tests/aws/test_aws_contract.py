"""Contract: every request the AWS adapter sends matches an operation of botocore's API Gateway model.

A full life cycle runs against moto; each request must match an operation's `requestUri` template and
HTTP method, send only query parameters and JSON body members the operation declares, and (for patch
operations) only `patchOperations`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import botocore.session
import httpx
import pytest

from reconciler.adapters.aws.adapter import AwsApiGatewayAdapter
from reconciler.adapters.http import GatewayHttp
from reconciler.model.records import make_record, secret_fingerprint
from tests.aws.conftest import start_moto
from tests.changes import delete_change

pytestmark = pytest.mark.contract


@pytest.fixture(scope="module")
def operations() -> list[tuple[re.Pattern[str], Any]]:
    model = botocore.session.get_session().get_service_model("apigateway")
    ops = []
    for name in model.operation_names:
        op = model.operation_model(name)
        uri = op.http["requestUri"].split("?")[0]
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", uri) + "$"
        ops.append((re.compile(pattern), op))
    return ops


def check(method: str, path: str, params: Any, body: Any, operations: list[tuple[re.Pattern[str], Any]]) -> list[str]:
    candidates = [op for rx, op in operations if rx.match(path) and op.http["method"] == method]
    if not candidates:
        return [f"{method} {path}: no operation"]
    query = {k for k, _ in (params.items() if isinstance(params, dict) else params or [])}
    problems: list[str] = []
    for op in candidates:
        members = op.input_shape.members if op.input_shape else {}
        qs = {m.serialization.get("name", k) for k, m in members.items() if m.serialization.get("location") == "querystring"}
        payload = {m.serialization.get("name", k) for k, m in members.items() if not m.serialization.get("location")}
        issues = [f"{op.name}: query {q!r} not declared" for q in query if q not in qs]
        issues += [f"{op.name}: body member {k!r} not declared" for k in (body or {}) if k not in payload]
        if not issues:
            return []
        problems = issues
    return problems


@pytest.fixture
def moto() -> Iterator[str]:
    yield from start_moto()


async def test_every_adapter_request_matches_the_botocore_model(
        moto: str, operations: list[tuple[re.Pattern[str], Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple[str, str, Any, Any]] = []
    original = GatewayHttp.request

    async def spy(self: GatewayHttp, method: str, path: str, **kwargs: Any) -> httpx.Response:
        sent.append((method.upper(), path, kwargs.get("params"), kwargs.get("json")))
        return await original(self, method, path, **kwargs)
    monkeypatch.setattr(GatewayHttp, "request", spy)
    config = {"name": "aws", "base_url": moto, "owner": "platform",
              "auth": {"access_key_id": "a", "secret_access_key": "b"},
              "options": {"deploymentIntervalSeconds": 0, "requestsPerSecond": 1000, "quotaScale": 0.001}}
    spec = {"tenant": "acme", "version": "1", "basePath": "/pets", "backend": "https://p.example.com",
            "methods": ["GET", "POST"], "displayName": "Pets", "openapiHash": "sha256:abc"}
    key = "k" * 24
    async with AwsApiGatewayAdapter(config) as a:
        assert (await a.health_check()).success
        assert (await a.sync_api(make_record("API", "pets", spec), "acme")).success
        (live,) = await a.fetch_apis()
        moved = make_record("API", "pets", {**spec, "basePath": "/animals", "methods": ["GET"]}, id=live["id"])
        assert (await a.sync_api(moved, "acme")).success
        rate = make_record("Policy", "r", {"api": "pets", "type": "rate_limit", "config": {"requests": 9, "period": "day"}})
        cors = make_record("Policy", "c", {"api": "pets", "type": "cors", "config": {
            "origins": ["https://x.example.com"], "methods": ["GET"], "headers": [], "exposeHeaders": [],
            "credentials": False, "maxAge": 5}})
        assert (await a.upsert_policy(rate)).success and (await a.upsert_policy(cors)).success
        consumer = make_record("Consumer", "c", {"subscriptions": ["pets"], "displayName": "C",
                                                 "credential": {"type": "apiKey", "fingerprint": secret_fingerprint(key)}})
        assert (await a.provision_application({**consumer, "secret": {"apiKey": key}})).success
        for kind in ("API", "Policy", "Consumer"):
            for record in await a.fetch(kind):
                assert (await a.remove(delete_change(record))).success
    assert len(sent) > 30
    problems = [p for method, path, params, body in sent for p in check(method, path, params, body, operations)]
    assert problems == []
    assert {m for m, *_ in sent} >= {"GET", "POST", "PUT", "PATCH", "DELETE"}


def test_the_checker_rejects_what_the_model_lacks(operations: list[tuple[re.Pattern[str], Any]]) -> None:
    assert check("GET", "/restapis", {"pageSize": 1}, None, operations)
    assert check("POST", "/restapis", None, {"name": "x", "owner": "me"}, operations)
    assert check("GET", "/nothing-here", None, None, operations)
    assert check("PUT", "/restapis/a/resources/b/methods/GET", None, {"authorizationType": "NONE"}, operations) == []
