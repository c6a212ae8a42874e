"""Plans and apply reports as text (Terraform-like), JSON (versioned, `schemas/plan.schema.json`) and
Markdown (a PR comment under GitHub's 65,536-character limit). Secrets never reach any of them:
sensitive fields render as "(sensitive)", and records carry references, never values.

A plan never lies: a gateway that could not be read makes the plan *incomplete* in every format,
never "No changes", and a gateway refused because its live state moved since a saved plan is
counted as such, not as unreachable.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from collections.abc import Mapping
from typing import Any, Literal

from reconciler.model.changes import Change, FieldDiff, GatewayReport, Op, Status, count_ops
from reconciler.model.plans import ERROR_KINDS, ErrorKind, GatewayPlan, PlanBase, RepoPlan, Section, Touch
from reconciler.model.records import UNKNOWN_SECRET
from reconciler.model.version import VERSION as __version__

PLAN_FORMAT_VERSION = "1"
MARKDOWN_LIMIT = 65_536
"""GitHub's comment limit as its API states it ("maximum is 65536 characters"); at most 4 UTF-8 bytes a
character, this also stays within the 262,144 bytes the API is measured to store."""
FAILURE_WORDS: dict[ErrorKind, str] = {"unreachable": "unreachable", "stale": "changed since the plan",
                                       "config": "not configured"}
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


def _counts_phrase(counts: Mapping[str, int]) -> str:
    parts = [f"{counts.get('create', 0)} to create", f"{counts.get('update', 0)} to update",
             f"{counts.get('delete', 0)} to delete"]
    if counts.get("conflict"):
        parts.append(f"{counts['conflict']} conflict(s)")
    return ", ".join(parts)


def _summary_line(counts: Mapping[str, int]) -> str:
    return "Plan: " + _counts_phrase(counts) + "."


def _failures_phrase(failures: Mapping[ErrorKind, int]) -> str:
    return ", ".join(f"{failures[kind]} {FAILURE_WORDS[kind]}" for kind in ERROR_KINDS if failures.get(kind))


def _incomplete_lines(plan: RepoPlan) -> tuple[str, str | None]:
    """The two sentences of an incomplete plan: what failed, then what the other gateways need."""
    failures = plan.failures()
    failed, total = sum(failures.values()), len(plan.gateways)
    first = (f"{failed} of {total} gateway(s) could not be planned ({_failures_phrase(failures)}); "
             "their changes are unknown.")
    rest = total - failed
    if not rest:
        return first, None
    if plan.has_changes:
        return first, f"Plan for the {rest} other gateway(s): {_counts_phrase(plan.counts())}."
    return first, f"The {rest} other gateway(s) match the desired state."


# ----------------------------------------------------------------------------------------- text
TARGET_WARNING = (
    "Warning: Resource targeting is in effect\n\n"
    "You are creating a plan with --target ({targets}), which means that the result of this\n"
    "plan may not represent all of the changes requested by the current configuration: only the\n"
    "targets and the objects they depend on are planned, and only the targets may be deleted.\n\n"
    "The --target option is not for routine use, and is provided only for exceptional situations\n"
    "such as recovering from errors or mistakes."
)
"""Terraform's warning for `-target` (its words, our option), printed with every targeted plan."""
SECTION_TITLES: dict[Section, str] = {"change": "This change", "drift": "Drift"}


def section_intro(base: PlanBase, section: Section) -> str:
    """What a section of a plan made with a base ref holds, in one sentence."""
    where = f"{base.ref} ({base.commit[:12]})"
    if section == "change":
        return (f"objects whose desired state differs between {where} and HEAD "
                f"({len(base.touched)} object(s)), as the change will act on the live state")
    return f"live state vs desired state at {where}, for objects this change does not touch: made outside Git"


def split_changes(plan: RepoPlan, gplan: GatewayPlan, section: Section | None) -> list[Change]:
    """The changes of one gateway in `section` of a plan made with a base ref (all: None or no base)."""
    if section is None or plan.base is None:
        return list(gplan.changes)
    base = plan.base
    return [c for c in gplan.changes if base.section_of(c) == section]


