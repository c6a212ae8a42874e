"""Contract: every request the adapter sends validates against the Swagger operation it targets, and
every answer of the emulator looks like the vendor's sample (or schema) for that operation and status."""

from __future__ import annotations

import json

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response

from reconciler.adapters.webmethods.adapter import WebMethodsAdapter
from reconciler.emulators.webmethods import WebMethodsEmulator
from tests.faults import FaultProxy
from tests.webmethods.conftest import make_adapter
from tests.webmethods.helpers import apply, full_set
from tests.webmethods.swagger import Swagger

pytestmark = pytest.mark.contract


@pytest.fixture(scope="module")
def swagger() -> Swagger:
    return Swagger()


async def test_every_request_of_a_full_lifecycle_conforms(adapter: WebMethodsAdapter, emulator: WebMethodsEmulator,
                                                          swagger: Swagger) -> None:
    assert (await adapter.health_check()).success
    assert all(r[3] for r in await apply(adapter, full_set()))
    changed = full_set(requests=5)
    changed[0]["spec"]["backend"] = "https://elsewhere.example.com"
    changed[4]["spec"]["subscriptions"] = ["orders", "pets"]
    assert all(r[3] for r in await apply(adapter, changed))
    assert (await adapter.export_archive()).success
    assert all(r[3] for r in await apply(adapter, []))
    requests = list(emulator.requests)
    operations = {(r.method, swagger.find(r.method, r.path).path) for r in requests}
    problems = [p for r in requests for p in swagger.check(r.method, r.path, r.query, r.body)]
    assert problems == []
    # the run covered every operation the adapter uses
    assert {("POST", "/apis"), ("PUT", "/apis/{apiId}"), ("PUT", "/apis/{apiId}/activate"),
            ("PUT", "/apis/{apiId}/deactivate"), ("DELETE", "/apis/{apiId}"), ("POST", "/policyActions"),
            ("PUT", "/policyActions/{policyActionId}"), ("DELETE", "/policyActions/{policyActionId}"),
            ("PUT", "/policies/{policyId}"), ("POST", "/applications"), ("PUT", "/applications/{applicationId}"),
            ("PUT", "/applications/{applicationId}/apis"), ("DELETE", "/applications/{applicationId}"),
            ("POST", "/alias"), ("DELETE", "/alias/{aliasId}"), ("POST", "/strategies"),
            ("DELETE", "/strategies/{strategyId}"), ("POST", "/scopes"), ("DELETE", "/scopes/{oauthScopeId}"),
            ("PUT", "/configurations/errorProcessing"), ("GET", "/archive"), ("GET", "/all")} <= operations


def test_checker_catches_a_misspelt_field_and_a_missing_envelope(swagger: Swagger) -> None:
    problems = swagger.check("POST", "/rest/apigateway/strategies", "", b'{"name": "s", "authServer": "kc"}')
    assert any("'authServer'" in p for p in problems)
    problems = swagger.check("POST", "/rest/apigateway/policyActions", "", b'{"templateKey": "throttle"}')
    assert problems and "envelope" in problems[0]
    problems = swagger.check("GET", "/rest/apigateway/archive", "include=api", b"")
    assert problems == ["GET /archive: undeclared query parameter 'include'"]


def test_checker_validates_the_imported_openapi_document(swagger: Swagger) -> None:
    body = b'{"apiName": "x", "type": "openapi", "apiDefinition": {"openapi": "3.0.3", "info": {}}}'
    assert any("not valid OpenAPI" in p for p in swagger.check("POST", "/rest/apigateway/apis", "", body))


