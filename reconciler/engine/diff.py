"""Field-level diff of one desired spec against one live spec (pure, gateway-agnostic).

Only what the desired spec declares is compared (kopf's DiffScope.RIGHT): keys the live side has
and the desired side does not (server-filled defaults) never show as drift. Ignore rules are data:
dotted paths with `*` globs. Equal specs take a fast path; deepdiff describes the rest.
"""

from __future__ import annotations

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
    live_plain = _strip_missing(live)
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
    return tuple(diffs[k] for k in sorted(diffs))


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
