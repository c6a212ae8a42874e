"""Desired state from a tree of YAML manifests, with every error located (file, line, field).

Two steps, so the core stays pure:
- `read_tree(root)` (I/O, `files.py`): the text of every .yaml/.yml/.json file under `root`, or an
  error naming it (not UTF-8, over the size limit, a symlink leaving the repo); `.reconcilerignore`
  excludes files explicitly;
- `parse_tree(files, display_root)` (pure): parse (`parsing.py`: YAML 1.2 core, aliases and depth
  bounded), validate each document with its pydantic model, then check cross-references (unknown
  API in a policy, unknown gateway in a binding, duplicate names, an OpenAPI path that escapes the
  repo, a kind bound to a gateway that cannot take it).
  All errors are collected, not just the first; any error means nothing is applied anywhere.

Every file is a manifest file or an error, so no object disappears from a plan because its file
was skipped. The only files that hold no manifest are OpenAPI: documents with an `openapi` or
`swagger` key, the file an API references (`spec.openapi`), or any file in the folder of such a file
(split specs), the repo root aside. A document with `apiVersion` or `kind` is always a manifest.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import posixpath
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from reconciler.manifests import models
from reconciler.manifests.documents import DOCUMENT_MODELS
from reconciler.manifests.errors import LoadError, ValidationFailed
from reconciler.manifests.files import IGNORE_FILE, MANIFEST_SUFFIXES, MAX_FILE_BYTES, MAX_FILE_BYTES_ENV, RepoFiles
from reconciler.manifests.files import read_tree as _read_files
from reconciler.manifests.models import (
    API,
    Consumer,
    GatewayInstance,
    Policy,
    ReconcilerSettings,
    SettingsSpec,
)
from reconciler.manifests.parsing import ParsedDocument, YamlError, json_documents, node_tree, yaml_documents
from reconciler.model.gateways import gateway_type

__all__ = [
    "IGNORE_FILE", "MANIFEST_SUFFIXES", "MAX_FILE_BYTES", "MAX_FILE_BYTES_ENV", "SETTINGS_FILE", "DesiredState",
    "Document", "LoadError", "ValidationFailed", "bound_gateways", "load", "parse_tree", "read_tree",
]

SETTINGS_FILE = "reconciler.yaml"


@dataclass(frozen=True)
class Document:
    kind: str
    name: str
    model: BaseModel
    file: str
    """Path relative to the repo root (posix)."""
    line: int


@dataclass
class DesiredState:
    settings: SettingsSpec
    documents: dict[str, dict[str, Document]] = field(default_factory=dict)
    """kind -> name -> document."""
    openapi: dict[str, dict[str, Any]] = field(default_factory=dict)
    """API name -> parsed OpenAPI document."""
    display_root: str = "."

    def of_kind(self, kind: str) -> dict[str, Document]:
        return self.documents.get(kind, {})

    @property
    def gateways(self) -> dict[str, GatewayInstance]:
        return {name: doc.model for name, doc in self.of_kind("GatewayInstance").items()}  # type: ignore[misc]

    def location(self, kind: str, name: str) -> str:
        doc = self.of_kind(kind)[name]
        return f"{posixpath.join(self.display_root, doc.file)}:{doc.line}"


# ---------------------------------------------------------------------------------------- I/O edge
def read_tree(root: Path) -> RepoFiles:
    """Every manifest-like file below `root`: texts, and an error for each one that cannot be read."""
    return _read_files(root)


def load(root: Path, *, display_root: str | None = None) -> DesiredState:
    """Read and parse a repo; raises ValidationFailed with every error found (secret files outside the
    allowed directories too: `secret_files`)."""
    from reconciler.manifests import secret_files  # it builds on this module

    tree = read_tree(root)
    if display_root is None:  # a single file is shown by its own path, not `<file>/<file>`
        display_root = str(root.parent) if root.is_file() else str(root)
    state = parse_tree(tree.texts, display_root=display_root,
                       read_errors=tree.errors, ignored=tree.ignored)
    errors = secret_files.check(state, tree.texts, root)
    if errors:
        raise ValidationFailed(errors)
    return state


# ---------------------------------------------------------------------------------------- pure core
class _LazyNode:
    """A document's place in its file; its node tree is composed on first use (error reports only)."""

    def __init__(self, text: str, doc: ParsedDocument) -> None:
        self.text, self.doc = text, doc
        self._tree: Any = doc.node

    def tree(self) -> Any:
        if self._tree is None:
            self._tree = node_tree(self.text, self.doc.line)
        return self._tree


