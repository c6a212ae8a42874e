"""Kong's DB-less declarative loader: parse, validate, resolve references, flatten, export.

Semantics follow the contract facts in `../shared/specs/README.md` (Kong section): the whole file is
validated (schema, references, uniqueness) before anything is replaced; errors come back as a
`fields` tree that mirrors the input (null where an array position has no error, `@entity` for
entity-level errors) and, on request, as `flattened_errors`, one item per faulty entity.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from reconciler.emulators.kong.entities import LOAD_ORDER, NESTED, SCHEMAS, Schema, fill_auto, validate

FORMAT_VERSIONS = ("1.1", "2.1", "3.0")
TOP_LEVEL_EXTRA = ("_format_version", "_transform", "_comment", "_workspace", "_info")
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

Db = dict[str, dict[str, dict[str, Any]]]


@dataclass
class Item:
    """One entity found in the file, with where it came from (for the error tree)."""

    table: str
    path: tuple[Any, ...]
    raw: dict[str, Any]
    entity: dict[str, Any] = field(default_factory=dict)
    refs: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, Any] = field(default_factory=dict)


class DeclarativeError(Exception):
    def __init__(self, fields: dict[str, Any], flattened: list[dict[str, Any]]) -> None:
        super().__init__("declarative config is invalid")
        self.fields = fields
        self.flattened = flattened

    def body(self, flatten: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": 14, "name": "invalid declarative configuration",
            "message": "declarative config is invalid: " + json.dumps(self.fields, sort_keys=True),
            "fields": self.fields,
        }
        if flatten:
            out["flattened_errors"] = self.flattened
        return out


def config_hash(doc: Any) -> str:
    """Kong reports an md5 of the loaded configuration (`configuration_hash` in /status)."""
    return hashlib.md5(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _is_uuid(value: str) -> bool:
    return bool(UUID_RE.match(value))


def _put(tree: dict[str, Any], path: tuple[Any, ...], errors: dict[str, Any]) -> None:
    node: Any = tree
    for i, step in enumerate(path):
        last = i == len(path) - 1
        if isinstance(step, int):
            while len(node) <= step:
                node.append(None)
            if node[step] is None:
                node[step] = {}
            node = node[step]
        else:
            nxt = path[i + 1] if not last else None
            if step not in node:
                node[step] = [] if isinstance(nxt, int) else {}
            node = node[step]
    node.update(errors)


def _flatten_fields(errors: dict[str, Any], prefix: str = "") -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for key, value in errors.items():
        if key == "@entity":
            out.extend({"type": "entity", "message": m} for m in value)
            continue
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.extend(_flatten_fields(value, name + "."))
        elif isinstance(value, list):
            out.extend({"type": "field", "field": f"{name}.{i}", "message": m} for i, m in enumerate(value) if m)
        else:
            out.append({"type": "field", "field": name, "message": value})
    return out


def _collect(doc: dict[str, Any], top_errors: dict[str, Any]) -> list[Item]:
    items: list[Item] = []

    def walk(table: str, entries: Any, path: tuple[Any, ...], parent: tuple[str, Item] | None) -> None:
        if not isinstance(entries, list):
            _put(top_errors, path[:-1], {path[-1]: "expected an array"})
            return
        for i, raw in enumerate(entries):
            here = (*path, i)
            if table == "snis" and isinstance(raw, str):
                raw = {"name": raw}
            if not isinstance(raw, dict):
                _put(top_errors, path, {})
                items.append(Item(table, here, {}, errors={"@entity": ["expected a record"]}))
                continue
            own = {k: v for k, v in raw.items() if k not in NESTED.get(table, {})}
            item = Item(table, here, own)
            if parent is not None:
                fk, parent_item = parent
                item.refs[fk] = ("@parent", parent_item)
                if fk in own:
                    item.errors[fk] = "value must be null"  # the parent already sets it
            items.append(item)
            for child_key, child_table in NESTED.get(table, {}).items():
                if child_key in raw:
                    fk = {"services": "service", "routes": "route", "consumers": "consumer",
                          "upstreams": "upstream", "certificates": "certificate"}[table]
                    walk(child_table, raw[child_key], (*here, child_key), (fk, item))

    for key, value in doc.items():
        if key in TOP_LEVEL_EXTRA:
            continue
        if key not in SCHEMAS:
            top_errors[key] = "unknown field"
            continue
        walk(key, value, (key,), None)
    return items


def load(doc: Any, previous: Db) -> tuple[Db, dict[str, Any]]:
    """Validate a declarative document and build the new state; raises DeclarativeError.

    The whole file is checked before anything is built, as Kong does: one step per kind of check.
    """
    top = _header_errors(doc)
    transform = doc.get("_transform", True)
    items = _collect(doc, top)
    _validate_schemas(items)
    _assign_ids(items)
    _check_unique(items)
    _resolve_references(items)
    _check_composite_unique(items)
    _raise_if_invalid(top, items)
    db = _build_state(items, previous, transform)
    return db, {t: v for t, v in db.items() if v}


def _header_errors(doc: Any) -> dict[str, Any]:
    """Top-level errors of the file itself (not a mapping: raised at once; `_format_version`)."""
    top: dict[str, Any] = {}
    if not isinstance(doc, dict):
        raise DeclarativeError({"@entity": ["expected a declarative configuration"]}, [])
    version = doc.get("_format_version")
    if version is None:
        top["_format_version"] = "required field missing"
    elif version not in FORMAT_VERSIONS:
        top["_format_version"] = "expected one of: " + ", ".join(FORMAT_VERSIONS)
    return top


def _validate_schemas(items: list[Item]) -> None:
    """Step 1: the schema of each entity; foreign references are kept aside for `_resolve_references`."""
    for item in items:
        schema = SCHEMAS[item.table]
        data = dict(item.raw)
        for fk in schema.foreign_keys:
            if fk in data and fk not in item.refs:
                item.refs[fk] = data.pop(fk)
            elif fk in data:
                data.pop(fk)
        entity, errors = validate(schema, data)
        for fk in schema.foreign_keys:
            f = schema.get(fk)
            if f is not None and f.required and fk in errors and fk in item.refs:
                errors.pop(fk)
        item.errors.update(errors)
        item.entity = entity
        if item.entity.get("id") is not None and not (isinstance(item.entity["id"], str)
                                                      and _is_uuid(item.entity["id"])):
            item.errors["id"] = "expected a valid UUID"


def _assign_ids(items: list[Item]) -> None:
    """Step 2a: ids for entities without one, deterministic so a reload keeps them."""
    for item in items:
        schema = SCHEMAS[item.table]
        if not item.entity.get("id"):
            key = schema.endpoint_key
            seed_value = item.entity.get(key) if key else None
            parent = item.refs.get(schema.composite[0]) if schema.composite else None
            parent_id = parent[1].entity.get("id") if isinstance(parent, tuple) else json.dumps(parent, sort_keys=True)
            seed = f"{parent_id}:{seed_value}" if seed_value else json.dumps(
                [parent_id, item.raw], sort_keys=True, default=str)
            item.entity["id"] = _gen(item.table, seed)


def _check_unique(items: list[Item]) -> None:
    """Step 2b: primary keys and unique fields declared twice."""
    seen: dict[tuple[str, str, str], Item] = {}
    for item in items:
        schema = SCHEMAS[item.table]
        for key in ("id", *schema.unique):
            value = item.entity.get(key)
            if value is None or (key == "id" and "id" not in item.raw and schema.unique):
                continue
            marker = (item.table, key, str(value))
            if marker in seen:
                item.errors.setdefault("@entity", []).append(
                    f"uniqueness violation: '{item.table}' entity with {'primary key' if key == 'id' else key} "
                    f"set to '{value}' already declared")
            else:
                seen[marker] = item


def _resolve_references(items: list[Item]) -> None:
    """Step 3a: foreign keys (by id or endpoint key) become `{"id": ...}`, or an error when dangling."""
    index: dict[str, dict[str, Item]] = {}
    for item in items:
        schema = SCHEMAS[item.table]
        by = index.setdefault(item.table, {})
        by[str(item.entity["id"])] = item
        if schema.endpoint_key and item.entity.get(schema.endpoint_key) is not None:
            by.setdefault(str(item.entity[schema.endpoint_key]), item)
    for item in items:
        schema = SCHEMAS[item.table]
        for fk, table in schema.foreign_keys.items():
            ref = item.refs.get(fk)
            if ref is None:
                continue
            if isinstance(ref, tuple):
                item.entity[fk] = {"id": ref[1].entity["id"]}
                continue
            key = ref.get("id") or ref.get("name") or ref.get("username") if isinstance(ref, dict) else ref
            target = index.get(table, {}).get(str(key))
            if target is None:
                item.errors[fk] = f"invalid reference '{fk}: {key}' (no such entry in '{table}')"
            else:
                item.entity[fk] = {"id": target.entity["id"]}


def _check_composite_unique(items: list[Item]) -> None:
    """Step 3b: composite keys (checked once references are resolved, on entities still valid)."""
    composite_seen: dict[tuple[Any, ...], Item] = {}
    for item in items:
        schema = SCHEMAS[item.table]
        if schema.composite and not item.errors:
            marker2 = (item.table, *(json.dumps(item.entity.get(k), sort_keys=True) for k in schema.composite))
            if marker2 in composite_seen:
                what = ", ".join(schema.composite)
                item.errors.setdefault("@entity", []).append(
                    f"uniqueness violation: '{item.table}' entity with ({what}) already declared")
            else:
                composite_seen[marker2] = item


def _raise_if_invalid(top: dict[str, Any], items: list[Item]) -> None:
    """Any error anywhere: raise the whole `fields` tree and its flattened form, nothing is replaced."""
    bad = [i for i in items if i.errors]
    if top or bad:
        fields_tree: dict[str, Any] = dict(top)
        flattened = []
        for item in bad:
            _put(fields_tree, item.path, item.errors)
            schema = SCHEMAS[item.table]
            flattened.append({
                "entity_type": schema.singular,
                "entity_name": item.raw.get(schema.endpoint_key or "name") if schema.endpoint_key else None,
                "entity_id": item.raw.get("id"),
                "entity_tags": item.raw.get("tags"),
                "entity": item.raw,
                "errors": _flatten_fields(item.errors),
            })
        raise DeclarativeError(fields_tree, flattened)


def _build_state(items: list[Item], previous: Db, transform: Any) -> Db:
    """Step 4: the new state: auto fields, credentials transform, timestamps kept when unchanged."""
    db: Db = {t: {} for t in SCHEMAS}
    for table in LOAD_ORDER:
        for item in (i for i in items if i.table == table):
            schema = SCHEMAS[table]
            entity = item.entity
            fill_auto(schema, entity, keep_updated=True)
            if table == "basicauth_credentials" and transform is not False:
                entity["password"] = hash_password(str(entity["password"]), str(entity["consumer"]["id"]))
            old = previous.get(table, {}).get(entity["id"])
            if old is not None and "updated_at" in entity:
                same = {k: v for k, v in old.items() if k != "updated_at"} == {
                    k: v for k, v in entity.items() if k != "updated_at"}
                if same:
                    entity["updated_at"] = old["updated_at"]
            db[table][entity["id"]] = entity
    return db


def _gen(table: str, seed: str) -> str:
    from reconciler.emulators.kong.entities import gen_id

    return gen_id(table, seed)


def hash_password(password: str, consumer_id: str) -> str:
    """basic-auth stores sha1(password .. consumer_id), as Kong's crypto does."""
    return hashlib.sha1((password + consumer_id).encode()).hexdigest()


def export(db: Db) -> dict[str, Any]:
    """The flat export `GET /config` returns: foreign keys as ids, nulls removed, `_transform: false`."""
    out: dict[str, Any] = {"_format_version": "3.0", "_transform": False}
    for table in LOAD_ORDER:
        rows = []
        schema: Schema = SCHEMAS[table]
        for entity in db.get(table, {}).values():
            row = {}
            for key, value in entity.items():
                if value is None:
                    continue
                if key in schema.foreign_keys and isinstance(value, dict):
                    value = value.get("id")
                row[key] = copy.deepcopy(value)
            rows.append(row)
        if rows:
            out[table] = rows
    return out
