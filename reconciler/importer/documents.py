"""Live objects -> manifest documents (pure): the core of `reconciler import`.

Input: one gateway's live records, each with the adapter's `ImportedSpec` (the manifest spec an
operator would write for it). Output: one YAML document per object at a stable path, the OpenAPI
documents beside their APIs, and a report of everything not written and why — an object the manifest
model cannot express is listed, never dropped silently. Secrets become `secretRef`s to environment
variables named after their object; no value ever reaches a document.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from reconciler.manifests.documents import DOCUMENT_MODELS
from reconciler.model.imports import ImportedSpec
from reconciler.model.kinds import KINDS, level_of

API_VERSION = "gostoa.dev/v1alpha1"
FOLDERS = {"API": "apis", "Policy": "policies", "Consumer": "consumers", "AuthServer": "auth-servers",
           "Strategy": "strategies", "Scope": "scopes", "Alias": "aliases", "GatewayConfig": "gateway-configs"}


@dataclass(frozen=True)
class Selection:
    """Which live objects to import: everything by default."""

    unowned_only: bool = False
    owner: str | None = None
    """Only this owner's objects (the ownership marker read back)."""
    names: tuple[str, ...] = ()
    """Shell-style patterns on the manifest name; empty: every name."""

    def wants(self, record: Mapping[str, Any]) -> bool:
        owner = record.get("owner")
        if self.unowned_only and owner is not None:
            return False
        if self.owner is not None and owner != self.owner:
            return False
        return not self.names or any(fnmatch.fnmatchcase(str(record.get("name")), p) for p in self.names)


@dataclass(frozen=True)
class ImportedFile:
    path: str
    """Relative to the output directory, `/`-separated."""
    text: str


@dataclass(frozen=True)
class Entry:
    """One object of the report."""

    kind: str
    name: str
    owner: str | None
    detail: str = ""


@dataclass
class ImportResult:
    gateway: str
    files: list[ImportedFile] = field(default_factory=list)
    imported: list[Entry] = field(default_factory=list)
    skipped: list[Entry] = field(default_factory=list)
    """Objects not written: the reason is the entry's detail."""
    notes: list[Entry] = field(default_factory=list)
    """Written, with something the manifest carries only approximately."""
    secrets: list[Entry] = field(default_factory=list)
    """The environment variables to set before an apply: detail is the variable's name."""


Item = tuple[Mapping[str, Any], ImportedSpec]


def _key(record: Mapping[str, Any]) -> tuple[str, str]:
    return str(record.get("kind")), str(record.get("name"))


def _order(item: Item) -> tuple[int, str, str]:
    kind, name = _key(item[0])
    return level_of(kind) if kind in KINDS else 99, kind, name


def _refs(record: Mapping[str, Any]) -> frozenset[tuple[str, str]]:
    kind = str(record.get("kind"))
    return KINDS[kind].refs(record.get("spec") or {}) if kind in KINDS else frozenset()


def select(items: Sequence[Item], selection: Selection) -> list[Item]:
    """The selected items plus what they refer to (a policy's API, a consumer's APIs), transitively."""
    by_key = {_key(r): (r, s) for r, s in items}
    chosen = {_key(r) for r, _ in items if selection.wants(r)}
    todo = list(chosen)
    while todo:
        for ref in _refs(by_key[todo.pop()][0]):
            if ref in by_key and ref not in chosen:
                chosen.add(ref)
                todo.append(ref)
    return sorted((by_key[k] for k in chosen), key=_order)


def _binds(kind: str) -> bool:
    model = DOCUMENT_MODELS.get(kind)
    spec = model.model_fields.get("spec") if model is not None else None
    annotation = getattr(spec, "annotation", None)
    return isinstance(annotation, type) and issubclass(annotation, BaseModel) and "gateways" in annotation.model_fields


def _document(kind: str, name: str, spec: dict[str, Any], gateway: str, imported: ImportedSpec) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, **imported.extra}
    body = dict(spec)
    if _binds(kind):
        body["gateways"] = [gateway]
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": metadata, "spec": body}


def _invalid(kind: str, document: dict[str, Any]) -> str | None:
    """Why the document would not load (the loader's own model), or None."""
    model = DOCUMENT_MODELS.get(kind)
    if model is None:
        return f"kind {kind} has no manifest model"
    try:
        model.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"{where}: {first['msg']}"
    return None


def dump(document: Mapping[str, Any]) -> str:
    """YAML in the order it was built (apiVersion, kind, metadata, spec), block style, UTF-8."""
    return yaml.safe_dump(dict(document), sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)


def _secrets_of(spec: Any) -> Iterable[str]:
    """The env variables of the `secretRef`s an imported spec holds (any depth)."""
    if isinstance(spec, Mapping):
        if spec and set(spec) <= {"env", "file"} and all(isinstance(v, str) for v in spec.values()):
            if spec.get("env"):
                yield str(spec["env"])  # a reference itself: `clientSecret: {env: X}` or a secretRef's value
            return
        for value in spec.values():
            yield from _secrets_of(value)
    elif isinstance(spec, list):
        for value in spec:
            yield from _secrets_of(value)


def build(gateway: str, items: Sequence[Item], *, declared: Mapping[tuple[str, str], str] | None = None,
          selection: Selection = Selection()) -> ImportResult:
    """The documents and report of one gateway's import; `declared` maps (kind, name) of objects the repo
    already declares to their file (they are not imported again: the names would collide)."""
    declared = declared or {}
    result = ImportResult(gateway)
    written: set[tuple[str, str]] = set()
    for record, imported in select(items, selection):
        kind, name = _key(record)
        entry = Entry(kind, name, record.get("owner"))
        if (kind, name) in declared:
            result.skipped.append(Entry(kind, name, entry.owner, f"already declared in {declared[(kind, name)]}"))
            continue
        missing = sorted(f"{k} {n}" for k, n in _refs(record) if (k, n) not in written and (k, n) not in declared)
        if imported.spec is None or missing:
            why = "; ".join(imported.notes) if imported.spec is None else f"refers to {', '.join(missing)}, not imported"
            result.skipped.append(Entry(kind, name, entry.owner, why))
            continue
        spec = dict(imported.spec)
        folder = FOLDERS.get(kind, kind.lower() + "s")
        if kind == "API" and imported.openapi is not None:
            spec["openapi"] = f"../openapi/{name}.yaml"
        document = _document(kind, name, spec, gateway, imported)
        problem = _invalid(kind, document)
        if problem is not None:
            result.skipped.append(Entry(kind, name, entry.owner, f"not a valid manifest: {problem}"))
            continue
        result.files.append(ImportedFile(f"{folder}/{name}.yaml", dump(document)))
        if kind == "API" and imported.openapi is not None:
            result.files.append(ImportedFile(f"openapi/{name}.yaml", dump(imported.openapi)))
        written.add((kind, name))
        result.imported.append(entry)
        result.notes.extend(Entry(kind, name, entry.owner, note) for note in imported.notes)
        result.secrets.extend(Entry(kind, name, entry.owner, var) for var in _secrets_of(spec))
    return result
