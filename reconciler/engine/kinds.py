"""The table of resource kinds: dependency level and the adapter methods that serve each.

Creates and updates run level by level upwards (APIs, then policies, then consumers); deletes run
downwards. Each level is a barrier. Extended kinds (webMethods auth servers, strategies, scopes,
aliases, configuration) register rows here with `register_kind`.

    level 0   AuthServer, Alias, GatewayConfig          (no dependencies)
    level 1   API                                        (may use an alias / auth server)
    level 2   Policy, Scope, Strategy                    (attached to an API / auth server)
    level 3   Consumer                                   (subscribes to APIs)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KindInfo:
    kind: str
    level: int
    upsert: str
    """Adapter method that creates or updates one record."""
    delete: str | None
    """Adapter method that deletes one record by gateway id (None: the kind is never deleted)."""
    fetch: str
    """Adapter method that returns the canonical records of this kind (raises on failure)."""


KINDS: dict[str, KindInfo] = {}


def register_kind(info: KindInfo) -> None:
    if not info.kind or info.kind in KINDS:
        raise ValueError(f"kind {info.kind!r} is empty or already registered")
    KINDS[info.kind] = info


register_kind(KindInfo("API", 1, "sync_api", "delete_api", "fetch_apis"))
register_kind(KindInfo("Policy", 2, "upsert_policy", "delete_policy", "fetch_policies"))
register_kind(KindInfo("Consumer", 3, "provision_application", "deprovision_application",
                       "fetch_applications"))


def creation_order(kinds: list[str]) -> list[list[str]]:
    """Kinds grouped by level, lowest first: the order of creates and updates."""
    levels = sorted({KINDS[k].level for k in kinds})
    return [sorted(k for k in kinds if KINDS[k].level == lvl) for lvl in levels]


def deletion_order(kinds: list[str]) -> list[list[str]]:
    """The reverse of `creation_order`: dependents are deleted before what they depend on."""
    return list(reversed(creation_order(kinds)))
