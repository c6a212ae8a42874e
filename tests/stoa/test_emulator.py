"""The STOA emulator over real HTTP: auth, upserts, validation bodies, SSRF guard, deletes, restart."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from reconciler.adapters.stoa.emulator import StoaEmulator, ssrf_reason
from reconciler.emulators import emulator_class

TOKEN = "emu-token-1234"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def emulator() -> Iterator[StoaEmulator]:
    emu = StoaEmulator(admin_token=TOKEN)
    with emu:
        yield emu


@pytest.fixture
def client(emulator: StoaEmulator) -> Iterator[httpx.Client]:
    emulator.restart()
    emulator.clear_log()
    with httpx.Client(base_url=emulator.url, headers=AUTH, timeout=5) as c:
        yield c


def route(**over: Any) -> dict[str, Any]:
    return {"id": "platform.pets", "name": "pets", "tenant_id": "acme", "path_prefix": "/pets",
            "backend_url": "https://pets.example.com", "methods": ["GET"], "spec_hash": "h", "activated": True, **over}


def test_registered_and_from_credentials() -> None:
    assert emulator_class("stoa") is StoaEmulator
    assert StoaEmulator.from_credentials({"token": "t"}, {}).admin_token == "t"
    assert StoaEmulator.from_credentials({}, {}).admin_token is None


def test_no_token_configured_is_503() -> None:
    with StoaEmulator(admin_token=None) as emu, httpx.Client(base_url=emu.url) as c:
        response = c.get("/admin/health", headers=AUTH)
    assert response.status_code == 503
    assert response.json() == {"status": "error", "message": "Admin API disabled - no admin_api_token configured"}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN},
                                     {"Authorization": f"Basic {TOKEN}"}, {"Authorization": f"bearer {TOKEN}"},
                                     {"Authorization": f"Bearer  {TOKEN}"}, {"Authorization": f"Bearer {TOKEN}x"}])
def test_missing_or_wrong_token_is_401(client: httpx.Client, headers: dict[str, str]) -> None:
    """auth.rs:44-62: the header must equal `Bearer <token>` byte for byte; a mismatch is a bare 401."""
    response = httpx.get(f"{client.base_url}/admin/apis", headers=headers)
    assert response.status_code == 401 and response.content == b""


def test_an_empty_token_configured_is_503() -> None:
    """auth.rs:32-41: `Some(token) if !token.is_empty()`, else the admin API is disabled."""
    with StoaEmulator(admin_token="") as emu, httpx.Client(base_url=emu.url) as c:
        assert c.get("/admin/health", headers={"Authorization": "Bearer x"}).status_code == 503
        assert c.get("/admin/health").status_code == 503


def test_health(client: httpx.Client) -> None:
    client.post("/admin/apis", json=route())
    body = client.get("/admin/health").json()
    assert body["status"] == "ok" and body["routes_count"] == 1 and body["policies_count"] == 0
    assert set(body) == {"status", "version", "routes_count", "policies_count", "contracts_count", "skills_count",
                         "uptime_seconds", "git_provider"}
    assert body["git_provider"] == "gitlab"  # health.rs:53 a string; config/defaults.rs:287-289 the default


def test_api_upsert_201_then_200_and_stored_shape(client: httpx.Client) -> None:
    first = client.post("/admin/apis", json=route(api_id="cat-1", openapi_spec={"x": 1}))
    assert first.status_code == 201
    assert first.json()["id"] == "platform.pets" and first.json()["status"] == "ok"
    second = client.post("/admin/apis", json=route(methods=["GET", "POST"]))
    assert second.status_code == 200 and second.json()["deployment_id"] != first.json()["deployment_id"]
    stored = client.get("/admin/apis/platform.pets").json()
    # classification and contract_key are skipped when unset (registry.rs:57-61)
    assert stored == {**route(methods=["GET", "POST"]), "upstream_http_version": "auto", "upstreams": [],
                      "load_balancer": "round_robin", "trusted_backend": True}
    assert client.get("/admin/apis").json() == [stored]
    classified = client.post("/admin/apis", json=route(id="c", classification="VH", contract_key="acme:pets"))
    assert classified.status_code == 201
    assert client.get("/admin/apis/c").json()["classification"] == "VH"


@pytest.mark.parametrize("override", [{"upstream_http_version": "h3"}, {"load_balancer": "fastest"},
                                      {"classification": "low"}, {"methods": ["GET", 1]}])
def test_unknown_enum_values_and_bad_types_are_422(client: httpx.Client, override: dict[str, Any]) -> None:
    """serde: UpstreamHttpVersion (registry.rs:25-35), LbStrategy (lb/mod.rs:31-40), Classification
    (uac/classifications.rs:20-30), `methods: Vec<String>`; axum's Json answers a data error 422."""
    response = client.post("/admin/apis", json=route(**override))
    assert response.status_code == 422 and response.text.startswith(
        "Failed to deserialize the JSON body into the target type")


