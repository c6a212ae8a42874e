"""Contract: every request the adapter sends validates against the Swagger operation it targets."""

from __future__ import annotations

import pytest

from reconciler.adapters.webmethods.adapter import WebMethodsAdapter
from reconciler.emulators.webmethods import WebMethodsEmulator
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
