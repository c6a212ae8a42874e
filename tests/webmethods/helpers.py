"""Shared test helpers: desired records for every kind, and a tiny reconcile loop.

The loop mirrors what the runner does (fetch per kind, `desired_view`, compare only the desired
keys, upsert / remove level by level) so the adapter can be exercised end to end before, and
independently of, the engine.
"""

from __future__ import annotations

from typing import Any

from reconciler.adapters.webmethods.adapter import WebMethodsAdapter
from reconciler.model.kinds import KINDS, creation_order, deletion_order
from reconciler.model.records import content_hash, make_record, secret_fingerprint
from tests.changes import delete_change, upsert_change

OWNER = "platform"
API_KEY = "mobile-key-0001"

OPENAPI_31: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Orders", "version": "2.0.0", "summary": "orders service"},
    "webhooks": {"orderShipped": {"post": {"responses": {"200": {"description": "ok"}}}}},
    "paths": {"/orders": {"get": {"responses": {"200": {"description": "ok", "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Order"}}}}}}}},
    "components": {"schemas": {"Order": {
        "type": "object",
        "properties": {
            "id": {"type": "integer", "exclusiveMinimum": 0},
            "note": {"type": ["string", "null"], "examples": ["a", "b"]},
            "kind": {"const": "order"},
        },
    }}},
}


def api(name: str = "pets", **over: Any) -> dict[str, Any]:
    spec = {"tenant": "acme", "version": "1.0.0", "basePath": f"/{name}", "backend": f"https://{name}.example.com/v1",
            "methods": ["GET", "POST"], "openapi": None, "openapiHash": None}
    spec.update(over)
    return make_record("API", name, spec)


def orders_api() -> dict[str, Any]:
    return api("orders", openapi=OPENAPI_31, openapiHash=content_hash(OPENAPI_31), version="2.0.0")


def full_set(requests: int = 100) -> list[dict[str, Any]]:
    consumer = make_record("Consumer", "mobile", {
        "displayName": "Mobile app", "email": "mobile@example.com", "subscriptions": ["pets"],
        "credential": {"type": "apiKey", "fingerprint": secret_fingerprint(API_KEY)}})
    consumer["secret"] = {"apiKey": API_KEY}
    return [
        api(),
        orders_api(),
        make_record("Policy", "pets-rate", {"api": "pets", "type": "rate_limit",
                                            "config": {"requests": requests, "period": "minute"}}),
        make_record("Policy", "pets-cors", {"api": "pets", "type": "cors", "config": {
            "origins": ["https://app.example.com"], "methods": ["GET"], "headers": [], "exposeHeaders": [],
            "credentials": False, "maxAge": 600}}),
        consumer,
        make_record("AuthServer", "keycloak", {"authServerType": "EXTERNAL",
                                               "discoveryURL": "https://kc.example.com/.well-known/openid-configuration",
                                               "scopes": [{"name": "pets:read"}], "supportedGrantTypes": [],
                                               "clientId": "gw", "introspectionURL": "https://kc.example.com/introspect",
                                               "clientSecret": {"env": "KC_SECRET"}}),
        make_record("Strategy", "keycloak-oauth", {"type": "OAUTH2", "authServer": "keycloak", "clientId": "pets-app"}),
        make_record("Scope", "pets-read", {"audience": "", "apis": ["pets"],
                                           "requiredAuthScopes": [{"authServer": "keycloak", "scope": "pets:read"}]}),
        make_record("Alias", "pets-backend", {"type": "endpoint", "endpointUri": "https://pets.example.com",
                                              "connectionTimeout": 30, "readTimeout": 30}),
        make_record("GatewayConfig", "error-processing", {"key": "errorProcessing", "value": {
            "sendNativeProviderFault": "true", "defaultErrorMessage": "oops", "fallbackErrorMessage": "oops"}}),
    ]


def differs(adapter: WebMethodsAdapter, desired: dict[str, Any], live: dict[str, Any]) -> list[str]:
    view = adapter.desired_view(desired["kind"], desired["spec"])
    live_spec = live["spec"]
    return [k for k, v in view.items() if live_spec.get(k) != v]


async def plan(adapter: WebMethodsAdapter, desired: list[dict[str, Any]], *, prune: bool = True
               ) -> list[tuple[str, str, str]]:
    """(op, kind, name) for every change the desired state needs."""
    return [(op, rec["kind"], rec["name"]) for op, rec in await _changes(adapter, desired, prune=prune)]


async def _changes(adapter: WebMethodsAdapter, desired: list[dict[str, Any]], *, prune: bool
                   ) -> list[tuple[str, dict[str, Any]]]:
    kinds = sorted({*(d["kind"] for d in desired), *adapter.supported_kinds})
    changes: list[tuple[str, dict[str, Any]]] = []
    for kind in kinds:
        live = {r["name"]: r for r in await adapter.fetch(kind)}
        wanted = {d["name"]: d for d in desired if d["kind"] == kind}
        for name, record in wanted.items():
            current = live.get(name)
            if current is None:
                changes.append(("create", {**record, "id": None}))
            elif current["owner"] != adapter.owner:
                changes.append(("conflict", current))
            elif differs(adapter, record, current):
                changes.append(("update", {**record, "id": current["id"]}))
        if prune:
            for name, current in live.items():
                if name not in wanted and current["owner"] == adapter.owner:
                    changes.append(("delete", current))
    return changes


async def apply(adapter: WebMethodsAdapter, desired: list[dict[str, Any]], *, prune: bool = True
                ) -> list[tuple[str, str, str, bool, str | None]]:
    """Apply the plan level by level; returns (op, kind, name, success, error)."""
    changes = await _changes(adapter, desired, prune=prune)
    results = []
    kinds = list(KINDS)
    for level in creation_order(kinds):
        for op, record in changes:
            if op in ("create", "update") and record["kind"] in level:
                res = await adapter.upsert(upsert_change(record))
                results.append((op, record["kind"], record["name"], res.success, res.error))
    for level in deletion_order(kinds):
        for op, record in changes:
            if op == "delete" and record["kind"] in level:
                res = await adapter.remove(delete_change(record))
                results.append((op, record["kind"], record["name"], res.success, res.error))
    return results
