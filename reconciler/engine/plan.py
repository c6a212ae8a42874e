"""Desired and live canonical records of one gateway -> an ordered list of Changes (pure).

Index first, then pair, then diff (go-database-reconciler's state → diff):
- desired and owned live  -> update when the field diff is non-empty, else no-op;
- desired, live unowned   -> conflict (adopted as an update only with `adopt`, and only when the
  live object carries no owner at all: another owner's object is never taken);
- desired, nothing live   -> create;
- owned live, not desired -> delete when prune is on (else left alone, and listed as a note).
Objects we do not own are never updated or deleted. Order: creates/updates by kind level upwards,
then deletes by kind level downwards, names sorted within a kind.

A secret the plan could not read (`UNKNOWN_SECRET`, a PR job without production keys) is what
Terraform calls "known after apply": the value cannot be compared, so it is neither claimed equal
(a silent no-op) nor given a made-up value. Like Terraform's `~ update in-place` with
`(known after apply)`, the object is planned as an update (a create stays a create) whose credential
FieldDiff has `after = UNKNOWN_SECRET`, with a note saying so; the runner refuses to apply such a plan.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.engine.diff import creation_diff, diff_spec
from reconciler.manifests.models import IgnoreRule
from reconciler.model.changes import Change, FieldDiff, Op
from reconciler.model.kinds import level_of
from reconciler.model.records import UNKNOWN_SECRET, canonical_json

View = Callable[[str, dict[str, Any]], dict[str, Any]]
UNKNOWN_NOTE = "known after apply: {paths} cannot be compared, a secret is not available to this plan"


def identity_view(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return spec


@dataclass(frozen=True)
class PlanOptions:
    owner: str
    prune: bool = True
    adopt: bool = False
    ignore: tuple[IgnoreRule, ...] = ()


Folds = Callable[[str], Mapping[str, str]]
"""kind -> {desired field: view path it is folded into}: a gateway that stores only a hash of a field
(STOA keeps `version` as `specHash.version`) says so, and ignore rules follow the field there."""


def no_folds(kind: str) -> Mapping[str, str]:
    return {}


def ignore_paths(rules: Iterable[IgnoreRule], *, gateway: str, kind: str, name: str,
                 folds: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Dotted spec paths to skip for one object, from the repo's ignore rules (and where folded)."""
    paths: list[str] = []
    for rule in rules:
        if (fnmatch.fnmatchcase(kind, rule.kind) and fnmatch.fnmatchcase(name, rule.name)
                and fnmatch.fnmatchcase(gateway, rule.gateway)):
            for field_path in rule.fields:
                path = field_path.removeprefix("spec.")
                paths.append(path)
                paths.extend(folded for source, folded in (folds or {}).items()
                             if source == path or fnmatch.fnmatchcase(source, path))
    return tuple(paths)


def fingerprint(actual: Iterable[Mapping[str, Any]]) -> str:
    """Hash of the live state a plan was computed from: a saved plan applies only if it still holds.

    `content_hash` of the sorted list, hashed item by item: the same digest (a JSON list is its items'
    JSON joined by commas) without the whole live state's JSON in memory at once."""
    items = sorted(
        ((r.get("kind"), r.get("name"), r.get("id"), r.get("owner"), r.get("spec")) for r in actual),
        key=lambda t: (str(t[0]), str(t[1]), str(t[2])),
    )
    digest = hashlib.sha256(b"[")
    for index, item in enumerate(items):
        if index:
            digest.update(b",")
        digest.update(canonical_json(item).encode())
    digest.update(b"]")
    return "sha256:" + digest.hexdigest()


