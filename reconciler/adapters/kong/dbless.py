"""DB-less merge (pure): the current declarative config + a plan -> the next config, and back.

The current config is Kong's flat export (`GET /config`: one list per entity type, foreign keys as
ids, nulls kept). Every change is merged into it; everything the reconciler does not own (upstreams,
targets, certificates, SNIs, vaults, key sets and keys, any other table Kong exports, other plugins
and credentials, routes without a service, unmanaged fields and tags) is carried over untouched.
`to_document` then nests what the declarative JSON Schema wants nested (credentials under consumers,
targets under upstreams, SNIs under certificates) so the body of the single `POST /config` validates.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from reconciler.adapters.kong import mappers as m
from reconciler.model.changes import Change, Op
from reconciler.model.records import api_key_of

CREDENTIALS = ("keyauth_credentials", "acls", "basicauth_credentials", "hmacauth_credentials", "jwt_secrets",
               "oauth2_credentials", "mtls_auth_credentials")
#: Foreign keys of the flat export, per table (field -> whether the schema wants `{"id": …}`).
FOREIGN = {
    "routes": {"service": True},
    "plugins": {"service": False, "route": False, "consumer": False},
    "services": {"client_certificate": False},
    "upstreams": {"client_certificate": True},
    "targets": {"upstream": True},
    "snis": {"certificate": True},
    "mtls_auth_credentials": {"ca_certificate": True},
    "keys": {"set": True},
    "filter_chains": {"service": False, "route": False},
    **{c: {"consumer": True} for c in CREDENTIALS},
}
#: `updated_at` is server-managed and absent from these declarative schemas.
NO_UPDATED_AT = frozenset({"plugins", "consumers", "upstreams", "targets", "certificates", "snis",
                           "ca_certificates", *CREDENTIALS})
ORDER = ("services", "routes", "consumers", "plugins", "upstreams", "certificates", "ca_certificates")


class MergeError(Exception):
    def __init__(self, message: str, category: str = "conflict") -> None:
        super().__init__(message)
        self.category = category


def admin_rows(doc: dict[str, Any], table: str) -> list[dict[str, Any]]:
    """One table of the flat export as the Admin API lists it (foreign keys as `{"id": …}`), so a
    DB-less read serves every kind's listing from the one export the apply merges into."""
    fks = FOREIGN.get(table, {})
    out = []
    for raw in doc.get(table) or []:
        row = dict(raw)
        for fk in fks:
            if isinstance(row.get(fk), str):
                row[fk] = {"id": row[fk]}
        out.append(row)
    return out


def _ref(value: Any) -> str | None:
    if isinstance(value, dict):
        return str(value.get("id")) if value.get("id") is not None else None
    return str(value) if value is not None else None


@dataclass
class Config:
    """The flat config as tables of entities (id -> entity, in order), with lazy field indexes and
    the changes that touched each entity id. Lookups are O(1) so a 1,000-API merge stays fast."""

    meta: dict[str, Any]
    tables: dict[str, dict[str, dict[str, Any]]]
    touched: dict[str, tuple[str, str]] = field(default_factory=dict)
    """entity id -> (kind, name) of the change that wrote it."""
    _index: dict[tuple[str, str], dict[Any, dict[str, None]]] = field(default_factory=dict)

    @classmethod
    def from_export(cls, doc: dict[str, Any]) -> Config:
        meta = {k: v for k, v in doc.items() if k.startswith("_")}
        tables: dict[str, dict[str, dict[str, Any]]] = {}
        for table, entities in doc.items():
            if table.startswith("_") or not isinstance(entities, list):
                continue
            rows = tables.setdefault(table, {})
            for i, raw in enumerate(entities):
                entity = dict(raw)
                for fk in FOREIGN.get(table, {}):
                    if fk in entity:
                        entity[fk] = _ref(entity[fk])
                rows[str(entity.get("id") or f"@{table}:{i}")] = entity
        return cls(meta, tables)

    def rows(self, table: str) -> list[dict[str, Any]]:
        return list(self.tables.get(table, {}).values())

    def _ids(self, table: str, key: str, value: Any) -> list[str]:
        index = self._index.get((table, key))
        if index is None:
            index = {}
            for eid, entity in self.tables.get(table, {}).items():
                index.setdefault(_hashable(entity.get(key)), {})[eid] = None
            self._index[(table, key)] = index
        return list(index.get(_hashable(value), {}))

    def find_all(self, table: str, **match: Any) -> list[dict[str, Any]]:
        rows = self.tables.get(table, {})
        first, *rest = match.items()
        found = []
        for eid in self._ids(table, first[0], first[1]):
            entity = rows[eid]
            if all(entity.get(k) == v for k, v in rest):
                found.append(entity)
        return found

    def find(self, table: str, **match: Any) -> dict[str, Any] | None:
        found = self.find_all(table, **match)
        return found[0] if found else None

    def find_keyed(self, table: str, key: str) -> dict[str, Any] | None:
        """The entity an unflattened error is keyed by: its id or its endpoint key."""
        if key in self.tables.get(table, {}):
            return self.tables[table][key]
        for name in ENDPOINT_KEYS:
            found = self.find(table, **{name: key})
            if found is not None:
                return found
        return None

    def _unindex(self, table: str, eid: str) -> None:
        entity = self.tables.get(table, {}).get(eid)
        if entity is None:
            return
        for (t, key), index in self._index.items():
            if t == table:
                index.get(_hashable(entity.get(key)), {}).pop(eid, None)

    def remove(self, table: str, entity_id: str) -> None:
        self._unindex(table, entity_id)
        self.tables.get(table, {}).pop(entity_id, None)

    def put(self, table: str, entity: dict[str, Any], key: tuple[str, str]) -> None:
        eid = str(entity["id"])
        self._unindex(table, eid)
        self.tables.setdefault(table, {})[eid] = entity
        for (t, field_name), index in self._index.items():
            if t == table:
                index.setdefault(_hashable(entity.get(field_name)), {})[eid] = None
        self.touched[eid] = key


