"""Kong 3.9 entity schemas, as data: fields, defaults, uniqueness, foreign and cache keys.

Read from Kong/kong@3.9.1 `kong/db/schema/entities/*.lua` and the bundled plugins' `daos.lua` (the
fidelity ledger `../fidelity/kong.md` cites each rule), with `../shared/specs/kong` for the Admin API
shapes. One table drives both modes of the emulator: database-mode CRUD and the DB-less declarative
loader validate with the same functions, so both report the same `{field: message}` error trees.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

#: kong/constants.lua protocols_with_subsystem, sorted (ws/wss are Enterprise only).
PROTOCOLS = ("grpc", "grpcs", "http", "https", "tcp", "tls", "tls_passthrough", "udp")
HTTP_METHODS_RE = re.compile(r"^[A-Z]+$")
NAME_RE = re.compile("[A-Za-z0-9.\\-_~\u0080-\U0010FFFF]+")
"""typedefs.lua validate_utf8_name: `^[%w%.%-%_~\128-\244]+$`."""
TAG_RE = re.compile("[ \x21-\x2B\x2D\x2E\x30-\x7E\u0080-\U0010FFFF]+")
"""typedefs.lua validate_tag: `^[ \033-\043\045\046\048-\126\128-\244]+$`."""
#: Fields typed `typedefs.utf8_name` (services.lua, routes.lua, plugins.lua, filter_chains.lua).
UTF8_NAMES: dict[str, tuple[str, ...]] = {"services": ("name",), "routes": ("name",), "plugins": ("instance_name",),
                                          "filter_chains": ("name",)}
VAULT_PREFIX_RE = re.compile(r"[a-z][a-z0-9-]*?[a-z0-9]+")
"""vaults.lua prefix `match = [[^[a-z][a-z%d-]-[a-z%d]+$]]`."""
ENV_PREFIX_RE = re.compile(r"[A-Za-z_-][A-Za-z0-9_-]*")
"""kong/vaults/env/schema.lua config.prefix `match = [[^[%a_-][%a%d_-]*$]]`."""
#: Plugins bundled with Kong OSS 3.9.1 (kong/constants.lua:1-46; a plugin outside this set is "not enabled").
BUNDLED_PLUGINS = frozenset({
    "acl", "acme", "ai-prompt-decorator", "ai-prompt-guard", "ai-prompt-template", "ai-proxy",
    "ai-request-transformer", "ai-response-transformer", "aws-lambda", "azure-functions", "basic-auth",
    "bot-detection", "correlation-id", "cors", "datadog", "file-log", "grpc-gateway", "grpc-web", "hmac-auth",
    "http-log", "ip-restriction", "jwt", "key-auth", "ldap-auth", "loggly", "opentelemetry", "post-function",
    "pre-function", "prometheus", "proxy-cache", "rate-limiting", "redirect", "request-size-limiting",
    "request-termination", "request-transformer", "response-ratelimiting", "response-transformer",
    "session", "standard-webhooks", "statsd", "syslog", "tcp-log", "udp-log", "zipkin", "oauth2",
})
#: Vaults bundled with Kong OSS 3.9.1 (kong/constants.lua `vaults`).
BUNDLED_VAULTS = ("env",)
CORE_ENTITIES = ("workspaces", "consumers", "certificates", "services", "routes", "snis", "upstreams", "targets",
                 "plugins", "tags", "ca_certificates", "clustering_data_planes", "parameters", "vaults", "key_sets",
                 "keys", "filter_chains")
"""kong/constants.lua CORE_ENTITIES (the order topological_sort starts from)."""
#: `uuid_generators._entities` of kong/db/schema/others/declarative_config.lua:544-556.
KONG_NAMESPACE = uuid.UUID("fd02801f-0957-4a15-a55a-c8d9606f30b5")


@dataclass(frozen=True)
class F:
    """One field of an entity schema."""

    name: str
    type: str = "string"  # string integer number boolean array map record foreign
    default: Any = None
    required: bool = False
    one_of: tuple[str, ...] = ()
    between: tuple[int, int] | None = None
    foreign: str | None = None
    auto: bool = False


@dataclass(frozen=True)
class Schema:
    table: str
    singular: str
    endpoint: str
    fields: tuple[F, ...]
    endpoint_key: str | None = None
    unique: tuple[str, ...] = ()
    composite: tuple[str, ...] = ()
    """Fields whose combination must be unique (Kong's cache_key)."""
    consumer_path: str | None = None
    """Nested path under /consumers/{id}/ for credentials."""
    generated: dict[str, str] = field(default_factory=dict)
    """Fields Kong generates when absent (value: 'key' random token)."""
    cache_key: tuple[str, ...] = ()
    """The entity's `cache_key` (declarative ids are derived from it)."""
    nested_path: str | None = None
    """`admin_api_nested_name` or the endpoint under a parent (`/key-sets/{id}/keys`)."""

    def get(self, name: str) -> F | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def foreign_keys(self) -> dict[str, str]:
        return {f.name: f.foreign for f in self.fields if f.foreign}


def _ts(name: str = "created_at") -> F:
    return F(name, "integer", auto=True)


_ID = F("id", "string", auto=True)
_TAGS = F("tags", "array")

HEALTHCHECKS_DEFAULT: dict[str, Any] = {
    "active": {
        "concurrency": 10, "headers": None, "healthy": {"http_statuses": [200, 302], "interval": 0, "successes": 0},
        "http_path": "/", "https_sni": None, "https_verify_certificate": True, "timeout": 1, "type": "http",
        "unhealthy": {"http_failures": 0, "http_statuses": [429, 404, 500, 501, 502, 503, 504, 505],
                      "interval": 0, "tcp_failures": 0, "timeouts": 0},
    },
    "passive": {
        "healthy": {"http_statuses": [200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304,
                                      305, 306, 307, 308], "successes": 0},
        "type": "http",
        "unhealthy": {"http_failures": 0, "http_statuses": [429, 500, 503], "tcp_failures": 0, "timeouts": 0},
    },
    "threshold": 0,
}

SCHEMAS: dict[str, Schema] = {s.table: s for s in (
    Schema("services", "service", "services", (
        _ID, _ts(), _ts("updated_at"), F("name"), F("retries", "integer", 5, between=(0, 32767)),
        F("protocol", "string", "http", one_of=PROTOCOLS), F("host", required=True),
        F("port", "integer", 80, between=(0, 65535)), F("path"),
        F("connect_timeout", "integer", 60000, between=(1, 2147483646)),
        F("write_timeout", "integer", 60000, between=(1, 2147483646)),
        F("read_timeout", "integer", 60000, between=(1, 2147483646)), _TAGS,
        F("client_certificate", "foreign", foreign="certificates"), F("tls_verify", "boolean"),
        F("tls_verify_depth", "integer"), F("ca_certificates", "array"), F("enabled", "boolean", True),
    ), endpoint_key="name", unique=("name",)),
    Schema("routes", "route", "routes", (
        _ID, _ts(), _ts("updated_at"), F("name"), F("protocols", "array", ["http", "https"]),
        F("methods", "array"), F("hosts", "array"), F("paths", "array"), F("headers", "map"),
        F("https_redirect_status_code", "integer", 426, one_of=("426", "301", "302", "307", "308")),
        F("regex_priority", "integer", 0), F("strip_path", "boolean", True), F("path_handling", "string", "v0",
                                                                              one_of=("v0", "v1")),
        F("preserve_host", "boolean", False), F("request_buffering", "boolean", True),
        F("response_buffering", "boolean", True), F("snis", "array"), F("sources", "array"),
        F("destinations", "array"), _TAGS, F("service", "foreign", foreign="services"),
    ), endpoint_key="name", unique=("name",)),
    Schema("plugins", "plugin", "plugins", (
        _ID, F("name", required=True), F("instance_name"), _ts(), _ts("updated_at"),
        F("route", "foreign", foreign="routes"), F("service", "foreign", foreign="services"),
        F("consumer", "foreign", foreign="consumers"), F("config", "record", {}),
        F("protocols", "array", ["grpc", "grpcs", "http", "https"]), F("enabled", "boolean", True), _TAGS,
    ), endpoint_key="instance_name", unique=("instance_name",), composite=("name", "route", "service", "consumer"),
        cache_key=("name", "route", "service", "consumer")),
    Schema("consumers", "consumer", "consumers", (
        _ID, _ts(), _ts("updated_at"), F("username"), F("custom_id"), _TAGS,
    ), endpoint_key="username", unique=("username", "custom_id")),
    Schema("upstreams", "upstream", "upstreams", (
        _ID, _ts(), F("name", required=True), _ts("updated_at"),
        F("algorithm", "string", "round-robin", one_of=("consistent-hashing", "least-connections", "round-robin",
                                                        "latency", "sticky-sessions")),
        F("hash_on", "string", "none"), F("hash_fallback", "string", "none"), F("hash_on_header"),
        F("hash_fallback_header"), F("hash_on_cookie"), F("hash_on_cookie_path", "string", "/"),
        F("hash_on_query_arg"), F("hash_fallback_query_arg"), F("hash_on_uri_capture"),
        F("hash_fallback_uri_capture"), F("slots", "integer", 10000, between=(10, 65536)),
        F("healthchecks", "record", HEALTHCHECKS_DEFAULT), _TAGS, F("host_header"),
        F("client_certificate", "foreign", foreign="certificates"), F("use_srv_name", "boolean", False),
    ), endpoint_key="name", unique=("name",)),
    Schema("targets", "target", "targets", (
        _ID, F("created_at", "number", auto=True), F("updated_at", "number", auto=True),
        F("upstream", "foreign", foreign="upstreams", required=True),
        F("target", required=True), F("weight", "integer", 100, between=(0, 65535)), _TAGS,
    ), endpoint_key="target", composite=("upstream", "target"), cache_key=("upstream", "target")),
    Schema("certificates", "certificate", "certificates", (
        _ID, _ts(), _ts("updated_at"), F("cert", required=True), F("key", required=True), F("cert_alt"),
        F("key_alt"), _TAGS,
    )),
    Schema("snis", "sni", "snis", (
        _ID, F("name", required=True), _ts(), _ts("updated_at"), _TAGS,
        F("certificate", "foreign", foreign="certificates", required=True),
    ), endpoint_key="name", unique=("name",)),
    Schema("ca_certificates", "ca_certificate", "ca_certificates", (
        _ID, _ts(), _ts("updated_at"), F("cert", required=True), F("cert_digest"), _TAGS,
    ), unique=("cert_digest",)),
    Schema("vaults", "vault", "vaults", (
        _ID, F("prefix", required=True), F("name", required=True), F("description"), F("config", "record", {}),
        _ts(), _ts("updated_at"), _TAGS,
    ), endpoint_key="prefix", unique=("prefix",), cache_key=("prefix",)),
    Schema("key_sets", "key_set", "key-sets", (
        _ID, F("name"), _TAGS, _ts(), _ts("updated_at"),
    ), endpoint_key="name", unique=("name",)),
    Schema("keys", "key", "keys", (
        _ID, F("set", "foreign", foreign="key_sets"), F("name"), F("kid", required=True), F("jwk"),
        F("pem", "record"), _TAGS, _ts(), _ts("updated_at"),
    ), endpoint_key="name", unique=("name",), cache_key=("kid", "set"), nested_path="keys"),
    Schema("filter_chains", "filter_chain", "filter-chains", (
        _ID, F("name"), F("enabled", "boolean", True), F("route", "foreign", foreign="routes"),
        F("service", "foreign", foreign="services"), F("filters", "array", required=True), _ts(),
        _ts("updated_at"), _TAGS,
    ), endpoint_key="name", unique=("name",), cache_key=("route", "service")),
    Schema("keyauth_credentials", "keyauth_credential", "key-auths", (
        _ID, _ts(), F("consumer", "foreign", foreign="consumers", required=True), F("key"), F("ttl", "integer"),
        _TAGS,
    ), endpoint_key="key", unique=("key",), consumer_path="key-auth", generated={"key": "key"}, cache_key=("key",)),
    Schema("basicauth_credentials", "basicauth_credential", "basic-auths", (
        _ID, _ts(), F("consumer", "foreign", foreign="consumers", required=True), F("username", required=True),
        F("password", required=True), _TAGS,
    ), endpoint_key="username", unique=("username",), consumer_path="basic-auth", cache_key=("username",)),
    Schema("hmacauth_credentials", "hmacauth_credential", "hmac-auths", (
        _ID, _ts(), F("consumer", "foreign", foreign="consumers", required=True), F("username", required=True),
        F("secret"), _TAGS,
    ), endpoint_key="username", unique=("username",), consumer_path="hmac-auth", generated={"secret": "key"},
        cache_key=("username",)),
    Schema("jwt_secrets", "jwt_secret", "jwts", (
        _ID, _ts(), F("consumer", "foreign", foreign="consumers", required=True), F("key"), F("secret"),
        F("rsa_public_key"), F("algorithm", "string", "HS256", one_of=(
            "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384",
            "PS512", "EdDSA")), _TAGS,
    ), endpoint_key="key", unique=("key",), consumer_path="jwt", generated={"key": "key", "secret": "key"},
        cache_key=("key",)),
    Schema("acls", "acl", "acls", (
        _ID, _ts(), F("consumer", "foreign", foreign="consumers", required=True), F("group", required=True), _TAGS,
    ), composite=("consumer", "group"), consumer_path="acls", cache_key=("consumer", "group")),
    Schema("oauth2_credentials", "oauth2_credential", "oauth2", (
        _ID, _ts(), F("consumer", "foreign", foreign="consumers", required=True), F("name", required=True),
        F("client_id"), F("client_secret"), F("hash_secret", "boolean", False), F("redirect_uris", "array"),
        F("client_type", "string", "confidential", one_of=("confidential", "public")), _TAGS,
    ), endpoint_key="client_id", unique=("client_id",), consumer_path="oauth2",
        generated={"client_id": "key", "client_secret": "key"}, cache_key=("client_id",)),
)}
#: Fields Kong generates (`auto = true`): a cache key using one of them yields no declarative id.
AUTO_FIELDS: dict[str, frozenset[str]] = {
    "keyauth_credentials": frozenset({"key"}), "jwt_secrets": frozenset({"key", "secret"}),
    "hmacauth_credentials": frozenset({"secret"}), "oauth2_credentials": frozenset({"client_id", "client_secret"}),
}

#: Admin API collections; `/filter-chains` exists only with wasm enabled (filter_chains.lua, off by default).
BY_ENDPOINT: dict[str, Schema] = {s.endpoint: s for s in SCHEMAS.values() if s.table != "filter_chains"}
CREDENTIAL_PATHS: dict[str, Schema] = {s.consumer_path: s for s in SCHEMAS.values() if s.consumer_path}
#: Declarative keys nested under a parent (parent table -> child key -> table): every entity with a
#: foreign key to the parent (declarative_config.lua nest_foreign_relationships).
NESTED: dict[str, dict[str, str]] = {
    "services": {"routes": "routes", "plugins": "plugins", "filter_chains": "filter_chains"},
    "routes": {"plugins": "plugins", "filter_chains": "filter_chains"},
    "consumers": {"plugins": "plugins", "keyauth_credentials": "keyauth_credentials", "acls": "acls",
                  "basicauth_credentials": "basicauth_credentials", "hmacauth_credentials": "hmacauth_credentials",
                  "jwt_secrets": "jwt_secrets", "oauth2_credentials": "oauth2_credentials"},
    "upstreams": {"targets": "targets"},
    "certificates": {"snis": "snis"},
    "key_sets": {"keys": "keys"},
}
#: Which foreign key of the child points at the nesting parent.
PARENT_FK: dict[tuple[str, str], str] = {
    (parent, child): next(f.name for f in SCHEMAS[child].fields if f.foreign == parent)
    for parent, children in NESTED.items() for child in children.values()
}


def _topological(tables: list[str]) -> tuple[str, ...]:
    """kong/db/schema/topological_sort.lua: core entities before plugin entities, alphabetical, then a
    depth-first sort that puts every referenced table before the tables pointing to it."""
    score = {t: (2 if t == "workspaces" else 1 if t in CORE_ENTITIES else 0) for t in tables}
    items = sorted(tables, key=lambda t: (score[t], [-ord(c) for c in t]))
    pointing: dict[str, list[str]] = {}
    for table in items:
        for f in SCHEMAS[table].fields:
            if f.foreign and f.foreign in SCHEMAS:
                pointing.setdefault(f.foreign, []).append(table)
    out: list[str] = []
    seen: set[str] = set()

    def visit(table: str) -> None:
        if table in seen:
            return
        seen.add(table)
        for child in pointing.get(table, []):
            visit(child)
        out.insert(0, table)

    for table in items:
        visit(table)
    return tuple(out)


#: Load and export order (`known_entities`): referenced tables first.
LOAD_ORDER = _topological(list(SCHEMAS))

# Plugin config schemas of the plugins the reconciler manages (others are stored as given): fields and
# defaults of kong/plugins/{rate-limiting,cors,key-auth,acl}/schema.lua@3.9.1 (rate-limiting's `redis`
# is kong/tools/redis/schema.lua).
PLUGIN_DEFAULTS: dict[str, dict[str, Any]] = {
    "rate-limiting": {
        "second": None, "minute": None, "hour": None, "day": None, "month": None, "year": None,
        "limit_by": "consumer", "header_name": None, "path": None, "policy": "local", "fault_tolerant": True,
        "redis": {"host": None, "port": 6379, "timeout": 2000, "username": None, "password": None, "database": 0,
                  "ssl": False, "ssl_verify": False, "server_name": None},
        "hide_client_headers": False, "error_code": 429, "error_message": "API rate limit exceeded", "sync_rate": -1,
    },
    "cors": {
        "origins": None, "headers": None, "exposed_headers": None,
        "methods": ["GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE", "CONNECT"],
        "max_age": None, "credentials": False, "private_network": False, "preflight_continue": False,
    },
    "key-auth": {
        "key_names": ["apikey"], "hide_credentials": False, "anonymous": None, "key_in_header": True,
        "key_in_query": True, "key_in_body": False, "run_on_preflight": True, "realm": None,
    },
    "acl": {"allow": None, "deny": None, "hide_groups_header": False, "always_use_authenticated_groups": False},
}
RATE_LIMIT_PERIODS = ("second", "minute", "hour", "day", "month", "year")


def now() -> int:
    return int(time.time())


def gen_id(table: str, seed: str) -> str:
    """declarative_config.lua generate_uuid: v5 of `seed` in a namespace that is itself the v5 of the
    table name in `_entities`' namespace."""
    return str(uuid.uuid5(uuid.uuid5(KONG_NAMESPACE, table), seed))


def random_token() -> str:
    """kong/tools/rand.lua random_string: 24 random bytes in base64 (32 characters), `+` and `/`
    replaced by random alphanumerics."""
    raw = base64.b64encode(secrets.token_bytes(24)).decode()
    return "".join(secrets.choice(_ALNUM) if c in "+/" else c for c in raw)


_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _type_ok(f: F, value: Any) -> str | None:
    if f.type == "string":
        return None if isinstance(value, str) else "expected a string"
    if f.type == "integer":
        return None if isinstance(value, int) and not isinstance(value, bool) else "expected an integer"
    if f.type == "number":
        return None if isinstance(value, int | float) and not isinstance(value, bool) else "expected a number"
    if f.type == "boolean":
        return None if isinstance(value, bool) else "expected a boolean"
    if f.type == "array":
        return None if isinstance(value, list) else "expected an array"
    if f.type in ("map", "record"):
        return None if isinstance(value, dict) else "expected a record" if f.type == "record" else "expected a map"
    if f.type == "foreign":
        return None if isinstance(value, dict | str) else "expected a record"
    return None


def _coerce(f: F, value: Any) -> Any:
    """Form-style strings for integers/booleans, as Kong accepts them from the Admin API."""
    if isinstance(value, str) and f.type == "integer" and re.fullmatch(r"-?\d+", value):
        return int(value)
    if isinstance(value, str) and f.type == "boolean" and value in ("true", "false"):
        return value == "true"
    return value


def expand_service_url(data: dict[str, Any]) -> dict[str, str] | None:
    """Kong's `url` shorthand: split into protocol/host/port/path. Returns an error tree on failure."""
    url = data.pop("url")
    m = re.fullmatch(r"([a-z]+)://([^/:]+)(?::(\d+))?(/.*)?", str(url))
    if not m:
        return {"url": "missing host in url"}
    proto, host, port, path = m.groups()
    data["protocol"] = proto
    data["host"] = host
    data["port"] = int(port) if port else (443 if proto in ("https", "grpcs", "tls", "wss") else 80)
    data["path"] = path
    return None


def _validate_plugin_config(name: str, config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """Fill defaults and validate the config of a known plugin; other plugins are passed through."""
    defaults = PLUGIN_DEFAULTS.get(name)
    if defaults is None:
        return copy.deepcopy(config), {}, []
    errors: dict[str, Any] = {}
    entity: list[str] = []
    out = copy.deepcopy(defaults)
    for key, value in config.items():
        if key not in defaults:
            errors[key] = "unknown field"
            continue
        out[key] = copy.deepcopy(value)
    if name == "rate-limiting":
        for period in RATE_LIMIT_PERIODS:
            value = out[period]
            if value is not None and (not isinstance(value, int | float) or isinstance(value, bool) or value <= 0):
                errors[period] = "value must be greater than 0"
        if all(out[p] is None for p in RATE_LIMIT_PERIODS):
            entity.append("at least one of these fields must be non-empty: 'config.second', 'config.minute', "
                          "'config.hour', 'config.day', 'config.month', 'config.year'")
        if out["policy"] not in ("local", "cluster", "redis"):
            errors["policy"] = 'expected one of: local, cluster, redis'
    elif name == "cors":
        for key in ("origins", "headers", "exposed_headers", "methods"):
            value = out[key]
            if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
                errors[key] = "expected an array of strings"
        if out["max_age"] is not None and not isinstance(out["max_age"], int | float):
            errors["max_age"] = "expected a number"
        if not isinstance(out["credentials"], bool):
            errors["credentials"] = "expected a boolean"
    elif name == "acl":  # acl/schema.lua entity_checks: only_one_of, then at_least_one_of
        if (out["allow"] is None) == (out["deny"] is None):
            entity.append("exactly one of these fields must be non-empty: 'config.allow', 'config.deny'")
        if out["allow"] is None and out["deny"] is None:
            entity.append("at least one of these fields must be non-empty: 'config.allow', 'config.deny'")
    return out, errors, entity


def validate(schema: Schema, data: dict[str, Any], *, partial: bool = False,
             base: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Normalize one entity (defaults, `url`, coercion) and validate it.

    Returns (entity in schema field order, error tree). `partial` is PATCH: only given fields are
    checked against `base` (the stored entity). Foreign keys are returned as `{"id": …}` or the raw
    reference (name) for the caller to resolve.
    """
    data = dict(data)
    errors: dict[str, Any] = {}
    entity_errors: list[str] = []
    if schema.table == "services" and "url" in data:
        url_error = expand_service_url(data)
        if url_error:
            errors.update(url_error)
    out: dict[str, Any] = copy.deepcopy(base) if base is not None else {}
    for key, value in data.items():
        f = schema.get(key)
        if f is None:
            if schema.table == "certificates" and key == "snis":
                continue
            errors[key] = "unknown field"
            continue
        value = _coerce(f, value)
        if value is None:
            out[key] = None
            continue
        problem = _type_ok(f, value)
        if problem:
            errors[key] = problem
            continue
        if f.type == "string" and value == "":
            errors[key] = "length must be at least 1"  # schema/init.lua:990-993, len_min 1 by default
            continue
        if f.one_of and str(value) not in f.one_of:
            errors[key] = "expected one of: " + ", ".join(f.one_of)
            continue
        if f.between and not f.between[0] <= value <= f.between[1]:
            errors[key] = f"value should be between {f.between[0]} and {f.between[1]}"
            continue
        if partial and base is not None and f.type == "record" and isinstance(base.get(key), dict):
            value = _deep_defaults(base[key], value)  # PATCH merges records (e.g. a plugin's config)
        if f.type == "record" and isinstance(f.default, dict) and f.default:
            value = _deep_defaults(f.default, value)  # Kong fills nested record defaults
        if f.type == "foreign" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k in ("id", "name", "username")}
        out[key] = copy.deepcopy(value)
    if not partial or base is None:
        for f in schema.fields:
            if f.name in out:
                continue
            if f.required and f.name not in errors:
                errors[f.name] = "required field missing"
            out[f.name] = copy.deepcopy(f.default)
    # tags: a set of printable strings without ',' or '/' (typedefs.lua validate_tag, typedefs.tags)
    tags = out.get("tags")
    if isinstance(tags, list) and "tags" not in errors:
        tag_errors: dict[int, str] = {}
        for i, tag in enumerate(tags):
            if not isinstance(tag, str):
                tag_errors[i] = "expected a string"
            elif not TAG_RE.fullmatch(tag):
                tag_errors[i] = (f"invalid tag '{tag}': expected printable ascii (except `,` and `/`) or valid "
                                 "utf-8 sequences")
        if tag_errors:
            errors["tags"] = [tag_errors.get(i) for i in range(max(tag_errors) + 1)]
    for key in UTF8_NAMES.get(schema.table, ()):
        value = out.get(key)
        if isinstance(value, str) and key not in errors:
            if value and not NAME_RE.fullmatch(value):
                errors[key] = (f"invalid value '{value}': the only accepted ascii characters are alphanumerics "
                               "or ., -, _, and ~")
    _entity_rules(schema, out, errors, entity_errors)
    if entity_errors:
        errors["@entity"] = entity_errors
    ordered = {name: out.get(name) for name in schema.names}
    return ordered, errors


def _deep_defaults(default: Any, value: Any) -> Any:
    if isinstance(default, dict) and isinstance(value, dict):
        out = {k: _deep_defaults(v, value[k]) if k in value else copy.deepcopy(v) for k, v in default.items()}
        out.update({k: v for k, v in value.items() if k not in default})
        return out
    return value


def _entity_rules(schema: Schema, out: dict[str, Any], errors: dict[str, Any], entity: list[str]) -> None:
    table = schema.table
    if table == "routes":
        protocols = out.get("protocols") or []
        for p in protocols:
            if p not in PROTOCOLS:  # `protocols` picks the subschema (routes_subschemas.lua)
                errors["protocols"] = f"unknown type: {p}"
        # routes_subschemas.lua http_subschema: conditional_at_least_one_of on `protocols`
        if "https" in protocols and not any(out.get(k) for k in ("methods", "hosts", "headers", "paths", "snis")):
            entity.append("must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' is "
                          "'https'")
        elif "http" in protocols and not any(out.get(k) for k in ("methods", "hosts", "headers", "paths")):
            entity.append("must set one of 'methods', 'hosts', 'headers', 'paths' when 'protocols' is 'http'")
        for i, path in enumerate(out.get("paths") or []):
            if not isinstance(path, str) or not (path.startswith(("/", "~/"))):
                errors.setdefault("paths", [None] * len(out["paths"]))[i] = (
                    "should start with: / (fixed path) or ~/ (regex path)")
        for i, method in enumerate(out.get("methods") or []):
            if not isinstance(method, str) or not HTTP_METHODS_RE.match(method):
                errors.setdefault("methods", [None] * len(out["methods"]))[i] = (
                    "invalid value: " + str(method))
    elif table == "consumers":
        if out.get("username") is None and out.get("custom_id") is None:
            entity.append("at least one of these fields must be non-empty: 'custom_id', 'username'")
    elif table == "plugins" and isinstance(out.get("name"), str):
        name = out["name"]
        if name not in BUNDLED_PLUGINS:
            errors["name"] = f"plugin '{name}' not enabled; add it to the 'plugins' configuration property"
        elif isinstance(out.get("config"), dict):
            config, config_errors, config_entity = _validate_plugin_config(name, out["config"])
            out["config"] = config
            if config_errors:
                errors["config"] = config_errors
            entity.extend(config_entity)
    elif table == "targets" and isinstance(out.get("target"), str) and ":" not in out["target"]:
        out["target"] = out["target"] + ":8000"
    elif table == "ca_certificates" and isinstance(out.get("cert"), str) and not out.get("cert_digest"):
        import hashlib

        out["cert_digest"] = hashlib.sha256(out["cert"].encode()).hexdigest()
    elif table == "services" and out.get("protocol") in ("tcp", "tls", "udp", "grpc", "grpcs") and out.get("path"):
        errors["path"] = "value must be null"  # services.lua:53-56 conditional on `protocol`
        entity.append("failed conditional validation given value of field 'protocol'")
    elif table == "vaults":
        _vault_rules(out, errors)
    elif table == "keys":
        _key_rules(out, errors, entity)
    elif table == "filter_chains":
        entity.append("wasm support is not enabled")  # filter_chains.lua custom_entity_check wasm.status


def _vault_rules(out: dict[str, Any], errors: dict[str, Any]) -> None:
    """vaults.lua: prefix pattern and not a vault name; `name` picks the subschema (only `env` is
    bundled: kong/vaults/env/schema.lua)."""
    prefix = out.get("prefix")
    if isinstance(prefix, str) and "prefix" not in errors:
        if not VAULT_PREFIX_RE.fullmatch(prefix):
            errors["prefix"] = f"invalid value: {prefix}"
        elif prefix in BUNDLED_VAULTS:
            errors["prefix"] = "must not be one of: " + ", ".join(BUNDLED_VAULTS)
    name = out.get("name")
    if isinstance(name, str) and "name" not in errors and name not in BUNDLED_VAULTS:
        errors["name"] = f"vault '{name}' is not installed"
        return
    config = out.get("config")
    if isinstance(config, dict) and "config" not in errors:
        config_errors: dict[str, Any] = {}
        for key, value in config.items():
            if key != "prefix":
                config_errors[key] = "unknown field"
            elif value is not None and not isinstance(value, str):
                config_errors[key] = "expected a string"
            elif isinstance(value, str) and not ENV_PREFIX_RE.fullmatch(value):
                config_errors[key] = f"invalid value: {value}"
        if config_errors:
            errors["config"] = config_errors
        else:
            out["config"] = {"prefix": config.get("prefix")}
    elif config is None:
        out["config"] = {"prefix": None}


def _key_rules(out: dict[str, Any], errors: dict[str, Any], entity: list[str]) -> None:
    """keys.lua entity checks: exactly one of `jwk` (a JSON string whose `kid` is the key's) or `pem`
    (`private_key` and/or `public_key`)."""
    jwk, pem = out.get("jwk"), out.get("pem")
    if jwk is not None and pem is not None:
        entity.append("only one or none of these fields must be set: 'jwk', 'pem'")
    elif jwk is None and pem is None:
        entity.append("at least one of these fields must be non-empty: 'jwk', 'pem'")
    if isinstance(pem, dict) and "pem" not in errors:
        unknown = {k: "unknown field" for k in pem if k not in ("private_key", "public_key")}
        if unknown:
            errors["pem"] = unknown
        else:
            out["pem"] = {"private_key": pem.get("private_key"), "public_key": pem.get("public_key")}
            if pem.get("private_key") is None and pem.get("public_key") is None:
                errors["pem"] = {"@entity": ["at least one of these fields must be non-empty: 'private_key', "
                                             "'public_key'"]}
    if isinstance(jwk, str) and "jwk" not in errors and not jwk.startswith("{vault://"):
        try:
            parsed = json.loads(jwk)
        except ValueError:
            entity.append("could not json decode jwk string")
            return
        if not isinstance(parsed, dict) or parsed.get("kid") != out.get("kid"):
            entity.append("kid in jwk.kid must be equal to keys.kid")


def fill_auto(schema: Schema, entity: dict[str, Any], *, seed: str | None = None) -> None:
    """Kong's auto fields on insert (schema/init.lua process_auto_fields:1885-1916): an id when absent,
    `created_at` when absent, `updated_at` always (seconds; milliseconds as a fraction for `number`
    timestamps such as targets'), and generated secrets when absent."""
    stamp = time.time()
    if not entity.get("id"):
        entity["id"] = gen_id(schema.table, seed) if seed else str(uuid.uuid4())
    for name in ("created_at", "updated_at"):
        f = schema.get(name)
        if f is None:
            continue
        value: int | float = round(stamp, 3) if f.type == "number" else int(stamp)
        if name == "updated_at" or entity.get(name) is None:
            entity[name] = value
    for key in schema.generated:
        if entity.get(key) is None:
            entity[key] = random_token()
