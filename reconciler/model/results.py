"""`AdapterResult`: what every contract method of every adapter returns (the STOA Control Plane's shape)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class AdapterResult:
    success: bool
    resource_id: str | None = None
    data: dict[str, Any] | None = field(default_factory=dict)
    error: str | None = None
    category: str | None = None
    """Machine-readable error category (`reconciler.model.errors`), so callers never parse `error`."""
