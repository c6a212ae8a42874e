"""Shared test helpers for the Kong suite: records, a reconcile loop, spec path matching."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import yaml

from reconciler.adapters.kong.adapter import KongAdapter
from reconciler.engine.plan import PlanOptions, plan_gateway
from reconciler.executor.apply import apply_gateway
from reconciler.model.changes import GatewayReport, Op
from reconciler.model.records import make_record, secret_fingerprint

OWNER = "platform"
KEY = "mobile-secret-key-42"
API: dict[str, Any] = {"tenant": "acme", "version": "1.0.0", "basePath": "/pets", "backend": "https://pets.example.com/v1",
                       "methods": ["POST", "GET"], "displayName": "Pets, v1/beta", "openapi": None, "openapiHash": None}
RATE: dict[str, Any] = {"api": "pets", "type": "rate_limit", "config": {"requests": 100, "period": "minute"}}
CORS: dict[str, Any] = {"api": "pets", "type": "cors", "config": {
    "origins": ["https://app.example.com"], "methods": ["GET"], "headers": [], "exposeHeaders": ["X-Id"],
    "credentials": False, "maxAge": 600}}


def consumer_spec(subscriptions: list[str], key: str = KEY) -> dict[str, Any]:
    return {"displayName": "Mobile", "email": "dev@example.com", "subscriptions": sorted(subscriptions),
            "credential": {"type": "apiKey", "fingerprint": secret_fingerprint(key)}}


def desired(*, apis: tuple[str, ...] = ("pets", "orders"), key: str = KEY, rate: int = 100) -> list[dict[str, Any]]:
    out = [make_record("API", name, {**API, "basePath": f"/{name}"}, owner=OWNER) for name in apis]
    if "pets" in apis:
        out.append(make_record("Policy", "pets-rate", {**RATE, "config": {"requests": rate, "period": "minute"}},
                               owner=OWNER))
        out.append(make_record("Policy", "pets-cors", CORS, owner=OWNER))
    out.append(make_record("Consumer", "mobile", consumer_spec(list(apis), key), owner=OWNER))
    return out


async def reconcile(adapter: KongAdapter, records: list[dict[str, Any]], *, key: str = KEY,
                    prune: bool = True) -> tuple[list[Any], GatewayReport]:
    """fetch -> plan -> apply, as the runner does; returns (changes, report)."""
    actual = []
    for kind in ("API", "Policy", "Consumer"):
        actual.extend(await adapter.fetch(kind))
    changes = plan_gateway(adapter.name, records, actual, PlanOptions(owner=OWNER, prune=prune),
                           view=adapter.desired_view)
    report = await apply_gateway(adapter, changes, secrets={("Consumer", "mobile"): {"apiKey": key}})
    return [c for c in changes if c.op is not Op.NOOP], report


def make_adapter(url: str, token: str | None = None, **options: Any) -> KongAdapter:
    return KongAdapter({"name": "kong-test", "gateway_type": "kong", "base_url": url, "owner": OWNER,
                        "auth": {"token": token} if token else {}, "options": options, "timeout": 5.0})


_UPDATED_AT = re.compile(rb'"updated_at":[0-9.]+,?')


def restamp_free(mode: str, body: bytes) -> bytes:
    """A response body as bytes, minus `updated_at` in DB-less mode: every `POST /config` stamps every
    entity's `updated_at` anew (Kong 3.9.1 kong/db/schema/init.lua:1897-1916, the `insert` context of
    declarative_config.lua flatten), so only that field may move when nothing else did."""
    return _UPDATED_AT.sub(b"", body) if mode == "dbless" else body


SPECS = Path(__file__).resolve().parents[2].parent / "shared" / "specs" / "kong"


@functools.lru_cache(maxsize=1)
def spec_operations() -> list[tuple[str, re.Pattern[str]]]:
    """(method, path regex) of every operation in the OSS 3.9 and EE 3.15 specs (workspace paths ignored)."""
    ops: list[tuple[str, re.Pattern[str]]] = []
    for name in ("kong-admin-oss-3.9.openapi.yaml", "kong-admin-ee-3.15.openapi.yaml"):
        doc = yaml.load((SPECS / name).read_text(), Loader=yaml.CSafeLoader)
        for path, item in doc["paths"].items():
            if path.startswith("/{workspace}") or path == "/{endpoint}":
                continue
            path = path.replace("}plugins", "}/plugins")  # known defect of the OSS spec
            pattern = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$")
            for method in item:
                if method in ("get", "post", "put", "patch", "delete"):
                    ops.append((method.upper(), pattern))
    return ops


def operation_exists(method: str, path: str) -> bool:
    return any(m == method and p.match(path) for m, p in spec_operations())


@functools.lru_cache(maxsize=1)
def declarative_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SPECS / "kong_json_schema.json").read_text())
    return schema
