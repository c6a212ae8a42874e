"""Plans and diffs for reviewing a change: `plan --base`, `--changed-since`, `diff --from --to`.

The shell around `engine.review`: it reads the desired state at a ref (`gitref`), the working tree,
and hands the comparison to the one planning pipeline (`runner.plan_state`). The split of a plan
needs one read of the live state only: an object the change does not touch has the same desired
state at the base as at HEAD, so its part of the full plan (live vs HEAD) is its drift (live vs base).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from reconciler.engine.review import changed_gateways, comparable_records, desired_diff, touched
from reconciler.gitref import WORKING_TREE, AtRef, load_at
from reconciler.manifests.loader import load
from reconciler.model.plans import DesiredDiff, PlanBase, RepoPlan
from reconciler.runner import LoadedRepo, RunOptions, loaded, plan_state


@dataclass(frozen=True)
class Selection:
    """The options of a `--changed-since` run and the gateways it leaves out, each with why."""

    options: RunOptions
    skipped: dict[str, str]


def _label(at: AtRef) -> str:
    return f"{at.ref} ({at.commit[:12]})"


def select_changed(head: LoadedRepo, since: AtRef, options: RunOptions) -> Selection:
    """Limit `options` to the gateways whose desired state differs from `since`."""
    changed, same = changed_gateways(since.state, head.state, _label(since))
    wanted = set(changed) if options.gateways is None else set(changed) & options.gateways
    skipped = {name: why for name, why in same.items() if options.gateways is None or name in options.gateways}
    return Selection(dataclasses.replace(options, gateways=frozenset(wanted)), skipped)


def load_head(path: Path) -> LoadedRepo:
    return loaded(load(path), path)


async def plan_review(path: Path, options: RunOptions, *, base: str | None = None,
                      changed_since: str | None = None) -> RepoPlan:
    """The plan of the working tree at `path`, split against `base` and/or limited to the gateways
    changed since `changed_since`. Raises the loader's ValidationFailed for the working tree,
    `gitref.InvalidAtRef` for a ref (nothing is planned), `gitref.RefError` for an unknown ref."""
    head = load_head(path)
    at_base = load_at(path, base) if base is not None else None
    skipped: dict[str, str] = {}
    if changed_since is not None:
        since = at_base if at_base is not None and changed_since == base else load_at(path, changed_since)
        selection = select_changed(head, since, options)
        options, skipped = selection.options, selection.skipped
    plan = await plan_state(head, options)
    plan.skipped = {**plan.skipped, **skipped}  # the runner's (suspended gateways) and the unchanged ones
    if at_base is not None:
        plan.base = PlanBase(at_base.ref, at_base.commit,
                             touched(comparable_records(at_base.state), comparable_records(head.state)))
    return plan


def diff_refs(path: Path, source: str, target: str | None = None) -> DesiredDiff:
    """The desired-state diff of `path` from `source` to `target` (None: the working tree)."""
    before = load_at(path, source)
    if target is None:
        after_state, target_label, target_commit = load(path), WORKING_TREE, None
    else:
        after = load_at(path, target)
        after_state, target_label, target_commit = after.state, target, after.commit
    changes = desired_diff(comparable_records(before.state), comparable_records(after_state))
    return DesiredDiff(source, target_label, before.commit, target_commit, changes)
