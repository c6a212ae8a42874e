"""A plan as data: per gateway, the ordered changes and what went wrong reading it (no I/O).

The runner fills these in, the renderers print them, saved plans round-trip through them; none of
them needs to know how a plan was computed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from reconciler.model.changes import Change, GatewayReport, Op, count_ops

Section = Literal["change", "drift"]
"""Where a change of a plan made with a base ref belongs: this change (its desired state differs
between the base and HEAD) or drift (made outside Git: the desired state is the same at both)."""
Touch = Literal["added", "removed", "modified"]
"""How the desired state of one object differs between a base ref and HEAD."""

ErrorKind = Literal["unreachable", "stale", "config"]
"""Why a gateway has no plan: its admin API could not be read, its live state changed since a saved
plan was made, or it could not even be configured (a missing credential, bad options)."""
ERROR_KINDS: tuple[ErrorKind, ...] = ("unreachable", "stale", "config")


@dataclass(repr=False)
class GatewayPlan:
    name: str
    gateway_type: str
    changes: list[Change] = field(default_factory=list)
    error: str | None = None
    fingerprint: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    """The gateway's connection settings with secret *references* only (for saved plans)."""
    error_kind: ErrorKind | None = None
    """Why `error` is set; None reads as "unreachable" (what a failed read was before kinds existed)."""

    @property
    def pending(self) -> list[Change]:
        return [c for c in self.changes if c.op is not Op.NOOP]

    def __repr__(self) -> str:
        return f"GatewayPlan({self.name!r}, {self.gateway_type!r}, changes={len(self.changes)}, error={self.error!r})"

    @property
    def failure(self) -> ErrorKind | None:
        """The kind of this gateway's error, or None when it was planned: so no summary calls a
        gateway whose live state is unknown "in sync"."""
        if self.error is None:
            return None
        return self.error_kind or "unreachable"


@dataclass
class PlanBase:
    """The base ref a plan was split against (`plan --base REF`) and the objects the change touches."""

    ref: str
    commit: str
    touched: dict[tuple[str, str, str], Touch] = field(default_factory=dict)
    """(gateway, kind, name) -> how its desired state differs between the base and HEAD."""

    def section_of(self, change: Change) -> Section:
        return "change" if (change.gateway, change.kind, change.name) in self.touched else "drift"


@dataclass(repr=False)
class RepoPlan:
    gateways: dict[str, GatewayPlan] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    owner: str = ""
    secret_refs: dict[str, dict[str, str]] = field(default_factory=dict)
    """"Kind/name" -> field -> reference ("env:NAME" / "file:/abs/path"), for saved plans."""
    missing_secrets: list[str] = field(default_factory=list)
    """One line per secret the plan could not read ("Consumer mobile-app: environment variable K is
    not set"): the plan shows those credentials as unknown; an apply refuses to run without them."""
    base: PlanBase | None = None
    """Set by `plan --base REF`: the plan is shown as this change and drift."""
    skipped: dict[str, str] = field(default_factory=dict)
    """Gateway -> why it was not planned (`--changed-since`: its desired state did not change)."""
    targets: list[str] = field(default_factory=list)
    """The `--target KIND/NAME`s the plan was limited to (with their dependencies): it may be incomplete."""

    @property
    def has_changes(self) -> bool:
        return any(g.pending for g in self.gateways.values())

    def __repr__(self) -> str:
        """Short: asyncio's `run` reprs its task's result on the way out (Python 3.11), and the field-by-field
        repr of a 90,000-object plan takes over a second."""
        return f"RepoPlan(owner={self.owner!r}, gateways={list(self.gateways.values())!r}, errors={len(self.errors)})"

    @property
    def failed(self) -> bool:
        return bool(self.errors) or any(g.error for g in self.gateways.values())

    @property
    def complete(self) -> bool:
        """Every gateway was read: only then may "no changes" be said of the plan."""
        return not any(g.error for g in self.gateways.values())

    def counts(self) -> dict[str, int]:
        return count_ops(c for g in self.gateways.values() for c in g.changes)

    def guarded_deletes(self) -> tuple[int, int]:
        """(deletes maxDeletes counts, owned duplicates collapsed). A second owned copy of a declared
        object (left by an interrupted or concurrent create) is not a delete of anything desired: the
        declared object stays, so the guard against mass deletion does not count it."""
        counted = duplicates = 0
        for g in self.gateways.values():
            declared = {(c.kind, c.name) for c in g.changes if c.desired is not None}
            for c in g.changes:
                if c.op is Op.DELETE:
                    if (c.kind, c.name) in declared:
                        duplicates += 1
                    else:
                        counted += 1
        return counted, duplicates

    def failures(self) -> dict[ErrorKind, int]:
        """How many gateways failed, per kind (every kind present, zeros included)."""
        out: dict[ErrorKind, int] = {kind: 0 for kind in ERROR_KINDS}
        for g in self.gateways.values():
            kind = g.failure
            if kind is not None:
                out[kind] += 1
        return out


@dataclass(frozen=True)
class DesiredDiff:
    """Two desired states compared (`reconciler diff`), no gateway contacted: gateway -> the objects
    added (create), removed (delete) and changed (update, with field diffs)."""

    source: str
    target: str
    source_commit: str
    target_commit: str | None
    """None: the working tree (uncommitted edits included)."""
    gateways: dict[str, list[Change]]

    @property
    def has_changes(self) -> bool:
        return any(self.gateways.values())


@dataclass(repr=False)
class ApplyOutcome:
    plan: RepoPlan
    reports: dict[str, GatewayReport] = field(default_factory=dict)
    declined: bool = False
    """The approval callback refused the plan: nothing was applied."""

    @property
    def failed(self) -> bool:
        return self.plan.failed or any(r.failed for r in self.reports.values())

    def __repr__(self) -> str:
        return f"ApplyOutcome({self.plan!r}, reports={sorted(self.reports)!r}, declined={self.declined})"
