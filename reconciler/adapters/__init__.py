"""Gateway adapters: one folder per gateway (`adapter.py` does HTTP, `mappers.py` is pure)."""

from reconciler.adapters.base import AdapterResult, GatewayAdapter

__all__ = ["AdapterResult", "GatewayAdapter"]
