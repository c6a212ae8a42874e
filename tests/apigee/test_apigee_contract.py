"""Contract: every request the Apigee adapter sends matches a method of Google's discovery document.

A full life cycle (create, update, drift heal, consumers, policies, prune) runs against the emulator;
each recorded request must match a method's `flatPath` template and HTTP method, carry every required
parameter, send only query parameters the method declares, and (for JSON bodies) only fields of the
method's request schema. The same check runs over the emulator's own routes, so it cannot serve paths
the document does not have.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import pytest

from reconciler.adapters.apigee.adapter import ApigeeAdapter
from reconciler.emulators.apigee import ApigeeEmulator
from reconciler.emulators.server import RecordedRequest
from reconciler.model.records import make_record, secret_fingerprint
from tests.conftest import specs_path

pytestmark = pytest.mark.contract


def _methods(resources: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for resource in resources.values():
        yield from (resource.get("methods") or {}).values()
        yield from _methods(resource.get("resources") or {})


@pytest.fixture(scope="module")
def discovery() -> dict[str, Any]:
    with open(specs_path("apigee/apigee-v1.discovery.json")) as handle:
        doc: dict[str, Any] = json.load(handle)
    return doc


@pytest.fixture(scope="module")
def operations(discovery: dict[str, Any]) -> list[tuple[re.Pattern[str], dict[str, Any]]]:
    ops = []
    for method in _methods(discovery["resources"]):
        escaped = re.escape(method["flatPath"]).replace(r"\{", "{").replace(r"\}", "}")
        pattern = "^/" + re.sub(r"\{[^}]+\}", "[^/]+", escaped) + "$"
        ops.append((re.compile(pattern), method))
    return ops


def match(request: RecordedRequest, operations: list[tuple[re.Pattern[str], dict[str, Any]]],
          schemas: dict[str, Any]) -> tuple[str | None, list[str]]:
    """(method id, problems) of the best-matching discovery method for a recorded request."""
    query = dict(parse_qsl(request.query, keep_blank_values=True))
    candidates = [m for rx, m in operations if rx.match(request.path) and m["httpMethod"] == request.method]
    if not candidates:
        return None, [f"{request.method} {request.path}: no discovery method"]
    best: tuple[str | None, list[str]] = (None, ["unreachable"])
    for method in candidates:
        params = method.get("parameters") or {}
        problems = [f"{request.method} {request.path}: unknown query parameter {q!r} for {method['id']}"
                    for q in query if q not in params or params[q].get("location") != "query"]
        problems += [f"{method['id']}: missing required query parameter {p}" for p, spec in params.items()
                     if spec.get("required") and spec.get("location") == "query" and p not in query]
        ref = (method.get("request") or {}).get("$ref")
        content_type = request.headers.get("content-type", "")
        if ref and ref != "GoogleApiHttpBody" and content_type.startswith("application/json") and request.body:
            allowed = set(schemas[ref]["properties"])
            problems += [f"{method['id']}: field {k!r} is not in {ref}" for k in request.json() if k not in allowed]
        if not problems:
            return method["id"], []
        best = (method["id"], problems)
    return best


TOKEN = "ya29.contract"


def api(name: str, **over: Any) -> dict[str, Any]:
    spec = {"tenant": "acme", "version": "1", "basePath": f"/{name}", "backend": f"https://{name}.example.com",
            "methods": ["GET"], "displayName": None, "description": None, "openapi": None, "openapiHash": None, **over}
    return make_record("API", name, spec)


async def test_every_adapter_request_matches_the_discovery_document(
        operations: list[tuple[re.Pattern[str], dict[str, Any]]], discovery: dict[str, Any]) -> None:
    with ApigeeEmulator(token=TOKEN) as emu:
        config = {"name": "apigee", "base_url": emu.url, "owner": "platform", "auth": {"token": TOKEN},
                  "options": {"organization": "acme", "environment": "test"}}
        async with ApigeeAdapter(config) as a:
            assert (await a.health_check()).success
            for record in (api("pets"), api("orders")):
                assert (await a.sync_api(record, "acme")).success
            assert (await a.sync_api({**api("pets", backend="https://v2.example.com"), "id": "pets"}, "acme")).success
            policy = make_record("Policy", "pets-rate", {"api": "pets", "type": "rate_limit",
                                                         "config": {"requests": 10, "period": "minute"}})
            assert (await a.upsert_policy(policy)).success
            consumer = make_record("Consumer", "mobile", {"subscriptions": ["pets"], "displayName": "M",
                                                          "credential": {"type": "apiKey",
                                                                         "fingerprint": secret_fingerprint("k-1")}})
            assert (await a.provision_application({**consumer, "secret": {"apiKey": "k-1"}})).success
            moved = {**consumer, "spec": {**consumer["spec"], "subscriptions": ["orders"]}, "secret": {"apiKey": "k-2"}}
            assert (await a.provision_application(moved)).success
            for kind in ("API", "Policy", "Consumer"):
                await a.fetch(kind)
            assert (await a.deprovision_application("mobile")).success
            assert (await a.delete_policy("pets:pets-rate")).success
            assert (await a.delete_api("pets")).success
        recorded = list(emu.requests)
    assert len(recorded) > 40
    matched: set[str] = set()
    problems: list[str] = []
    for request in recorded:
        method_id, issues = match(request, operations, discovery["schemas"])
        problems += issues
        if method_id:
            matched.add(method_id)
    assert problems == []
    assert {"apigee.organizations.apis.create", "apigee.organizations.environments.apis.revisions.deploy",
            "apigee.organizations.apiproducts.update", "apigee.organizations.developers.apps.keys.create",
            "apigee.organizations.developers.apps.keys.updateDeveloperAppKey"} <= matched


def test_emulator_routes_exist_in_the_discovery_document(operations: list[tuple[re.Pattern[str], dict[str, Any]]]) -> None:
    emu = ApigeeEmulator()
    missing = []
    for route in emu.routes():
        path = re.sub(r"\{[^}]+\}", "x", route.path)  # type: ignore[attr-defined]
        for verb in sorted(route.methods - {"HEAD"}):  # type: ignore[attr-defined]
            if not any(rx.match(path) and m["httpMethod"] == verb for rx, m in operations):
                missing.append(f"{verb} {route.path}")  # type: ignore[attr-defined]
    assert missing == []


def test_the_checker_rejects_what_the_document_lacks(operations: list[tuple[re.Pattern[str], dict[str, Any]]],
                                                     discovery: dict[str, Any]) -> None:
    schemas = discovery["schemas"]
    bad_query = RecordedRequest("GET", "/v1/organizations/o/apis", "pageSize=5", b"")
    bad_path = RecordedRequest("GET", "/v1/organizations/o/environments", "", b"")
    bad_field = RecordedRequest("POST", "/v1/organizations/o/apiproducts", "", b'{"name": "p", "rateLimit": 5}',
                                {"content-type": "application/json"})
    good = RecordedRequest("POST", "/v1/organizations/o/environments/e/apis/a/revisions/1/deployments",
                           "override=true", b"")
    assert match(bad_query, operations, schemas)[1]
    assert match(bad_path, operations, schemas)[0] is None
    assert any("rateLimit" in p for p in match(bad_field, operations, schemas)[1])
    assert match(good, operations, schemas) == ("apigee.organizations.environments.apis.revisions.deploy", [])
