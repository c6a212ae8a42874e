"""Text -> documents: one YAML dialect on two paths, with aliases, depth and keys bounded.

The dialect is YAML 1.2's core schema as yaml-rs resolves it: `yes`/`no`/`on`/`off` and dates are
strings, `010` is 10, `0x10` 16, `0o10` 8, `0b10` 2, `1e3` 1000.0, `1_000` 1000. Explicit tags are
limited to the core ones (`!!str`, `!!int`, `!!float`, `!!bool`, `!!null`, `!!map`, `!!seq`).

- The reference path (`reference_documents`) composes PyYAML's events itself: it knows the line of
  every node, refuses duplicate keys, collection keys, unknown tags, nesting deeper than `MAX_DEPTH`
  and alias expansion beyond `MAX_ALIASES` / `MAX_ALIAS_EXPANSION` at the alias that crosses the
  bound (a billion-laughs document stops after a few kilobytes). Aliases are expanded into copies.
- The fast path (yaml-rs, ~7x faster) takes only texts without tags, anchors, directives or tabs
  (the cheap scan `_needs_reference`) whose syntax libyaml accepts (`_libyaml_accepts`, in C), one
  document at a time, and hands its data back only when the bounds hold; anything else (an error
  included) goes to the reference path, so every error, and every document the fast path cannot
  vouch for, comes from one place.

`tests/core/test_loader_strict.py` checks with hypothesis that both paths give the same documents
or the same error.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml
from yaml import events as ev
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_DEPTH = 100
"""Nested collections per document (OpenAPI schemas rarely pass 30)."""
MAX_ALIASES = 10_000
"""Alias uses per document."""
MAX_ALIAS_EXPANSION = 1_000_000
"""What aliases may add to a document: one per node plus one per character of scalar text."""

_TAG = "tag:yaml.org,2002:"
_EVENTS_LOADER: Any = getattr(yaml, "CBaseLoader", yaml.BaseLoader)  # libyaml's event parser when present
_CParser: Any = getattr(importlib.import_module("yaml"), "CParser", None) or getattr(
    getattr(yaml, "_yaml", None), "CParser", None)

_fast: Any
try:  # a Rust YAML parser, ~7x faster than libyaml+PyYAML on large repos; the reference path remains
    _fast = importlib.import_module("yaml_rs")
except ImportError:  # pragma: no cover - depends on the platform's wheels
    _fast = None


class YamlError(Exception):
    """A document that cannot be read; `line` is 1-based (None when unknown)."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    line: int
    """1-based line where the document's content starts."""
    data: Any
    node: Node | None = None
    """The reference path's node tree (for error lines); None on the fast path and for JSON."""


# ------------------------------------------------------------------------------------- scalars
_NULLS = frozenset(("", "~", "null", "Null", "NULL"))
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INF_NAN = re.compile(r"[-+]?\.[iI][nN][fF]|\.[nN][aA][nN]")
_FLOAT = re.compile(r"[-+]?[0-9_]*(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]*[0-9][0-9_]*)(?:[eE][-+]?[0-9_]*[0-9][0-9_]*)?")
_INT = re.compile(r"[-+]?(?:0[xX][0-9a-fA-F_]*[0-9a-fA-F][0-9a-fA-F_]*|0[oO][0-7_]*[0-7][0-7_]*"
                  r"|0[bB][01_]*[01][01_]*|[0-9_]*[0-9][0-9_]*)")
_RADIX = {"x": 16, "o": 8, "b": 2}


def _float(value: str) -> float | None:
    """A float when `value` has a float's shape: a dot or an exponent, digits, '_' ignored; .inf, .nan."""
    if _INF_NAN.fullmatch(value):
        sign = -1.0 if value.startswith("-") else 1.0
        return float("nan") if value[-1] in "nN" else sign * float("inf")
    if not ("." in value or "e" in value or "E" in value) or not _FLOAT.fullmatch(value):
        return None
    return float(value.replace("_", ""))


def _int(value: str) -> int | None:
    if not _INT.fullmatch(value):
        return None
    sign, body = (-1, value[1:]) if value.startswith("-") else (1, value.lstrip("+"))
    body = body.replace("_", "")
    if len(body) > 2 and body[0] == "0" and body[1] in "xXoObB":
        return sign * int(body[2:], _RADIX[body[1].lower()])
    return sign * int(body, 10)


def plain_scalar(value: str) -> Any:
    """The value of an untagged plain scalar (null, bool, float, int, else the string)."""
    if value in _NULLS:
        return None
    if value in _BOOLS:
        return _BOOLS[value]
    number = _float(value)
    if number is not None:
        return number
    integer = _int(value)
    return value if integer is None else integer