def section_counts(plan: RepoPlan, section: Section) -> dict[str, int]:
    return count_ops(c for g in plan.gateways.values() for c in split_changes(plan, g, section))


def _gateway_lines(plan: RepoPlan, section: Section | None, paint: Any, verbose: bool) -> list[str]:
    lines: list[str] = []
    for name, gplan in sorted(plan.gateways.items()):
        lines.append(f"Gateway {name} ({gplan.gateway_type})")
        if gplan.error:
            lines.append(f"  error: {gplan.error}")
            continue
        shown = [c for c in split_changes(plan, gplan, section) if verbose or c.op is not Op.NOOP]
        if not shown:
            lines.append("  no changes: the gateway matches the desired state" if section is None else
                         f"  no {SECTION_TITLES[section].lower()} on this gateway")
        for change in shown:
            lines.append(paint(change.op, f"  {SYMBOLS[change.op]} {change.kind} {change.name}"
                                          + (" (adopt)" if change.adopt else "")))
            for note in change.notes:
                lines.append(f"      # {note}")
            if change.op in (Op.CREATE, Op.UPDATE):
                lines.extend(paint(_SIGN_OP[sign], "      " + "    " * depth + f"{sign} {text}")
                             for sign, depth, text in _diff_rows(change))
    return lines


def plan_text(plan: RepoPlan, *, colour: bool = False, verbose: bool = False) -> str:
    lines: list[str] = []

    def paint(op: Op, text: str) -> str:
        return f"{COLOURS[op]}{text}{RESET}" if colour and op in COLOURS else text

    if plan.targets:
        lines += [TARGET_WARNING.format(targets=", ".join(plan.targets)), ""]
    lines.extend(f"Skipped gateway {name}: {why}" for name, why in sorted(plan.skipped.items()))
    if plan.base is None:
        lines.extend(_gateway_lines(plan, None, paint, verbose))
    else:
        for section in ("change", "drift"):
            if lines and lines[-1]:
                lines.append("")
            lines.append(f"== {SECTION_TITLES[section]}: {section_intro(plan.base, section)}")
            lines.extend(_gateway_lines(plan, section, paint, verbose))
    lines.extend(f"Missing secret: {line}" for line in plan.missing_secrets)
    for error in plan.errors:
        lines.append(f"Error: {error}")
    lines.append("")
    if not plan.complete:
        first, rest = _incomplete_lines(plan)
        lines.append("Plan incomplete: " + first)
        if rest:
            lines.append(rest)
    else:
        lines.append(_summary_line(plan.counts()) if plan.has_changes else
                     "No changes. Every gateway matches the desired state.")
    if plan.base is not None:
        lines.append(_sections_line(plan))
    return "\n".join(lines)


def _sections_line(plan: RepoPlan) -> str:
    return (f"This change: {_counts_phrase(section_counts(plan, 'change'))}; "
            f"drift: {_counts_phrase(section_counts(plan, 'drift'))}.")


_SIGN_OP = {"+": Op.CREATE, "-": Op.DELETE, "~": Op.UPDATE}
_INDEXED = re.compile(r"(.+)\[(\d+)\]")
"""An element diff of an ordered list: `path[index]`."""


def _diff_rows(change: Change) -> list[tuple[str, int, str]]:
    """A change's field diffs as (sign, depth, text): `~ path: before -> after`, `+ path = value` for a
    create, and a list's removed and added elements one level under a single `~ path:`."""
    out: list[tuple[str, int, str]] = []
    current: str | None = None
    for diff in change.diffs:
        if diff.element is None:
            current = None
            if change.op is Op.CREATE:
                out.append(("+", 0, f"{diff.path} = {_diff_value(diff, 'after')}"))
            else:
                out.append(("~", 0, f"{diff.path}: {_diff_value(diff, 'before')} -> {_diff_value(diff, 'after')}"))
            continue
        indexed = _INDEXED.fullmatch(diff.path)
        where, index = (indexed[1], f"[{indexed[2]}]") if indexed else (diff.path, "")
        if where != current:
            out.append(("~", 0, f"{where}:"))
            current = where
        added = diff.element == "added"
        value = _diff_value(diff, "after" if added else "before")
        out.append(("+" if added else "-", 1, f"{index} {value}" if index else value))
    return out