@pytest.mark.parametrize(("override", "message"), [
    ({"id": ""}, "id must not be empty"),
    ({"name": " "}, "name must not be empty"),
    ({"tenant_id": ""}, "tenant_id must not be empty"),
    ({"backend_url": ""}, "backend_url must not be empty"),
    ({"path_prefix": "pets"}, "path_prefix must start with '/'"),
])
def test_api_validation_400(client: httpx.Client, override: dict[str, Any], message: str) -> None:
    response = client.post("/admin/apis", json=route(**override))
    assert response.status_code == 400
    assert response.json()["status"] == "error" and message in response.json()["errors"]
    assert client.get("/admin/apis").json() == []


def test_blank_path_prefix_is_only_empty(client: httpx.Client) -> None:
    """apis.rs:45-49: the '/' check runs only on a non-blank prefix; every error in one list."""
    response = client.post("/admin/apis", json=route(path_prefix="  ", name=""))
    assert response.json() == {"status": "error", "errors": ["name must not be empty",
                                                             "path_prefix must not be empty"]}


def test_missing_field_and_bad_json_behave_like_axum(client: httpx.Client) -> None:
    body = route()
    del body["backend_url"]
    missing = client.post("/admin/apis", json=body)
    assert missing.status_code == 422 and "missing field `backend_url`" in missing.text
    bad = client.post("/admin/apis", content=b"{not json", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400
    wrong = client.post("/admin/apis", json=route(methods="GET"))
    assert wrong.status_code == 422
    assert bad.text.startswith("Failed to parse the request body as JSON")
    assert client.post("/admin/apis", json=[route()]).status_code == 422  # not an object: a data error
    untyped = client.post("/admin/apis", content=b"{}", headers={"Content-Type": "text/plain"})
    assert untyped.status_code == 415 and untyped.text == "Expected request with `Content-Type: application/json`"
    vendor = client.post("/admin/apis", content=json.dumps(route()).encode(),
                         headers={"Content-Type": "application/vnd.api+json"})
    assert vendor.status_code == 201


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080", "http://localhost/x", "http://10.1.2.3", "http://192.168.0.1",
                                 "http://169.254.169.254/latest", "http://[::1]/", "http://0.0.0.0",
                                 "http://172.16.0.1", "http://255.255.255.255", "http://[fd00::1]/", "http://[::]/",
                                 "not a url", "http://"])
def test_ssrf_guard(client: httpx.Client, url: str) -> None:
    response = client.post("/admin/apis", json=route(backend_url=url))
    assert response.status_code == 400
    assert set(response.json()) == {"error", "detail"}


@pytest.mark.parametrize("url", ["https://pets.example.com", "http://8.8.8.8:80/v1", "https://api.internal.example",
                                 "ftp://x.example.com", "http://app.localhost", "http://192.0.2.1",
                                 "http://100.64.0.1", "http://[fe80::1]/"])
def test_ssrf_allows_what_is_blocked_url_allows(url: str) -> None:
    """proxy/dynamic.rs:867-911 is_blocked_url: no scheme check, only the exact host `localhost`, and
    Rust's `is_private` (RFC 1918 only); IPv6 link-local is not blocked."""
    assert ssrf_reason(url) is None


def test_api_delete_204_then_404(client: httpx.Client) -> None:
    client.post("/admin/apis", json=route())
    assert client.delete("/admin/apis/platform.pets").status_code == 204
    gone = client.delete("/admin/apis/platform.pets")
    assert gone.status_code == 404 and gone.text == "API not found"  # apis.rs:159, a text body
    missing = client.get("/admin/apis/platform.pets")
    assert missing.status_code == 404 and missing.content == b""  # apis.rs:149, no body


def policy(**over: Any) -> dict[str, Any]:
    return {"id": "p.rate", "name": "rate", "policy_type": "rate_limit",
            "config": {"maxRequests": 1, "intervalSeconds": 60}, "priority": 100, "api_id": "p.pets", **over}


def test_policies_upsert_list_order_delete(client: httpx.Client) -> None:
    assert client.post("/admin/policies", json=policy()).status_code == 201
    assert client.post("/admin/policies", json=policy(priority=100, extra="dropped")).status_code == 200
    client.post("/admin/policies", json=policy(id="p.cors", name="cors", policy_type="cors", priority=10))
    client.post("/admin/policies", json=policy(id="a.x", name="x", api_id="a.api", priority=500))
    listed = client.get("/admin/policies").json()
    assert [p["id"] for p in listed] == ["a.x", "p.cors", "p.rate"]
    assert "extra" not in listed[2]
    assert client.delete("/admin/policies/p.rate").status_code == 204
    gone = client.delete("/admin/policies/p.rate")
    assert gone.status_code == 404 and gone.text == "Policy not found"  # policies.rs:52