def _line_of(node: Any, loc: tuple[int | str, ...], default: int) -> int:
    """1-based line of the deepest node of `loc` that exists in the YAML node tree."""
    line = default
    current = node.tree() if isinstance(node, _LazyNode) else node
    for part in loc:
        if isinstance(current, yaml.MappingNode) and isinstance(part, str):
            match = next(((k, v) for k, v in current.value if isinstance(k, yaml.ScalarNode) and k.value == part), None)
            if match is None:
                break
            line = match[0].start_mark.line + 1
            current = match[1]
        elif isinstance(current, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(current.value):
            current = current.value[part]
            line = current.start_mark.line + 1
        else:
            break
    return line


def _field_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith("function-") or part in ("str", "int", "bool", "float", "dict", "list"):
            continue  # pydantic union branch names add nothing for a reader
        else:
            out += f".{part}" if out else part
    return out


_FRIENDLY = {
    "missing": "required field missing",
    "extra_forbidden": "unknown field",
    "url_parsing": "not a URL",
    "url_scheme": "not a URL (http or https)",
    "url_type": "not a URL",
}


def _message(error: Mapping[str, Any]) -> str:
    kind = str(error.get("type", ""))
    if kind in _FRIENDLY:
        return _FRIENDLY[kind]
    if kind == "string_pattern_mismatch" and "NAME" not in str(error.get("ctx", {})):
        pattern = str(error.get("ctx", {}).get("pattern", ""))
        if pattern == models.NAME_PATTERN:
            return "not a valid name (lowercase letters, digits and '-', starting and ending with a letter or digit)"
    message = str(error.get("msg", "invalid"))
    return message.removeprefix("Value error, ")


@dataclass
class _Collected:
    """What the per-file pass gathers before the cross-document checks."""

    shown: Callable[[str], str]
    files: Mapping[str, str]
    errors: list[LoadError] = field(default_factory=list)
    documents: dict[str, dict[str, Document]] = field(default_factory=dict)
    settings: list[Document] = field(default_factory=list)
    invalid: dict[str, set[str]] = field(default_factory=dict)
    """kind -> names of documents that failed validation."""
    plain: dict[str, list[ParsedDocument]] = field(default_factory=dict)
    """Files that parsed and hold no manifest (OpenAPI documents, or strays)."""
    unparsed: set[str] = field(default_factory=set)
    """Files with an error of their own already (unreadable, invalid YAML)."""
    openapi_refs: list[tuple[str, str]] = field(default_factory=list)
    """(file, spec.openapi) of the APIs that failed validation: their documents are still not strays."""
    fields_sets: dict[frozenset[str], set[str]] = field(default_factory=dict)
    """One `__pydantic_fields_set__` per distinct set of given fields (see `_share_fields_sets`)."""


def _share_fields_sets(model: BaseModel, pool: dict[frozenset[str], set[str]]) -> None:
    """Make a document's models share their fields-set with the models of the same shape before them.

    pydantic gives every model instance a set of the field names it was given (216 to 728 bytes):
    a third of a document's memory, 90 MB at 90,000 documents, for sets that repeat a handful of
    shapes. Nothing here reads or changes them (no `exclude_unset`, no `model_copy`), and a copy
    made by pydantic gets a set of its own again."""
    work = [model]
    while work:
        current = work.pop()
        own = current.__pydantic_fields_set__
        shared = pool.setdefault(frozenset(own), own)
        if shared is not own:
            object.__setattr__(current, "__pydantic_fields_set__", shared)
        values = current.__dict__
        for name in _model_fields(type(current)):
            value = values.get(name)
            if isinstance(value, BaseModel):
                work.append(value)
            elif isinstance(value, list):
                work.extend(item for item in value if isinstance(item, BaseModel))


@functools.cache
def _model_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """The fields of a model class that may hold a model or a list of them (anything else is a leaf)."""
    def may_hold(annotation: Any) -> bool:
        if isinstance(annotation, type):
            return issubclass(annotation, BaseModel | list) or annotation is Any
        args = get_args(annotation)
        if get_origin(annotation) is Annotated:
            return may_hold(args[0])
        return not args or any(may_hold(a) for a in args if not isinstance(a, str | int | float | bool | None))
    return tuple(name for name, info in model.model_fields.items() if may_hold(info.annotation))


def parse_tree(files: Mapping[str, str], *, display_root: str = ".", read_errors: Iterable[LoadError] = (),
               ignored: Iterable[str] = ()) -> DesiredState:
    """Parse and validate every manifest; raises ValidationFailed listing every error.

    `read_errors` (paths relative to the root) and `ignored` come from `read_tree`."""

    def shown(rel: str) -> str:
        if rel == ".":
            return display_root or "."
        return posixpath.join(display_root, rel) if display_root not in ("", ".") else rel

    acc = _Collected(shown, files)
    for error in read_errors:
        acc.errors.append(dataclasses.replace(error, file=shown(error.file)))
        acc.unparsed.add(error.file)
    for rel, text in sorted(files.items()):
        docs = _parse_file(rel, text, acc)
        if docs is None:
            continue
        if docs and not any(_manifest_shaped(doc.data) for doc in docs):
            acc.plain[rel] = docs
            continue
        for doc in docs:
            _take_document(acc, rel, doc, _LazyNode(text, doc))

    settings = acc.settings
    errors = acc.errors
    if len(settings) > 1:
        for extra in settings[1:]:
            errors.append(LoadError(shown(extra.file), extra.line, "kind",
                                    f"more than one ReconcilerSettings (first at {shown(settings[0].file)})"))
    spec = settings[0].model.spec if settings else SettingsSpec(owner="stoa-reconciler")  # type: ignore[attr-defined]
    state = DesiredState(settings=spec, documents=acc.documents, display_root=display_root)
    errors.extend(_check_references(state, shown, acc.invalid, complete=not acc.unparsed, files=acc.files))
    errors.extend(_check_openapi(state, acc, set(ignored)))
    errors.extend(_check_strays(state, acc))
    if errors:
        raise ValidationFailed(errors)
    return state


def _parse_file(rel: str, text: str, acc: _Collected) -> list[ParsedDocument] | None:
    """The documents of one file; None (error recorded) when it does not parse."""
    is_json = rel.lower().endswith(".json")
    try:
        return json_documents(text) if is_json else yaml_documents(text)
    except YamlError as exc:
        acc.errors.append(LoadError(acc.shown(rel), exc.line, "", f"invalid {'JSON' if is_json else 'YAML'}: {exc.message}"))
        acc.unparsed.add(rel)
        return None


def _manifest_shaped(data: Any) -> bool:
    """A document meant as a manifest: it has apiVersion or kind (or a near miss), or metadata and spec;
    a list of such documents counts too (so that it is reported, not skipped)."""
    if isinstance(data, list):
        return any(_manifest_shaped(item) for item in data)
    if not isinstance(data, dict):
        return False
    if "apiVersion" in data or "kind" in data or ("metadata" in data and "spec" in data):
        return True
    keys = {key for key in data if isinstance(key, str)}
    return any(key.lower().replace("_", "").replace("-", "") in ("apiversion", "kind") for key in keys)


def _take_document(acc: _Collected, rel: str, doc: ParsedDocument, node: _LazyNode) -> None:
    """Validate one document and file it by kind and name; anything wrong becomes a located error."""
    shown, data, start = acc.shown, doc.data, doc.line
    if not isinstance(data, dict):
        message = ("document is a list: write each manifest as its own document, separated by '---'"
                   if isinstance(data, list) else f"document is not a mapping (found {_describe(data)})")
        acc.errors.append(LoadError(shown(rel), start, "", message))
        return
    if not _manifest_shaped(data):
        acc.errors.append(LoadError(shown(rel), start, "", "document has no apiVersion or kind (a manifest file holds "
                                                           "manifests only)"))
        return
    problem = _header_problem(data)
    if problem is not None:
        field_name, message, kinds = problem
        acc.errors.append(LoadError(shown(rel), _line_of(node, (field_name,), start), field_name, message))
        _note_invalid(acc, rel, data, kinds)
        return
    kind = str(data["kind"])
    model_cls = DOCUMENT_MODELS[kind]
    try:
        model = model_cls.model_validate(data)
    except ValidationError as exc:
        _note_invalid(acc, rel, data, (kind,))
        for err in exc.errors():
            loc = tuple(err["loc"])
            message = _message(err) + _field_hint(model_cls, err)
            acc.errors.append(LoadError(shown(rel), _line_of(node, loc, start), _field_path(loc), message))
        return
    _share_fields_sets(model, acc.fields_sets)
    metadata = getattr(model, "metadata", None)
    name = metadata.name if metadata is not None else SETTINGS_FILE
    entry = Document(kind, name, model, rel, start)
    if isinstance(model, ReconcilerSettings):
        acc.settings.append(entry)
        return
    bucket = acc.documents.setdefault(kind, {})
    if name in bucket:
        first = bucket[name]
        acc.errors.append(LoadError(shown(rel), _line_of(node, ("metadata", "name"), start), "metadata.name",
                                    f"duplicate {kind} {name!r} (first defined at {shown(first.file)}:{first.line})"))
        return
    bucket[name] = entry


def _describe(data: Any) -> str:
    return "nothing" if data is None else f"a {type(data).__name__}: {str(data)[:40]!r}"


def _header_problem(data: Mapping[str, Any]) -> tuple[str, str, tuple[str, ...]] | None:
    """(field, message, kinds it may have meant) when apiVersion or kind is missing or unknown."""
    version, kind = data.get("apiVersion"), data.get("kind")
    if version == models.API_VERSION and isinstance(kind, str) and kind in DOCUMENT_MODELS:
        return None  # the common case, decided before any did-you-mean work
    kinds = (kind,) if isinstance(kind, str) and kind in DOCUMENT_MODELS else (
        tuple(_close(kind, DOCUMENT_MODELS)) if isinstance(kind, str) else ())
    if "apiVersion" not in data:
        near = [k for k in data if isinstance(k, str) and k.lower().replace("_", "").replace("-", "") == "apiversion"]
        if near:
            return near[0], "unknown field (did you mean 'apiVersion'?)", kinds
        return "apiVersion", f"required field missing (use {models.API_VERSION})", kinds
    if version != models.API_VERSION:
        hint = (f"did you mean {models.API_VERSION!r}?" if isinstance(version, str) and _close(version, [models.API_VERSION])
                else f"use {models.API_VERSION}; list files that are not manifests in {IGNORE_FILE}")
        return "apiVersion", f"unsupported apiVersion {version!r} ({hint})", kinds
    known = ", ".join(sorted(DOCUMENT_MODELS))
    if "kind" not in data:
        return "kind", f"required field missing (one of: {known})", ()
    hint = f"did you mean {kinds[0]!r}? " if kinds else ""
    return "kind", f"unknown kind {kind!r} ({hint}known: {known})", kinds


def _field_hint(model_cls: type[BaseModel], err: Mapping[str, Any]) -> str:
    """`; did you mean 'displayName'?` for an unknown field close to a known one at the same place."""
    if err.get("type") != "extra_forbidden" or not err.get("loc"):
        return ""
    *parents, field_name = [str(part) for part in err["loc"]]
    cls: Any = model_cls
    for part in parents:
        info = getattr(cls, "model_fields", {}).get(part)
        cls = getattr(info, "annotation", None)
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)):
            return ""
    close = _close(field_name, getattr(cls, "model_fields", {}))
    return f"; did you mean {close[0]!r}?" if close else ""


