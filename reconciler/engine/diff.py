"""Field-level diff of one desired spec against one live spec (pure, gateway-agnostic).

Only what the desired spec declares is compared (kopf's DiffScope.RIGHT): keys the live side has
and the desired side does not (server-filled defaults) never show as drift. Ignore rules are data:
dotted paths with `*` globs. Equal specs take a fast path; deepdiff describes the rest.

A list of scalars diffs element by element (added / removed), never index by index: inserting
"PATCH" into a sorted list would otherwise read as every later index changing. The canonical
records keep set-like lists sorted and unique (`engine.canonical`): those diff as sets, without
positions. Any other list keeps its order honest: each added or removed element names its index.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Iterable
from typing import Any

from deepdiff import DeepDiff

from reconciler.model.changes import FieldDiff

_MISSING = object()
_PATH_PART = re.compile(r"\['((?:[^'\\]|\\.)*)'\]|\[(\d+)\]")
SENSITIVE_PATHS = ("credential.fingerprint", "secret")


def project(desired: Any, actual: Any) -> Any:
    """The part of `actual` whose keys `desired` declares (recursively through mappings)."""
    if isinstance(desired, dict):
        if not isinstance(actual, dict):
            return actual
        return {k: project(v, actual[k]) if k in actual else _MISSING for k, v in desired.items()}
    return actual


def _strip_missing(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_missing(v) for k, v in value.items() if v is not _MISSING}
    return value


def _dotted(deep_path: str) -> str:
    parts = []
    for key, index in _PATH_PART.findall(deep_path):
        parts.append(f"[{index}]" if index else key)
    out = ""
    for part in parts:
        out += part if part.startswith("[") else (f".{part}" if out else part)
    return out


def _get(tree: Any, dotted: str) -> Any:
    node = tree
    for key, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", dotted):
        if index:
            if not isinstance(node, list) or int(index) >= len(node):
                return None
            node = node[int(index)]
        else:
            if not isinstance(node, dict) or key not in node:
                return None
            node = node[key]
    return node


def _ignored(path: str, ignore: Iterable[str]) -> bool:
    return any(path == rule or path.startswith((rule + ".", rule + "[")) or fnmatch.fnmatchcase(path, rule)
               for rule in ignore)


def _drop(tree: Any, rules: Iterable[str], prefix: str = "") -> Any:
    if not isinstance(tree, dict):
        return tree
    out = {}
    for key, value in tree.items():
        path = f"{prefix}.{key}" if prefix else key
        if _ignored(path, rules):
            continue
        out[key] = _drop(value, rules, path)
    return out


def covers(desired: Any, actual: Any) -> bool:
    """True when `actual` holds every value `desired` declares (no allocation: the in-sync fast path)."""
    if isinstance(desired, dict):
        if not isinstance(actual, dict):
            return False
        for key, value in desired.items():
            if key not in actual or not covers(value, actual[key]):
                return False
        return True
    return bool(desired == actual)


def diff_spec(desired: dict[str, Any], actual: dict[str, Any], *, ignore: Iterable[str] = ()) -> tuple[FieldDiff, ...]:
    """Differences between a desired and a live spec, as dotted-path FieldDiffs (empty: in sync)."""
    rules = tuple(ignore)
    if not rules and covers(desired, actual):
        return ()
    live = project(desired, actual)
    if rules:
        desired = _drop(desired, rules)
        live = _drop(live, rules)
    if live == desired:
        return ()
    missing_keys = _collect_missing(live)
    elements, live_plain = _split_lists(desired, _strip_missing(live))
    elements = [d for d in elements if not _ignored(d.path, rules)]
    result = DeepDiff(live_plain, desired, ignore_order=False, verbose_level=2, view="tree")
    diffs: dict[str, FieldDiff] = {}
    for path in missing_keys:
        if not _ignored(path, rules):
            diffs[path] = FieldDiff(path, None, _get(desired, path), _sensitive(path))
    for items in result.values():
        for item in items:
            path = _dotted(item.path())
            if path in diffs or _ignored(path, rules):
                continue
            before = None if item.t1 is _MISSING or type(item.t1).__name__ == "NotPresent" else item.t1
            after = None if type(item.t2).__name__ == "NotPresent" else item.t2
            diffs[path or "spec"] = FieldDiff(path or "spec", before, after, _sensitive(path))
    keyed = [(k, d) for k, d in diffs.items()] + [(_list_path(d.path), d) for d in elements]
    return tuple(d for _, d in sorted(keyed, key=lambda pair: pair[0]))  # stable: a list's elements keep their order


# ----------------------------------------------------------------------------------------- lists of scalars
_SCALARS = (str, int, float, bool, type(None))


def _scalar_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, _SCALARS) for v in value)


def _list_path(path: str) -> str:
    """The list a (possibly indexed) element diff belongs to: `grants[2]` -> `grants`."""
    indexed = re.fullmatch(r"(.+)\[\d+\]", path)
    return indexed[1] if indexed else path


def _split_lists(desired: Any, live: Any, prefix: str = "") -> tuple[list[FieldDiff], Any]:
    """Element diffs of every differing list of scalars that both sides hold at the same mapping path,
    and `live` with those lists replaced by the desired ones (so deepdiff does not describe them again)."""
    if not isinstance(desired, dict) or not isinstance(live, dict):
        return [], live
    out: list[FieldDiff] = []
    replaced: dict[str, Any] = {}
    for key, want in desired.items():
        if key not in live:
            continue
        path = f"{prefix}.{key}" if prefix else key
        have = live[key]
        if _scalar_list(want) and _scalar_list(have):
            if want != have:
                out.extend(element_diffs(path, have, want))
                replaced[key] = want
        elif isinstance(want, dict):
            found, inner = _split_lists(want, have, path)
            if found:
                out.extend(found)
                replaced[key] = inner
    return out, ({**live, **replaced} if replaced else live)


def _sorted_unique(values: list[Any]) -> bool:
    try:
        return all(a < b for a, b in zip(values, values[1:], strict=False))
    except TypeError:  # mixed types: not a canonical set
        return False


def element_diffs(path: str, before: list[Any], after: list[Any]) -> list[FieldDiff]:
    """What turns the list `before` into `after`, one element per diff.

    A sorted, duplicate-free desired list is a set (methods, origins, subscriptions): removed then
    added elements, without an index. Any other list, or a change that also reorders a set, goes in
    list order and names each element's index (in `before` for a removal, in `after` for an
    addition), so a move is never hidden."""
    sensitive = _sensitive(path)
    if _sorted_unique(after) and len(set(before)) == len(before):
        wanted, had = set(after), set(before)
        removed = [v for v in before if v not in wanted]
        added = [v for v in after if v not in had]
        if (removed or added) and [v for v in before if v in wanted] == [v for v in after if v in had]:
            return ([FieldDiff(path, v, None, sensitive, "removed") for v in removed]
                    + [FieldDiff(path, None, v, sensitive, "added") for v in added])
    out: list[FieldDiff] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=before, b=after, autojunk=False).get_opcodes():
        if tag in ("replace", "delete"):
            out.extend(FieldDiff(f"{path}[{i}]", before[i], None, sensitive, "removed") for i in range(i1, i2))
        if tag in ("replace", "insert"):
            out.extend(FieldDiff(f"{path}[{j}]", None, after[j], sensitive, "added") for j in range(j1, j2))
    return out


def _collect_missing(tree: Any, prefix: str = "") -> list[str]:
    out: list[str] = []
    if isinstance(tree, dict):
        for key, value in tree.items():
            path = f"{prefix}.{key}" if prefix else key
            if value is _MISSING:
                out.append(path)
            else:
                out.extend(_collect_missing(value, path))
    return out


def _sensitive(path: str) -> bool:
    return any(path == p or path.startswith(p + ".") for p in SENSITIVE_PATHS)


def creation_diff(desired: dict[str, Any], prefix: str = "") -> tuple[FieldDiff, ...]:
    """Every leaf of a new object's spec as an addition (nested mappings flattened to dotted paths)."""
    out: list[FieldDiff] = []
    for key, value in sorted(desired.items()):
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict) and value and not path.endswith("openapi"):
            out.extend(creation_diff(value, path))
        elif value is not None:
            out.append(FieldDiff(path, None, value, _sensitive(path)))
    return tuple(out)
