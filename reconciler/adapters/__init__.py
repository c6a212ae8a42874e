"""Gateway adapters: one folder per gateway (`adapter.py` does HTTP, `mappers.py` is pure)."""

from reconciler.adapters.base import GatewayAdapter
from reconciler.model.results import AdapterResult

__all__ = ["AdapterResult", "GatewayAdapter"]
