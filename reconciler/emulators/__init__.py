"""Gateway emulators: small HTTP servers that behave like the vendors' admin APIs.

Each is written from the vendor's own contract (`../shared/specs`) and never imports from
`reconciler.adapters`, so a misunderstanding in an adapter cannot hide in its emulator (an
import-linter contract in `pyproject.toml` enforces it). Which emulator serves which gateway type
is data in the gateway-type table; see `registry.py`.
"""

from __future__ import annotations

from reconciler.emulators.registry import emulator_class, emulator_names
from reconciler.emulators.server import Emulator

__all__ = ["Emulator", "emulator_class", "emulator_names"]
