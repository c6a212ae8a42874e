"""The one source of truth for gateway types: names, credentials, kinds, adapter and emulator.

Every gateway type, the built-in ones included, is a plugin: a package declares a tuple of
`GatewayTypeInfo` under the entry-point group `stoa_reconciler.gateways` (see `pyproject.toml`),
so a third-party package adds a gateway without editing this project. The manifests' `GatewayType`,
the JSON Schema, the loader's capability checks, the demo and `reconciler emulate` all read this
table. It is data only: the adapter and emulator classes are named by `module:Class` and imported by
whoever needs them (`reconciler.adapters.registry`, `reconciler.emulators.registry`), never here.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata

ENTRY_POINT_GROUP = "stoa_reconciler.gateways"

CORE = frozenset({"API", "Policy", "Consumer"})


@dataclass(frozen=True)
class GatewayTypeInfo:
    name: str
    """The `spec.gatewayType` value, e.g. `kong`."""
    adapter: str
    """`module:Class` of its GatewayAdapter subclass."""
    emulator: str | None = None
    """`module:Class` of its emulator (an `Emulator` subclass), for the demo and `reconciler emulate`."""
    emulator_name: str | None = None
    """The `reconciler emulate NAME` of that emulator (default: the type's name); types that share one
    emulator (the five STOA modes) share the name."""
    kinds: frozenset[str] = CORE
    """Kinds its adapter reconciles; binding another kind to a gateway of this type is a validation error."""
    credentials: Mapping[str, str] = field(default_factory=dict)
    """Manifest credential field (`spec.credentials.<field>`) -> key of the adapter's `auth` config."""
    options: Mapping[str, str] = field(default_factory=dict)
    """Known `spec.options` keys -> one-line description."""
    checks: str | None = None
    """`module:function` of the type's pure capability checks (`(records, options) -> [Problem]`), run by
    `validate` and `plan` before any request; a light module, so validating imports no HTTP stack."""
    can_export: bool = False
    """True when the adapter can export an archive (`reconciler export`)."""
    rank: int = 1000
    """Position in listings (schema enum, help texts); built-in types keep their historical order."""
    description: str = ""


def build_table(found: Iterable[GatewayTypeInfo]) -> dict[str, GatewayTypeInfo]:
    """Index gateway types by name, in listing order; refuses duplicates and malformed class paths."""
    table: dict[str, GatewayTypeInfo] = {}
    for info in sorted(found, key=lambda i: (i.rank, i.name)):
        if not info.name or info.name in table:
            raise ValueError(f"gateway type {info.name!r} is empty or declared twice")
        if ":" not in info.adapter or (info.emulator is not None and ":" not in info.emulator):
            raise ValueError(f"gateway type {info.name}: adapter and emulator must be 'module:Class'")
        table[info.name] = info
    return table


def _load(entry_points: Iterable[metadata.EntryPoint]) -> dict[str, GatewayTypeInfo]:
    found: list[GatewayTypeInfo] = []
    for entry in entry_points:
        value = entry.load()
        items = value if isinstance(value, tuple | list) else (value,)
        for item in items:
            if not isinstance(item, GatewayTypeInfo):
                raise TypeError(f"entry point {entry.name} = {entry.value} is not a GatewayTypeInfo (or a tuple of them)")
            found.append(item)
    return build_table(found)


@functools.cache
def gateway_types() -> Mapping[str, GatewayTypeInfo]:
    """Every installed gateway type, in listing order. Empty only when the package is not installed."""
    return _load(metadata.entry_points(group=ENTRY_POINT_GROUP))


def gateway_type(name: str) -> GatewayTypeInfo:
    """The info of one type; LookupError naming the known ones."""
    try:
        return gateway_types()[name]
    except KeyError:
        known = ", ".join(gateway_types())
        raise LookupError(f"unknown gateway type {name!r} (known: {known})") from None


def emulators() -> dict[str, str]:
    """`reconciler emulate NAME` -> `module:Class`, one entry per distinct emulator."""
    out: dict[str, str] = {}
    for info in gateway_types().values():
        if info.emulator is not None:
            out.setdefault(info.emulator_name or info.name, info.emulator)
    return out
