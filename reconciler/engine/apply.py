"""Run one gateway's changes through its adapter and report every item (the imperative shell).

The adapter may take the whole batch (`apply_batch`, e.g. Kong DB-less: one POST /config). Otherwise
changes run level by level (creates/updates upwards, then deletes downwards), each level a barrier,
at most `concurrency` calls at once within a level. A failure is recorded per resource and never
raised; items that depend on a failed API (its policies, consumers subscribed to it) are marked
not_attempted, and everything else goes on. Conflicts are reported as failures and never sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from reconciler.adapters.base import AdapterResult, GatewayAdapter
from reconciler.adapters.errors import CONFLICT, sanitize
from reconciler.engine.kinds import KINDS
from reconciler.engine.model import Change, GatewayReport, ItemResult, Op, Status

WRITES = (Op.CREATE, Op.UPDATE, Op.DELETE)


def with_secrets(change: Change, secrets: Mapping[tuple[str, str], dict[str, str]]) -> Change:
    """A copy of the change whose desired record carries the resolved secret values (apply time only)."""
    values = secrets.get((change.kind, change.name))
    if change.desired is None or not values:
        return change
    desired = {**change.desired, "secret": dict(values)}
    return Change(change.gateway, change.op, change.kind, change.name, desired=desired, actual=change.actual,
                  diffs=change.diffs, adopt=change.adopt, notes=change.notes)


def _dependencies(change: Change) -> set[str]:
    """Names of APIs this change needs to exist on the gateway."""
    if change.desired is None or change.op is Op.DELETE:
        return set()
    spec = change.desired.get("spec") or {}
    if change.kind == "Policy":
        return {str(spec.get("api"))}
    if change.kind == "Consumer":
        return {str(s) for s in spec.get("subscriptions") or []}
    return set()


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
            assert change.actual is not None
            result = await adapter.remove(change.actual)
        else:
            assert change.desired is not None
            result = await adapter.upsert(change.desired)
    except Exception as exc:  # noqa: BLE001 - an adapter that breaks the never-raise rule still gets a result
        result = adapter.failure(exc, what=f"{change.op.value} {change.kind} {change.name}")
    return _result(change, result, secrets)


async def apply_gateway(
    adapter: GatewayAdapter,
    changes: list[Change],
    *,
    secrets: Mapping[tuple[str, str], dict[str, str]] | None = None,
    concurrency: int = 8,
) -> GatewayReport:
    """Apply a gateway's planned changes; returns one ItemResult per non-no-op change."""
    report = GatewayReport(adapter.name)
    secret_values = tuple(v for values in (secrets or {}).values() for v in values.values()) + adapter.secrets
    before = adapter.write_count
    pending = [with_secrets(c, secrets or {}) for c in changes if c.op in WRITES]
    for change in changes:
        if change.op is Op.CONFLICT:
            report.results.append(ItemResult(change.gateway, change.kind, change.name, change.op, Status.FAILED,
                                             error="; ".join(change.notes) or "conflict", category=CONFLICT))
    if not pending:
        return report

    try:
        batch = await adapter.apply_batch(pending)
    except Exception as exc:  # noqa: BLE001
        failure = adapter.failure(exc, what="apply")
        batch = [_result(c, failure, secret_values) for c in pending]
    if batch is not None:
        report.results.extend(batch)
        report.writes = adapter.write_count - before
        return report

    semaphore = asyncio.Semaphore(max(1, concurrency))
    failed_apis: set[str] = set()

    async def guarded(change: Change) -> ItemResult:
        missing = _dependencies(change) & failed_apis
        if missing:
            return ItemResult(change.gateway, change.kind, change.name, change.op, Status.NOT_ATTEMPTED,
                              error=f"depends on API(s) that failed: {', '.join(sorted(missing))}")
        async with semaphore:
            return await _run_one(adapter, change, secret_values)

    upserts = [c for c in pending if c.op is not Op.DELETE]
    deletes = [c for c in pending if c.op is Op.DELETE]
    for group, reverse in ((upserts, False), (deletes, True)):
        levels = sorted({KINDS[c.kind].level if c.kind in KINDS else 99 for c in group}, reverse=reverse)
        for level in levels:
            batch_changes = [c for c in group if (KINDS[c.kind].level if c.kind in KINDS else 99) == level]
            results = await asyncio.gather(*(guarded(c) for c in batch_changes))
            for change, item in zip(batch_changes, results, strict=True):
                if change.kind == "API" and item.status is not Status.APPLIED and change.op is not Op.DELETE:
                    failed_apis.add(change.name)
            report.results.extend(results)
    report.writes = adapter.write_count - before
    return report


def summarize(reports: Mapping[str, GatewayReport]) -> dict[str, Any]:
    counts = {s.value: 0 for s in Status}
    for report in reports.values():
        for item in report.results:
            counts[item.status.value] += 1
    return {"results": counts, "failed_gateways": sorted(n for n, r in reports.items() if r.failed)}