def _close(word: str, choices: Iterable[str]) -> list[str]:
    """Close matches of `word` among `choices`, ignoring case (difflib)."""
    by_lower = {choice.lower(): choice for choice in choices}
    return [by_lower[m] for m in difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)]


def _note_invalid(acc: _Collected, rel: str, data: Mapping[str, Any], kinds: Iterable[str]) -> None:
    """Remember an invalid document's name (so references to it do not cascade) and its OpenAPI file."""
    meta, spec = data.get("metadata"), data.get("spec")
    for kind in kinds:
        if isinstance(meta, dict) and isinstance(meta.get("name"), str):
            acc.invalid.setdefault(kind, set()).add(meta["name"])
        if kind == "API" and isinstance(spec, dict) and isinstance(spec.get("openapi"), str):
            acc.openapi_refs.append((rel, spec["openapi"]))


def _err(state: DesiredState, doc: Document, field_name: str, message: str, shown: Any,
         files: Mapping[str, str] | None = None, loc: tuple[int | str, ...] | None = None) -> LoadError:
    """A located error; with the file's text and the field's `loc`, at the field's own line."""
    line = doc.line
    text = (files or {}).get(doc.file)
    if text is not None and loc is not None and not doc.file.lower().endswith(".json"):
        line = _line_of(node_tree(text, doc.line), loc, doc.line)
    return LoadError(shown(doc.file), line, field_name, message)


