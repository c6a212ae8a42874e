"""What the daemon knows and reports: plain data, written by the reconcile loop, read by HTTP.

Kept apart from the loop so `/health`, `/status` and the metrics render the same facts, and so
tests can build a state by hand. `last_attempted_commit` and `last_commit` are distinct (flux's
LastAttemptedRevision / LastAppliedRevision): the second moves only when an apply succeeded.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from reconciler.runner import LoadedRepo


@dataclass(frozen=True)
class Revision:
    """One immutable snapshot of the desired state, ready for the runner."""

    commit: str
    path: Path
    """Directory the runner reads (the snapshot plus the configured sub-path)."""
    fetched_at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class PreparedRevision:
    """A revision that passed validation, loaded once: shared by every gateway worker and heartbeat.

    Holds no secret values (they are resolved by each plan/apply); a new commit gets a new one.
    """

    revision: Revision
    repo: LoadedRepo
    gateways: Mapping[str, str]
    """Gateways the daemon reconciles (RECONCILER_GATEWAYS applied): name -> gateway type."""

    @property
    def commit(self) -> str:
        return self.revision.commit

    @property
    def path(self) -> Path:
        return self.revision.path


@dataclass(frozen=True)
class ValidationIssue:
    file: str
    line: int | None
    field: str
    message: str


@dataclass
class InvalidCommit:
    commit: str
    errors: list[ValidationIssue]
    at: float = field(default_factory=time.time)


@dataclass
class SourceStatus:
    kind: str
    """git | local"""
    location: str
    """The remote URL or directory, with any credentials stripped."""
    branch: str | None = None
    head: str | None = None
    """Last commit fetched (valid or not)."""
    good: PreparedRevision | None = None
    """Last commit that passed validation: what the gateways are reconciled to."""
    invalid: InvalidCommit | None = None
    """Set while the head commit fails validation."""
    last_fetch: float | None = None
    last_fetch_error: str | None = None
    fetches: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "location": self.location, "branch": self.branch, "head": self.head,
            "good_commit": None if self.good is None else self.good.commit,
            "last_fetch": self.last_fetch, "last_fetch_error": self.last_fetch_error,
            "invalid": None if self.invalid is None else {
                "commit": self.invalid.commit, "at": self.invalid.at,
                "errors": [asdict(e) for e in self.invalid.errors],
            },
        }


@dataclass
class GatewayStatus:
    name: str
    type: str = "unknown"
    healthy: bool | None = None
    """None until the first heartbeat."""
    health_error: str | None = None
    last_check: float | None = None
    last_sync: float | None = None
    """When a reconcile last succeeded (apply without failure, or a clean plan)."""
    last_commit: str | None = None
    """Commit last applied successfully."""
    last_attempted_commit: str | None = None
    discovered_apis: int = 0
    drift: int = 0
    """Objects that differ from the last good commit, found by the last drift check."""
    last_error: str | None = None
    last_plan: dict[str, Any] | None = None
    reconciles: int = 0
    hold: str | None = None
    """Why the last reconcile applied nothing that it would have (suspended, paused, a sync window)."""

    def health_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "healthy": self.healthy, "last_sync": self.last_sync,
                "last_commit": self.last_commit, "discovered_apis": self.discovered_apis, "drift": self.drift,
                "last_error": self.last_error}


@dataclass
class DaemonState:
    source: SourceStatus
    gateways: dict[str, GatewayStatus] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)
    dead_tasks: list[str] = field(default_factory=list)
    """Named supervisor tasks that stopped unexpectedly: the daemon cannot do its job."""
    stopping: bool = False

    def gateway(self, name: str) -> GatewayStatus:
        if name not in self.gateways:
            self.gateways[name] = GatewayStatus(name)
        return self.gateways[name]
