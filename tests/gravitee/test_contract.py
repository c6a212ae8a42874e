"""Contract: every request the adapter sends, in a full lifecycle, validates against the spec operation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from reconciler.adapters.gravitee.adapter import GraviteeAdapter
from reconciler.emulators.gravitee import GraviteeEmulator
from tests.gravitee.conftest import (
    GraviteeContract,
    RecordingTransport,
    adapter_config,
    api_record,
    consumer_record,
    cors_record,
    rate_record,
)

pytestmark = pytest.mark.contract



@pytest.fixture
def emulator() -> Iterator[GraviteeEmulator]:
    """An environment where an admin turned plan.security.apikey.allowCustom.enabled on (Gravitee's default
    is off; tests/gravitee/test_adapter_unit.py and test_e2e_cli.py cover that case)."""
    with GraviteeEmulator(allow_custom_api_key=True) as emu:
        yield emu

async def _full_lifecycle(emulator: GraviteeEmulator, transport: Any = None, **options: Any) -> None:
    extra = {"transport": transport} if transport is not None else {}
    async with GraviteeAdapter(adapter_config(emulator.url, options=options, **extra)) as adapter:
        assert (await adapter.health_check()).success
        assert (await adapter.sync_api(api_record("pets"), "acme")).success
        assert (await adapter.sync_api(api_record("orders", methods=["GET"]), "acme")).success
        assert (await adapter.upsert_policy(rate_record())).success
        assert (await adapter.upsert_policy(cors_record())).success
        assert (await adapter.sync_api(api_record("pets", backend="https://v2.example.com"), "acme")).success
        result = await adapter.provision_application(consumer_record(subs=["pets", "orders"]))
        assert result.success
        app_id = str(result.resource_id)
        assert (await adapter.provision_application(consumer_record(subs=["pets"], key="rotated-key-0000"))).success
        for kind in ("API", "Policy", "Consumer"):
            assert await adapter.fetch(kind)
        apis = {r["name"]: r["id"] for r in await adapter.fetch_apis()}
        policies = {r["name"]: r["id"] for r in await adapter.fetch_policies()}
        assert (await adapter.delete_policy(policies["pets-cors"])).success
        assert (await adapter.deprovision_application(app_id)).success
        assert (await adapter.delete_api(apis["orders"])).success


async def test_every_request_matches_its_operation(emulator: GraviteeEmulator, contract: GraviteeContract) -> None:
    await _full_lifecycle(emulator)
    assert len(emulator.requests) > 20
    operations = {contract.check(r.method, r.path, r.query, r.json()) for r in emulator.requests}
    assert all(r.status is not None and r.status < 400 for r in emulator.requests), [
        (r.method, r.path, r.status) for r in emulator.requests if (r.status or 500) >= 400]
    expected = {
        "POST /environments/{envId}/apis", "PUT /environments/{envId}/apis/{apiId}",
        "POST /environments/{envId}/apis/{apiId}/plans", "PUT /environments/{envId}/apis/{apiId}/plans/{planId}",
        "POST /environments/{envId}/apis/{apiId}/plans/{planId}/_publish",
        "POST /environments/{envId}/apis/{apiId}/_start", "POST /environments/{envId}/apis/{apiId}/_stop",
        "POST /environments/{envId}/apis/{apiId}/deployments", "DELETE /environments/{envId}/apis/{apiId}",
        "POST /environments/{envId}/apis/{apiId}/subscriptions",
        "POST /environments/{envId}/apis/{apiId}/subscriptions/{subscriptionId}/_close",
        "POST /environments/{envId}/apis/{apiId}/subscriptions/{subscriptionId}/api-keys/_renew",
        "GET /environments/{envId}/apis", "GET /environments/{envId}/apis/{apiId}/plans",
        "GET /environments/{envId}", "v1 POST /applications", "v1 DELETE /applications/{application}",
        "GET /plugins/policies",
    }
    assert expected <= operations, expected - operations


async def test_requests_with_another_organization_and_environment(contract: GraviteeContract) -> None:
    with GraviteeEmulator() as emulator:
        async with GraviteeAdapter(adapter_config(emulator.url, options={"organization": "ACME",
                                                                         "environment": "PROD"})) as adapter:
            assert (await adapter.sync_api(api_record("pets"), "acme")).success
        assert all("/organizations/ACME/environments/PROD/" in r.path or r.path.endswith("/environments/PROD")
                   or r.path == "/management/v2/organizations/ACME/plugins/policies" for r in emulator.requests)
        assert ("ACME", "PROD") in emulator.envs and not emulator.envs.get(("DEFAULT", "DEFAULT"))
        for r in emulator.requests:
            contract.check(r.method, r.path, r.query, r.json())


def test_checker_rejects_what_the_spec_forbids(contract: GraviteeContract) -> None:
    base = "/management/v2/organizations/DEFAULT/environments/DEFAULT"
    with pytest.raises(AssertionError, match="body invalid"):
        contract.check("POST", base + "/apis", "", {"name": "x", "apiVersion": "1", "definitionVersion": "V4",
                                                    "type": "PROXY", "listeners": [], "endpointGroups": []})
    with pytest.raises(AssertionError, match="body invalid"):
        contract.check("POST", base + "/apis/a/plans", "", {"definitionVersion": "V4", "name": "p",
                                                            "security": {"type": "NOPE"}})
    with pytest.raises(AssertionError, match="has no PATCH"):
        contract.check("PATCH", base + "/apis/a/_start", "", None)
    with pytest.raises(AssertionError, match="query parameter"):
        contract.check("GET", base + "/apis", "q=pets", None)
    with pytest.raises(AssertionError, match="body invalid"):
        contract.check("POST", base + "/apis/a/deployments", "", {"deploymentLabel": "x" * 40})
    v1 = "/management/organizations/DEFAULT/environments/DEFAULT"
    with pytest.raises(AssertionError, match=r"requires \['description'\]"):
        contract.check("POST", v1 + "/applications", "", {"name": "app"})
    with pytest.raises(AssertionError, match="size='500' is refused"):
        contract.check("GET", v1 + "/applications/_paged", "page=1&size=500", None)
    with pytest.raises(AssertionError, match="has no query parameter 'perPage'"):
        contract.check("GET", v1 + "/applications/a/subscriptions", "perPage=10", None)
    with pytest.raises(AssertionError, match="status='ACCEPTED,LIVE' is refused"):
        contract.check("GET", v1 + "/applications/a/subscriptions", "status=ACCEPTED,LIVE", None)
    with pytest.raises(AssertionError, match="not a Management API v1 operation"):
        contract.check("GET", v1 + "/applications/a/keys", "", None)
    assert contract.check("GET", v1 + "/applications/_paged", "page=2&size=200&status=ACTIVE", None)
    assert contract.check("POST", base + "/apis/a/subscriptions", "", {"applicationId": "a", "planId": "p"})
    with pytest.raises(AssertionError, match="response invalid"):
        contract.check_response("GET", base + "/apis", 200, {"data": "not a list"})
    with pytest.raises(AssertionError, match="response invalid"):
        contract.check_response("GET", base + "/apis/a", 404, {"httpStatus": "404", "message": "x"})
    with pytest.raises(AssertionError, match="response invalid"):
        contract.check_response("GET", "/management/v2/plugins/policies", 200, [{"id": "x", "deployed": "yes"}])
    with pytest.raises(AssertionError, match="the spec has no body"):
        contract.check_response("POST", base + "/apis/a/_start", 204, {"id": "a"})


async def test_every_v1_request_matches_the_v1_resource_table(emulator: GraviteeEmulator,
                                                              contract: GraviteeContract) -> None:
    """The v1 requests (no spec in ../shared/specs) against tests/gravitee/conftest.py V1_OPERATIONS, a table of
    the 4.12.17 v1 resources (ApplicationsResource, ApplicationResource, ApplicationSubscriptionsResource,
    PortalSettingsResource, Pageable): paths, query parameter names and values, required body fields."""
    from tests.gravitee.conftest import V1_OPERATIONS, V1_PREFIX

    await _full_lifecycle(emulator)
    v1 = [r for r in emulator.requests if V1_PREFIX.match(r.path)]
    used = {contract.check(r.method, r.path, r.query, r.json()) for r in v1}
    assert used >= {"v1 GET /applications/_paged", "v1 GET /applications/{application}/subscriptions",
                    "v1 POST /applications", "v1 PUT /applications/{application}",
                    "v1 DELETE /applications/{application}", "v1 GET /settings"}, used
    assert {u.removeprefix("v1 ") for u in used} <= {f"{m} {p}" for m, p in V1_OPERATIONS}
    sizes = {int(q.split("=")[1]) for r in v1 for q in r.query.split("&") if q.startswith("size=")}
    assert sizes and max(sizes) <= 200  # Pageable @Max(200)


async def test_every_v2_response_of_the_emulator_matches_the_spec(emulator: GraviteeEmulator,
                                                                  contract: GraviteeContract) -> None:
    """The emulator's v2 answers (a full adapter lifecycle, then errors and lists the adapter does not meet)
    against the response schemas of openapi-apis.yaml / openapi-plugins.yaml for that status (or `default`)."""
    transport = RecordingTransport()
    await _full_lifecycle(emulator, transport)
    seen = {contract.check_response(m, p, st, b) for m, p, st, b in transport.responses
            if p.startswith("/management/v2")}
    base = "/management/v2/organizations/DEFAULT/environments/DEFAULT"
    with httpx.Client(base_url=emulator.url, auth=("admin", "admin")) as c:
        api = c.get(f"{base}/apis", params={"expands": "deploymentState"}).json()["data"][0]
        plan = c.get(f"{base}/apis/{api['id']}/plans").json()["data"][0]
        subs = c.get(f"{base}/apis/{api['id']}/subscriptions", params={"statuses": "CLOSED,ACCEPTED"})
        extra = [
            ("GET", f"{base}/apis/{api['id']}", c.get(f"{base}/apis/{api['id']}")),
            ("GET", f"{base}/apis/{api['id']}/plans/{plan['id']}", c.get(f"{base}/apis/{api['id']}/plans/{plan['id']}")),
            ("GET", f"{base}/apis/{api['id']}/subscriptions", subs),
            ("GET", f"{base}/apis/nope", c.get(f"{base}/apis/nope")),
            ("POST", f"{base}/apis", c.post(f"{base}/apis", json={"name": "x"})),
            ("POST", f"{base}/apis/{api['id']}/_start", c.post(f"{base}/apis/{api['id']}/_start")),
            ("GET", f"{base}/apis/{api['id']}/plans", c.get(f"{base}/apis/{api['id']}/plans", params={"page": 9})),
            ("GET", "/management/v2/organizations/DEFAULT/plugins/policies/cors",
             c.get("/management/v2/organizations/DEFAULT/plugins/policies/cors")),
        ]
        for sub in subs.json()["data"]:
            path = f"{base}/apis/{api['id']}/subscriptions/{sub['id']}"
            extra += [("GET", path, c.get(path)), ("GET", path + "/api-keys", c.get(path + "/api-keys"))]
    for method, path, response in extra:
        seen.add(contract.check_response(method, path, response.status_code,
                                         response.json() if response.content else None))
    assert {"GET /environments/{envId}/apis -> 200", "POST /environments/{envId}/apis -> 201",
            "PUT /environments/{envId}/apis/{apiId} -> 200", "POST /environments/{envId}/apis/{apiId}/plans -> 201",
            "GET /environments/{envId}/apis/{apiId}/plans -> 200", "GET /plugins/policies -> 200",
            "POST /environments/{envId}/apis/{apiId}/subscriptions -> 201",
            "GET /environments/{envId}/apis/{apiId}/subscriptions/{subscriptionId}/api-keys -> 200",
            "GET /environments/{envId}/apis/{apiId} -> 404", "POST /environments/{envId}/apis -> 400",
            "GET /plugins/policies/{policyId} -> 404"} <= seen, seen
