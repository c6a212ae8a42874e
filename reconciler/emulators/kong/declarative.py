"""Kong's DB-less declarative loader (`POST /config`): validate, resolve, flatten errors, export.

Follows Kong/kong@3.9.1 `kong/db/schema/others/declarative_config.lua` `flatten`, whose three steps
each stop the load with their own error shape (the ledger `../fidelity/kong.md` cites every rule):

1. the schema of every entity (`self:validate`): a `fields` tree that mirrors the input;
2. ids for entities without one (`generate_ids`), then endpoint-key and primary-key uniqueness and
   references (`validate_references`): `{<table>: {<position in its own list>: message}}`, or
   `{<table>: {<endpoint key or id>: [messages]}}` for a dangling reference;
3. the other unique fields (the flatten loop): `{<table>: {<endpoint key or id>: message}}`.

`flattened_errors` (kong/db/errors.lua `flatten_errors`) turn only errors keyed by a position in a
top-level list into entries, take `entity_name` from the entity's `name` alone, and drain what they
flattened from `fields`; errors keyed by a name or an id are dropped from both.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from reconciler.emulators.kong.entities import (
    AUTO_FIELDS,
    LOAD_ORDER,
    NESTED,
    PARENT_FK,
    SCHEMAS,
    fill_auto,
    gen_id,
    validate,
)

FORMAT_VERSIONS = ("1.1", "2.1", "3.0")
#: Top-level keys besides the entity lists (declarative_config.lua build_fields, add_extra_attributes).
META_KEYS = ("_format_version", "_transform", "_comment", "_ignore")
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
EMPTY_HASH = "0" * 32

Db = dict[str, dict[str, dict[str, Any]]]
ErrTree = dict[Any, Any]
"""Error nodes: a message, a list of messages, or a mapping keyed by field name, table name, endpoint
key or id (str) or by a 0-based list position (int)."""


@dataclass(eq=False)
class Item:
    """One entity of the file: where it sits, what was written, what validation made of it."""

    table: str
    path: tuple[Any, ...]
    index: int
    node: dict[str, Any]
    """The entity's mapping inside the document (ids generated in step 2 are written into it)."""
    parent: Item | None = None
    children: dict[str, list[Item]] = field(default_factory=dict)
    entity: dict[str, Any] = field(default_factory=dict)
    refs: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, Any] = field(default_factory=dict)
    parent_fk_given: str | None = None
    given_parent_ref: Any = None
    """A nested entity's own value for its parent's key: checked as a reference, then overridden."""

    @property
    def raw(self) -> dict[str, Any]:
        return {k: v for k, v in self.node.items() if k not in NESTED.get(self.table, {})}


class DeclarativeError(Exception):
    """A rejected file: the error tree of the step that failed and the document as Kong held it then."""

    def __init__(self, err_t: ErrTree, doc: dict[str, Any] | None) -> None:
        super().__init__("declarative config is invalid")
        self.err_t = err_t
        self.doc = doc

    def body(self, flatten: bool) -> dict[str, Any]:
        """kong/db/errors.lua `declarative_config` (code 14) and `declarative_config_flattened`."""
        tree = copy.deepcopy(self.err_t)
        flattened: list[dict[str, Any]] | None = None
        if flatten and self.doc is not None:
            flattened = flatten_errors(copy.deepcopy(self.doc), tree)
        fields = to_json(tree)
        out: dict[str, Any] = {
            "code": 14, "name": "invalid declarative configuration",
            "message": "declarative config is invalid: " + json.dumps(fields, sort_keys=True),
            "fields": fields,
        }
        if flattened is not None:
            out["flattened_errors"] = flattened or {}  # an empty Lua table: cjson encodes it as an object
        return out


# ---------------------------------------------------------------------------------------------- trees
def _norm(key: Any, value: Any) -> Any:
    """Entity validation trees -> Lua-like trees: field-array errors become position-keyed mappings."""
    if key == "@entity":
        return list(value) if isinstance(value, list) else [value]
    if isinstance(value, list):
        return {i: _norm(None, v) for i, v in enumerate(value) if v is not None}
    if isinstance(value, dict):
        return {k: _norm(k, v) for k, v in value.items()}
    return value


def _put(tree: ErrTree, path: tuple[Any, ...], errors: dict[str, Any]) -> None:
    node = tree
    for step in path:
        node = node.setdefault(step, {})
    for key, value in errors.items():
        node[key] = _norm(key, value)


