"""Plans and apply reports as text (Terraform-like), JSON (versioned, `schemas/plan.schema.json`) and
Markdown (a PR comment under GitHub's 65,536-character limit). Secrets never reach any of them:
sensitive fields render as "(sensitive)", and records carry references, never values.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from reconciler.model.changes import Change, FieldDiff, GatewayReport, Op, Status
from reconciler.model.plans import GatewayPlan, RepoPlan
from reconciler.model.records import UNKNOWN_SECRET
from reconciler.model.version import VERSION as __version__

PLAN_FORMAT_VERSION = "1"
MARKDOWN_LIMIT = 65_536
SENSITIVE = "(sensitive)"
SYMBOLS = {Op.CREATE: "+", Op.UPDATE: "~", Op.DELETE: "-", Op.CONFLICT: "!", Op.NOOP: " "}
COLOURS = {Op.CREATE: "\033[32m", Op.UPDATE: "\033[33m", Op.DELETE: "\033[31m", Op.CONFLICT: "\033[35m"}
RESET = "\033[0m"


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, sort_keys=True, default=str) if not isinstance(value, str) else json.dumps(value)
    return text if len(text) <= limit else text[: limit - 12] + f"…({len(text)} chars)"


def _diff_value(diff: FieldDiff, which: str) -> str:
    if which == "after" and diff.after == UNKNOWN_SECRET:
        return UNKNOWN_SECRET
    if diff.sensitive:
        return SENSITIVE
    return _short(diff.before if which == "before" else diff.after)


def mask_record(record: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A copy of a record safe to print or save: no secret values, credential fingerprints masked."""
    if record is None:
        return None
    out = copy.deepcopy({k: v for k, v in record.items() if k != "secret"})
    credential = (out.get("spec") or {}).get("credential")
    if isinstance(credential, dict) and credential.get("fingerprint") not in (None, "", UNKNOWN_SECRET):
        credential["fingerprint"] = SENSITIVE
    return out


def _summary_line(counts: Mapping[str, int]) -> str:
    parts = [f"{counts.get('create', 0)} to create", f"{counts.get('update', 0)} to update",
             f"{counts.get('delete', 0)} to delete"]
    if counts.get("conflict"):
        parts.append(f"{counts['conflict']} conflict(s)")
    return "Plan: " + ", ".join(parts) + "."


# ----------------------------------------------------------------------------------------- text
def plan_text(plan: RepoPlan, *, colour: bool = False, verbose: bool = False) -> str:
    lines: list[str] = []

    def paint(op: Op, text: str) -> str:
        return f"{COLOURS[op]}{text}{RESET}" if colour and op in COLOURS else text

    for name, gplan in sorted(plan.gateways.items()):
        lines.append(f"Gateway {name} ({gplan.gateway_type})")
        if gplan.error:
            lines.append(f"  error: {gplan.error}")
            continue
        shown = [c for c in gplan.changes if verbose or c.op is not Op.NOOP]
        if not shown:
            lines.append("  no changes: the gateway matches the desired state")
        for change in shown:
            lines.append(paint(change.op, f"  {SYMBOLS[change.op]} {change.kind} {change.name}"
                                          + (" (adopt)" if change.adopt else "")))
            for note in change.notes:
                lines.append(f"      # {note}")
            if change.op in (Op.CREATE, Op.UPDATE):
                for diff in change.diffs:
                    if change.op is Op.CREATE:
                        lines.append(paint(Op.CREATE, f"      + {diff.path} = {_diff_value(diff, 'after')}"))
                    else:
                        lines.append(paint(Op.UPDATE, f"      ~ {diff.path}: {_diff_value(diff, 'before')}"
                                                      f" -> {_diff_value(diff, 'after')}"))
    lines.extend(f"Missing secret: {line}" for line in plan.missing_secrets)
    for error in plan.errors:
        lines.append(f"Error: {error}")
    lines.append("")
    lines.append(_summary_line(plan.counts()) if plan.has_changes else
                 "No changes. Every gateway matches the desired state.")
    return "\n".join(lines)


def report_text(reports: Mapping[str, GatewayReport]) -> str:
    lines: list[str] = []
    totals = {s.value: 0 for s in Status}
    for name, report in sorted(reports.items()):
        if report.error:
            lines.append(f"Gateway {name}: FAILED: {report.error}")
            continue
        if not report.results:
            lines.append(f"Gateway {name}: nothing to do")
            continue
        lines.append(f"Gateway {name}: {report.writes} write request(s)")
        for item in report.results:
            totals[item.status.value] += 1
            detail = f": {item.error}" if item.error else ""
            lines.append(f"  {item.status.value:<13} {item.op.value:<8} {item.kind} {item.name}{detail}")
    failed = sum(1 for r in reports.values() if r.error) + totals["failed"]
    lines.append("")
    lines.append(f"Apply complete: {totals['applied']} applied, {totals['failed']} failed, "
                 f"{totals['not_attempted']} not attempted." if not failed else
                 f"Apply finished with errors: {totals['applied']} applied, {totals['failed']} failed, "
                 f"{totals['not_attempted']} not attempted, {sum(1 for r in reports.values() if r.error)} "
                 "gateway(s) unreachable.")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------- JSON
def _diff_json(diff: FieldDiff) -> dict[str, Any]:
    if diff.sensitive:
        return {"path": diff.path, "before": SENSITIVE, "after": _diff_value(diff, "after"), "sensitive": True}
    return {"path": diff.path, "before": diff.before, "after": diff.after, "sensitive": False}