class Recording(FaultProxy):
    """A real HTTP hop that keeps every answer of the emulator (method, path, status, body)."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self.answers: list[tuple[str, str, int, bytes]] = []

    async def _forward(self, request: Request) -> Response:
        response = await super()._forward(request)
        self.answers.append((request.method, request.url.path, response.status_code, bytes(response.body)))
        return response


def _direct_calls(http: httpx.Client) -> None:
    """Operations and error answers the adapter's lifecycle does not reach."""
    apis = http.get("/apis").json()["apiResponse"]
    api_id = apis[0]["api"]["id"]
    http.get(f"/apis/{api_id}")
    http.get(f"/apis/{api_id}/applications")
    http.get(f"/apis/{api_id}/scopes")
    http.put(f"/apis/{api_id}/activate")  # 400: already active
    http.get("/apis/nope")  # 404
    http.get("/policyStages")
    policy_id = http.get(f"/apis/{api_id}").json()["apiResponse"]["api"]["policies"][0]
    http.get(f"/policies/{policy_id}")
    http.get("/policies", params={"policyIds": policy_id})
    http.get("/policies/nope")  # 404
    actions = http.get("/policyActions").json()["policyAction"]
    http.get(f"/policyActions/{actions[0]['id']}")
    http.get("/policyActions/nope")  # 404
    http.post("/policyActions", json={"policyAction": {"names": []}})  # 400
    app = http.get("/applications").json()["applications"][0]
    http.get(f"/applications/{app['id']}")
    http.get(f"/applications/{app['id']}/apis")
    http.post(f"/applications/{app['id']}/accessTokens", json={"type": "apiAccessKeyCredentials"})
    alias = http.get("/alias").json()["alias"][0]
    http.get(f"/alias/{alias['id']}")
    http.get("/alias/nope")  # 404
    strategy = http.get("/strategies").json()["strategies"][0]
    http.get(f"/strategies/{strategy['id']}")
    scope = http.get("/scopes").json()["scopes"][0]
    http.get(f"/scopes/{scope['id']}")
    http.get("/configurations/errorProcessing")
    for part in ("all", "admin", "engine", "externalServices"):
        http.get(f"/health/{part}")
    http.get("/is/serverinfo")


async def test_every_answer_of_the_emulator_looks_like_the_vendors(emulator: WebMethodsEmulator,
                                                                   swagger: Swagger) -> None:
    with Recording(emulator.url) as proxy:
        async with make_adapter(proxy.url) as wm:
            assert isinstance(wm, WebMethodsAdapter)
            assert (await wm.health_check()).success
            assert all(r[3] for r in await apply(wm, full_set()))
            changed = full_set(requests=5)
            changed[0]["spec"]["version"] = "2.0.0"
            changed[4]["spec"]["subscriptions"] = ["orders", "pets"]
            assert all(r[3] for r in await apply(wm, changed))
            with httpx.Client(base_url=proxy.url + "/rest/apigateway", auth=("Administrator", "manage")) as http:
                _direct_calls(http)
            assert (await wm.export_archive()).success
            assert all(r[3] for r in await apply(wm, []))
    checked = [(m, p, s, json.loads(b)) for m, p, s, b in proxy.answers
               if b and not b.startswith(b"PK")]
    problems = [problem for m, p, s, body in checked for problem in swagger.response_problems(m, p, s, body)]
    assert problems == []
    statuses = {(m, swagger.find(m, p).path, s) for m, p, s, _ in checked}
    assert {("GET", "/policyStages", 200), ("POST", "/apis", 200), ("PUT", "/apis/{apiId}", 200),
            ("GET", "/apis/{apiId}", 404), ("PUT", "/policies/{policyId}", 200), ("POST", "/policyActions", 201),
            ("POST", "/policyActions", 400), ("POST", "/applications", 200), ("GET", "/alias/{aliasId}", 200),
            ("POST", "/scopes", 201), ("POST", "/strategies", 200), ("GET", "/engine", 200)} <= statuses


def test_response_checker_catches_a_wrong_envelope_and_an_invented_field(swagger: Swagger) -> None:
    path = "/rest/apigateway/policyActions/x"
    assert swagger.response_problems("GET", path, 200, {"policyAction": {"id": "x", "templateKey": "t"}}) == []
    assert "envelope" in swagger.response_problems("GET", path, 200, {"id": "x", "templateKey": "t"})[0]
    invented = swagger.response_problems("GET", path, 200, {"policyAction": {"id": "x", "stage": "LMT"}})
    assert invented and "'stage'" in invented[0]
    assert "not documented" in swagger.response_problems("DELETE", path, 409, {"errorDetails": "x"})[0]
    wrong_type = swagger.response_problems("GET", "/rest/apigateway/apis", 200, {"apiResponse": {"api": {}}})
    assert wrong_type and "object where the sample has array" in wrong_type[0]