def _tagged_scalar(tag: str, value: str, mark: Any) -> Any:
    """A scalar with an explicit core tag; anything else is an error at its mark."""
    name = tag[len(_TAG):] if tag.startswith(_TAG) else None
    result: Any = ...
    if tag == "!" or name == "str":
        return value
    if name == "int":
        result = _int(value)
    elif name == "float":
        result = _float(value)
        if result is None and _int(value) is not None:
            result = float(_int(value) or 0)
    elif name == "bool":
        result = _BOOLS.get(value)
    elif name == "null":
        if value in _NULLS:
            return None
        result = None
    else:
        raise _error(mark, f"unsupported tag {tag!r} (only the core tags !!str, !!int, !!float, !!bool, !!null)")
    if result is None:
        raise _error(mark, f"{value!r} is not a valid !!{name}")
    return result


def _error(mark: Any, message: str) -> YamlError:
    return YamlError(mark.line + 1 if mark is not None else None, message)


# ------------------------------------------------------------------------------------- reference path
class _Open:
    """A collection being composed: its node, its data, its expanded size so far, a pending key."""

    __slots__ = ("node", "data", "size", "key", "key_node", "anchor")

    def __init__(self, node: Node, data: Any, anchor: str | None) -> None:
        self.node, self.data, self.size, self.anchor = node, data, 1, anchor
        self.key: Any = None
        self.key_node: Node | None = None


class _Composer:
    """Builds nodes and plain data from one stream of PyYAML events, checking the bounds as it goes."""

    def __init__(self) -> None:
        self.anchors: dict[str, tuple[Node, Any, int]] = {}
        self.open_anchors: set[str] = set()
        self.stack: list[_Open] = []
        self.aliases = 0
        self.expansion = 0
        self.root: tuple[Node, Any] | None = None

    def start_document(self) -> None:
        self.anchors.clear()
        self.open_anchors.clear()
        self.aliases = self.expansion = 0
        self.root = None

    def scalar(self, event: Any) -> None:
        if event.tag is None and event.implicit[0]:
            data, tag = plain_scalar(event.value), None
        elif event.tag is None:
            data, tag = event.value, _TAG + "str"
        else:
            data, tag = _tagged_scalar(event.tag, event.value, event.start_mark), event.tag
        node = ScalarNode(tag or _scalar_tag(data), event.value, event.start_mark, event.end_mark, style=event.style)
        self._register(event.anchor, node, data, 1 + len(event.value))
        self._add(node, data, 1 + len(event.value), event.start_mark)

    def start_collection(self, event: Any, mapping: bool) -> None:
        tag = _TAG + ("map" if mapping else "seq")
        if event.tag not in (None, "!", tag):
            raise _error(event.start_mark, f"unsupported tag {event.tag!r} on a {'mapping' if mapping else 'sequence'}")
        if len(self.stack) >= MAX_DEPTH:
            raise _error(event.start_mark, f"nesting deeper than {MAX_DEPTH} levels")
        node: Node = (MappingNode if mapping else SequenceNode)(tag, [], event.start_mark, None, flow_style=event.flow_style)
        if event.anchor is not None:
            self.open_anchors.add(event.anchor)
        self.stack.append(_Open(node, {} if mapping else [], event.anchor))

    def end_collection(self, event: Any) -> None:
        done = self.stack.pop()
        done.node.end_mark = event.end_mark
        if done.anchor is not None:
            self.open_anchors.discard(done.anchor)
        self._register(done.anchor, done.node, done.data, done.size)
        self._add(done.node, done.data, done.size, done.node.start_mark)

    def alias(self, event: Any) -> None:
        anchor, mark = event.anchor, event.start_mark
        if anchor in self.open_anchors:
            raise _error(mark, f"recursive alias *{anchor}")
        if anchor not in self.anchors:
            raise _error(mark, f"undefined alias *{anchor}")
        node, data, size = self.anchors[anchor]
        self.aliases += 1
        self.expansion += size
        if self.aliases > MAX_ALIASES:
            raise _error(mark, f"more than {MAX_ALIASES} aliases in one document")
        if self.expansion > MAX_ALIAS_EXPANSION:
            raise _error(mark, f"aliases expand the document by more than {MAX_ALIAS_EXPANSION:,} nodes and "
                               "characters (an alias bomb?)")
        self._add(node, _copy(data), size, mark)

    def _register(self, anchor: str | None, node: Node, data: Any, size: int) -> None:
        if anchor is not None:
            self.anchors[anchor] = (node, data, size)

    def _add(self, node: Node, data: Any, size: int, mark: Any) -> None:
        if not self.stack:
            self.root = (node, data)
            return
        top = self.stack[-1]
        top.size += size
        if isinstance(top.data, list):
            top.node.value.append(node)
            top.data.append(data)
        elif top.key_node is None:
            if not isinstance(node, ScalarNode):
                raise _error(mark, "a mapping key must be a scalar, not a collection")
            if data in top.data:
                raise _error(mark, f"duplicate key {data!r}")
            top.key, top.key_node = data, node
        else:
            top.node.value.append((top.key_node, node))
            top.data[top.key] = data
            top.key_node = None