def change_json(change: Change) -> dict[str, Any]:
    return {
        "op": change.op.value,
        "kind": change.kind,
        "name": change.name,
        "id": change.live_id,
        "adopt": change.adopt,
        "notes": list(change.notes),
        "diffs": [_diff_json(d) for d in change.diffs],
        "desired": mask_record(change.desired),
        "actual": mask_record(change.actual),
    }


def plan_json(plan: RepoPlan) -> dict[str, Any]:
    return {
        "format_version": PLAN_FORMAT_VERSION,
        "tool": {"name": "stoa-reconciler", "version": __version__},
        "owner": plan.owner,
        "has_changes": plan.has_changes,
        "summary": plan.counts(),
        "errors": list(plan.errors),
        "missing_secrets": list(plan.missing_secrets),
        "secret_refs": plan.secret_refs,
        "gateways": [
            {
                "name": g.name,
                "type": g.gateway_type,
                "error": g.error,
                "fingerprint": g.fingerprint,
                "config": g.config,
                "changes": [change_json(c) for c in g.changes],
            }
            for _, g in sorted(plan.gateways.items())
        ],
    }


def plan_from_json(data: Mapping[str, Any]) -> RepoPlan:
    """Read a saved plan back (`apply plan.json`); raises ValueError on an unknown format."""
    if data.get("format_version") != PLAN_FORMAT_VERSION:
        raise ValueError(f"unsupported plan format_version {data.get('format_version')!r}")
    plan = RepoPlan(owner=str(data.get("owner", "")), errors=list(data.get("errors") or []),
                    secret_refs=dict(data.get("secret_refs") or {}),
                    missing_secrets=list(data.get("missing_secrets") or []))
    for g in data.get("gateways") or []:
        changes = []
        for c in g.get("changes") or []:
            diffs = tuple(FieldDiff(d["path"], d.get("before"), d.get("after"), bool(d.get("sensitive")))
                          for d in c.get("diffs") or [])
            changes.append(Change(g["name"], Op(c["op"]), c["kind"], c["name"], desired=c.get("desired"),
                                  actual=c.get("actual"), diffs=diffs, adopt=bool(c.get("adopt")),
                                  notes=tuple(c.get("notes") or ())))
        plan.gateways[g["name"]] = GatewayPlan(g["name"], g["type"], changes=changes, error=g.get("error"),
                                               fingerprint=g.get("fingerprint", ""), config=dict(g.get("config") or {}))
    return plan


def report_json(reports: Mapping[str, GatewayReport]) -> dict[str, Any]:
    return {
        "format_version": PLAN_FORMAT_VERSION,
        "gateways": [
            {
                "name": name,
                "error": r.error,
                "writes": r.writes,
                "results": [
                    {"kind": i.kind, "name": i.name, "op": i.op.value, "status": i.status.value,
                     "error": i.error, "category": i.category, "resource_id": i.resource_id}
                    for i in r.results
                ],
            }
            for name, r in sorted(reports.items())
        ],
    }


# ----------------------------------------------------------------------------------------- Markdown
def plan_markdown(plan: RepoPlan, *, limit: int = MARKDOWN_LIMIT) -> str:
    head = ["## stoa-reconciler plan", ""]
    head.append(_summary_line(plan.counts()) if plan.has_changes else "**No changes.** Every gateway matches.")
    head.append("")
    for error in plan.errors:
        head.append(f"> :x: **Error:** {error}")
    head.extend(f"> :warning: **Missing secret:** {line}" for line in plan.missing_secrets)
    if plan.errors or plan.missing_secrets:
        head.append("")
    head.append("| gateway | type | create | update | delete | conflict | status |")
    head.append("|---|---|---:|---:|---:|---:|---|")
    for name, g in sorted(plan.gateways.items()):
        c = {op: sum(1 for ch in g.changes if ch.op is op) for op in Op}
        status = f"error: {g.error}" if g.error else ("in sync" if not g.pending else "changes")
        head.append(f"| `{name}` | {g.gateway_type} | {c[Op.CREATE]} | {c[Op.UPDATE]} | {c[Op.DELETE]} | "
                    f"{c[Op.CONFLICT]} | {status.replace('|', '/')} |")
    head.append("")
    body: list[str] = []
    for name, g in sorted(plan.gateways.items()):
        if not g.pending:
            continue
        block = [f"<details><summary><code>{name}</code>: {len(g.pending)} change(s)</summary>", "", "```diff"]
        for change in g.pending:
            block.append(f"{SYMBOLS[change.op]} {change.kind} {change.name}")
            for note in change.notes:
                block.append(f"#   {note}")
            for diff in change.diffs:
                if change.op is Op.CREATE:
                    block.append(f"+     {diff.path} = {_diff_value(diff, 'after')}")
                else:
                    block.append(f"~     {diff.path}: {_diff_value(diff, 'before')} -> {_diff_value(diff, 'after')}")
        block += ["```", "", "</details>", ""]
        body.append("\n".join(block))
    out = "\n".join(head)
    cut = "\n_The plan is too long for one comment; the rest was cut. Run `reconciler plan` for all of it._\n"
    for section in body:
        if len(out) + len(section) + len(cut) > limit:
            return out + cut
        out += section
    return out
