"""Conflicts between desired objects of one gateway that no gateway can hold (pure).

Two APIs routed on the same base path are ambiguous on every gateway (Gravitee refuses the second
with `api.path.alreadyExists`; Kong accepts both routes and sends traffic to one of them): the
reconciler refuses them at validation, naming both documents. Gateway-specific limits (one Kong
plugin of a name per service) are each adapter's `check`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from reconciler.model.checks import Problem


def _path_key(path: str) -> str:
    """Base paths compare without a trailing slash: `/pets` and `/pets/` route the same."""
    return path.rstrip("/") or "/"


def gateway_conflicts(records: Iterable[Mapping[str, Any]]) -> list[Problem]:
    """Problems among one gateway's desired records: duplicate API base paths."""
    first: dict[str, str] = {}
    problems: list[Problem] = []
    for record in sorted(records, key=lambda r: (str(r["kind"]), str(r["name"]))):
        if record["kind"] != "API":
            continue
        base = (record.get("spec") or {}).get("basePath")
        if not isinstance(base, str):
            continue
        key = _path_key(base)
        if key in first:
            problems.append(Problem("API", str(record["name"]), "spec.basePath",
                                    f"base path {base!r} is already used by API {first[key]!r} on this gateway",
                                    other=("API", first[key])))
        else:
            first[key] = str(record["name"])
    return problems