def _scalar_tag(data: Any) -> str:
    kind = {type(None): "null", bool: "bool", int: "int", float: "float"}.get(type(data), "str")
    return _TAG + kind


def _copy(data: Any) -> Any:
    """A deep copy of plain data (an alias's expansion), without recursion."""
    if not isinstance(data, dict | list):
        return data
    root: Any = {} if isinstance(data, dict) else []
    work = [(data, root)]
    while work:
        source, target = work.pop()
        items = source.items() if isinstance(source, dict) else enumerate(source)
        for key, value in items:
            child = {} if isinstance(value, dict) else [] if isinstance(value, list) else value
            if isinstance(target, dict):
                target[key] = child
            else:
                target.append(child)
            if child is not value:
                work.append((value, child))
    return root


def reference_documents(text: str) -> list[ParsedDocument]:
    """Every non-null document of a YAML text with its line and node tree; raises YamlError."""
    composer = _Composer()
    out: list[ParsedDocument] = []
    try:
        for event in yaml.parse(text, Loader=_EVENTS_LOADER):
            _feed(composer, event, out)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise YamlError(mark.line + 1 if mark is not None else None, str(exc.problem or exc)) from None
    except (yaml.YAMLError, ValueError) as exc:
        raise YamlError(None, str(exc)) from None
    return out


def _feed(composer: _Composer, event: Any, out: list[ParsedDocument]) -> None:
    if isinstance(event, ev.ScalarEvent):
        composer.scalar(event)
    elif isinstance(event, ev.AliasEvent):
        composer.alias(event)
    elif isinstance(event, ev.SequenceStartEvent | ev.MappingStartEvent):
        composer.start_collection(event, isinstance(event, ev.MappingStartEvent))
    elif isinstance(event, ev.SequenceEndEvent | ev.MappingEndEvent):
        composer.end_collection(event)
    elif isinstance(event, ev.DocumentStartEvent):
        composer.start_document()
    elif isinstance(event, ev.DocumentEndEvent) and composer.root is not None:
        node, data = composer.root
        if data is not None:
            out.append(ParsedDocument(node.start_mark.line + 1, data, node))


# ------------------------------------------------------------------------------------- fast path
_INDICATOR = re.compile(r"(?:^|[\s\[\]{},])[&*!]", re.MULTILINE)
_DIRECTIVE = re.compile(r"^%", re.MULTILINE)
_LONE_CR = re.compile(r"\r(?!\n)")
_MARKER = re.compile(r"^(?:---|\.\.\.)(?=[ \t\r\n]|$)", re.MULTILINE)
_FLOW_KEY = re.compile(r"[\]}][ \t]*:")


def _needs_reference(text: str) -> bool:
    """Tags, anchors, aliases, directives, tabs or unusual line breaks: only the reference path reads
    those (yaml-rs and libyaml disagree on tabs and anchored empty nodes; aliases are bounded there)."""
    if "\t" in text:
        return True
    if ("*" in text or "!" in text or "&" in text) and _INDICATOR.search(text):
        return True
    if ("%" in text and _DIRECTIVE.search(text)) or ("\r" in text and _LONE_CR.search(text)):
        return True
    return "\x85" in text or "\u2028" in text or "\u2029" in text or "\ufeff" in text


def _may_break_bounds(chunk: str) -> bool:
    """Whether a document could nest deeper than MAX_DEPTH or have a collection as a key. Nesting
    within one line needs a bracket or a '-'/'?' indicator, so this count bounds the depth."""
    depth_bound = chunk.count("\n") + chunk.count("[") + chunk.count("{") + chunk.count("-") + chunk.count("?") + 1
    return depth_bound > MAX_DEPTH or "?" in chunk or _FLOW_KEY.search(chunk) is not None


def _chunks(text: str) -> Iterator[tuple[int, str]]:
    """(1-based first line, text) of each document: cut before every `---` line, after every `...` line."""
    start, line = 0, 1
    for match in _MARKER.finditer(text):
        cut = match.start() if match.group() == "---" else text.find("\n", match.end()) + 1 or len(text)
        if cut > start:
            yield line, text[start:cut]
            line += text.count("\n", start, cut)
            start = cut
    if start < len(text):
        yield line, text[start:]


