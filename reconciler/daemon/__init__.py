"""`reconciler daemon`: Git/local source, webhooks, scheduled drift detection, health and metrics.

Layers (outer to inner): `commands` (CLI) → `runner` (supervisor, reconcile loop) → `http`,
`scheduler`, `source`, `webhooks` → `settings`, `state`, `metrics`, `logs`. Only `source` and
`http` do I/O of their own; gateways are reached through `reconciler.runner`, like the CLI.
"""

from __future__ import annotations

from reconciler.daemon.settings import DaemonSettings, SettingsError, load_settings

__all__ = ["DaemonSettings", "SettingsError", "load_settings"]
