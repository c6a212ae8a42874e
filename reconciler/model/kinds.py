"""The one table of resource kinds: what each depends on, its level, and what it refers to.

Creates and updates run level by level upwards, deletes downwards; each level is a barrier. The
levels are written down (they are part of the plan's order, which users read) and checked against
the dependencies when the table is built: a kind's level is above the level of everything it
depends on.

    level 0   AuthServer, Alias, GatewayConfig      (no dependencies)
    level 1   API                                    (may use an alias / an auth server)
    level 2   Policy, Scope, Strategy                (attached to an API / an auth server)
    level 3   Consumer                               (subscribes to APIs, under their policies)

A consumer comes after policies so that a key never works on an API before the API's rate limit
is in place. The adapter side of a kind (which contract methods serve it) is the typed handler
table `HANDLERS` in `reconciler.adapters.base`, checked against this one by the tests. Kong's DB-less
merge, the planner and the executor all order by `level_of`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Refs = Callable[[Mapping[str, Any]], frozenset[tuple[str, str]]]
"""The (kind, name) pairs a canonical spec of this kind refers to (pure)."""


def _no_refs(spec: Mapping[str, Any]) -> frozenset[tuple[str, str]]:
    return frozenset()


def _policy_refs(spec: Mapping[str, Any]) -> frozenset[tuple[str, str]]:
    return frozenset({("API", str(spec.get("api")))})


def _consumer_refs(spec: Mapping[str, Any]) -> frozenset[tuple[str, str]]:
    return frozenset(("API", str(s)) for s in spec.get("subscriptions") or ())


def _scope_refs(spec: Mapping[str, Any]) -> frozenset[tuple[str, str]]:
    apis = {("API", str(a)) for a in spec.get("apis") or ()}
    servers = {("AuthServer", str(r.get("authServer"))) for r in spec.get("requiredAuthScopes") or ()
               if isinstance(r, Mapping)}
    return frozenset(apis | servers)


def _strategy_refs(spec: Mapping[str, Any]) -> frozenset[tuple[str, str]]:
    return frozenset({("AuthServer", str(spec.get("authServer")))})


@dataclass(frozen=True)
class Kind:
    name: str
    level: int
    depends_on: frozenset[str] = frozenset()
    """Kinds whose objects this kind may refer to (they are created first and deleted last)."""
    refs: Refs = _no_refs
    """The objects one spec of this kind refers to: a change is not attempted when one of them failed."""
    deletable: bool = True
    """False for kinds the gateway cannot delete, only release (none today; kept for extensions)."""


def build_table(kinds: Iterable[Kind]) -> dict[str, Kind]:
    """Index the kinds by name; refuses duplicates, unknown dependencies and levels that contradict them."""
    table: dict[str, Kind] = {}
    for kind in kinds:
        if not kind.name or kind.name in table:
            raise ValueError(f"kind {kind.name!r} is empty or listed twice")
        table[kind.name] = kind
    for kind in table.values():
        for dep in kind.depends_on:
            if dep not in table:
                raise ValueError(f"kind {kind.name} depends on unknown kind {dep}")
            if table[dep].level >= kind.level:
                raise ValueError(f"kind {kind.name} (level {kind.level}) depends on {dep} (level {table[dep].level})")
    return table


KINDS: Mapping[str, Kind] = build_table([
    Kind("AuthServer", 0),
    Kind("Alias", 0),
    Kind("GatewayConfig", 0),
    Kind("API", 1, frozenset({"Alias", "AuthServer"})),
    Kind("Policy", 2, frozenset({"API"}), _policy_refs),
    Kind("Scope", 2, frozenset({"API", "AuthServer"}), _scope_refs),
    Kind("Strategy", 2, frozenset({"AuthServer"}), _strategy_refs),
    Kind("Consumer", 3, frozenset({"API", "Policy", "Strategy"}), _consumer_refs),
])

CORE_KINDS = ("API", "Policy", "Consumer")
"""The kinds every gateway reconciles; the others are the extended (webMethods) kinds."""

UNKNOWN_LEVEL = 99


def level_of(kind: str) -> int:
    found = KINDS.get(kind)
    return found.level if found is not None else UNKNOWN_LEVEL


def creation_order(kinds: Iterable[str]) -> list[list[str]]:
    """Kinds grouped by level, lowest first: the order of creates and updates."""
    names = set(kinds)
    levels = sorted({level_of(k) for k in names})
    return [sorted(k for k in names if level_of(k) == lvl) for lvl in levels]


def deletion_order(kinds: Iterable[str]) -> list[list[str]]:
    """The reverse of `creation_order`: dependents are deleted before what they depend on."""
    return list(reversed(creation_order(kinds)))


def references(kind: str, spec: Mapping[str, Any]) -> frozenset[tuple[str, str]]:
    """What one spec refers to, from its kind's row (nothing for an unknown kind)."""
    found = KINDS.get(kind)
    return found.refs(spec) if found is not None else frozenset()