REPORT_WORDS: dict[ErrorKind, str] = {"unreachable": "gateway(s) unreachable",
                                      "stale": "gateway(s) changed since the plan (run plan again)",
                                      "config": "gateway(s) not configured"}


def report_text(reports: Mapping[str, GatewayReport], plan: RepoPlan | None = None) -> str:
    """The apply report; `plan` (the one applied) says why a gateway failed as a whole."""
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
                 f"{totals['not_attempted']} not attempted, {_gateway_failures(reports, plan)}.")
    return "\n".join(lines)


def _gateway_failures(reports: Mapping[str, GatewayReport], plan: RepoPlan | None) -> str:
    counts: dict[ErrorKind, int] = {kind: 0 for kind in ERROR_KINDS}
    for name, report in reports.items():
        if report.error:
            gplan = plan.gateways.get(name) if plan is not None else None
            counts[(gplan.failure if gplan is not None else None) or "unreachable"] += 1
    parts = [f"{counts[kind]} {REPORT_WORDS[kind]}" for kind in ERROR_KINDS if counts[kind]]
    return ", ".join(parts) or f"0 {REPORT_WORDS['unreachable']}"


# ----------------------------------------------------------------------------------------- JSON
def _diff_json(diff: FieldDiff) -> dict[str, Any]:
    if diff.sensitive:
        out: dict[str, Any] = {"path": diff.path, "before": SENSITIVE, "after": _diff_value(diff, "after"),
                               "sensitive": True}
    else:
        out = {"path": diff.path, "before": diff.before, "after": diff.after, "sensitive": False}
    if diff.element is not None:
        out["element"] = diff.element
    return out


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
    out = _plan_json(plan)
    if plan.base is not None:
        base = plan.base
        out["base"] = {
            "ref": base.ref,
            "commit": base.commit,
            "touched": [{"gateway": g, "kind": k, "name": n, "change": how}
                        for (g, k, n), how in sorted(base.touched.items())],
            "summary": {section: section_counts(plan, section) for section in ("change", "drift")},
        }
        for gateway in out["gateways"]:
            for change in gateway["changes"]:
                key = (gateway["name"], change["kind"], change["name"])
                change["section"] = "change" if key in base.touched else "drift"
    if plan.skipped:
        out["skipped_gateways"] = dict(sorted(plan.skipped.items()))
    if plan.targets:
        out["targets"] = list(plan.targets)
    return out


