"""Pull-request review, pure: what a change touches between two desired states, which gateways it
concerns, the dependency closure of `--target`, and the field diff of two desired states.

Both sides are compared without secret values (a PR job has none): a secret enters as its
reference ("env:NAME", "file:path"), so changing which secret an object uses is a change, and a
rotated value behind the same reference is not (no commit made it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from reconciler.engine.canonical import desired_records, secret_refs
from reconciler.engine.diff import creation_diff, diff_spec
from reconciler.manifests.loader import DesiredState
from reconciler.model.changes import Change, FieldDiff, Op
from reconciler.model.kinds import KINDS, level_of, references
from reconciler.model.plans import Touch

Key = tuple[str, str]
"""(kind, name) of one object."""
Records = dict[str, dict[Key, dict[str, Any]]]
"""Gateway -> (kind, name) -> canonical desired record."""
SECRET_REFS = "secretRefs"
"""The spec key under which a compared record carries its secret references (never values)."""


def comparable_records(state: DesiredState) -> Records:
    """The desired records of every gateway, secrets as their references: what two commits can compare."""
    refs = secret_refs(state)
    out: Records = {}
    for gateway, records in desired_records(state, {}).items():
        by_key: dict[Key, dict[str, Any]] = {}
        for record in records:
            key = (record["kind"], record["name"])
            found = refs.get(key)
            if found:
                record = {**record, "spec": {**record["spec"],
                                             SECRET_REFS: {f: ref.describe() for f, ref in sorted(found.items())}}}
            by_key[key] = record
        out[gateway] = by_key
    return out


def touched(before: Records, after: Records) -> dict[tuple[str, str, str], Touch]:
    """(gateway, kind, name) -> added / removed / modified, for every object whose desired record
    differs between `before` (the base) and `after` (HEAD); a gateway new or gone counts all its objects."""
    out: dict[tuple[str, str, str], Touch] = {}
    for gateway in sorted(set(before) | set(after)):
        old, new = before.get(gateway, {}), after.get(gateway, {})
        for key in sorted(set(old) | set(new)):
            if key not in old:
                out[(gateway, *key)] = "added"
            elif key not in new:
                out[(gateway, *key)] = "removed"
            elif old[key]["spec"] != new[key]["spec"]:
                out[(gateway, *key)] = "modified"
    return out


def changed_gateways(before: DesiredState, after: DesiredState, ref: str) -> tuple[dict[str, str], dict[str, str]]:
    """The gateways of `after` whose desired state differs from `before`'s, and the others, each
    with the reason (`--changed-since`): changed settings or a changed GatewayInstance count too."""
    old, new = comparable_records(before), comparable_records(after)
    settings_changed = before.settings.model_dump(mode="json") != after.settings.model_dump(mode="json")
    changed: dict[str, str] = {}
    same: dict[str, str] = {}
    for name, gw in sorted(after.gateways.items()):
        previous = before.gateways.get(name)
        differing = sum(1 for key in set(old.get(name, {})) | set(new.get(name, {}))
                        if (old.get(name, {}).get(key) or {}).get("spec") != (new.get(name, {}).get(key) or {}).get("spec"))
        if previous is None:
            changed[name] = f"new since {ref}"
        elif settings_changed:
            changed[name] = f"the ReconcilerSettings changed since {ref}"
        elif previous.model_dump(mode="json") != gw.model_dump(mode="json"):
            changed[name] = f"its GatewayInstance changed since {ref}"
        elif differing:
            changed[name] = f"{differing} object(s) changed since {ref}"
        else:
            same[name] = f"desired state unchanged since {ref}"
    return changed, same


# ------------------------------------------------------------------------------------- --target
def parse_target(text: str) -> Key:
    """`KIND/NAME` -> (kind, name); raises ValueError naming what is wrong."""
    kind, sep, name = text.partition("/")
    if not sep or not kind or not name:
        raise ValueError(f"expects KIND/NAME (e.g. API/orders), got {text!r}")
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r} in {text!r} (kinds: {', '.join(sorted(KINDS))})")
    return kind, name


def closure(targets: Iterable[Key], desired: Iterable[Mapping[str, Any]]) -> set[Key]:
    """The targets and everything they refer to, transitively, among one gateway's desired records
    (a Policy brings its API, a Consumer the APIs it subscribes to, a Scope its APIs and auth servers)."""
    specs = {(r["kind"], r["name"]): r.get("spec") or {} for r in desired}
    out: set[Key] = set()
    todo = list(targets)
    while todo:
        key = todo.pop()
        if key in out:
            continue
        out.add(key)
        if key in specs:
            todo.extend(ref for ref in references(key[0], specs[key]) if ref in specs)
    return out


def targeted(changes: Iterable[Change], targets: Iterable[Key], desired: Iterable[Mapping[str, Any]]) -> list[Change]:
    """The changes of one gateway limited to the targets and their dependencies; a delete only of a
    target itself (a dependency is brought in to exist, never to go)."""
    wanted = set(targets)
    needed = closure(wanted, desired)
    return [c for c in changes if (c.kind, c.name) in wanted or (c.op is not Op.DELETE and (c.kind, c.name) in needed)]


# ------------------------------------------------------------------------------------- desired diff
def _removed(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[FieldDiff]:
    """The leaves of `before` that `after` no longer has at all (diff_spec only compares what its
    first side declares)."""
    out: list[FieldDiff] = []
    for diff in creation_diff(dict(before)):
        node: Any = after
        for part in diff.path.split("."):
            if not isinstance(node, Mapping) or part not in node:
                out.append(FieldDiff(diff.path, diff.after, None, diff.sensitive))
                break
            node = node[part]
    return out


def desired_diff(before: Records, after: Records) -> dict[str, list[Change]]:
    """Gateway -> the objects added (create), removed (delete) and changed (update, with field
    diffs) between two desired states; a gateway with no difference is left out."""
    out: dict[str, list[Change]] = {}
    for (gateway, kind, name), how in touched(before, after).items():
        old = before.get(gateway, {}).get((kind, name))
        new = after.get(gateway, {}).get((kind, name))
        if how == "added" and new is not None:
            change = Change(gateway, Op.CREATE, kind, name, desired=new, diffs=creation_diff(new["spec"]))
        elif how == "removed":
            change = Change(gateway, Op.DELETE, kind, name, actual=old)
        else:
            assert old is not None and new is not None
            diffs = diff_spec(new["spec"], old["spec"]) + tuple(_removed(old["spec"], new["spec"]))
            change = Change(gateway, Op.UPDATE, kind, name, desired=new, actual=old, diffs=diffs)
        out.setdefault(gateway, []).append(change)
    for changes in out.values():
        changes.sort(key=lambda c: (c.op is Op.DELETE, level_of(c.kind), c.kind, c.name))
    return out