@pytest.mark.parametrize("field", ["config", "priority"])
def test_policy_config_and_priority_are_required(client: httpx.Client, field: str) -> None:
    """routes/policy.rs:10-25: no serde default on `config` (a JSON value) or `priority` (i32)."""
    body = policy()
    del body[field]
    response = client.post("/admin/policies", json=body)
    assert response.status_code == 422 and f"missing field `{field}`" in response.text
    assert client.post("/admin/policies", json=policy(priority="high")).status_code == 422


@pytest.mark.parametrize("field", ["id", "name", "policy_type", "api_id"])
def test_policy_empty_fields_400(client: httpx.Client, field: str) -> None:
    response = client.post("/admin/policies", json=policy(**{field: ""}))
    assert response.status_code == 400 and f"{field} must not be empty" in response.json()["errors"]


def credential(**over: Any) -> dict[str, Any]:
    return {"route_id": "platform.pets", "consumer_id": "platform.mobile", "auth_type": "api_key",
            "header_name": "X-API-Key", "header_value": "k", **over}


def test_consumer_credentials(client: httpx.Client) -> None:
    """credentials.rs:104-161, proxy/consumer_credentials.rs: keyed by (route_id, consumer_id); the
    route is not looked up; `auth_type` defaults to api_key, an unknown one is a serde error."""
    orphan = client.post("/admin/consumer-credentials", json=credential(route_id="no.such.route"))
    assert orphan.status_code == 201
    assert client.delete("/admin/consumer-credentials/no.such.route/platform.mobile").status_code == 204
    client.post("/admin/apis", json=route())
    assert client.post("/admin/consumer-credentials", json=credential()).status_code == 201
    assert client.post("/admin/consumer-credentials", json=credential(header_value="k2")).status_code == 200
    assert client.post("/admin/consumer-credentials", json=credential(consumer_id="other.c")).status_code == 201
    assert [c["consumer_id"] for c in client.get("/admin/consumer-credentials").json()] == ["other.c", "platform.mobile"]
    assert client.post("/admin/consumer-credentials", json=credential(auth_type="oauth")).status_code == 422
    empty = client.post("/admin/consumer-credentials", json=credential(header_value=""))
    assert empty.status_code == 400 and empty.json() == {"status": "error", "errors": ["header_value must not be empty"]}
    defaulted = credential(consumer_id="third.c")
    del defaulted["auth_type"]
    assert client.post("/admin/consumer-credentials", json=defaulted).status_code == 201
    assert next(c for c in client.get("/admin/consumer-credentials").json()
                if c["consumer_id"] == "third.c")["auth_type"] == "api_key"
    path = "/admin/consumer-credentials/platform.pets/platform.mobile"
    assert client.delete(path).status_code == 204
    gone = client.delete(path)
    assert gone.status_code == 404 and gone.text == "Consumer credential not found"


def test_deleting_an_api_keeps_policies_and_credentials(client: httpx.Client) -> None:
    client.post("/admin/apis", json=route())
    client.post("/admin/policies", json=policy(api_id="platform.pets"))
    client.post("/admin/consumer-credentials", json=credential())
    client.delete("/admin/apis/platform.pets")
    assert len(client.get("/admin/policies").json()) == 1
    assert len(client.get("/admin/consumer-credentials").json()) == 1


def test_restart_wipes_state_and_log_counts_writes(client: httpx.Client, emulator: StoaEmulator) -> None:
    client.post("/admin/apis", json=route())
    client.post("/admin/policies", json=policy())
    client.post("/admin/consumer-credentials", json=credential())
    client.get("/admin/apis")
    assert [(w.method, w.path, w.status) for w in emulator.writes] == [
        ("POST", "/admin/apis", 201), ("POST", "/admin/policies", 201), ("POST", "/admin/consumer-credentials", 201)]
    emulator.restart()
    assert client.get("/admin/apis").json() == []
    assert client.get("/admin/policies").json() == []
    assert client.get("/admin/consumer-credentials").json() == []
    assert client.get("/admin/health").json()["routes_count"] == 0


def test_injected_429_carries_retry_after(client: httpx.Client, emulator: StoaEmulator) -> None:
    emulator.inject_failure(429, times=2, retry_after="1")
    for _ in range(2):
        limited = client.get("/admin/apis")
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
        assert limited.json() == {"status": "error", "message": "Admin API rate limit exceeded"}
    assert client.get("/admin/apis").status_code == 200
