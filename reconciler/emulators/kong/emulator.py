"""A Kong 3.9 Admin API on 127.0.0.1, in DB-less (`database=off`) or database (`postgres`) mode.

Every rule is listed with its source in Kong/kong@3.9.1 in `../fidelity/kong.md`: `{data, next, offset}`
paging in primary-key order (`size` 100 by default, max 1000; `tags` `a,b` AND / `a/b` OR, filtered
after paging in DB-less mode, before it with a database); CRUD with Kong's error codes (1 invalid
primary key, 2 schema, 4 foreign key, 5 unique → 409, 404 `Not found`); DB-less entity writes validated
then refused (405, code 12) and `POST /config` replacing everything or nothing (`declarative.py`);
`Kong-Admin-Token` checked when a token is configured (Enterprise RBAC's header).
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import importlib
import json
import re
import threading
import uuid
from typing import Any
from urllib.parse import quote

import yaml
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from reconciler.emulators.kong.declarative import (
    EMPTY_HASH,
    UUID_RE,
    Db,
    DeclarativeError,
    export,
    hash_password,
    load,
    state_hash,
    text_hash,
)
from reconciler.emulators.kong.entities import BY_ENDPOINT, CREDENTIAL_PATHS, SCHEMAS, Schema, fill_auto, validate
from reconciler.emulators.server import Emulator

VERSION = "3.9.1"
TRUTHY = ("1", "true", "on", "yes")
_TAG_BYTES = r"\x20-\x2B\x2D\x2E\x30-\x7E\x80-\U0010FFFF"
TAGS_AND_RE = re.compile(f"([{_TAG_BYTES}]+(?:,|$))+")
TAGS_OR_RE = re.compile(f"([{_TAG_BYTES}]+(?:/|$))+")
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
yaml_rs: Any
try:  # a Rust YAML writer, about 8x faster than libyaml's at 1,000 services
    yaml_rs = importlib.import_module("yaml_rs")
except ImportError:  # pragma: no cover - depends on the platform's wheels
    yaml_rs = None


class _TildeDumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """PyYAML, when yaml-rs is missing, spelling null as lyaml does."""


_TildeDumper.add_representer(type(None), lambda dumper, _: dumper.represent_scalar("tag:yaml.org,2002:null", "~"))


def export_text(doc: dict[str, Any]) -> str:
    """The export as Kong writes it: lyaml 6.2.8 (Kong's rockspec pin) dumps nulls as `~`, and
    `to_yaml_string` cuts the document markers (`yaml:sub(5, -5)`). yaml-rs writes the same
    spelling."""
    if yaml_rs is None:
        return str(yaml.dump(doc, Dumper=_TildeDumper, sort_keys=False))
    text: str = yaml_rs.dumps(doc)
    return (text[4:] if text.startswith("---\n") else text) + "\n"


#: (parent endpoint, child path) -> (child table, foreign-key field on the child)
NESTED_PATHS: dict[tuple[str, str], tuple[str, str]] = {
    ("services", "routes"): ("routes", "service"),
    ("services", "plugins"): ("plugins", "service"),
    ("routes", "plugins"): ("plugins", "route"),
    ("consumers", "plugins"): ("plugins", "consumer"),
    ("upstreams", "targets"): ("targets", "upstream"),
    ("certificates", "snis"): ("snis", "certificate"),
    ("key-sets", "keys"): ("keys", "set"),
    **{("consumers", path): (schema.table, "consumer") for path, schema in CREDENTIAL_PATHS.items()},
}
#: What a delete takes with it (Kong's on_delete = "cascade").
CASCADE: dict[str, tuple[tuple[str, str], ...]] = {
    "services": (("plugins", "service"),),
    "routes": (("plugins", "route"),),
    "consumers": tuple((s.table, "consumer") for s in CREDENTIAL_PATHS.values()) + (("plugins", "consumer"),),
    "upstreams": (("targets", "upstream"),),
    "certificates": (("snis", "certificate"),),
    "key_sets": (("keys", "set"),),
}


def _json(body: Any, status: int = 200) -> Response:
    return JSONResponse(body, status_code=status)


def _error(status: int, message: str, **extra: Any) -> Response:
    return _json({**extra, "message": message}, status)


def _fmt_key(fields: dict[str, Any]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in fields.items()) + "}"


def _invalid_primary_key() -> Response:
    """endpoints.lua query_entity: a key that is no UUID on a table without an endpoint key reaches the
    DAO as `{id = key}`; validate_primary_key fails (kong/db/errors.lua:194-202, code 1)."""
    return _json({"code": 1, "name": "invalid primary key",
                  "message": "invalid primary key: '{id=\"expected a valid UUID\"}'",
                  "fields": {"id": "expected a valid UUID"}}, 400)


def _schema_violation(errors: dict[str, Any]) -> str:
    """kong/db/errors.lua schema_violation: entity errors, then fields sorted, `n schema violations (…)`."""
    parts = list(errors.get("@entity") or [])
    for name in sorted(k for k in errors if k != "@entity"):
        value = errors[name]
        if isinstance(value, dict):
            parts.extend(f"{name}.{sub}: {value[sub]}" for sub in sorted(value))
        elif isinstance(value, list):
            parts.extend(f"{name}.{i + 1}: {v}" for i, v in enumerate(value) if v is not None)
        else:
            parts.append(f"{name}: {value}")
    if len(parts) == 1:
        return f"schema violation ({parts[0]})"
    return f"{len(parts)} schema violations ({'; '.join(parts)})"


def _meta(doc: Any) -> dict[str, Any]:
    meta = {k: v for k, v in doc.items() if k.startswith("_")} if isinstance(doc, dict) else {}
    meta.setdefault("_transform", True)
    return meta


def _unserialize(text: bytes | None) -> tuple[Any, str | None]:
    """declarative/init.lua unserialize: JSON first, then YAML; a table or an error."""
    if text is None:
        return None, "failed parsing declarative configuration: expected a string"
    try:
        value = json.loads(text)
        if isinstance(value, dict):
            return value, None
    except ValueError:
        pass
    try:
        value = yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        return None, f"failed parsing declarative configuration: {exc}"
    if not isinstance(value, dict):
        return None, "failed parsing declarative configuration: expected an object"
    return value, None


def _tags_problem(tags: str) -> str | None:
    """The `tags` query: `a,b` (and) or `a/b` (or) of printable tags, at most 5 (kong/api/endpoints.lua
    TAGS_AND_REGEX/TAGS_OR_REGEX, kong/db/dao/init.lua validate_options_value)."""
    if tags == "":
        return "cannot be null"
    if TAGS_AND_RE.fullmatch(tags):
        parts = tags.split(",")
    elif TAGS_OR_RE.fullmatch(tags):
        parts = tags.split("/")
    else:
        return "invalid filter syntax"
    if len([p for p in parts if p]) > 5:
        return "cannot query more than 5 tags"
    return None


def _tags_match(item_tags: Any, wanted: list[str], cond: str) -> bool:
    """`filter_tag_items` (kong/db/strategies/off/init.lua): an entity without tags never matches."""
    if not item_tags:
        return False
    have = set(item_tags)
    return all(t in have for t in wanted) if cond == "and" else any(t in have for t in wanted)


def _encode_offset(table: str, last_id: str, dbless: bool) -> str:
    """DB-less: base64 of the last LMDB key + NUL, unpadded (page_for_prefix); a database: base64 of the
    JSON array of the last primary key, unpadded too (kong/db/strategies/postgres/init.lua:512-522)."""
    if dbless:
        return base64.b64encode(f"{table}|*|*|{last_id}\x00".encode()).decode().rstrip("=")
    return base64.b64encode(json.dumps([last_id]).encode()).decode().rstrip("=")


def _decode_offset(token: str, dbless: bool) -> tuple[str | None, str]:
    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4), validate=True)
    except (ValueError, binascii.Error):
        return None, "bad base64 encoding"
    if dbless:
        text = raw.decode(errors="replace")
        if not text.endswith("\x00") or "|" not in text:
            return None, "bad base64 encoding"
        return text[:-1].rsplit("|", 1)[1], ""
    try:
        value = json.loads(raw)
    except ValueError:
        return None, "bad json encoding"
    if not isinstance(value, list) or not value:
        return None, "bad json encoding"
    return str(value[0]), ""


class KongEmulator(Emulator):
    """In-memory Kong; `mode` is `dbless` or `postgres`. State is guarded by one lock."""

    gateway_type = "kong"

    def __init__(self, mode: str = "dbless", admin_token: str | None = None) -> None:
        super().__init__()
        if mode not in ("dbless", "postgres"):
            raise ValueError("mode must be 'dbless' or 'postgres'")
        self.mode = mode
        self.admin_token = admin_token
        self.db: Db = {table: {} for table in SCHEMAS}
        self.hash = EMPTY_HASH
        self.node_id = str(uuid.uuid4())
        self.state_lock = threading.RLock()

    @classmethod
    def from_credentials(cls, credentials: dict[str, str], options: dict[str, Any]) -> Emulator:
        mode = str(options.get("mode", "dbless")).lower()
        mode = {"off": "dbless", "db-less": "dbless", "database": "postgres", "db": "postgres"}.get(mode, mode)
        return cls(mode=mode, admin_token=credentials.get("token"))

    @property
    def dbless(self) -> bool:
        return self.mode == "dbless"

    # ---------------------------------------------------------------- helpers for tests
    def entities(self, table: str) -> list[dict[str, Any]]:
        with self.state_lock:
            return copy.deepcopy(list(self.db[table].values()))

    def load_config(self, doc: dict[str, Any]) -> None:
        """Seed state (both modes) from a declarative document; raises DeclarativeError."""
        with self.state_lock:
            self.db, _ = load(copy.deepcopy(doc), self.db)
            self.hash = state_hash(self.db, _meta(doc))

    # ---------------------------------------------------------------- routing
    def routes(self) -> list[BaseRoute]:
        methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
        return [Route("/{path:path}", self.handle, methods=methods)]

    async def handle(self, request: Request) -> Response:
        if self.admin_token is not None and request.headers.get("kong-admin-token") != self.admin_token:
            return _json({"message": "Invalid credentials. Token or User credentials required", "status": 401}, 401)
        parts = [p for p in request.url.path.split("/") if p]
        method = request.method
        body: Any = None
        if method in ("POST", "PUT", "PATCH"):
            raw = await request.body()
            if parts == ["config"]:
                with self.state_lock:
                    return self._config(request, method, raw)
            body, problem = self._parse_body(request, raw)
            if problem is not None:
                return problem
        with self.state_lock:
            return self._dispatch(request, method, parts, body)

    def _parse_body(self, request: Request, raw: bytes) -> tuple[Any, Response | None]:
        if not raw.strip():
            return {}, None
        ctype = request.headers.get("content-type", "")
        try:
            if "yaml" in ctype:
                return yaml.load(raw, Loader=_LOADER), None
            if "x-www-form-urlencoded" in ctype:
                from urllib.parse import parse_qsl

                return dict(parse_qsl(raw.decode())), None
            return json.loads(raw), None
        except (ValueError, yaml.YAMLError):
            return None, _error(400, "Cannot parse JSON body")

    def _dispatch(self, request: Request, method: str, parts: list[str], body: Any) -> Response:
        if not parts:
            return self._root() if method == "GET" else _error(405, "Method not allowed")
        head = parts[0]
        if head == "status" and len(parts) == 1:
            return self._status() if method == "GET" else _error(405, "Method not allowed")
        if head == "config" and len(parts) == 1:
            return self._config(request, method, b"")
        if head == "tags":
            return self._tags(request, parts)
        schema = BY_ENDPOINT.get(head)
        if schema is None:
            return _error(404, "Not found")
        if len(parts) == 1:
            return self._collection(request, method, schema, body, None)
        if not UUID_RE.match(parts[1]) and not schema.endpoint_key:
            return _invalid_primary_key()
        parent = self._find(schema, parts[1])
        if len(parts) == 2:
            return self._item(method, schema, parts[1], parent, body, None)
        if parent is None:
            return _error(404, "Not found")
        nested = NESTED_PATHS.get((head, parts[2]))
        if nested is None:
            return _error(404, "Not found")
        child_schema = SCHEMAS[nested[0]]
        scope = (nested[1], str(parent["id"]))
        if len(parts) == 3:
            return self._collection(request, method, child_schema, body, scope)
        if len(parts) == 4:
            if not UUID_RE.match(parts[3]) and not child_schema.endpoint_key:
                return _invalid_primary_key()
            child = self._find(child_schema, parts[3])
            if child is not None and (child.get(scope[0]) or {}).get("id") != scope[1]:
                child = None
            if child is None and method == "DELETE":
                return _error(404, "Not found")  # endpoints.lua delete_entity_endpoint: nested, not found
            return self._item(method, child_schema, parts[3], child, body, scope)
        return _error(404, "Not found")

    # ---------------------------------------------------------------- info
    def _root(self) -> Response:
        plugins = sorted(__import__("reconciler.emulators.kong.entities", fromlist=["x"]).BUNDLED_PLUGINS)
        return _json({
            "version": VERSION, "edition": "community", "tagline": "Welcome to kong", "node_id": self.node_id,
            "hostname": "kong-emulator", "lua_version": "LuaJIT 2.1.0-20231117",
            "plugins": {"available_on_server": {p: {"version": VERSION, "priority": 1000} for p in plugins},
                        "enabled_in_cluster": sorted({p["name"] for p in self.db["plugins"].values()})},
            "configuration": {"database": "off" if self.dbless else "postgres", "role": "traditional",
                              "admin_listen": ["127.0.0.1:8001"], "proxy_listen": ["0.0.0.0:8000"]},
            "timers": {"running": 0, "pending": 1}, "pids": {"master": 1, "workers": [2]},
        })

    def _status(self) -> Response:
        body: dict[str, Any] = {
            "server": {"connections_accepted": len(self.requests), "connections_active": 1,
                       "connections_handled": len(self.requests), "connections_reading": 0,
                       "connections_waiting": 0, "connections_writing": 1, "total_requests": len(self.requests)},
            "memory": {"lua_shared_dicts": {"kong": {"allocated_slabs": "0.04 MiB", "capacity": "5.00 MiB"}},
                       "workers_lua_vms": [{"http_allocated_gc": "40.00 MiB", "pid": 2}]},
        }
        if self.dbless:  # kong/api/routes/health.lua:52-56: the hash instead of the database
            body["configuration_hash"] = self.hash
        else:
            body["database"] = {"reachable": True}
        return _json(body)

    def _tags(self, request: Request, parts: list[str]) -> Response:
        rows = []
        for table, entities in self.db.items():
            for entity in entities.values():
                for tag in entity.get("tags") or []:
                    if len(parts) == 1 or tag == parts[1]:
                        rows.append({"entity_name": table, "entity_id": entity["id"], "tag": tag})
        return self._page(request, rows, "tags", "/" + "/".join(parts), tagged=False)

    # ---------------------------------------------------------------- /config
    def _config(self, request: Request, method: str, raw: bytes) -> Response:
        """kong/api/routes/config.lua. The document is the JSON body when it has `_format_version`;
        otherwise the `config` parameter or the raw body is parsed as JSON, then YAML. Only that text
        is hashed for `check_hash=1` (304); a JSON document's hash is the loaded entities'."""
        if not self.dbless:
            return _error(400, "this endpoint is only available when Kong is configured to not use a database")
        if method == "GET":
            return _json({"config": export_text(export(self.db))})
        if method != "POST":
            return _error(405, "Method not allowed")
        query = request.query_params
        params = self._config_params(request, raw)
        flatten = str(query.get("flatten_errors", params.pop("flatten_errors", ""))).lower() in TRUTHY
        check_hash = str(query.get("check_hash", params.pop("check_hash", ""))) == "1"
        text: bytes | None = None
        if "_format_version" in params:
            doc: Any = params
        else:
            config = params.get("config")
            if config is None:
                if not raw:
                    return _error(400, "expected a declarative configuration")
                config = raw
            text = config.encode() if isinstance(config, str) else config if isinstance(config, bytes) else None
            doc, problem = _unserialize(text)
            if problem is not None:
                return _json(DeclarativeError({"error": problem}, None).body(False), 400)
        if check_hash and text is not None and hashlib.md5(text).hexdigest() == self.hash:
            return Response(status_code=304)
        try:
            new_db, loaded = load(copy.deepcopy(doc))
        except DeclarativeError as exc:
            return _json(exc.body(flatten), 400)
        self.db = new_db
        self.hash = text_hash(text, new_db) if text is not None else state_hash(new_db, _meta(doc))
        return _json({table: {eid: self._render(SCHEMAS[table], e) for eid, e in rows.items()}
                      for table, rows in loaded.items()}, 201)

    @staticmethod
    def _config_params(request: Request, raw: bytes) -> dict[str, Any]:
        """Lapis parses JSON and form bodies into parameters; other bodies give none."""
        ctype = request.headers.get("content-type", "")
        if "x-www-form-urlencoded" in ctype:
            from urllib.parse import parse_qsl

            return dict(parse_qsl(raw.decode(errors="replace")))
        if "json" in ctype:
            try:
                value = json.loads(raw)
            except ValueError:
                return {}
            return value if isinstance(value, dict) else {}
        return {}

    # ---------------------------------------------------------------- lookup and rendering
    def _find(self, schema: Schema, ref: str) -> dict[str, Any] | None:
        rows = self.db[schema.table]
        if UUID_RE.match(ref):
            return rows.get(ref)
        if schema.endpoint_key:
            for entity in rows.values():
                if str(entity.get(schema.endpoint_key)) == ref:
                    return entity
        return None

    @staticmethod
    def _render(schema: Schema, entity: dict[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(entity)
        if schema.table == "certificates":
            out["snis"] = []
        return out

    def _render_live(self, schema: Schema, entity: dict[str, Any]) -> dict[str, Any]:
        out = self._render(schema, entity)
        if schema.table == "certificates":
            out["snis"] = sorted(s["name"] for s in self.db["snis"].values()
                                 if (s.get("certificate") or {}).get("id") == entity["id"])
        return out

    # ---------------------------------------------------------------- paging
    def _page(self, request: Request, rows: list[dict[str, Any]], table: str, next_path: str, *,
              nested: bool = False, tagged: bool = True) -> Response:
        """One page of a collection, in primary-key order (LMDB keys `<table>|<ws>|*|<pk>` in DB-less,
        `ORDER BY pk` with a database).

        Tags: a database filters in SQL before the LIMIT; DB-less reads one page of keys and filters
        it afterwards (`page_for_tags`), so a page can be short or empty and still carry an `offset`.
        Nested lists (`/services/{id}/routes`) ignore `tags` in both modes (`page_for_<fk>`)."""
        query = request.query_params
        size_raw = query.get("size")
        size = 100
        if size_raw is not None:
            try:
                size = int(size_raw)
            except ValueError:
                return _json({"code": 9, "name": "invalid size", "message": "size must be a number"}, 400)
            if not 1 <= size <= 1000:
                return _json({"code": 9, "name": "invalid size",
                              "message": "size must be an integer between 1 and 1000"}, 400)
        tags = query.get("tags") if tagged and not nested else None
        wanted: list[str] = []
        cond = "and"
        if tags is not None:
            problem = _tags_problem(tags)
            if problem is not None:
                return _json({"code": 11, "name": "invalid options", "message": f"invalid option (tags: {problem})",
                              "options": {"tags": problem}}, 400)
            cond = "or" if "/" in tags else "and"
            wanted = tags.split("/") if cond == "or" else tags.split(",")
        rows = sorted(rows, key=lambda r: str(r.get("id")))
        offset = query.get("offset")
        if offset:
            after, problem = _decode_offset(offset, self.dbless)
            if after is None:
                return _json({"code": 7, "name": "invalid offset",
                              "message": f"'{offset}' is not a valid offset: {problem}"}, 400)
            rows = [r for r in rows if str(r.get("id")) > after]
        if wanted and not self.dbless:
            rows = [r for r in rows if _tags_match(r.get("tags"), wanted, cond)]
        data = rows[:size]
        more = len(rows) > size
        if wanted and self.dbless:
            data = [r for r in data if _tags_match(r.get("tags"), wanted, cond)]
        body: dict[str, Any] = {"data": data, "next": None}
        if more:
            token = _encode_offset(table, str(rows[size - 1].get("id")), self.dbless)
            body["offset"] = token
            if nested:
                body["next"] = f"{next_path}?offset={quote(token, safe='')}"
            else:
                extra = (f"&tags={quote(tags, safe='')}" if tags is not None else "") + (
                    f"&size={size_raw}" if size_raw is not None else "")
                body["next"] = f"{next_path}?offset={quote(token, safe='')}{extra}"
        return _json(body)

    # ---------------------------------------------------------------- collections and items
    def _collection(self, request: Request, method: str, schema: Schema, body: Any,
                    scope: tuple[str, str] | None) -> Response:
        if method == "GET":
            rows = [self._render_live(schema, e) for e in self.db[schema.table].values()
                    if scope is None or (e.get(scope[0]) or {}).get("id") == scope[1]]
            if scope is None:
                return self._page(request, rows, schema.table, f"/{schema.endpoint}")
            return self._page(request, rows, schema.table, request.url.path.rstrip("/"), nested=True)
        if method != "POST":
            return _error(405, "Method not allowed")
        return self._write(schema, body, None, scope, status=201, verb="create")

    def _item(self, method: str, schema: Schema, ref: str, entity: dict[str, Any] | None, body: Any,
              scope: tuple[str, str] | None) -> Response:
        if method == "GET":
            return _json(self._render_live(schema, entity)) if entity else _error(404, "Not found")
        if method not in ("PUT", "PATCH", "DELETE"):
            return _error(405, "Method not allowed")
        by = schema.endpoint_key if not UUID_RE.match(ref) and schema.endpoint_key else None
        if method == "DELETE":
            if entity is not None:
                if self.dbless:  # the DAO reads first: deleting nothing is a 204 in DB-less mode too
                    return self._dbless_refusal(schema, "remove", by)
                problem = self._delete(schema, entity)
                if problem is not None:
                    return problem
            return Response(status_code=204)
        if method == "PATCH":
            if entity is None:
                return _error(404, "Not found")
            return self._write(schema, body, entity, scope, status=200, partial=True, verb="update", by=by)
        # PUT: upsert by id or endpoint key
        data = dict(body) if isinstance(body, dict) else {}
        if UUID_RE.match(ref):
            data["id"] = ref
        elif schema.endpoint_key:
            data[schema.endpoint_key] = ref
        else:
            return _invalid_primary_key()
        return self._write(schema, data, entity, scope, status=200, replace=True, verb="create or update", by=by)

    def _dbless_refusal(self, schema: Schema, verb: str, by: str | None = None) -> Response:
        """kong/db/strategies/off/init.lua:374-400: every write of the DB-less strategy."""
        what = f"'{schema.table}' entities by '{by}'" if by else f"'{schema.table}' entities"
        return _json({"code": 12, "name": "operation unsupported",
                      "message": f"cannot {verb} {what} when not using a database"}, 405)

    def _write(self, schema: Schema, body: Any, existing: dict[str, Any] | None, scope: tuple[str, str] | None,
               *, status: int, partial: bool = False, replace: bool = False, verb: str = "create",
               by: str | None = None) -> Response:
        """Database mode: validate, resolve foreign keys, check uniqueness, store. DB-less mode: the DAO
        validates the same way, then its strategy refuses (405)."""
        if not isinstance(body, dict):
            return _json({"code": 2, "name": "schema violation", "message": "schema violation (expected a record)",
                          "fields": {"@entity": ["expected a record"]}}, 400)
        data = dict(body)
        for auto in ("created_at", "updated_at"):
            data.pop(auto, None)
        if scope is not None:
            data[scope[0]] = {"id": scope[1]}
        if "id" in data and not (isinstance(data["id"], str) and UUID_RE.match(data["id"])):
            return _json({"code": 2, "name": "schema violation", "message": "schema violation (id: expected a valid "
                          "UUID)", "fields": {"id": "expected a valid UUID"}}, 400)
        if existing is not None and "id" in data and data["id"] != existing["id"] and not replace:
            return _json({"code": 3, "name": "primary key violation", "message": "cannot modify 'id'",
                          "fields": {"id": "cannot modify 'id'"}}, 400)
        entity, errors = validate(schema, data, partial=partial, base=existing if partial else None)
        if errors:
            return _json({"code": 2, "name": "schema violation", "message": _schema_violation(errors),
                          "fields": errors}, 400)
        if self.dbless:
            return self._dbless_refusal(schema, verb, by)
        # foreign keys
        for fk, table in schema.foreign_keys.items():
            ref = entity.get(fk)
            if ref is None:
                continue
            key = ref.get("id") or ref.get("name") or ref.get("username") if isinstance(ref, dict) else ref
            target = self._find(SCHEMAS[table], str(key)) if key is not None else None
            if target is None:
                message = f"the foreign key '{_fmt_key(ref if isinstance(ref, dict) else {'id': ref})}' does not " \
                          f"reference an existing '{table}' entity."
                return _json({"code": 4, "name": "foreign key violation", "message": message,
                              "fields": {fk: message}}, 400)
            entity[fk] = {"id": target["id"]}
        if existing is not None:
            entity["id"] = existing["id"] if not replace or "id" not in data else data["id"]
            entity["created_at"] = existing.get("created_at")
        fill_auto(schema, entity)
        if schema.table == "basicauth_credentials" and (existing is None or entity["password"] != existing.get(
                "password")):
            entity["password"] = hash_password(str(entity["password"]), str(entity["consumer"]["id"]))
        # uniqueness
        for key in schema.unique:
            value = entity.get(key)
            if value is None:
                continue
            for other in self.db[schema.table].values():
                if other["id"] != entity["id"] and other.get(key) == value:
                    return _json({"code": 5, "name": "unique constraint violation",
                                  "message": f"UNIQUE violation detected on '{_fmt_key({key: value})}'",
                                  "fields": {key: value}}, 409)
        if schema.composite:
            mine = [json.dumps(entity.get(k), sort_keys=True) for k in schema.composite]
            values = [entity.get(k) for k in schema.composite]
            for other in self.db[schema.table].values():
                # equal values first (cheap), then equal JSON as before: the emulator's own speed only
                if other["id"] != entity["id"] and [other.get(k) for k in schema.composite] == values and [
                        json.dumps(other.get(k), sort_keys=True) for k in schema.composite] == mine:
                    fields = {k: entity.get(k) for k in schema.composite}
                    return _json({"code": 5, "name": "unique constraint violation",
                                  "message": f"UNIQUE violation detected on '{_fmt_key(fields)}'",
                                  "fields": fields}, 409)
        if existing is not None and existing["id"] != entity["id"]:
            self.db[schema.table].pop(existing["id"], None)
        self.db[schema.table][entity["id"]] = entity
        return _json(self._render_live(schema, entity), status)

    def _delete(self, schema: Schema, entity: dict[str, Any]) -> Response | None:
        if schema.table == "services":
            for route in self.db["routes"].values():
                if (route.get("service") or {}).get("id") == entity["id"]:
                    message = "an existing 'routes' entity references this 'services' entity"
                    return _json({"code": 4, "name": "foreign key violation", "message": message,
                                  "fields": {"@referenced_by": "routes"}}, 400)
        for table, fk in CASCADE.get(schema.table, ()):
            for child in [c for c in self.db[table].values() if (c.get(fk) or {}).get("id") == entity["id"]]:
                self._delete(SCHEMAS[table], child)
        self.db[schema.table].pop(entity["id"], None)
        return None
