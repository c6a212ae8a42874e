"""Gateway type -> adapter class, from the gateway-type table (`reconciler.model.gateways`).

Adapters are named by import path there and loaded on first use, so the CLI starts fast and a
gateway type whose adapter fails to import does not break the others.
"""

from __future__ import annotations

from typing import Any

from reconciler.adapters.base import GatewayAdapter
from reconciler.model.gateways import gateway_type, gateway_types
from reconciler.model.plugins import load_class


def adapter_class(name: str) -> type[GatewayAdapter]:
    """The adapter class of a gateway type; raises LookupError with a clear message."""
    info = gateway_type(name)
    cls: type[GatewayAdapter] = load_class(
        info.adapter, GatewayAdapter, missing=f"no adapter is installed for gateway type {name!r}")
    return cls


def available_types() -> list[str]:
    """Gateway types whose adapter imports (used by validation and the docs)."""
    found = []
    for name in gateway_types():
        try:
            adapter_class(name)
        except LookupError:
            continue
        found.append(name)
    return found


def create(name: str, config: dict[str, Any] | None = None) -> GatewayAdapter:
    return adapter_class(name)(config)