#: Fields Kong keys an unflattened error by, besides `id` (the tables' endpoint keys).
ENDPOINT_KEYS = ("name", "username", "key", "instance_name", "client_id", "prefix", "target")


def unflattened(fields: Any) -> list[tuple[str, str | None, str]]:
    """What Kong's `flatten_errors` left in `fields` (kong/db/errors.lua:1022-1057): (table, the endpoint
    key or id the error is keyed by, or None for a position, message). Top-level errors (an unknown
    key, `_format_version`) come back with the table as the field name."""
    out: list[tuple[str, str | None, str]] = []
    if not isinstance(fields, dict):
        return out

    def messages(node: Any) -> list[str]:
        if isinstance(node, str):
            return [node]
        if isinstance(node, list):
            return [m for v in node for m in messages(v)]
        if isinstance(node, dict):
            return [f"{k}: {m}" for k, v in node.items() for m in messages(v)]
        return []

    for table, section in fields.items():
        if isinstance(section, str):
            out.append((str(table), None, section))
        elif isinstance(section, list):
            out.extend((str(table), None, msg) for msg in messages(section))
        elif isinstance(section, dict):
            for key, value in section.items():
                out.extend((str(table), str(key), msg) for msg in messages(value))
    return out


def _hashable(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | type(None)) else repr(value)


def _merge(existing: dict[str, Any] | None, ours: dict[str, Any], new_id: str) -> dict[str, Any]:
    """Our fields over the live entity; unmanaged fields and foreign tags survive."""
    out: dict[str, Any] = copy.deepcopy(existing) if existing else {"id": new_id}
    tags = m.merge_tags(out.get("tags"), ours.get("tags") or [])
    out.update(copy.deepcopy({k: v for k, v in ours.items() if k != "tags"}))
    out["tags"] = tags
    return out


def _guard_owner(entity: dict[str, Any] | None, owner: str, what: str, adopt: bool) -> None:
    if entity is not None and m.owner_of(entity) != owner and not adopt:
        raise MergeError(f"{what} exists and is not owned by '{owner}' (use --adopt to take it over)")


def apply_change(cfg: Config, change: Change, owner: str, *, protect_apis: bool = True) -> str | None:
    """Merge one change into the config; returns the gateway id of the resource. Raises MergeError."""
    key = (change.kind, change.name)
    if change.op is Op.DELETE:
        actual = change.actual or {}
        return _delete(cfg, change.kind, str(actual.get("id")), owner, key)
    desired = change.request()
    adopt = change.adopt
    if change.kind == "API":
        return _upsert_api(cfg, desired, owner, key, adopt, protect_apis)
    if change.kind == "Policy":
        return _upsert_policy(cfg, desired, owner, key, adopt)
    if change.kind == "Consumer":
        return _upsert_consumer(cfg, desired, owner, key, adopt)
    raise MergeError(f"kind {change.kind} is not supported by kong", "unsupported")