def to_json(node: Any) -> Any:
    """cjson's rendering: position-keyed mappings are arrays (null in the holes), others objects (a
    position key among names becomes its 1-based number)."""
    if isinstance(node, dict):
        if node and all(isinstance(k, int) for k in node):
            out: list[Any] = [None] * (max(node) + 1)
            for k, v in node.items():
                out[k] = to_json(v)
            return out
        return {(str(k + 1) if isinstance(k, int) else k): to_json(v) for k, v in node.items()}
    if isinstance(node, list):
        return [to_json(v) for v in node]
    return node


def _sort_key(key: Any) -> tuple[int, Any]:
    return (0, key) if isinstance(key, int) else (1, str(key))


# ---------------------------------------------------------------------------------------------- flatten
def _singular(table: str) -> str:
    return table[:-1] if table.endswith("s") else table


def _relationships(table: str) -> list[tuple[str, str, str]]:
    """(entity, field, reference) of every foreign key from or to `table` (errors.lua build_relationships)."""
    out = []
    for name in sorted(SCHEMAS):
        for f in SCHEMAS[name].fields:
            if f.foreign and (name == table or f.foreign == table):
                out.append((name, f.name, f.foreign))
    return out


def _valid_id(value: Any) -> bool:
    return isinstance(value, str) and bool(UUID_RE.match(value))


