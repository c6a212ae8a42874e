"""End-to-end: the AWS adapter against moto in server mode, over HTTP (no in-process mocking)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from reconciler.adapters.aws.adapter import AwsApiGatewayAdapter
from reconciler.model.records import make_record, secret_fingerprint
from tests.changes import delete_change, reconcile, upsert_change

KEY = "mobile-app-key-0123456789abcdef"


@pytest.fixture
def moto(moto_url: str) -> Iterator[str]:
    import httpx
    httpx.post(f"{moto_url}/moto-api/reset")
    yield moto_url


def boto(url: str) -> Any:
    return boto3.client("apigateway", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def config(url: str, owner: str = "platform") -> dict[str, Any]:
    return {"name": "aws-dev", "gateway_type": "aws_apigateway", "base_url": url, "owner": owner,
            "auth": {"access_key_id": "testing", "secret_access_key": "testing-secret"},
            "options": {"region": "us-east-1", "stage": "prod", "deploymentIntervalSeconds": 0,
                        "requestsPerSecond": 1000, "quotaScale": 0.001}}


def api(name: str = "pets", **over: Any) -> dict[str, Any]:
    spec = {"tenant": "acme", "version": "1.0.0", "basePath": f"/{name}", "backend": f"https://{name}.example.com/v1",
            "methods": ["GET", "POST"], "displayName": None, "description": None, "openapi": None, "openapiHash": None}
    spec.update(over)
    return make_record("API", name, spec)


def policy(requests: int = 100, period: str = "minute", api_name: str = "pets") -> dict[str, Any]:
    return make_record("Policy", f"{api_name}-rate", {"api": api_name, "type": "rate_limit",
                                                       "config": {"requests": requests, "period": period}})


def consumer(subs: list[str], key: str = KEY) -> dict[str, Any]:
    rec = make_record("Consumer", "mobile-app", {"displayName": "Mobile app", "email": None, "subscriptions": subs,
                                                 "credential": {"type": "apiKey", "fingerprint": secret_fingerprint(key)}})
    rec["secret"] = {"apiKey": key}
    return rec


def same(desired: dict[str, Any], live: dict[str, Any], kind: str) -> bool:
    view = AwsApiGatewayAdapter.desired_view(kind, desired["spec"])
    return all(live["spec"].get(k) == v for k, v in view.items())


async def apply_all(adapter: AwsApiGatewayAdapter, records: list[dict[str, Any]]) -> None:
    for record in records:
        live = {(r["kind"], r["name"]): r for kind in ("API", "Policy", "Consumer") for r in await adapter.fetch(kind)}
        current = live.get((record["kind"], record["name"]))
        if current is not None and same(record, current, record["kind"]):
            continue
        result = await adapter.upsert(upsert_change(record, current))
        assert result.success, result.error


async def test_apply_then_read_back_exactly(moto: str) -> None:
    desired = [api(), policy(), consumer(["pets"])]
    async with AwsApiGatewayAdapter(config(moto)) as adapter:
        await apply_all(adapter, desired)
        assert adapter.deployments == 1
        apis = await adapter.fetch_apis()
        assert len(apis) == 1 and apis[0]["owner"] == "platform" and same(desired[0], apis[0], "API")
        (pol,) = await adapter.fetch_policies()
        assert pol["owner"] == "platform" and pol["spec"] == desired[1]["spec"]
        (con,) = await adapter.fetch_applications()
        assert con["owner"] == "platform" and same(desired[2], con, "Consumer")
    client = boto(moto)
    (rest,) = client.get_rest_apis()["items"]
    assert rest["tags"]["stoa-owner"] == "platform" and rest["tags"]["managed-by"] == "stoa-reconciler"
    paths = {r["path"] for r in client.get_resources(restApiId=rest["id"])["items"]}
    assert {"/pets", "/pets/{proxy+}"} <= paths
    assert client.get_stage(restApiId=rest["id"], stageName="prod")["deploymentId"]
    (plan,) = client.get_usage_plans()["items"]
    assert plan["throttle"] == {"rateLimit": 2.0, "burstLimit": 100} or plan["throttle"]["rateLimit"] == 2
    (key,) = client.get_api_keys(includeValues=True)["items"]
    assert key["value"] == KEY and key["tags"]["stoa-fingerprint"] == secret_fingerprint(KEY)


async def test_second_apply_sends_zero_writes(moto: str) -> None:
    desired = [api(), policy(), consumer(["pets"])]
    async with AwsApiGatewayAdapter(config(moto)) as adapter:
        await apply_all(adapter, desired)
    async with AwsApiGatewayAdapter(config(moto)) as adapter:
        await apply_all(adapter, desired)
        assert adapter.write_count == 0
        assert adapter.deployments == 0


async def test_update_backend_deploys_exactly_once(moto: str) -> None:
    async with AwsApiGatewayAdapter(config(moto)) as adapter:
        await apply_all(adapter, [api()])
    changed = api(backend="https://new.example.com", methods=["GET", "DELETE"], basePath="/animals")
    async with AwsApiGatewayAdapter(config(moto)) as adapter:
        await apply_all(adapter, [changed])
        assert adapter.deployments == 1
        (live,) = await adapter.fetch_apis()
        assert same(changed, live, "API"), live


async def test_out_of_band_change_is_drift(moto: str) -> None:
    async with AwsApiGatewayAdapter(config(moto)) as adapter:
        await apply_all(adapter, [api(), policy()])
    client = boto(moto)
    (rest,) = client.get_rest_apis()["items"]
    res = next(r for r in client.get_resources(restApiId=rest["id"])["items"] if r["path"] == "/pets")
    client.put_integration(restApiId=rest["id"], resourceId=res["id"], httpMethod="GET", type="HTTP_PROXY",
                           integrationHttpMethod="GET", uri="https://evil.example.com")
    (plan,) = client.get_usage_plans()["items"]
    client.update_usage_plan(usagePlanId=plan["id"], patchOperations=[
        {"op": "replace", "path": "/throttle/rateLimit", "value": "50"}])
    async with AwsApiGatewayAdapter(config(moto)) as adapter:
        (live,) = await adapter.fetch_apis()
        assert live["spec"]["backend"] == "https://evil.example.com"
        (pol,) = await adapter.fetch_policies()
        assert pol["spec"]["config"] == {"requests": 3000, "period": "minute"}
        await apply_all(adapter, [api(), policy()])
        (live,) = await adapter.fetch_apis()
        (pol,) = await adapter.fetch_policies()
        assert live["spec"]["backend"] == "https://pets.example.com/v1" and pol["spec"]["config"]["requests"] == 100


async def test_prune_deletes_owned_objects_only(moto: str) -> None:
    client = boto(moto)
    foreign = client.create_rest_api(name="legacy", tags={"team": "other"})
    foreign_key = client.create_api_key(name="legacy-key", enabled=True, value="z" * 24)
    others = config(moto, owner="someone-else")
    async with AwsApiGatewayAdapter(others) as adapter:
        await apply_all(adapter, [api("orders")])
    async with AwsApiGatewayAdapter(config(moto)) as adapter:
        await apply_all(adapter, [api(), policy(), consumer(["pets"])])
        owned = [r for kind in ("Consumer", "Policy", "API") for r in await adapter.fetch(kind)
                 if r["owner"] == "platform"]
        assert {(r["kind"], r["name"]) for r in owned} == {("API", "pets"), ("Policy", "pets-rate"),
                                                            ("Consumer", "mobile-app")}
        for record in owned:
            result = await adapter.remove(delete_change(record))
            assert result.success, result.error
        # the adapter also refuses to touch what it does not own
        assert not (await adapter.delete_api(foreign["id"])).success
        assert not (await adapter.deprovision_application(foreign_key["id"])).success
        remaining = {(r["name"], r["owner"]) for r in await adapter.fetch_apis()}
    assert remaining == {("legacy", None), ("orders", "someone-else")}
    assert [k["name"] for k in client.get_api_keys()["items"]] == ["legacy-key"]
    assert [p["name"] for p in client.get_usage_plans()["items"]] == ["orders"]


async def test_subscription_change_and_key_rotation(moto: str) -> None:
    async with AwsApiGatewayAdapter(config(moto)) as adapter:
        await apply_all(adapter, [api(), api("orders"), consumer(["pets"])])
        await apply_all(adapter, [consumer(["orders"])])
        (con,) = await adapter.fetch_applications()
        assert con["spec"]["subscriptions"] == ["orders"]
        new_key = "rotated-key-abcdefghijklmnop"
        await apply_all(adapter, [consumer(["orders", "pets"], key=new_key)])
        (con,) = await adapter.fetch_applications()
        assert con["spec"]["credential"]["fingerprint"] == secret_fingerprint(new_key)
        assert con["spec"]["subscriptions"] == ["orders", "pets"]
    keys = boto(moto).get_api_keys(includeValues=True)["items"]
    assert [k["value"] for k in keys] == [new_key]


async def test_conflict_with_unowned_rest_api_of_same_name(moto: str) -> None:
    boto(moto).create_rest_api(name="pets")
    async with AwsApiGatewayAdapter(config(moto)) as adapter:
        result = await adapter.sync_api(api(), "acme")
        assert not result.success and result.category == "conflict"
        (live,) = await adapter.fetch_apis()
        assert live["owner"] is None


async def test_daily_rate_limit_uses_a_quota(moto: str) -> None:
    async with AwsApiGatewayAdapter(config(moto)) as adapter:
        await apply_all(adapter, [api(), policy(5000, "day")])
        (pol,) = await adapter.fetch_policies()
        assert pol["spec"]["config"] == {"requests": 5000, "period": "day"}
    (plan,) = boto(moto).get_usage_plans()["items"]
    assert plan["quota"]["period"] == "DAY" and int(plan["quota"]["limit"]) == 5000


async def test_requests_are_sigv4_signed(moto: str) -> None:
    import httpx
    async with AwsApiGatewayAdapter(config(moto)) as adapter:
        seen: list[httpx.Request] = []
        adapter.client._client.event_hooks["request"].append(lambda r: _record(seen, r))
        assert (await adapter.health_check()).success
    assert seen and seen[0].headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=testing/")
    assert "/us-east-1/apigateway/aws4_request" in seen[0].headers["authorization"]


async def _record(seen: list[Any], request: Any) -> None:
    seen.append(request)


CORS = {"origins": ["https://app.example.com", "https://admin.example.com"], "methods": ["GET", "POST"],
        "headers": ["X-Api-Key"], "exposeHeaders": ["X-Request-Id"], "credentials": False, "maxAge": 600}


def cors(config: dict[str, Any] | None = None) -> dict[str, Any]:
    return make_record("Policy", "pets-cors", {"api": "pets", "type": "cors", "config": config or CORS})


async def test_cors_preflight_round_trip_survives_api_changes(moto: str) -> None:
    async with AwsApiGatewayAdapter(config(moto)) as adapter:
        await apply_all(adapter, [api(), policy(), cors()])
        by_name = {p["name"]: p for p in await adapter.fetch_policies()}
        assert by_name["pets-cors"]["spec"] == cors()["spec"] and by_name["pets-cors"]["owner"] == "platform"
        (live_api,) = await adapter.fetch_apis()
        assert live_api["spec"]["methods"] == ["GET", "POST"]  # the preflight is not an API method
    async with AwsApiGatewayAdapter(config(moto)) as adapter:
        await apply_all(adapter, [api(), policy(), cors()])
        assert adapter.write_count == 0
        moved = api(basePath="/animals", methods=["GET"])
        await apply_all(adapter, [moved])  # the preflight moves with the base path
        by_name = {p["name"]: p for p in await adapter.fetch_policies()}
        assert by_name["pets-cors"]["spec"] == cors()["spec"]
        (live,) = [p for p in await adapter.fetch_policies() if p["name"] == "pets-cors"]
        assert (await adapter.remove(delete_change(live))).success
        assert [p["name"] for p in await adapter.fetch_policies()] == ["pets-rate"]
    (rest,) = boto(moto).get_rest_apis()["items"]
    assert all("OPTIONS" not in (r.get("resourceMethods") or {})
               for r in boto(moto).get_resources(restApiId=rest["id"])["items"])


@pytest.mark.parametrize("kind", ["rate_limit", "cors"])
async def test_moving_a_policy_to_another_api_converges(moto: str, kind: str) -> None:
    """The policy leaves its old API (usage plan / OPTIONS preflight) when its spec names another:
    one apply moves it, the next plan is empty."""
    cfg = {"requests": 10, "period": "second"} if kind == "rate_limit" else {
        "origins": ["https://a.example.com"], "methods": ["GET"], "headers": [], "exposeHeaders": [],
        "credentials": False, "maxAge": 60}

    def pol(target: str) -> dict[str, Any]:
        return make_record("Policy", "moving", {"api": target, "type": kind, "config": cfg})

    async with AwsApiGatewayAdapter(config(moto)) as adapter:
        await reconcile(adapter, [api("pets"), api("orders"), pol("pets")])
        moved = await reconcile(adapter, [api("pets"), api("orders"), pol("orders")])
        assert [(c.kind, c.name, c.op.value) for c in moved] == [("Policy", "moving", "update")]
        policies = [p for p in await adapter.fetch("Policy") if p["name"] == "moving"]
        assert [p["spec"]["api"] for p in policies] == ["orders"]
        assert await reconcile(adapter, [api("pets"), api("orders"), pol("orders")]) == []
