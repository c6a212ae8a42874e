"""Pure mapper tests: STOA JSON <-> canonical records, as plain tables."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.adapters.stoa import mappers
from reconciler.adapters.stoa.adapter import StoaAdapter
from reconciler.model.records import make_record, secret_fingerprint

API_SPEC: dict[str, Any] = {
    "tenant": "acme", "version": "1.0.0", "basePath": "/pets", "backend": "https://pets.example.com/v1",
    "methods": ["POST", "GET"], "displayName": "Pets", "description": None, "openapi": None, "openapiHash": None,
}


@pytest.mark.parametrize(
    ("gateway_id", "fallback", "expected"),
    [
        ("platform.pets", None, ("platform", "pets")),
        ("other.pets", "ignored", ("other", "pets")),
        ("pets", None, (None, "pets")),
        ("abc123", "pets", (None, "pets")),
        (".pets", None, (None, ".pets")),
        ("platform.", "x", (None, "x")),
        ("", "named", (None, "named")),
    ],
)
def test_parse_id(gateway_id: str, fallback: str | None, expected: tuple[str | None, str]) -> None:
    assert mappers.parse_id(gateway_id, fallback) == expected


def test_api_round_trip_equals_desired_view() -> None:
    payload = mappers.api_to_gateway(make_record("API", "pets", API_SPEC), "platform")
    assert payload["id"] == "platform.pets"
    assert payload["methods"] == ["GET", "POST"]
    record = mappers.api_from_gateway({**payload, "upstreams": [], "trusted_backend": True})
    assert (record["owner"], record["name"], record["id"]) == ("platform", "pets", "platform.pets")
    assert record["spec"] == StoaAdapter.desired_view("API", API_SPEC)


@pytest.mark.parametrize("field", ["version", "displayName", "description", "openapiHash"])
def test_api_unstorable_fields_change_the_spec_hash(field: str) -> None:
    changed = {**API_SPEC, field: "something else"}
    assert mappers.api_spec_hash(changed) != mappers.api_spec_hash(API_SPEC)
    assert StoaAdapter.desired_view("API", changed)["specHash"] != StoaAdapter.desired_view("API", API_SPEC)["specHash"]


def test_api_spec_hash_ignores_storable_fields() -> None:
    assert mappers.api_spec_hash({**API_SPEC, "backend": "https://x.example.com"}) == mappers.api_spec_hash(API_SPEC)


def test_foreign_route_uses_its_name_field() -> None:
    record = mappers.api_from_gateway({"id": "0f3c", "name": "legacy", "tenant_id": "t", "path_prefix": "/l",
                                       "backend_url": "https://l.example.com", "methods": [], "spec_hash": "x"})
    assert (record["owner"], record["name"], record["id"]) == (None, "legacy", "0f3c")


RATE_TABLE = [
    ({"requests": 5, "period": "second"}, {"maxRequests": 5, "intervalSeconds": 1}),
    ({"requests": 100, "period": "minute"}, {"maxRequests": 100, "intervalSeconds": 60}),
    ({"requests": 1000, "period": "hour"}, {"maxRequests": 1000, "intervalSeconds": 3600}),
    ({"requests": 9, "period": "day"}, {"maxRequests": 9, "intervalSeconds": 86400}),
]


@pytest.mark.parametrize(("canonical", "stoa"), RATE_TABLE)
def test_rate_limit_config_round_trip(canonical: dict[str, Any], stoa: dict[str, Any]) -> None:
    assert mappers.policy_config_to_gateway("rate_limit", canonical) == stoa
    assert mappers.policy_config_from_gateway("rate_limit", stoa) == canonical


@pytest.mark.parametrize(("seconds", "period"), [(90, "90s"), (0, "0s"), ("60", "60s"), (None, "Nones")])
def test_unknown_interval_reads_as_drift_not_crash(seconds: Any, period: str) -> None:
    assert mappers.policy_config_from_gateway("rate_limit", {"maxRequests": 1, "intervalSeconds": seconds}) == {
        "requests": 1, "period": period}


def test_cors_round_trip() -> None:
    canonical = {"origins": ["https://app.example.com"], "methods": ["GET"], "headers": ["X-Trace"],
                 "exposeHeaders": [], "credentials": False, "maxAge": 600}
    stoa = mappers.policy_config_to_gateway("cors", canonical)
    assert stoa == {"allowOrigins": ["https://app.example.com"], "allowMethods": ["GET"], "allowHeaders": ["X-Trace"],
                    "exposeHeaders": [], "allowCredentials": False, "maxAge": 600}
    assert mappers.policy_config_from_gateway("cors", stoa) == canonical


def test_policy_round_trip_and_ownership() -> None:
    spec = {"api": "pets", "type": "rate_limit", "config": {"requests": 100, "period": "minute"}}
    payload = mappers.policy_to_gateway(make_record("Policy", "pets-rate", spec), "platform")
    assert payload == {"id": "platform.pets-rate", "name": "pets-rate", "policy_type": "rate_limit",
                       "config": {"maxRequests": 100, "intervalSeconds": 60}, "priority": 100,
                       "api_id": "platform.pets"}
    record = mappers.policy_from_gateway(payload)
    assert (record["owner"], record["name"]) == ("platform", "pets-rate")
    assert record["spec"] == StoaAdapter.desired_view("Policy", spec)


def test_foreign_policy_of_unknown_type_is_passed_through() -> None:
    record = mappers.policy_from_gateway({"id": "jwt-1", "name": "jwt", "policy_type": "jwt", "config": {"a": 1},
                                          "priority": 10, "api_id": "legacy"})
    assert record["owner"] is None and record["name"] == "jwt"
    assert record["spec"] == {"api": "legacy", "type": "jwt", "config": {"a": 1}}


def test_consumer_credentials_and_read_back() -> None:
    record = make_record("Consumer", "mobile", {"displayName": "Mobile", "email": "m@example.com",
                                                "subscriptions": ["pets", "orders"],
                                                "credential": {"type": "apiKey",
                                                               "fingerprint": secret_fingerprint("key-XYZ-123")}})
    creds = mappers.credentials_to_gateway(record, "platform", "key-XYZ-123")
    assert [(c["route_id"], c["consumer_id"], c["header_name"]) for c in creds] == [
        ("platform.orders", "platform.mobile", "X-API-Key"), ("platform.pets", "platform.mobile", "X-API-Key")]
    [read] = mappers.consumers_from_gateway(creds)
    assert (read["id"], read["owner"], read["name"]) == ("platform.mobile", "platform", "mobile")
    assert read["spec"] == StoaAdapter.desired_view("Consumer", record["spec"])
    assert "key-XYZ-123" not in str(read)
    assert read["spec"]["credential"]["fingerprint"] == secret_fingerprint("key-XYZ-123")


def test_consumer_with_different_keys_per_route_shows_drift() -> None:
    creds = [
        {"route_id": "p.a", "consumer_id": "p.c", "auth_type": "api_key", "header_name": "X-API-Key", "header_value": "k1"},
        {"route_id": "p.b", "consumer_id": "p.c", "auth_type": "api_key", "header_name": "X-API-Key", "header_value": "k2"},
    ]
    [read] = mappers.consumers_from_gateway(creds)
    fingerprint = read["spec"]["credential"]["fingerprint"]
    assert fingerprint not in (secret_fingerprint("k1"), secret_fingerprint("k2"))
    assert fingerprint.startswith("mixed:")


def test_consumer_with_other_auth_type_or_header_reads_as_other_type() -> None:
    creds = [{"route_id": "legacy", "consumer_id": "bob", "auth_type": "bearer", "header_name": "Authorization",
              "header_value": "t"}]
    [read] = mappers.consumers_from_gateway(creds)
    assert read["owner"] is None and read["name"] == "bob"
    assert read["spec"]["credential"]["type"] == "bearer:Authorization"
    assert read["spec"]["subscriptions"] == ["legacy"]


def test_desired_view_consumer_drops_unstorable_fields() -> None:
    view = StoaAdapter.desired_view("Consumer", {"displayName": "x", "email": "e", "subscriptions": ["b", "a"],
                                                 "credential": {"type": "apiKey", "fingerprint": "f"}})
    assert view == {"subscriptions": ["a", "b"], "credential": {"type": "apiKey", "fingerprint": "f"}}