def _categorize(errs: dict[Any, Any], ns: str | None = None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for key in sorted(errs, key=_sort_key):
        value = errs[key]
        name = str(key + 1) if isinstance(key, int) else str(key)
        joined = f"{ns}.{name}" if ns else name
        if key == "@entity":
            out.extend({"type": "entity", "message": m} for m in (value if isinstance(value, list) else [value]))
        elif isinstance(value, str):
            out.append({"type": "field", "field": joined, "message": value})
        elif isinstance(value, list):
            out.extend({"type": "field", "field": f"{joined}.{i + 1}", "message": m} for i, m in enumerate(value))
        elif isinstance(value, dict):
            out.extend(_categorize(value, joined))
    return out


def _add_entity_errors(table: str, entity: Any, err: Any, flattened: list[dict[str, Any]]) -> None:
    """errors.lua add_entity_errors: hoist the errors of related entities, then one entry for this one."""
    if isinstance(err, str | list):
        err = {"@entity": err if isinstance(err, list) else [err]}
    elif not isinstance(err, dict) or not err:
        return
    if not isinstance(entity, dict):
        return
    pk = {"id": entity["id"]} if _valid_id(entity.get("id")) else None
    for owner, fk, reference in _relationships(table):
        if owner == table:  # one-to-one: a record in place of the foreign key
            value = entity.get(fk)
            if isinstance(value, dict):
                ref_pk = {"id": value["id"]} if _valid_id(value.get("id")) else None
                if ref_pk is None:
                    entity.pop(fk, None)
                else:
                    entity[fk] = ref_pk
                _add_entity_errors(reference, value, err.pop(fk, None), flattened)
        else:  # one-to-many: the nested list of `owner` entities
            children = entity.get(owner)
            if isinstance(children, list | dict):
                entity.pop(owner, None)
                child_errors = err.pop(owner, None)
                if isinstance(child_errors, dict) and isinstance(children, list):
                    for i, child in enumerate(children):
                        if isinstance(child, dict) and child.get(fk) is None and pk is not None:
                            child[fk] = dict(pk)
                        _add_entity_errors(owner, child, child_errors.get(i), flattened)
    if not err:
        return
    errors = _categorize(err)
    if not errors:
        return
    entry: dict[str, Any] = {"entity_type": _singular(table), "entity": entity, "errors": errors}
    name = entity.get("name")
    if isinstance(name, str) and name:  # errors.lua:1005 validate_name(entity.name): nothing else names it
        entry["entity_name"] = name
    if _valid_id(entity.get("id")):
        entry["entity_id"] = entity["id"]
    tags = entity.get("tags")
    if isinstance(tags, list) and all(isinstance(t, str) for t in tags):
        entry["entity_tags"] = tags
    flattened.append(entry)


def flatten_errors(doc: dict[str, Any], err_t: ErrTree) -> list[dict[str, Any]]:
    """errors.lua flatten_errors: drains `err_t`; a section whose input is not a top-level list stays."""
    flattened: list[dict[str, Any]] = []
    for table in sorted(err_t, key=_sort_key):
        section = err_t.pop(table)
        entities = doc.get(table) if isinstance(table, str) else None
        if not isinstance(section, dict) or not isinstance(entities, list):
            err_t[table] = section
            continue
        for key in sorted(section, key=_sort_key):
            entity = entities[key] if isinstance(key, int) and key < len(entities) else None
            if isinstance(entity, dict):
                _add_entity_errors(table, entity, section[key], flattened)
            # anything else is put back into the section Kong has already detached: it is lost
    return flattened


# ---------------------------------------------------------------------------------------------- collect
def _collect(doc: dict[str, Any], top: ErrTree) -> dict[str, list[Item]]:
    """The entity lists of the file, top level and nested, in file order."""

    def walk(table: str, entries: Any, path: tuple[Any, ...], parent: Item | None) -> list[Item]:
        if not isinstance(entries, list):
            _put(top, path[:-1], {path[-1]: "expected an array"})
            return []
        items = []
        for i, node in enumerate(entries):
            here = (*path, i)
            if table == "snis" and isinstance(node, str):
                node = entries[i] = {"name": node}
            if not isinstance(node, dict):
                _put(top, here, {"@entity": ["expected a record"]})
                continue
            item = Item(table, here, i, node, parent)
            if parent is not None:
                fk = PARENT_FK[(parent.table, table)]
                item.refs[fk] = parent
                if node.get(fk) is not None:
                    item.parent_fk_given = fk
                    item.given_parent_ref = node[fk]
            for child_key, child_table in NESTED.get(table, {}).items():
                if child_key in node:
                    item.children[child_table] = walk(child_table, node[child_key], (*here, child_key), item)
            items.append(item)
        return items

    lists: dict[str, list[Item]] = {}
    for key, value in doc.items():
        if key in META_KEYS:
            continue
        if key not in SCHEMAS:
            top[key] = "unknown field"
            continue
        lists[key] = walk(key, value, (key,), None)
    return lists


def _every(lists: dict[str, list[Item]]) -> Iterator[Item]:
    """populate_references' order: tables in `known_entities` order; an entity's nested ones first."""
    for table in LOAD_ORDER:
        for item in lists.get(table, []):
            yield from _every(item.children)
            yield item


# ---------------------------------------------------------------------------------------------- steps
def load(doc: Any, previous: Db | None = None) -> tuple[Db, dict[str, Any]]:
    """Validate a declarative document (mutated: generated ids are written into it) and build the new
    state; raises DeclarativeError. `previous` is unused: a load replaces everything."""
    if not isinstance(doc, dict):
        raise DeclarativeError({"error": "expected an object"}, None)
    top = _header_errors(doc)
    lists = _collect(doc, top)
    items = list(_every(lists))
    _validate_schemas(items, top, doc)
    _assign_ids(lists)
    errs = _validate_references(items)
    if errs:
        raise DeclarativeError(errs, doc)
    errs = _check_unique_fields(items)
    if errs:
        raise DeclarativeError(errs, doc)
    db = _build_state(items, doc.get("_transform", True))
    return db, {t: v for t, v in db.items() if v}


def _header_errors(doc: dict[str, Any]) -> ErrTree:
    top: ErrTree = {}
    version = doc.get("_format_version")
    if version is None:
        top["_format_version"] = "required field missing"
    elif not isinstance(version, str):
        top["_format_version"] = "expected a string"
    elif version not in FORMAT_VERSIONS:
        top["_format_version"] = "expected one of: " + ", ".join(FORMAT_VERSIONS)
    if "_transform" in doc and not isinstance(doc["_transform"], bool):
        top["_transform"] = "expected a boolean"
    return top


def _validate_schemas(items: list[Item], top: ErrTree, doc: dict[str, Any]) -> None:
    """Step 1. A foreign key is a string (id or endpoint key) or a record with the id; a nested entity's
    key to its parent is set by the nesting ("value must be null" is reported only alongside other
    errors: the second, foreign-aware validation of `flatten` accepts it)."""
    for item in items:
        schema = SCHEMAS[item.table]
        data = item.raw
        for fk in schema.foreign_keys:
            value = data.pop(fk, None)
            if fk in item.refs:
                continue
            if value is None:
                continue
            if isinstance(value, dict) and value.get("id") is None:
                item.errors[fk] = {"id": "missing primary key"}
            elif not isinstance(value, str | dict):
                item.errors[fk] = "expected a string"
            else:
                item.refs[fk] = value
        entity, errors = validate(schema, data)
        for fk in schema.foreign_keys:
            if fk in errors and errors[fk] == "required field missing" and fk in item.refs:
                errors.pop(fk)
        item.errors.update(errors)
        item.entity = entity
        if item.entity.get("id") is not None and not _valid_id(item.entity["id"]):
            item.errors["id"] = "expected a valid UUID"
    if top or any(i.errors for i in items):
        for item in items:  # copy_record: every foreign key of a nested record must be null
            for fk in SCHEMAS[item.table].foreign_keys if item.parent is not None else ():
                if item.node.get(fk) is not None:
                    item.errors.setdefault(fk, "value must be null")
        tree: ErrTree = dict(top)
        for item in items:
            if item.errors:
                _put(tree, item.path, item.errors)
        raise DeclarativeError(tree, doc)


def _uuid_key(item: Item) -> str | None:
    """declarative_config.lua get_key_for_uuid_gen / build_cache_key: what a generated id derives from."""
    schema = SCHEMAS[item.table]
    if schema.cache_key:
        parts = [item.table, "*"]
        for key in schema.cache_key:
            if key in AUTO_FIELDS.get(item.table, ()) or key in ("id", "created_at", "updated_at"):
                return None
            value = item.node.get(key)
            if isinstance(value, str):
                parts.append(value)
            elif value is None:
                if item.parent is not None and PARENT_FK[(item.parent.table, item.table)] == key:
                    parts.append(str(item.parent.entity.get("id")))
                elif (f := schema.get(key)) is not None and f.required:
                    return None
                else:
                    parts.append("")
        return ":".join(parts)
    if schema.endpoint_key and item.node.get(schema.endpoint_key) is not None:
        key = str(item.node[schema.endpoint_key])
        if schema.endpoint_key not in schema.unique:
            for f in schema.fields:
                if f.foreign and f.required:
                    parent = item.parent.entity.get("id") if item.parent is not None else item.node.get(f.name)
                    key = f"{key}:{parent}"
            key = f"{key}:*"
        return key
    return None


def _assign_ids(lists: dict[str, list[Item]]) -> None:
    """Step 2a (generate_ids): an id derived from the cache key or the endpoint key, written into the
    document; entities with neither get a random one later (process_auto_fields)."""
    for table in LOAD_ORDER:
        for item in lists.get(table, []):
            if item.node.get("id") is None:
                seed = _uuid_key(item)
                if seed is not None:
                    item.node["id"] = item.entity["id"] = gen_id(table, seed)
            _assign_ids(item.children)


def _at(item: Item) -> str:
    schema = SCHEMAS[item.table]
    key = schema.endpoint_key
    if key and key in schema.unique and item.entity.get(key) is not None:
        return str(item.entity[key])
    return str(item.entity["id"])


def _validate_references(items: list[Item]) -> ErrTree:
    """Step 2b (validate_references)."""
    for item in items:
        if not item.entity.get("id"):
            item.entity["id"] = str(uuid.uuid4())  # process_auto_fields: not written into the document
    errs: ErrTree = {}
    by_key: dict[str, dict[str, Item]] = {}
    by_id: dict[str, dict[str, Item]] = {}
    expected: list[tuple[Item, str, str, Any]] = []
    for item in items:
        schema = SCHEMAS[item.table]
        key_name = schema.endpoint_key
        failed = False
        if key_name and key_name in schema.unique and item.entity.get(key_name) is not None:
            value = str(item.entity[key_name])
            seen = by_key.setdefault(item.table, {})
            if value in seen:
                errs.setdefault(item.table, {})[item.index] = (
                    f"uniqueness violation: '{item.table}' entity with {key_name} set to '{value}' already declared")
                failed = True
            else:
                seen[value] = item
        item_id = str(item.entity["id"])
        ids = by_id.setdefault(item.table, {})
        if not failed and item_id in ids:
            message = f"uniqueness violation: '{item.table}' entity with primary key set to '{item_id}' already declared"
            if item.parent is not None:
                errs.setdefault(item.parent.table, {}).setdefault(item.parent.index, {}).setdefault(
                    item.table, {})[item.index] = message
            else:
                errs.setdefault(item.table, {})[item.index] = message
        else:
            ids[item_id] = item
        for fk, target in schema.foreign_keys.items():
            ref = item.given_parent_ref if fk == item.parent_fk_given else item.refs.get(fk)
            if ref is not None and not isinstance(ref, Item):
                expected.append((item, fk, target, ref))
    for item, fk, target, ref in expected:
        key = ref.get("id") if isinstance(ref, dict) else ref
        found = by_key.get(target, {}).get(str(key)) if isinstance(key, str) else None
        found = found or (by_id.get(target, {}).get(str(key)) if isinstance(key, str) else None)
        if found is None:
            shown = ref if isinstance(ref, str) else json.dumps(ref, separators=(",", ":"))
            errs.setdefault(item.table, {}).setdefault(_at(item), []).append(
                f"invalid reference '{fk}: {shown}' (no such entry in '{target}')")
        elif not isinstance(item.refs.get(fk), Item):
            item.refs[fk] = found
    return errs


def _check_unique_fields(items: list[Item]) -> ErrTree:
    """Step 3 (the flatten loop): every unique field; the key of the error is the endpoint key or the
    id, and one error per table survives (the loop resets the table's errors each time)."""
    errs: ErrTree = {}
    seen: dict[tuple[str, str, str], Item] = {}
    for table in LOAD_ORDER:
        schema = SCHEMAS[table]
        for item in (i for i in items if i.table == table):
            for name in schema.unique:
                value = item.entity.get(name)
                if value is None or isinstance(value, dict):
                    continue
                marker = (table, name, str(value))
                if marker in seen:
                    key = schema.endpoint_key and item.entity.get(schema.endpoint_key) or item.entity["id"]
                    errs[table] = {str(key): f"uniqueness violation: '{table}' entity with {name} set to '{value}' "
                                             "already declared"}
                else:
                    seen[marker] = item
    return errs


def _build_state(items: list[Item], transform: Any) -> Db:
    """Step 4: foreign keys as `{"id": …}`, auto fields (`updated_at` always now: process_auto_fields
    with the `insert` context), basic-auth passwords hashed unless `_transform: false`."""
    db: Db = {t: {} for t in SCHEMAS}
    for table in LOAD_ORDER:
        for item in (i for i in items if i.table == table):
            schema = SCHEMAS[table]
            entity = item.entity
            for fk in schema.foreign_keys:
                ref = item.refs.get(fk)
                entity[fk] = {"id": ref.entity["id"]} if isinstance(ref, Item) else None
            fill_auto(schema, entity)
            if table == "basicauth_credentials" and transform is not False:
                entity["password"] = hash_password(str(entity["password"]), str(entity["consumer"]["id"]))
            db[table][entity["id"]] = entity
    return db


def hash_password(password: str, consumer_id: str) -> str:
    """basic-auth stores sha1(password .. consumer_id) (kong/plugins/basic-auth/crypto.lua)."""
    return hashlib.sha1((password + consumer_id).encode()).hexdigest()


def is_empty(db: Db) -> bool:
    return not any(db.values())


def state_hash(db: Db, meta: dict[str, Any]) -> str:
    """declarative/init.lua parse_table: md5 of the loaded entities and meta when the body carried no
    text to hash; the empty configuration hashes to zeros (import.lua load_into_cache)."""
    if is_empty(db):
        return EMPTY_HASH
    return hashlib.md5(json.dumps([db, meta], sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def text_hash(text: bytes, db: Db) -> str:
    """declarative/init.lua unserialize: md5 of the configuration text as received."""
    return EMPTY_HASH if is_empty(db) else hashlib.md5(text).hexdigest()


def export(db: Db) -> dict[str, Any]:
    """`GET /config` (declarative/export.lua export_from_db): every table with rows in `known_entities`
    order, rows in primary-key order, foreign keys as ids, nulls kept, `_transform: false`."""
    out: dict[str, Any] = {"_format_version": "3.0", "_transform": False}
    for table in LOAD_ORDER:
        schema = SCHEMAS[table]
        rows = []
        for eid in sorted(db.get(table, {})):
            entity = db[table][eid]
            row = {}
            for key, value in entity.items():
                if key in schema.foreign_keys and isinstance(value, dict):
                    value = value.get("id")
                row[key] = copy.deepcopy(value)
            rows.append(row)
        if rows:
            out[table] = rows
    return out
