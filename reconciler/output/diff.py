"""`reconciler diff` as text, JSON and Markdown: the desired state of two refs compared, per gateway.

It reads like a plan (`+` added, `~` changed with its field diffs, `-` removed) but says "desired"
throughout: no gateway was contacted, so nothing here claims what the live state is.
"""

from __future__ import annotations

from typing import Any

from reconciler.model.changes import Op
from reconciler.model.plans import DesiredDiff
from reconciler.output.render import MARKDOWN_LIMIT, SYMBOLS, _diff_json, _diff_rows

DIFF_FORMAT_VERSION = "1"
DIFF_CUT = "\n_The diff is too long for one comment; the rest was cut. Run `reconciler diff` for all of it._\n"
WORDS = {Op.CREATE: "added", Op.UPDATE: "changed", Op.DELETE: "removed"}


def _side(label: str, commit: str | None) -> str:
    return f"{label} ({commit[:12]})" if commit else label


def _title(diff: DesiredDiff) -> str:
    return f"{_side(diff.source, diff.source_commit)} -> {_side(diff.target, diff.target_commit)}"


def _totals(diff: DesiredDiff) -> str:
    counts = {op: sum(1 for changes in diff.gateways.values() for c in changes if c.op is op) for op in WORDS}
    total = sum(counts.values())
    return f"{total} object(s) differ: " + ", ".join(f"{counts[op]} {word}" for op, word in WORDS.items()) + "."


def _lines(diff: DesiredDiff, indent: str = "  ") -> list[str]:
    lines: list[str] = []
    for gateway, changes in sorted(diff.gateways.items()):
        lines.append(f"Gateway {gateway}")
        for change in changes:
            lines.append(f"{indent}{SYMBOLS[change.op]} {change.kind} {change.name}")
            lines.extend(f"{indent}    " + "    " * depth + f"{sign} {text}" for sign, depth, text in _diff_rows(change))
    return lines


def diff_text(diff: DesiredDiff) -> str:
    head = f"Desired state: {_title(diff)} (no gateway contacted)"
    if not diff.has_changes:
        return head + "\n\nNo differences in the desired state."
    return "\n".join([head, "", *_lines(diff), "", _totals(diff)])


def diff_json(diff: DesiredDiff) -> dict[str, Any]:
    return {
        "format_version": DIFF_FORMAT_VERSION,
        "from": {"ref": diff.source, "commit": diff.source_commit},
        "to": {"ref": diff.target, "commit": diff.target_commit},
        "has_changes": diff.has_changes,
        "gateways": [
            {"name": gateway,
             "objects": [{"change": WORDS[c.op], "kind": c.kind, "name": c.name,
                          "diffs": [_diff_json(d) for d in c.diffs]} for c in changes]}
            for gateway, changes in sorted(diff.gateways.items())
        ],
    }


def diff_markdown(diff: DesiredDiff, *, limit: int = MARKDOWN_LIMIT) -> str:
    """The diff as a comment of at most `limit` characters (cut from the end, saying so)."""
    head = [f"## stoa-reconciler diff: {_title(diff).replace(' -> ', ' → ')}", ""]
    if not diff.has_changes:
        return "\n".join([*head, "**No differences** in the desired state."]) + "\n"
    body = [_totals(diff), ""]
    for gateway, changes in sorted(diff.gateways.items()):
        body += [f"### `{gateway}`", "", "```diff"]
        for change in changes:
            body.append(f"{SYMBOLS[change.op]} {change.kind} {change.name}")
            body.extend(f"{sign}     " + "    " * depth + text for sign, depth, text in _diff_rows(change))
        body += ["```", ""]
    out = "\n".join(head + body).rstrip("\n") + "\n"
    if len(out) <= limit:
        return out
    return out[: limit - len(DIFF_CUT) - 4] + "\n```" + DIFF_CUT
