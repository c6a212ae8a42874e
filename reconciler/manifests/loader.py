"""Desired state from a tree of YAML manifests, with every error located (file, line, field).

Two steps, so the core stays pure:
- `read_tree(root)` (I/O): the text of every .yaml/.yml/.json file under `root`, by relative path;
- `parse_tree(files, display_root)` (pure): parse, validate each document with its pydantic model,
  then check cross-references (unknown API in a policy, unknown gateway in a binding, duplicate
  names, an OpenAPI path that escapes the repo, a kind bound to a gateway that cannot take it).
  All errors are collected, not just the first; any error means nothing is applied anywhere.

Files whose documents have no `apiVersion: gostoa.dev/...` (OpenAPI documents, other YAML) are not
manifests and are skipped, unless a manifest references them.
"""

from __future__ import annotations

import importlib
import json
import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from reconciler.manifests import models
from reconciler.manifests.documents import DOCUMENT_MODELS
from reconciler.manifests.models import (
    API,
    Consumer,
    GatewayInstance,
    Policy,
    ReconcilerSettings,
    SettingsSpec,
)
from reconciler.model.gateways import gateway_type

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
MAX_FILE_BYTES = 5 * 1024 * 1024
SETTINGS_FILE = "reconciler.yaml"


@dataclass(frozen=True)
class LoadError:
    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class ValidationFailed(Exception):
    """The desired state is invalid; `errors` lists every problem found."""

    def __init__(self, errors: list[LoadError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


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
def read_tree(root: Path) -> dict[str, str]:
    """Text of every manifest-like file below `root` (relative posix path -> text), skipping dot-dirs."""
    if root.is_file():
        return {root.name: root.read_text(encoding="utf-8")}
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such directory")
    files: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file() or path.is_symlink():
            continue
        if path.suffix.lower() in MANIFEST_SUFFIXES and path.stat().st_size <= MAX_FILE_BYTES:
            try:
                files[rel.as_posix()] = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue
    return files


def load(root: Path, *, display_root: str | None = None) -> DesiredState:
    """Read and parse a repo; raises ValidationFailed with every error found (secret files outside the
    allowed directories too: `secret_files`)."""
    from reconciler.manifests import secret_files  # it builds on this module

    files = read_tree(root)
    state = parse_tree(files, display_root=str(root) if display_root is None else display_root)
    errors = secret_files.check(state, files, root)
    if errors:
        raise ValidationFailed(errors)
    return state


# ---------------------------------------------------------------------------------------- pure core
_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: several times faster


class DuplicateKey(yaml.MarkedYAMLError):
    pass


class _Loader(_Base):  # type: ignore[misc,valid-type]
    """Safe loader that refuses duplicate keys (PyYAML silently keeps the last one)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else id(key_node)
            if key in seen:
                raise DuplicateKey(problem=f"duplicate key {key!r}", problem_mark=key_node.start_mark)
            seen.add(key)
        return dict(super().construct_mapping(node, deep=deep))


_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_yaml_map)


_fast: Any
try:  # a Rust YAML parser, ~7x faster than libyaml+PyYAML on large repos; PyYAML remains the fallback
    _fast = importlib.import_module("yaml_rs")
except ImportError:  # pragma: no cover - depends on the platform's wheels
    _fast = None


def _documents(text: str) -> list[Any]:
    """The data of every YAML document of a text (fast path: no node tree kept).

    yaml-rs when installed (YAML 1.2, duplicate keys refused, dates kept as strings); on any error of
    its, PyYAML parses again so the error carries a line number.
    """
    if _fast is not None:
        try:
            result = _fast.loads(text, parse_datetime=False)
        except Exception:  # noqa: BLE001 - PyYAML below reports the same problem with its line
            pass
        else:
            if result is None:
                return []
            if isinstance(result, list) and len(_document_starts(text)) > 1:
                return result
            return [result]
    return list(yaml.load_all(text, Loader=_Loader))


def _document_starts(text: str) -> list[int]:
    """1-based first line of each document of a multi-document YAML text (a cheap scan)."""
    starts: list[int] = []
    pending = True
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if line.startswith("---"):
            pending = True
            rest = line[3:].strip()
            if rest and not rest.startswith("#"):
                starts.append(number)
                pending = False
            continue
        if pending and stripped and not stripped.startswith(("#", "%")):
            starts.append(number)
            pending = False
    return starts


def _nodes(text: str, index: int) -> Any:
    """The node tree of one document, composed only when an error needs its line numbers."""
    try:
        return list(yaml.compose_all(text, Loader=_Base))[index]
    except (yaml.YAMLError, IndexError):
        return None


class _LazyNode:
    """A document's place in its file; its node tree is composed on first use (error reports only)."""

    def __init__(self, text: str, index: int, is_json: bool) -> None:
        self.text, self.index, self.is_json = text, index, is_json

    def tree(self) -> Any:
        return None if self.is_json else _nodes(self.text, self.index)


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
    errors: list[LoadError] = field(default_factory=list)
    documents: dict[str, dict[str, Document]] = field(default_factory=dict)
    settings: list[Document] = field(default_factory=list)
    invalid: dict[str, set[str]] = field(default_factory=dict)
    """kind -> names of documents that failed validation."""


def parse_tree(files: Mapping[str, str], *, display_root: str = ".") -> DesiredState:
    """Parse and validate every manifest; raises ValidationFailed listing every error."""

    def shown(rel: str) -> str:
        return posixpath.join(display_root, rel) if display_root not in ("", ".") else rel

    acc = _Collected(shown)
    for rel, text in sorted(files.items()):
        parsed = _parse_file(rel, text, acc)
        if parsed is None:
            continue
        raw_docs, starts = parsed
        for index, data in enumerate(raw_docs):
            if data is None:
                continue
            start = starts[index] if index < len(starts) else 1
            node = _LazyNode(text, index, rel.endswith(".json"))
            _take_document(acc, rel, data, raw_docs, start, node)

    settings = acc.settings
    errors = acc.errors
    if len(settings) > 1:
        for extra in settings[1:]:
            errors.append(LoadError(shown(extra.file), extra.line, "kind",
                                    f"more than one ReconcilerSettings (first at {shown(settings[0].file)})"))
    spec = settings[0].model.spec if settings else SettingsSpec(owner="stoa-reconciler")  # type: ignore[attr-defined]
    state = DesiredState(settings=spec, documents=acc.documents, display_root=display_root)
    errors.extend(_check_references(state, files, shown, acc.invalid))
    if errors:
        raise ValidationFailed(errors)
    return state


def _parse_file(rel: str, text: str, acc: _Collected) -> tuple[list[Any], list[int]] | None:
    """The documents of one file and their first lines; None (error recorded) when it does not parse."""
    try:
        if rel.endswith(".json"):
            return [json.loads(text)], [1]
        return _documents(text), _document_starts(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        acc.errors.append(LoadError(acc.shown(rel), line, "", f"invalid YAML: {exc.problem or exc}"))
    except (ValueError, Exception) as exc:  # noqa: BLE001 - any parser failure is a located error
        acc.errors.append(LoadError(acc.shown(rel), None, "", f"cannot parse: {exc}"))
    return None


def _take_document(acc: _Collected, rel: str, data: Any, raw_docs: list[Any], start: int, node: _LazyNode) -> None:
    """Validate one document and file it by kind and name; anything wrong becomes a located error."""
    shown = acc.shown
    if not isinstance(data, dict):
        if _looks_like_manifest_file(raw_docs):
            acc.errors.append(LoadError(shown(rel), start, "", "document is not a mapping"))
        return
    api_version = data.get("apiVersion")
    if not isinstance(api_version, str) or not api_version.startswith("gostoa.dev/"):
        return  # not a manifest (an OpenAPI document, for example)
    kind = data.get("kind")
    if api_version != models.API_VERSION:
        acc.errors.append(LoadError(shown(rel), _line_of(node, ("apiVersion",), start), "apiVersion",
                                    f"unsupported apiVersion {api_version!r} (use {models.API_VERSION})"))
        return
    model_cls = DOCUMENT_MODELS.get(str(kind))
    if model_cls is None:
        acc.errors.append(LoadError(shown(rel), _line_of(node, ("kind",), start), "kind",
                                    f"unknown kind {kind!r} (known: {', '.join(sorted(DOCUMENT_MODELS))})"))
        return
    try:
        model = model_cls.model_validate(data)
    except ValidationError as exc:
        meta = data.get("metadata")
        if isinstance(meta, dict) and isinstance(meta.get("name"), str):
            acc.invalid.setdefault(str(kind), set()).add(str(meta["name"]))
        for err in exc.errors():
            loc = tuple(err["loc"])
            acc.errors.append(LoadError(shown(rel), _line_of(node, loc, start), _field_path(loc), _message(err)))
        return
    metadata = getattr(model, "metadata", None)
    name = metadata.name if metadata is not None else SETTINGS_FILE
    doc = Document(str(kind), name, model, rel, start)
    if isinstance(model, ReconcilerSettings):
        acc.settings.append(doc)
        return
    bucket = acc.documents.setdefault(str(kind), {})
    if name in bucket:
        first = bucket[name]
        acc.errors.append(LoadError(shown(rel), _line_of(node, ("metadata", "name"), start), "metadata.name",
                                    f"duplicate {kind} {name!r} (first defined at {shown(first.file)}:{first.line})"))
        return
    bucket[name] = doc


def _looks_like_manifest_file(docs: list[Any]) -> bool:
    return any(isinstance(d, dict) and str(d.get("apiVersion", "")).startswith("gostoa.dev/") for d in docs)


def _err(state: DesiredState, doc: Document, field_name: str, message: str, shown: Any) -> LoadError:
    return LoadError(shown(doc.file), doc.line, field_name, message)


def bound_gateways(spec: Any, gateways: Mapping[str, GatewayInstance]) -> set[str]:
    """Gateway names an object is bound to by `gateways` and/or `gatewaySelector.matchLabels`."""
    names = set(getattr(spec, "gateways", None) or [])
    selector = getattr(spec, "gatewaySelector", None)
    if selector is not None:
        for name, gw in gateways.items():
            if all(gw.metadata.labels.get(k) == v for k, v in selector.matchLabels.items()):
                names.add(name)
    return names


def _check_references(state: DesiredState, files: Mapping[str, str], shown: Any,
                      invalid: Mapping[str, set[str]]) -> list[LoadError]:
    """Cross-document checks. Names of documents that failed validation count as known, so one bad
    document yields its own errors, not a cascade of "unknown" ones."""
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
            errors.append(_err(state, state.of_kind("GatewayInstance")[name], "spec.gatewayType", str(exc), shown))

    for kind, docs in state.documents.items():
        if kind == "GatewayInstance":
            continue
        for doc in docs.values():
            spec = getattr(doc.model, "spec", None)
            if spec is None or not hasattr(spec, "gateways"):
                continue
            for gw_name in spec.gateways:
                if gw_name not in gateway_names:
                    errors.append(_err(state, doc, "spec.gateways", f"unknown gateway {gw_name!r}", shown))
            selector = getattr(spec, "gatewaySelector", None)
            bound = bound_gateways(spec, gateways)
            if selector is not None and not (bound - set(spec.gateways)) and not spec.gateways:
                errors.append(_err(state, doc, "spec.gatewaySelector", "matches no GatewayInstance", shown))
            for gw_name in sorted(bound & set(gateways)):
                kinds = supported.get(gw_name)
                if isinstance(kinds, frozenset) and kind not in kinds:
                    gw_type = gateways[gw_name].spec.gatewayType.value
                    errors.append(_err(state, doc, "spec.gateways",
                                       f"{kind} is not supported by gateway {gw_name!r} (type {gw_type})", shown))

    for doc in state.of_kind("Policy").values():
        policy: Policy = doc.model  # type: ignore[assignment]
        if policy.spec.api not in apis:
            errors.append(_err(state, doc, "spec.api", f"unknown API {policy.spec.api!r}", shown))
    for doc in state.of_kind("Consumer").values():
        consumer: Consumer = doc.model  # type: ignore[assignment]
        for api_name in consumer.spec.subscriptions:
            if api_name not in apis:
                errors.append(_err(state, doc, "spec.subscriptions", f"unknown API {api_name!r}", shown))

    for name, doc in state.of_kind("API").items():
        api: API = doc.model  # type: ignore[assignment]
        if api.spec.openapi is None:
            continue
        target = posixpath.normpath(posixpath.join(posixpath.dirname(doc.file), api.spec.openapi))
        if api.spec.openapi.startswith("/") or target == ".." or target.startswith("../"):
            errors.append(_err(state, doc, "spec.openapi", f"path {api.spec.openapi!r} escapes the repository", shown))
            continue
        if target not in files:
            errors.append(_err(state, doc, "spec.openapi", f"file {target!r} not found in the repository", shown))
            continue
        try:
            parsed = json.loads(files[target]) if target.endswith(".json") else yaml.load(files[target], Loader=_Base)
        except Exception as exc:  # noqa: BLE001
            errors.append(_err(state, doc, "spec.openapi", f"{target}: cannot parse OpenAPI document: {exc}", shown))
            continue
        if not isinstance(parsed, dict) or not ("openapi" in parsed or "swagger" in parsed):
            errors.append(_err(state, doc, "spec.openapi", f"{target}: not an OpenAPI document", shown))
            continue
        state.openapi[name] = parsed
    return errors
