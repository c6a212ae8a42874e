"""The workload of issue #17, shared by the per-gateway benchmarks: per i an API, its rate-limit
policy, and a consumer whose own key is subscribed to it (3N canonical records plus their secrets).

Imported after a benchmark has put the checkout it measures (`--code DIR`) first on `sys.path`."""

from __future__ import annotations

from typing import Any

from reconciler.model.records import make_record, secret_fingerprint


def records(n: int, owner: str = "bench") -> tuple[list[dict[str, Any]], dict[tuple[str, str], dict[str, str]]]:
    out: list[dict[str, Any]] = []
    secrets: dict[tuple[str, str], dict[str, str]] = {}
    for i in range(n):
        api = f"api-{i:04d}"
        out.append(make_record("API", api, {
            "tenant": "acme", "version": "1.0.0", "basePath": f"/{api}", "backend": f"https://{api}.example.com/v1",
            "methods": ["GET", "POST"], "openapi": None, "openapiHash": None}, owner=owner))
        out.append(make_record("Policy", f"{api}-rate", {"api": api, "type": "rate_limit",
                                                         "config": {"requests": 100 + i, "period": "minute"}},
                               owner=owner))
        key = f"key-{i:04d}-0123456789"
        out.append(make_record("Consumer", f"app-{i:04d}", {
            "subscriptions": [api], "credential": {"type": "apiKey", "fingerprint": secret_fingerprint(key)}},
            owner=owner))
        secrets[("Consumer", f"app-{i:04d}")] = {"apiKey": key}
    return out, secrets
