"""Errors of coordination, in a module of their own so the CLI can catch them without importing httpx."""

from __future__ import annotations


class CoordinationError(Exception):
    """Coordination refused or failed a run (a lock not obtained in time, etcd unreachable, a lost lease)."""


class LockTimeout(CoordinationError):
    """A gateway's write lock stayed with another holder for the whole `--lock-timeout`."""
