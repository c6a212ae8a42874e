"""Gateway type -> adapter class. Strict: unknown or duplicate types are errors.

Adapters are registered by import path and loaded on first use, so the CLI starts fast and a
gateway type whose adapter fails to import does not break the others.
"""

from __future__ import annotations

from typing import Any

from reconciler.adapters.base import GatewayAdapter
from reconciler.plugins import load_class

_PATHS: dict[str, str] = {}


def register(gateway_type: str, path: str) -> None:
    """Register `module:Class` for a gateway type."""
    if not gateway_type or gateway_type in _PATHS:
        raise ValueError(f"gateway type {gateway_type!r} is empty or already registered")
    if ":" not in path:
        raise ValueError(f"adapter path {path!r} must be 'module:Class'")
    _PATHS[gateway_type] = path


for _stoa_type in ("stoa", "stoa_edge_mcp", "stoa_sidecar", "stoa_proxy", "stoa_shadow"):
    register(_stoa_type, "reconciler.adapters.stoa.adapter:StoaAdapter")
register("kong", "reconciler.adapters.kong.adapter:KongAdapter")
register("gravitee", "reconciler.adapters.gravitee.adapter:GraviteeAdapter")
register("webmethods", "reconciler.adapters.webmethods.adapter:WebMethodsAdapter")
register("apigee", "reconciler.adapters.apigee.adapter:ApigeeAdapter")
register("aws_apigateway", "reconciler.adapters.aws.adapter:AwsApiGatewayAdapter")


def gateway_types() -> list[str]:
    return sorted(_PATHS)


def adapter_class(gateway_type: str) -> type[GatewayAdapter]:
    """The adapter class of a gateway type; raises LookupError with a clear message."""
    try:
        path = _PATHS[gateway_type]
    except KeyError:
        raise LookupError(f"unknown gateway type {gateway_type!r} (known: {', '.join(gateway_types())})") from None
    cls: type[GatewayAdapter] = load_class(
        path, GatewayAdapter, missing=f"no adapter is installed for gateway type {gateway_type!r}") 
    return cls


def available_types() -> list[str]:
    """Gateway types whose adapter imports (used by validation and the docs)."""
    found = []
    for gateway_type in gateway_types():
        try:
            adapter_class(gateway_type)
        except LookupError:
            continue
        found.append(gateway_type)
    return found


def create(gateway_type: str, config: dict[str, Any] | None = None) -> GatewayAdapter:
    return adapter_class(gateway_type)(config)
