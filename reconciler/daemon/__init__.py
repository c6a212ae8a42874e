"""`reconciler daemon`: Git/local source, webhooks, scheduled drift detection, health and metrics.

Layers (outer to inner): `commands` (CLI) → `check` (`--check`) → `runner` (supervisor, reconcile
loop) → `http` → `scheduler`, `source`, `webhooks`, `metrics`, `logs` → `settings`, `state`, `modes`
→ `fields` (the setting and flag tables). Only `source` and `http` do I/O of their own; gateways are
reached through `reconciler.runner`, like the CLI.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DaemonSettings", "SettingsError", "load_settings"]


def __getattr__(name: str) -> Any:
    # Lazy: the CLI registers the daemon's subcommands on every start; settings (pydantic) load on use.
    if name in __all__:
        from reconciler.daemon import settings

        return getattr(settings, name)
    raise AttributeError(name)