def _unknown(what: str, name: str, known: Iterable[str]) -> str:
    close = _close(name, known)
    return f"unknown {what} {name!r}" + (f"; did you mean {close[0]!r}?" if close else "")


def bound_gateways(spec: Any, gateways: Mapping[str, GatewayInstance]) -> set[str]:
    """Gateway names an object is bound to by `gateways` and/or `gatewaySelector.matchLabels`."""
    fields = getattr(type(spec), "model_fields", None)  # a model without the field: no failing getattr
    names = set(getattr(spec, "gateways", None) or []) if fields is None or "gateways" in fields else set()
    selector = getattr(spec, "gatewaySelector", None) if fields is None or "gatewaySelector" in fields else None
    if selector is not None:
        for name, gw in gateways.items():
            if all(gw.metadata.labels.get(k) == v for k, v in selector.matchLabels.items()):
                names.add(name)
    return names


def _check_references(state: DesiredState, shown: Any, invalid: Mapping[str, set[str]], *,
                      complete: bool = True, files: Mapping[str, str] | None = None) -> list[LoadError]:
    """Cross-document checks. Names of documents that failed validation count as known, so one bad
    document yields its own errors, not a cascade of "unknown" ones; when a file could not be read or
    parsed at all (not `complete`), any name may live there, so no name is reported unknown."""
    errors: list[LoadError] = []
    gateways = state.gateways
    apis = set(state.of_kind("API")) | invalid.get("API", set())
    gateway_names = set(gateways) | invalid.get("GatewayInstance", set())

    supported: dict[str, frozenset[str] | str] = {}
    for name, gw in gateways.items():
        try:
            supported[name] = gateway_type(gw.spec.gatewayType.value).kinds
        except LookupError as exc:
            supported[name] = str(exc)
            errors.append(_err(state, state.of_kind("GatewayInstance")[name], "spec.gatewayType", str(exc), shown,
                               files, ("spec", "gatewayType")))
            continue
        known_options = gateway_type(gw.spec.gatewayType.value).options
        for option in sorted(set(gw.spec.options) - set(known_options)):
            hint = _close(option, known_options)
            listed = ", ".join(sorted(known_options)) or "none"
            errors.append(_err(state, state.of_kind("GatewayInstance")[name], f"spec.options.{option}",
                               f"unknown option for a {gw.spec.gatewayType.value} gateway"
                               + (f"; did you mean {hint[0]!r}?" if hint else "") + f" (known: {listed})",
                               shown, files, ("spec", "options", option)))

    for kind, docs in state.documents.items():
        if kind == "GatewayInstance":
            continue
        for doc in docs.values():
            spec = getattr(doc.model, "spec", None)
            if spec is None or not hasattr(spec, "gateways"):
                continue
            for index, gw_name in enumerate(spec.gateways):
                if complete and gw_name not in gateway_names:
                    errors.append(_err(state, doc, "spec.gateways", _unknown("gateway", gw_name, gateway_names), shown,
                                       files, ("spec", "gateways", index)))
            selector = getattr(spec, "gatewaySelector", None)
            bound = bound_gateways(spec, gateways)
            if complete and selector is not None and not (bound - set(spec.gateways)) and not spec.gateways:
                errors.append(_err(state, doc, "spec.gatewaySelector", "matches no GatewayInstance", shown,
                                   files, ("spec", "gatewaySelector")))
            for gw_name in sorted(bound & set(gateways)):
                kinds = supported.get(gw_name)
                if isinstance(kinds, frozenset) and kind not in kinds:
                    gw_type = gateways[gw_name].spec.gatewayType.value
                    errors.append(_err(state, doc, "spec.gateways",
                                       f"{kind} is not supported by gateway {gw_name!r} (type {gw_type})", shown,
                                       files, ("spec", "gateways")))

    for doc in state.of_kind("Policy").values():
        policy: Policy = doc.model  # type: ignore[assignment]
        if complete and policy.spec.api not in apis:
            errors.append(_err(state, doc, "spec.api", _unknown("API", policy.spec.api, apis), shown,
                               files, ("spec", "api")))
    for doc in state.of_kind("Consumer").values():
        consumer: Consumer = doc.model  # type: ignore[assignment]
        for index, api_name in enumerate(consumer.spec.subscriptions):
            if complete and api_name not in apis:
                errors.append(_err(state, doc, "spec.subscriptions", _unknown("API", api_name, apis), shown,
                                   files, ("spec", "subscriptions", index)))

    return errors


