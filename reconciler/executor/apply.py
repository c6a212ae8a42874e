"""Run one gateway's changes through its adapter and report every item (the imperative shell).

The adapter may take the whole batch (`apply_batch`, e.g. Kong DB-less: one POST /config). Otherwise
changes run level by level (creates/updates upwards, then deletes downwards), each level a barrier,
at most `concurrency` calls at once within a level (the gateway's `options.concurrency` when set; the
HTTP layer lowers the writes in flight while the gateway answers 429). A failure is recorded per resource and never
raised; items that depend on a failed API (its policies, consumers subscribed to it) are marked
not_attempted, and everything else goes on. Conflicts are reported as failures and never sent.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from typing import Any, Protocol

from reconciler.adapters.base import DEFAULT_CONCURRENCY, GatewayAdapter
from reconciler.model.changes import Change, GatewayReport, ItemResult, Op, Status
from reconciler.model.errors import CONFLICT, sanitize
from reconciler.model.kinds import level_of, references
from reconciler.model.results import AdapterResult

WRITES = (Op.CREATE, Op.UPDATE, Op.DELETE)
INTERRUPTED = "interrupted: not started (the run was asked to stop; in-flight requests were finished)"


class StopSignal(Protocol):
    """Anything with `is_set()` (an `asyncio.Event`): once set, no new write starts."""

    def is_set(self) -> bool: ...


def with_secrets(change: Change, secrets: Mapping[tuple[str, str], dict[str, str]]) -> Change:
    """A copy of the change carrying the resolved secret values of its object (apply time only)."""
    values = secrets.get((change.kind, change.name))
    if change.desired is None or not values:
        return change
    return dataclasses.replace(change, secrets=dict(values))


def _dependencies(change: Change) -> frozenset[tuple[str, str]]:
    """The objects this change needs on the gateway (from the kind table's `refs`)."""
    if change.desired is None or change.op is Op.DELETE:
        return frozenset()
    return references(change.kind, change.desired.get("spec") or {})


def _result(change: Change, result: AdapterResult, secrets: tuple[str, ...]) -> ItemResult:
    if result.success:
        return ItemResult(change.gateway, change.kind, change.name, change.op, Status.APPLIED,
                          resource_id=result.resource_id)
    error = sanitize(result.error or "failed", secrets=secrets)
    return ItemResult(change.gateway, change.kind, change.name, change.op, Status.FAILED, error=error,
                      category=result.category)


async def _run_one(adapter: GatewayAdapter, change: Change, secrets: tuple[str, ...]) -> ItemResult:
    try:
        if change.op is Op.DELETE:
            result = await adapter.remove(change)
        else:
            result = await adapter.upsert(change)
    except Exception as exc:  # noqa: BLE001 - an adapter that breaks the never-raise rule still gets a result
        result = adapter.failure(exc, what=f"{change.op.value} {change.kind} {change.name}")
    return _result(change, result, secrets)


async def apply_gateway(
    adapter: GatewayAdapter,
    changes: list[Change],
    *,
    secrets: Mapping[tuple[str, str], dict[str, str]] | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    stop: StopSignal | None = None,
) -> GatewayReport:
    """Apply a gateway's planned changes; returns one ItemResult per non-no-op change.

    When `stop` is set (SIGTERM, Ctrl-C), changes not yet started are reported `not_attempted`:
    what was written is in the report, and the next apply converges from there."""
    report = GatewayReport(adapter.name)
    # The run's scrubber learns this gateway's consumer keys before any request: from here on the HTTP
    # layer, the adapter's logs and every result message remove them.
    adapter.scrubber.add(*(v for values in (secrets or {}).values() for v in values.values()))
    secret_values = adapter.secrets
    before = adapter.write_count
    pending = [with_secrets(c, secrets or {}) for c in changes if c.op in WRITES]
    for change in changes:
        if change.op is Op.CONFLICT:
            report.results.append(ItemResult(change.gateway, change.kind, change.name, change.op, Status.FAILED,
                                             error="; ".join(change.notes) or "conflict", category=CONFLICT))
    if not pending:
        return report

    if stop is not None and stop.is_set():
        report.results.extend(_interrupted(c) for c in pending)
        return report
    try:
        batch = await adapter.apply_batch(pending)
    except Exception as exc:  # noqa: BLE001
        failure = adapter.failure(exc, what="apply")
        batch = [_result(c, failure, secret_values) for c in pending]
    if batch is not None:
        report.results.extend(dataclasses.replace(item, error=adapter.scrubber(item.error)) if item.error else item
                              for item in batch)
        report.writes = adapter.write_count - before
        return report

    semaphore = asyncio.Semaphore(max(1, adapter.concurrency or concurrency))
    failed: set[tuple[str, str]] = set()

    async def guarded(change: Change) -> ItemResult:
        missing = _dependencies(change) & failed
        if missing:
            return ItemResult(change.gateway, change.kind, change.name, change.op, Status.NOT_ATTEMPTED,
                              error=_depends_message(missing))
        async with semaphore:
            if stop is not None and stop.is_set():
                return _interrupted(change)
            return await _run_one(adapter, change, secret_values)

    upserts = [c for c in pending if c.op is not Op.DELETE]
    deletes = [c for c in pending if c.op is Op.DELETE]
    for group, reverse in ((upserts, False), (deletes, True)):
        levels = sorted({level_of(c.kind) for c in group}, reverse=reverse)
        for level in levels:
            batch_changes = [c for c in group if level_of(c.kind) == level]
            results = await asyncio.gather(*(guarded(c) for c in batch_changes))
            for change, item in zip(batch_changes, results, strict=True):
                if item.status is not Status.APPLIED and change.op is not Op.DELETE:
                    failed.add((change.kind, change.name))
            report.results.extend(results)
    report.writes = adapter.write_count - before
    return report


def _interrupted(change: Change) -> ItemResult:
    return ItemResult(change.gateway, change.kind, change.name, change.op, Status.NOT_ATTEMPTED, error=INTERRUPTED)


def _depends_message(missing: frozenset[tuple[str, str]] | set[tuple[str, str]]) -> str:
    """Kept in the words users know: "depends on API(s) that failed: a, b" (other kinds named with theirs)."""
    by_kind: dict[str, list[str]] = {}
    for kind, name in sorted(missing):
        by_kind.setdefault(kind, []).append(name)
    return "; ".join(f"depends on {kind}(s) that failed: {', '.join(names)}" for kind, names in sorted(by_kind.items()))


def summarize(reports: Mapping[str, GatewayReport]) -> dict[str, Any]:
    counts = {s.value: 0 for s in Status}
    for report in reports.values():
        for item in report.results:
            counts[item.status.value] += 1
    return {"results": counts, "failed_gateways": sorted(n for n, r in reports.items() if r.failed)}
