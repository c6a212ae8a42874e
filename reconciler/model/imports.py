"""What an adapter hands `reconciler import` for one live object: a manifest spec, or why there is none.

The adapter is the only place that knows which parts of a live record are the gateway's own values
and which are markers, hashes or defaults it added; the importer turns its answer into documents.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ImportedSpec:
    """The manifest spec of one live object (without `gateways`: the importer binds it), or None.

    `notes` say what the manifest cannot carry exactly (a placeholder, a lossy field); with `spec`
    None, they say why the object cannot be expressed at all. `openapi` is the document the gateway
    holds for an API, saved beside it."""

    spec: dict[str, Any] | None
    notes: tuple[str, ...] = ()
    openapi: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    """Manifest `metadata` additions (labels, annotations) the object needs; rarely used."""