def _openapi_target(manifest: str, ref: str) -> str | None:
    """The repo path of an API's OpenAPI file, or None when the reference escapes the repository."""
    target = posixpath.normpath(posixpath.join(posixpath.dirname(manifest), ref))
    if ref.startswith("/") or target == ".." or target.startswith("../"):
        return None
    return target


def _check_openapi(state: DesiredState, acc: _Collected, ignored: set[str]) -> list[LoadError]:
    """Every API's OpenAPI file: inside the repo, present, one OpenAPI document (parsed once, bounded)."""
    errors: list[LoadError] = []
    for name, doc in state.of_kind("API").items():
        api: API = doc.model  # type: ignore[assignment]
        if api.spec.openapi is None:
            continue
        target = _openapi_target(doc.file, api.spec.openapi)
        if target is None:
            errors.append(_err(state, doc, "spec.openapi", f"path {api.spec.openapi!r} escapes the repository", acc.shown))
        elif target in ignored or target.startswith(tuple(d for d in ignored if d.endswith("/"))):
            errors.append(_err(state, doc, "spec.openapi", f"file {target!r} is excluded by {IGNORE_FILE}", acc.shown))
        elif target in acc.unparsed:
            continue  # the file's own error says why
        elif target not in acc.files:
            errors.append(_err(state, doc, "spec.openapi", f"file {target!r} not found in the repository", acc.shown))
        else:
            docs = acc.plain.get(target, [])
            data = docs[0].data if len(docs) == 1 else None
            if not _is_openapi(data):
                errors.append(_err(state, doc, "spec.openapi", f"{target}: not an OpenAPI document", acc.shown))
                continue
            try:
                state.openapi[name] = _string_keys(data)
            except ValueError as exc:
                errors.append(LoadError(acc.shown(target), docs[0].line, "", str(exc)))
    return errors