def plan_gateway(
    gateway: str,
    desired: list[dict[str, Any]],
    actual: list[dict[str, Any]],
    options: PlanOptions,
    *,
    view: View = identity_view,
    folds: Folds = no_folds,
) -> list[Change]:
    """Pair, diff and order one gateway's records. `view` is the adapter's `desired_view`, `folds`
    its `folded_fields` (where a field the gateway keeps only as a hash lives in the view)."""
    live: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in actual:
        live.setdefault((record["kind"], record["name"]), []).append(record)

    owner = options.owner

    def owned(key: tuple[str, str]) -> dict[str, Any] | None:
        for r in live.get(key, ()):
            if r.get("owner") == owner:
                return r
        return None

    folded: dict[str, Mapping[str, str]] = {}  # per kind: the adapter's answer is the same for every object
    changes: list[Change] = []
    seen: set[tuple[str, str]] = set()
    paired: set[int] = set()
    paired_ids: set[tuple[tuple[str, str], Any]] = set()
    for record in desired:
        key = (record["kind"], record["name"])
        seen.add(key)
        wanted = view(record["kind"], record["spec"])
        if key[0] not in folded:
            folded[key[0]] = folds(key[0])
        ignore = ignore_paths(options.ignore, gateway=gateway, kind=key[0], name=key[1],
                              folds=folded[key[0]]) if options.ignore else ()
        mine = owned(key)
        if mine is not None:
            paired.add(id(mine))
            paired_ids.add((key, mine.get("id")))
            diffs = diff_spec(wanted, mine.get("spec") or {}, ignore=ignore)
            op = Op.UPDATE if diffs else Op.NOOP
            changes.append(Change(gateway, op, key[0], key[1], desired={**record, "id": mine.get("id")},
                                  actual=mine, diffs=diffs, notes=unknown_notes(diffs) if diffs else ()))
            continue
        target = {**record, "spec": record["spec"]}
        others = live.get(key, [])
        if others:
            other = others[0]
            if options.adopt and other.get("owner") is None:
                diffs, marked = adoption_diffs(diff_spec(wanted, other.get("spec") or {}, ignore=ignore), folded[key[0]])
                changes.append(Change(gateway, Op.UPDATE, key[0], key[1], desired={**target, "id": other.get("id")},
                                      actual=other, diffs=diffs, adopt=True,
                                      notes=("adopting an object the reconciler did not create", *marked,
                                             *unknown_notes(diffs))))
            else:
                holder = other.get("owner")
                why = f"owned by {holder!r}" if holder else "not managed by the reconciler (use --adopt to take it over)"
                changes.append(Change(gateway, Op.CONFLICT, key[0], key[1], desired=target, actual=other,
                                      notes=(f"a live {key[0]} named {key[1]!r} exists, {why}",)))
            continue
        created = creation_diff(wanted)
        changes.append(Change(gateway, Op.CREATE, key[0], key[1], desired=target, diffs=created,
                              notes=unknown_notes(created)))

    for key, records in sorted(live.items()):
        for record in records:
            if record.get("owner") != options.owner or id(record) in paired or (key, record.get("id")) in paired_ids:
                continue
            if key in seen:  # an owned duplicate of a declared object (e.g. left by an interrupted run)
                changes.append(Change(gateway, Op.DELETE, key[0], key[1], actual=record,
                                      notes=(f"duplicate of the managed {key[0]} {key[1]!r}",)))
            elif options.prune:
                changes.append(Change(gateway, Op.DELETE, key[0], key[1], actual=record))
            else:
                changes.append(Change(gateway, Op.NOOP, key[0], key[1], actual=record,
                                      notes=("no longer declared; kept because prune is off",)))
    return order_changes(changes)


def _covers(path: str, diff: FieldDiff) -> bool:
    return path == diff.path or path.startswith(diff.path + ".") or diff.path.startswith(path + ".")


def adoption_diffs(diffs: tuple[FieldDiff, ...], folded: Mapping[str, str]) -> tuple[tuple[FieldDiff, ...], tuple[str, ...]]:
    """Split an adoption's diffs: the hashes of folded fields that an object we did not create has never
    held are not field changes but markers the adoption writes (like the ownership marker); the plan
    says so in a note instead of showing them as a change of the object."""
    markers = [d for d in diffs if d.before in (None, "", {}) and any(_covers(p, d) for p in folded.values())]
    if not markers:
        return diffs, ()
    fields = sorted(f for f, path in folded.items() if any(_covers(path, d) for d in markers))
    note = f"adopting records the reconciler's markers of {', '.join(fields)} (the gateway keeps them only as hashes or tags)"
    return tuple(d for d in diffs if d not in markers), (note,)


def unknown_notes(diffs: Iterable[FieldDiff]) -> tuple[str, ...]:
    """The "known after apply" note of a change whose diff holds a secret the plan could not read."""
    paths = [d.path for d in diffs if d.after == UNKNOWN_SECRET]
    return (UNKNOWN_NOTE.format(paths=", ".join(paths)),) if paths else ()


def order_changes(changes: list[Change]) -> list[Change]:
    """Creates/updates (and no-ops, conflicts) by level upwards, then deletes by level downwards."""
    def sort_key(change: Change) -> tuple[int, int, str, str]:
        if change.op is Op.DELETE:
            return (1, -level_of(change.kind), change.kind, change.name)
        return (0, level_of(change.kind), change.kind, change.name)

    return sorted(changes, key=sort_key)
