"""The report of `reconciler import` (text): what was written, what was not and why, what to set."""

from __future__ import annotations

import os
from pathlib import Path

from reconciler.importer.documents import Entry, ImportResult


def _who(entry: Entry) -> str:
    return "unowned" if entry.owner is None else f"owner {entry.owner}"


def import_text(result: ImportResult, target: Path, written: list[Path], *, repo: Path) -> str:
    lines = [f"Imported {len(result.imported)} object(s) of gateway {result.gateway} into {target} "
             f"({len(written)} file(s))."]
    for entry in result.imported:
        lines.append(f"  + {entry.kind} {entry.name} ({_who(entry)})")
    if result.notes:
        lines.append("\nWritten approximately (check these fields):")
        lines += [f"  ~ {e.kind} {e.name}: {e.detail}" for e in result.notes]
    if result.skipped:
        lines.append(f"\nNot imported ({len(result.skipped)}):")
        lines += [f"  ! {e.kind} {e.name} ({_who(e)}): {e.detail}" for e in result.skipped]
    if result.secrets:
        lines.append("\nSecrets are references only; set these before an apply:")
        lines += [f"  {e.detail}  ({e.kind} {e.name})" for e in result.secrets]
    unowned = any(e.owner is None for e in result.imported)
    if result.imported:
        adopt = " --adopt" if unowned else ""
        lines.append(f"\nNext: `reconciler plan {os.fspath(repo)}{adopt} --gateway {result.gateway}` should show "
                     f"only adoptions and no field change; then `reconciler apply{adopt}`.")
    return "\n".join(lines)
