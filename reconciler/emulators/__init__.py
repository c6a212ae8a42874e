"""Gateway emulators: small HTTP servers that behave like the vendors' admin APIs.

Each is written from the vendor's own contract (`../shared/specs`) and never imports from
`reconciler.adapters`, so a misunderstanding in an adapter cannot hide in its emulator.
"""

from __future__ import annotations

from reconciler.emulators.server import Emulator
from reconciler.plugins import load_class

#: gateway type -> "module:Class" of its emulator (constructed with keyword options).
EMULATORS: dict[str, str] = {
    "stoa": "reconciler.adapters.stoa.emulator:StoaEmulator",
    "kong": "reconciler.emulators.kong:KongEmulator",
    "gravitee": "reconciler.emulators.gravitee:GraviteeEmulator",
    "webmethods": "reconciler.emulators.webmethods:WebMethodsEmulator",
    "apigee": "reconciler.emulators.apigee:ApigeeEmulator",
}


def emulator_class(gateway_type: str) -> type[Emulator]:
    try:
        path = EMULATORS[gateway_type]
    except KeyError:
        raise LookupError(f"no emulator for gateway type {gateway_type!r} (have: {', '.join(EMULATORS)})") from None
    cls: type[Emulator] = load_class(path, Emulator, missing=f"the {gateway_type} emulator is not installed")
    return cls


__all__ = ["EMULATORS", "Emulator", "emulator_class"]