def _plan_json(plan: RepoPlan) -> dict[str, Any]:
    return {
        "format_version": PLAN_FORMAT_VERSION,
        "tool": {"name": "stoa-reconciler", "version": __version__},
        "owner": plan.owner,
        "has_changes": plan.has_changes,
        "complete": plan.complete,
        "summary": {**plan.counts(), "failed_gateways": sum(plan.failures().values())},
        "errors": list(plan.errors),
        "missing_secrets": list(plan.missing_secrets),
        "secret_refs": plan.secret_refs,
        "gateways": [
            {
                "name": g.name,
                "type": g.gateway_type,
                "error": g.error,
                "error_kind": g.failure,
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
            diffs = tuple(FieldDiff(d["path"], d.get("before"), d.get("after"), bool(d.get("sensitive")),
                                    _element(d.get("element"))) for d in c.get("diffs") or [])
            changes.append(Change(g["name"], Op(c["op"]), c["kind"], c["name"], desired=c.get("desired"),
                                  actual=c.get("actual"), diffs=diffs, adopt=bool(c.get("adopt")),
                                  notes=tuple(c.get("notes") or ())))
        plan.gateways[g["name"]] = GatewayPlan(g["name"], g["type"], changes=changes, error=g.get("error"),
                                               fingerprint=g.get("fingerprint", ""), config=dict(g.get("config") or {}),
                                               error_kind=_error_kind(g.get("error_kind")))
    base = data.get("base")
    if base is not None:
        plan.base = PlanBase(str(base["ref"]), str(base["commit"]),
                             {(t["gateway"], t["kind"], t["name"]): _touch(t["change"]) for t in base.get("touched") or []})
    plan.skipped = {str(k): str(v) for k, v in (data.get("skipped_gateways") or {}).items()}
    plan.targets = [str(t) for t in data.get("targets") or []]
    return plan


def _touch(value: Any) -> Touch:
    if value in ("added", "removed", "modified"):
        return value  # type: ignore[no-any-return]
    raise ValueError(f"unknown base change {value!r}")


def _element(value: Any) -> Literal["added", "removed"] | None:
    if value is None or value in ("added", "removed"):
        return value  # type: ignore[no-any-return]
    raise ValueError(f"unknown diff element {value!r}")


def _error_kind(value: Any) -> ErrorKind | None:
    if value is None or value in ERROR_KINDS:
        return value  # type: ignore[no-any-return]
    raise ValueError(f"unknown gateway error_kind {value!r}")


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
MARKDOWN_CUT = "\n_The plan is too long for one comment; the rest was cut. Run `reconciler plan` for all of it._\n"
_NOT_SHOWN = "the plan is too long for one comment"


def markdown_marker(repo: str | None) -> str:
    """The hidden first line a CI job looks for to update its comment instead of adding one."""
    if repo is None:
        return "<!-- stoa-reconciler plan -->"
    return f"<!-- stoa-reconciler plan: {repo.replace('-->', '--&gt;')} -->"


def _md_order(g: GatewayPlan) -> tuple[int, str]:
    """Errors first, then gateways with deletes, then the rest (by name within each)."""
    return (0 if g.error else 1 if any(c.op is Op.DELETE for c in g.changes) else 2, g.name)


def _md_head(plan: RepoPlan, gateways: list[GatewayPlan], repo: str | None, commit: str | None) -> str:
    head = [markdown_marker(repo), "## stoa-reconciler plan", ""]
    if repo is not None:
        head += [f"Repo `{repo}`" + (f" at commit `{commit}`." if commit else "."), ""]
    if not plan.complete:
        first, rest = _incomplete_lines(plan)
        head.append("**Plan incomplete:** " + first)
        if rest:
            head += ["", rest]
    else:
        head.append(_summary_line(plan.counts()) if plan.has_changes else "**No changes.** Every gateway matches.")
    head.append("")
    if plan.base is not None:
        head += [f"Against base `{plan.base.ref}` (`{plan.base.commit[:12]}`): " + _sections_line(plan), ""]
    if plan.targets:
        head += ["> :warning: **Resource targeting is in effect:** only " + ", ".join(f"`{t}`" for t in plan.targets)
                 + " and what they depend on were planned; the plan may be incomplete.", ""]
    head.extend(f"- Skipped gateway `{name}`: {why}" for name, why in sorted(plan.skipped.items()))
    if plan.skipped:
        head.append("")
    for error in plan.errors:
        head.append(f"> :x: **Error:** {error}")
    head.extend(f"> :warning: **Missing secret:** {line}" for line in plan.missing_secrets)
    if plan.errors or plan.missing_secrets:
        head.append("")
    head.append("| gateway | type | create | update | delete | conflict | status |")
    head.append("|---|---|---:|---:|---:|---:|---|")
    for g in gateways:
        c = {op: sum(1 for ch in g.changes if ch.op is op) for op in Op}
        status = f"error: {g.error}" if g.error else ("in sync" if not g.pending else "changes")
        head.append(f"| `{g.name}` | {g.gateway_type} | {c[Op.CREATE]} | {c[Op.UPDATE]} | {c[Op.DELETE]} | "
                    f"{c[Op.CONFLICT]} | {status.replace('|', '/')} |")
    head.append("")
    return "\n".join(head) + "\n"


def _md_change(change: Change) -> str:
    block = [f"{SYMBOLS[change.op]} {change.kind} {change.name}"]
    block.extend(f"#   {note}" for note in change.notes)
    block.extend(f"{sign}     " + "    " * depth + text for sign, depth, text in _diff_rows(change))
    return "\n".join(block)


class _Section:
    """One gateway in the comment: a heading with its counts and every delete (never cut), then the
    other changes in a collapsed block, cut from the end when the comment would be too long."""

    def __init__(self, g: GatewayPlan, level: str = "###") -> None:
        if g.error:
            message = g.error.replace("\n", " ")
            self.heading = (f"{level} `{g.name}` ({g.gateway_type}): not planned, "
                            f"{FAILURE_WORDS[g.failure or 'unreachable']}\n\n> :x: {message}\n\n")
        else:
            self.heading = f"{level} `{g.name}` ({g.gateway_type}): {_counts_phrase(count_ops(g.changes))}\n\n"
        self.deletes = [c for c in g.pending if c.op is Op.DELETE]
        self.blocks = [_md_change(c) for c in g.pending if c.op is not Op.DELETE]
        self.label = "other change(s)" if self.deletes else "change(s)"

    def deletes_text(self, mode: str, allowance: Mapping[str, int] | None = None) -> str:
        """`full`: one line a delete; `compact`: the names of each kind on one line; `counted`: as many
        names of each kind as its `allowance` (characters) has room for, and how many more."""
        if not self.deletes:
            return ""
        if mode == "full":
            lines = [f"- {c.kind} {c.name}" for c in self.deletes]
        else:
            lines = [self._kind_line(kind, names, None if mode == "compact" else (allowance or {}).get(kind, 0))
                     for kind, names in self.deleted_names().items()]
        return "```diff\n" + "\n".join(lines) + "\n```\n\n"

    def deleted_names(self) -> dict[str, list[str]]:
        by_kind: dict[str, list[str]] = {}
        for c in self.deletes:
            by_kind.setdefault(c.kind, []).append(c.name)
        return by_kind

    @staticmethod
    def _kind_line(kind: str, names: list[str], allowance: int | None) -> str:
        if allowance is None:
            return f"- {kind} ({len(names)}): {', '.join(names)}"
        shown: list[str] = []
        for name in names:  # each name costs at most len + 2 over the line without it
            if len(name) + 2 > allowance:
                break
            shown.append(name)
            allowance -= len(name) + 2
        rest = len(names) - len(shown)
        more = (", " if shown else "") + f"… and {rest} more" if rest else ""
        return f"- {kind} ({len(names)}): {', '.join(shown)}{more}"

    def details(self, shown: int, blocks: bool = True) -> str:
        """The collapsed block of the first `shown` other changes (without their text: `blocks=False`)."""
        count = len(self.blocks)
        if not count:
            return ""
        if not shown:
            return f"_{count} {self.label} not shown: {_NOT_SHOWN}._\n\n"
        partial = f" ({shown} shown)" if shown < count else ""
        lines = [f"<details><summary>{count} {self.label}{partial}</summary>", "", "```diff",
                 *(self.blocks[:shown] if blocks else ()), "```", "", "</details>", ""]
        if shown < count:  # outside the collapsed block: a reader sees it without opening it
            lines += [f"_{count - shown} more not shown: {_NOT_SHOWN}._", ""]
        return "\n".join(lines) + "\n"

    def fit(self, budget: int) -> int:
        """How many other changes fit in `budget` characters beyond `details(0)`."""
        base, body, shown = len(self.details(0)), 0, 0
        for block in self.blocks:
            body += len(block) + 1
            if len(self.details(shown + 1, blocks=False)) + body - base > budget:
                break
            shown += 1
        return shown


class _Title(_Section):
    """A section's title in the comment (this change / drift): a heading only, never cut."""

    def __init__(self, text: str) -> None:
        self.heading, self.deletes, self.blocks, self.label = text, [], [], "change(s)"


def _md_sections(plan: RepoPlan, gateways: list[GatewayPlan]) -> list[_Section]:
    """The comment's gateway sections; with a base ref, under a "This change" and a "Drift" title."""
    if plan.base is None:
        return [_Section(g) for g in gateways if g.error or g.pending]
    out: list[_Section] = []
    for section in ("change", "drift"):
        parts = [dataclasses.replace(g, changes=split_changes(plan, g, section)) for g in gateways]
        shown = [_Section(g, "####") for g in parts if g.error or g.pending]
        intro = section_intro(plan.base, section)
        title = f"### {SECTION_TITLES[section]}\n\n_{intro[0].upper() + intro[1:]}._\n\n"
        out.append(_Title(title + ("" if shown else f"No {SECTION_TITLES[section].lower()}.\n\n")))
        out.extend(shown)
    return out


def _share(needs: Mapping[tuple[int, str], int], pool: int) -> dict[tuple[int, str], int]:
    """Split `pool` among `needs`: each gets what it needs up to one common level, the most that fits."""
    out: dict[tuple[int, str], int] = {}
    ordered = sorted(needs.items(), key=lambda item: item[1])
    for index, (key, need) in enumerate(ordered):
        level = pool // (len(ordered) - index)
        out[key] = min(need, level)
        pool -= out[key]
    return out


def plan_markdown(plan: RepoPlan, *, limit: int = MARKDOWN_LIMIT, repo: str | None = None,
                  commit: str | None = None) -> str:
    """The plan as a PR comment of at most `limit` characters.

    `repo` (the path planned) goes into the hidden marker and the header, `commit` (HEAD, read by
    the caller) into the header. When the plan is too long, every gateway still has its heading,
    counts, error and deletes (one a line; if they cannot all fit, their names per kind, as many
    as fit and how many more); the other changes are cut from the end, and the comment says so."""
    gateways = sorted(plan.gateways.values(), key=_md_order)
    head = _md_head(plan, gateways, repo, commit)
    sections = _md_sections(plan, gateways)
    whole = head + "".join(s.heading + s.deletes_text("full") + s.details(len(s.blocks)) for s in sections)
    if len(whole) <= limit:
        return whole.rstrip("\n") + "\n"
    fixed = 0
    for mode in ("full", "compact", "counted"):
        fixed = len(head) + len(MARKDOWN_CUT) + sum(
            len(s.heading) + len(s.deletes_text(mode)) + len(s.details(0)) for s in sections)
        if fixed <= limit:
            break
    budget = max(0, limit - fixed)
    allowances: list[dict[str, int]] = [{} for _ in sections]
    if mode == "counted":  # the names share what is left, short lists first (water-filling)
        needs = {(i, kind): sum(len(n) + 2 for n in names)
                 for i, s in enumerate(sections) for kind, names in s.deleted_names().items()}
        for (i, kind), share in _share(needs, budget).items():
            allowances[i][kind] = share
        budget -= sum(allowance for a in allowances for allowance in a.values())
    rendered: list[str] = []
    cutting = False
    for section, allowance in zip(sections, allowances, strict=True):
        shown = 0 if cutting else section.fit(budget)
        if not cutting:
            budget -= len(section.details(shown)) - len(section.details(0))
            cutting = shown < len(section.blocks)
        rendered.append(section.heading + section.deletes_text(mode, allowance) + section.details(shown))
    out = (head + "".join(rendered)).rstrip("\n") + "\n" + MARKDOWN_CUT
    return out if len(out) <= limit else out[: limit - len(MARKDOWN_CUT)] + MARKDOWN_CUT