def _upsert_api(cfg: Config, record: dict[str, Any], owner: str, key: tuple[str, str], adopt: bool,
                protect: bool) -> str:
    name = record["name"]
    service = cfg.find("services", name=name)
    _guard_owner(service, owner, f"service '{name}'", adopt)
    new = _merge(service, m.api_to_service(record, owner), m.entity_id(owner, "API", name))
    for k in ("path",):
        if new.get(k) is None:
            new.pop(k, None)
    cfg.put("services", new, key)
    sid = str(new["id"])
    route = cfg.find("routes", name=name)
    if route is None and service is not None:  # an operator's route keeps its own name
        route = m.service_route(cfg.find_all("routes", service=sid), owner, adopt)
    _guard_owner(route, owner, f"route '{name}'", adopt)
    ours = {**m.api_to_route(record, owner), "service": sid}
    if route is not None and route.get("name"):
        ours["name"] = route["name"]
    route_new = _merge(route, ours, m.entity_id(owner, "API", name, "route"))
    cfg.put("routes", route_new, key)
    if protect:
        for plugin in m.api_auth_plugins(name, owner):
            existing = cfg.find("plugins", name=plugin["name"], service=sid, route=None, consumer=None) or cfg.find(
                "plugins", id=plugin["id"])
            _guard_owner(existing, owner, f"{plugin['name']} plugin of service '{name}'", adopt)
            cfg.put("plugins", _merge(existing, {**plugin, "service": sid}, plugin["id"]) | {
                "id": existing["id"] if existing else plugin["id"]}, key)
    return sid


def _upsert_policy(cfg: Config, record: dict[str, Any], owner: str, key: tuple[str, str], adopt: bool) -> str:
    api = str(record["spec"]["api"])
    service = cfg.find("services", name=api)
    if service is None or m.owner_of(service) != owner:
        raise MergeError(f"API '{api}' of policy '{record['name']}' is not on this gateway", "permanent")
    ours = {**m.policy_to_plugin(record, owner), "service": service["id"]}
    existing = cfg.find("plugins", id=record.get("id")) if record.get("id") else None
    same_slot = cfg.find("plugins", name=ours["name"], service=service["id"], route=None, consumer=None)
    if existing is None:
        existing = same_slot if same_slot is not None and m.tag_value(same_slot.get("tags"), m.NAME) == record[
            "name"] else None
    if same_slot is not None and same_slot is not existing:
        raise MergeError(f"service '{api}' already has a {ours['name']} plugin not managed as policy "
                         f"'{record['name']}'")
    _guard_owner(existing, owner, f"plugin of policy '{record['name']}'", adopt)
    new = _merge(existing, ours, m.entity_id(owner, "Policy", record["name"]))
    new["config"] = ours["config"]
    cfg.put("plugins", new, key)
    return str(new["id"])


def _upsert_consumer(cfg: Config, record: dict[str, Any], owner: str, key: tuple[str, str], adopt: bool) -> str:
    name = record["name"]
    consumer = cfg.find("consumers", username=name)
    _guard_owner(consumer, owner, f"consumer '{name}'", adopt)
    new = _merge(consumer, m.consumer_to_kong(record, owner), m.entity_id(owner, "Consumer", name))
    cfg.put("consumers", new, key)
    cid = str(new["id"])
    secret = api_key_of(record)
    keys = cfg.find_all("keyauth_credentials", consumer=cid)
    mine = [c for c in keys if m.owner_of(c) == owner]
    if secret:
        if not mine and adopt:  # take over the operator's credential holding this key (keys are unique)
            mine = m.adoptable_keys(keys, secret)[:1]
        keep = mine[0] if mine else None
        cred = _merge(keep, m.keyauth_to_kong(record, owner, secret), m.entity_id(owner, "Consumer", name, "key-auth"))
        cred["consumer"] = cid
        cfg.put("keyauth_credentials", cred, key)
        for extra in mine[1:]:
            cfg.remove("keyauth_credentials", str(extra["id"]))
    wanted = set(record["spec"].get("subscriptions") or [])
    for acl in cfg.find_all("acls", consumer=cid):
        if m.owner_of(acl) != owner:
            if adopt and m.unmanaged(acl) and acl.get("group") in wanted:  # re-tag the operator's group
                group = str(acl.get("group"))
                cfg.put("acls", _merge(acl, {"tags": m.acl_to_kong(name, group, owner)["tags"]}, str(acl["id"])), key)
                wanted.discard(group)
            continue
        if acl.get("group") not in wanted:
            cfg.remove("acls", str(acl["id"]))
        else:
            wanted.discard(str(acl.get("group")))
    for group in sorted(wanted):
        cfg.put("acls", {**m.acl_to_kong(name, group, owner), "consumer": cid}, key)
    return cid


