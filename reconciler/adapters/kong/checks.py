"""Kong's capability checks (pure): what Kong would refuse or lose, found before any request.

A module of its own so `reconciler validate` runs them without importing the adapter (and its HTTP
stack): the gateway-type table names it (`GatewayTypeInfo.checks`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.adapters.kong import mappers as m
from reconciler.model.checks import Problem


def check(records: Sequence[Mapping[str, Any]], options: Mapping[str, Any]) -> list[Problem]:
    """Kong refuses or loses, before any request:
    - a backend URL with user info, a query or a fragment (a service keeps protocol, host, port,
      path only: kong/db/schema/entities/services.lua);
    - two policies of one type on one API: one plugin of a name per service (the plugins entity's
      `cache_key = {name, route, service, consumer}`, kong/db/schema/entities/plugins.lua),
      answered `409 UNIQUE violation` in DB mode; DB-less Kong loads both (its loader checks no
      cache key) and one silently shadows the other (kong/db/declarative/import.lua:314-323)."""
    problems: list[Problem] = []
    seen: dict[tuple[str, str], str] = {}
    for record in sorted(records, key=lambda r: (str(r["kind"]), str(r["name"]))):
        spec = record.get("spec") or {}
        if record["kind"] == "API":
            lost = m.backend_losses(str(spec.get("backend") or ""))
            if lost:
                problems.append(Problem("API", str(record["name"]), "spec.backend",
                                        "kong cannot store " + ", ".join(lost) + " of a backend URL (a service "
                                        "keeps protocol, host, port and path): remove it"))
        elif record["kind"] == "Policy":
            plugin = m.PLUGIN_OF_TYPE.get(str(spec.get("type")))
            slot = (str(spec.get("api")), str(plugin))
            if plugin is None:
                continue
            if slot in seen:
                problems.append(Problem("Policy", str(record["name"]), "spec.type",
                                        f"kong allows one {plugin} plugin per service: API {slot[0]!r} already "
                                        f"has policy {seen[slot]!r} of type {spec.get('type')}",
                                        other=("Policy", seen[slot])))
            else:
                seen[slot] = str(record["name"])
    return problems
