"""Kong Admin API emulator (DB-less and database mode); see `emulator.py`."""

from reconciler.emulators.kong.emulator import KongEmulator

__all__ = ["KongEmulator"]
