"""Emulator lookup, from the gateway-type table (`reconciler.model.gateways`).

A gateway type names its emulator there, so the demo and `reconciler emulate` know every emulator,
a third-party gateway's included, without a list of their own.
"""

from __future__ import annotations

from reconciler.emulators.server import Emulator
from reconciler.model.gateways import emulators, gateway_types
from reconciler.model.plugins import load_class


def emulator_path(name: str) -> str:
    """`module:Class` of the emulator for an emulator name (`stoa`) or a gateway type (`stoa_sidecar`)."""
    by_name = emulators()
    if name in by_name:
        return by_name[name]
    info = gateway_types().get(name)
    if info is not None and info.emulator is not None:
        return info.emulator
    raise LookupError(f"no emulator for gateway type {name!r} (have: {', '.join(by_name)})")


def emulator_class(name: str) -> type[Emulator]:
    cls: type[Emulator] = load_class(emulator_path(name), Emulator, missing=f"the {name} emulator is not installed")
    return cls


def emulator_names() -> list[str]:
    """Names accepted by `reconciler emulate`, in listing order."""
    return list(emulators())