def _string_keys(data: Any) -> Any:
    """OpenAPI is JSON: mapping keys become JSON strings (`200:` -> "200"), as `json.dumps` writes them."""
    if isinstance(data, list):
        return [_string_keys(item) for item in data]
    if not isinstance(data, dict):
        return data
    out: dict[str, Any] = {}
    for key, value in data.items():
        text = key if isinstance(key, str) else _json_key(key)
        if text in out:
            raise ValueError(f"key {text!r} appears twice in the OpenAPI document (once unquoted)")
        out[text] = _string_keys(value)
    return out


def _json_key(key: Any) -> str:
    """How `json.dumps` spells a non-string key (true, null, 1.5, Infinity)."""
    if key is None or isinstance(key, bool):
        return json.dumps(key)
    return json.dumps(key) if isinstance(key, float) else str(key)


def _is_openapi(data: Any) -> bool:
    return isinstance(data, dict) and ("openapi" in data or "swagger" in data)


def _check_strays(state: DesiredState, acc: _Collected) -> list[LoadError]:
    """Files holding no manifest must be OpenAPI: documents with an `openapi`/`swagger` key, the file
    an API refers to, or any file in the folder (or below) of one (split specs), the repo root aside.
    Anything else is an error, never skipped."""
    refs = [(doc.file, doc.model.spec.openapi) for doc in state.of_kind("API").values()  # type: ignore[attr-defined]
            if doc.model.spec.openapi is not None]  # type: ignore[attr-defined]
    targets = {t for t in (_openapi_target(f, r) for f, r in [*refs, *acc.openapi_refs]) if t is not None}
    folders = tuple(posixpath.dirname(t) + "/" for t in targets if posixpath.dirname(t))
    errors = []
    for rel, docs in sorted(acc.plain.items()):
        if rel in targets or rel.startswith(folders) or all(_is_openapi(doc.data) for doc in docs):
            continue
        errors.append(LoadError(acc.shown(rel), docs[0].line, "", (
            "not a manifest (no apiVersion or kind) and no API's spec.openapi refers to it or to its folder; "
            f"list it in {IGNORE_FILE} if the reconciler should skip it")))
    return errors