def _delete(cfg: Config, kind: str, gid: str, owner: str, key: tuple[str, str]) -> str:
    table = {"API": "services", "Policy": "plugins", "Consumer": "consumers"}.get(kind)
    if table is None:
        raise MergeError(f"kind {kind} is not supported by kong", "unsupported")
    entity = cfg.find(table, id=gid)
    if entity is None:
        return gid  # already gone
    if m.owner_of(entity) != owner:
        raise MergeError(f"{kind} '{key[1]}' is not owned by '{owner}'; not deleted")
    if kind == "API":
        routes = cfg.find_all("routes", service=gid)
        plugins = cfg.find_all("plugins", service=gid)
        for route in routes:
            if m.owner_of(route) != owner:
                raise MergeError(f"route '{route.get('name') or route.get('id')}' (not ours) uses service "
                                 f"'{key[1]}'; not deleted")
        for plugin in plugins:
            if m.owner_of(plugin) != owner:
                raise MergeError(f"plugin '{plugin.get('name')}' (not ours) is scoped to service '{key[1]}'; "
                                 "not deleted")
        for route in routes:
            for plugin in cfg.find_all("plugins", route=route["id"]):
                cfg.remove("plugins", str(plugin["id"]))
            cfg.remove("routes", str(route["id"]))
        for plugin in plugins:
            cfg.remove("plugins", str(plugin["id"]))
    elif kind == "Consumer":
        # a consumer's credentials and plugins go with it, as Kong's cascade does in database mode
        for cred_table in (*CREDENTIALS, "plugins"):
            for dependant in cfg.find_all(cred_table, consumer=gid):
                cfg.remove(cred_table, str(dependant["id"]))
    cfg.remove(table, gid)
    cfg.touched[gid] = key
    return gid


def _clean(table: str, entity: dict[str, Any], drop: tuple[str, ...] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in entity.items():
        if v is None or k in drop or (k == "updated_at" and table in NO_UPDATED_AT):
            continue
        if k in FOREIGN.get(table, {}) and FOREIGN[table][k]:
            v = {"id": v}
        out[k] = copy.deepcopy(v) if k == "config" else _no_nulls(v)
    return out


def _no_nulls(value: Any) -> Any:
    """Nulls are 'unset' to Kong (the default applies) and not valid in the JSON Schema; plugin
    `config` is free-form and kept as is."""
    if isinstance(value, dict):
        return {k: _no_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_no_nulls(v) for v in value]
    return value


def to_document(cfg: Config) -> dict[str, Any]:
    """The declarative document to POST: nested where the JSON Schema requires it."""
    doc: dict[str, Any] = {"_format_version": "3.0"}
    for k, v in cfg.meta.items():
        if k in ("_transform", "_comment", "_workspace", "_info"):
            doc[k] = v
    children: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for table, parent_key in ([(c, "consumer") for c in CREDENTIALS] + [("targets", "upstream"),
                                                                      ("snis", "certificate")]):
        for entity in cfg.rows(table):
            children.setdefault(table, {}).setdefault(str(entity.get(parent_key)), []).append(
                _clean(table, entity, (parent_key,)))
    for table in cfg.tables:
        entities = cfg.rows(table)
        if table in children or not entities or table in CREDENTIALS or table in ("targets", "snis"):
            continue
        rows = []
        for entity in entities:
            row = _clean(table, entity)
            if table == "consumers":
                for cred in CREDENTIALS:
                    nested = children.get(cred, {}).get(str(entity.get("id")))
                    if nested:
                        row[cred] = nested
            elif table == "upstreams" and children.get("targets", {}).get(str(entity.get("id"))):
                row["targets"] = children["targets"][str(entity["id"])]
            elif table == "certificates" and children.get("snis", {}).get(str(entity.get("id"))):
                row["snis"] = children["snis"][str(entity["id"])]
            rows.append(row)
        doc[table] = rows
    return doc
