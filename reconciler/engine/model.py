"""Plain data of a plan and of its application: frozen, JSON-serialisable, free of I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Op(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    NOOP = "no-op"
    CONFLICT = "conflict"
    """An unowned object has the desired name: never touched unless the run adopts it."""


class Status(StrEnum):
    APPLIED = "applied"
    FAILED = "failed"
    SKIPPED = "skipped"
    NOT_ATTEMPTED = "not_attempted"


@dataclass(frozen=True)
class FieldDiff:
    path: str
    """Dotted path inside the canonical spec, e.g. `config.requests`."""
    before: Any
    after: Any
    sensitive: bool = False


@dataclass(frozen=True)
class Change:
    gateway: str
    op: Op
    kind: str
    name: str
    desired: dict[str, Any] | None = None
    """Desired canonical record (None for a delete)."""
    actual: dict[str, Any] | None = None
    """Live canonical record (None for a create)."""
    diffs: tuple[FieldDiff, ...] = ()
    adopt: bool = False
    """True when an unowned live object is taken over (`--adopt`)."""
    notes: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.gateway, self.kind, self.name)

    @property
    def live_id(self) -> str | None:
        return None if self.actual is None else self.actual.get("id")


@dataclass(frozen=True)
class ItemResult:
    gateway: str
    kind: str
    name: str
    op: Op
    status: Status
    error: str | None = None
    category: str | None = None
    resource_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in (Status.APPLIED, Status.SKIPPED)


@dataclass
class GatewayReport:
    gateway: str
    results: list[ItemResult] = field(default_factory=list)
    error: str | None = None
    """Set when the whole gateway failed (unreachable, batch rejected before any item)."""
    writes: int = 0
    """Write requests (non-GET) the adapter sent during the apply."""

    @property
    def failed(self) -> bool:
        return self.error is not None or any(r.status is Status.FAILED for r in self.results)
