"""Plain data of a plan and of its application: frozen, JSON-serialisable, free of I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal


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


@dataclass(frozen=True, slots=True)
class FieldDiff:
    path: str
    """Dotted path inside the canonical spec, e.g. `config.requests`."""
    before: Any
    after: Any
    sensitive: bool = False
    element: Literal["added", "removed"] | None = None
    """Set for one element of a list of scalars: `after` was added to (or `before` removed from) the
    list at `path`; an index in the path (`methods[2]`) says where, for lists whose order matters."""


@dataclass(frozen=True, slots=True)
class Change:
    """One object's planned operation. Slotted: a 90,000-object plan holds 90,000 of them."""

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
    """True when an unowned live object is taken over (`--adopt`): the one way adoption is signalled."""
    notes: tuple[str, ...] = ()
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    """Secret values resolved for this change (field -> value), set by the executor at apply time
    only: never in a plan, a saved plan, a log or an error message."""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.gateway, self.kind, self.name)

    @property
    def live_id(self) -> str | None:
        return None if self.actual is None else self.actual.get("id")

    def request(self) -> dict[str, Any]:
        """The record a contract method (`sync_api`, `upsert_policy`, ...) receives for this change.

        Every key is always present, so no adapter infers anything from a record's shape:
        `id` is the live object's id (None for a create), `adopt` says whether an unowned object is
        being taken over, `secret` holds the resolved values (empty outside an apply).
        """
        base = dict(self.desired) if self.desired is not None else dict(self.actual or {})
        base["id"] = self.live_id
        base["adopt"] = self.adopt
        base["secret"] = dict(self.secrets)
        return base


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


def count_ops(changes: Iterable[Change]) -> dict[str, int]:
    """How many changes of each op (every op present, zeros included)."""
    counts = {op.value: 0 for op in Op}
    for change in changes:
        counts[change.op.value] += 1
    return counts