def _content_line(first: int, chunk: str) -> int:
    """Line of a document's first content: the `---` line when content follows it, else the first
    line that is neither blank nor a comment."""
    if chunk[:1] not in ("", " ", "#", "\n", "-", "\r"):
        return first  # the common cases first: content on the first line, or right after a bare `---`
    if chunk.startswith("---\n") and chunk[4:5] not in ("", " ", "#", "\n", "-", "\r"):
        return first + 1
    for offset, line in enumerate(chunk.split("\n")):
        stripped = line.strip()
        if offset == 0 and line.startswith("---") and _MARKER.match(line):
            rest = line[3:].strip()
            if rest and not rest.startswith("#"):
                return first
            continue
        if stripped and not stripped.startswith("#"):
            return first + offset
    return first


def _ended(chunk: str) -> str | None:
    """The chunk closed by a `...` line: yaml-rs ends a block scalar at the end of its input with a
    line break that libyaml (and the spec) do not add. None when that cannot be made the same (a
    block scalar on the last line of a text without a final line break)."""
    if chunk.endswith("\n"):
        last = chunk[chunk.rfind("\n", 0, len(chunk) - 1) + 1:]
        return chunk if _MARKER.match(last) and last.startswith("...") else chunk + "...\n"
    if "|" in chunk or ">" in chunk:
        return None
    return chunk + "\n...\n"


def _libyaml_accepts(text: str) -> bool:
    """libyaml's parser in C, no Python objects (~20 MB/s): the fast path accepts the syntax the
    reference accepts, not yaml-rs' more lenient one (`{a: |}`, `: x` as a key)."""
    parser = _CParser(text)
    try:
        parser.raw_parse()
    except yaml.YAMLError:
        return False
    finally:
        parser.dispose()
    return True


def fast_documents(text: str) -> list[ParsedDocument] | None:
    """The documents by yaml-rs, or None when the reference path must decide (see the module doc)."""
    if _fast is None or _CParser is None or _needs_reference(text) or not _libyaml_accepts(text):
        return None
    out: list[ParsedDocument] = []
    for first, chunk in _chunks(text):
        ended = _ended(chunk)
        if ended is None:
            return None
        try:
            data = _fast.loads(ended, parse_datetime=False)
        except Exception:  # noqa: BLE001 - the reference path reports the problem with its line
            return None
        if data is None:
            continue
        if _may_break_bounds(chunk) and plain_data_problem(data) is not None:
            return None
        out.append(ParsedDocument(_content_line(first, chunk), data))
    return out


def plain_data_problem(data: Any) -> str | None:
    """Why parsed data breaks the dialect's bounds (depth, non-scalar keys), or None."""
    work: list[tuple[Any, int]] = [(data, 1)]
    while work:
        value, depth = work.pop()
        if isinstance(value, dict):
            if depth > MAX_DEPTH:
                return f"nesting deeper than {MAX_DEPTH} levels"
            for key, item in value.items():
                if not (key is None or isinstance(key, str | int | float)):
                    return "a mapping key must be a scalar, not a collection"
                if isinstance(item, dict | list):
                    work.append((item, depth + 1))
        elif isinstance(value, list):
            if depth > MAX_DEPTH:
                return f"nesting deeper than {MAX_DEPTH} levels"
            work.extend((item, depth + 1) for item in value if isinstance(item, dict | list))
        elif not (value is None or isinstance(value, str | int | float)):
            return f"unsupported value of type {type(value).__name__}"
    return None


# ------------------------------------------------------------------------------------- entry points
def yaml_documents(text: str, *, fast: bool = True) -> list[ParsedDocument]:
    """Every non-null document of a YAML text; raises YamlError (with its line when known)."""
    if fast:
        docs = fast_documents(text)
        if docs is not None:
            return docs
    return reference_documents(text)


def json_documents(text: str) -> list[ParsedDocument]:
    """The document of a JSON text (duplicate keys refused, depth bounded); raises YamlError."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out:
                raise _Duplicate(key)
            out[key] = value
        return out

    try:
        data = json.loads(text, object_pairs_hook=pairs)
    except _Duplicate as exc:
        raise YamlError(_line_in_yaml(text), f"duplicate key {exc.key!r}") from None
    except json.JSONDecodeError as exc:
        raise YamlError(exc.lineno, exc.msg) from None
    except RecursionError:
        raise YamlError(None, f"nesting deeper than {MAX_DEPTH} levels") from None
    problem = plain_data_problem(data)
    if problem is not None:
        raise YamlError(_line_in_yaml(text), problem)
    return [] if data is None else [ParsedDocument(1, data)]


class _Duplicate(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _line_in_yaml(text: str) -> int | None:
    """Where the reference YAML path (JSON is YAML 1.2) locates a problem, when it can."""
    try:
        reference_documents(text)
    except YamlError as exc:
        return exc.line
    return None


def node_tree(text: str, line: int) -> Node | None:
    """The node tree of the document starting at `line`, composed only when an error needs lines."""
    try:
        docs = reference_documents(text)
    except YamlError:
        return None
    return next((doc.node for doc in docs if doc.line == line), None)
