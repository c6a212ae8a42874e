"""Pure translation between canonical records and Kong entities (no I/O).

How the reconciler models its objects in Kong (documented in the README's Kong section):

- API  -> a service (`name` = API name, backend URL split into protocol/host/port/path) and a route
  (`name` = API name, `paths` = [basePath], `methods`, `strip_path: true`). With `protectApis`
  (default on) the service also carries a `key-auth` and an `acl` plugin allowing group `<api>`, so
  only subscribed consumers reach it.
- Policy -> a `rate-limiting` (`{<period>: requests}`) or `cors` plugin scoped to the API's service.
- Consumer -> a consumer (`username` = name), one `key-auth` credential holding the API key, and one
  `acl` credential per subscription (`group` = API name).

Ownership and non-routable fields live in Kong tags, which Kong stores, returns and filters on:
`managed-by:stoa-reconciler` (what tells ours from an operator's), `stoa-owner:<owner>`, `stoa-kind:<kind>`,
`stoa-name:<name>`, and per API `stoa-tenant`, `stoa-version`, `stoa-openapi`, `stoa-display`,
`stoa-description` (consumers: `stoa-display`, `stoa-email`; key-auth: `stoa-fingerprint`). Tag
values are percent-encoded because Kong forbids `,` and `/` in tags. Entities we create get
deterministic UUIDs (v5 of owner/kind/name), so DB-less reloads keep ids stable.

Entities an operator made (no `managed-by` tag) read as records with owner None, named as `reconciler
import` names them: a service by its name, a service-scoped plugin `<service>-<plugin>` (or its
`instance_name`), a consumer by its username. What such an entity holds that the manifest model
cannot say is listed in the record's `unexpressed` (outside the spec: never diffed) for the import report.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from reconciler.adapters import ownership as own
from reconciler.adapters.ownership import MANAGED_TAG as MANAGED_TAG
from reconciler.model.records import api_key_credential, make_record, secret_fingerprint

OWNER = own.OWNER_TAG_PREFIX
KIND = own.string_tag(own.key("kind"))
NAME = own.string_tag(own.key("name"))
PART = own.string_tag(own.key("part"))
NAMESPACE = uuid.UUID("5b8e2f0c-3a4d-5c6e-8f90-a1b2c3d4e5f6")
DEFAULT_PORTS = {"http": 80, "https": 443, "grpc": 80, "grpcs": 443, "ws": 80, "wss": 443}
PERIODS = ("second", "minute", "hour", "day", "month", "year")
CANONICAL_PERIODS = ("second", "minute", "hour", "day")
PLUGIN_OF_TYPE = {"rate_limit": "rate-limiting", "cors": "cors"}
TYPE_OF_PLUGIN = {v: k for k, v in PLUGIN_OF_TYPE.items()}


# ------------------------------------------------------------------------------------------ tags
def enc(value: str) -> str:
    """Tag-safe encoding (Kong rejects ',' and '/' in tags)."""
    return quote(value, safe=" :@!$&'()*+;=")


def tag_value(tags: list[str] | None, prefix: str) -> str | None:
    for tag in tags or []:
        if tag.startswith(prefix):
            return unquote(tag[len(prefix):])
    return None


def owner_of(entity: dict[str, Any]) -> str | None:
    """The reconciler owner of an entity, None when it is not managed by a reconciler."""
    tags = entity.get("tags") or []
    if MANAGED_TAG not in tags:
        return None
    return tag_value(tags, OWNER)


def unmanaged(entity: dict[str, Any]) -> bool:
    """Made by hand (or another tool): no reconciler's `managed-by` tag."""
    return MANAGED_TAG not in (entity.get("tags") or [])


def is_ours(tag: str) -> bool:
    return tag == MANAGED_TAG or tag.startswith("stoa-")


def base_tags(owner: str, kind: str, name: str, *extra: str) -> list[str]:
    return [MANAGED_TAG, OWNER + enc(owner), KIND + kind, NAME + enc(name), *extra]


def merge_tags(existing: list[str] | None, ours: list[str]) -> list[str]:
    """Our tags replace our previous ones; tags someone else added survive."""
    return [t for t in existing or [] if not is_ours(t)] + ours


def entity_id(owner: str, *parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join((owner, *parts))))


# ------------------------------------------------------------------------------------------ URLs
def split_backend(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    protocol = parts.scheme or "http"
    port = parts.port or DEFAULT_PORTS.get(protocol, 80)
    return {"protocol": protocol, "host": parts.hostname or "", "port": port, "path": parts.path or None}


def backend_losses(url: str) -> list[str]:
    """Parts of a backend URL a Kong service cannot hold: it stores protocol, host, port and path only
    (`url` is a shorthand for those four; kong/db/schema/entities/services.lua, Kong 3.9.x)."""
    parts = urlsplit(url)
    lost = []
    if parts.username is not None or parts.password is not None:
        lost.append("user info (credentials in the URL)")
    if parts.query:
        lost.append(f"query string '?{parts.query}'")
    if parts.fragment:
        lost.append(f"fragment '#{parts.fragment}'")
    return lost


def join_backend(service: dict[str, Any]) -> str:
    """A service's URL; no path reads as `/`, which Kong proxies to alike (the upstream base path is
    `service.path or "/"`) and which is how a manifest's URL without a path is held."""
    protocol = str(service.get("protocol") or "http")
    port = service.get("port")
    host = str(service.get("host") or "")
    netloc = host if port in (None, DEFAULT_PORTS.get(protocol)) else f"{host}:{port}"
    return f"{protocol}://{netloc}{service.get('path') or '/'}"


def normalize_backend(url: str) -> str:
    """The URL a read-back returns for `url` (default port dropped), for `desired_view`."""
    return join_backend(split_backend(url))


# ------------------------------------------------------------------------------------------ API
def api_tags(record: dict[str, Any], owner: str) -> list[str]:
    spec = record["spec"]
    extra = [f"stoa-tenant:{enc(str(spec.get('tenant', '')))}", f"stoa-version:{enc(str(spec.get('version', '')))}"]
    if spec.get("openapiHash"):
        extra.append(f"stoa-openapi:{enc(str(spec['openapiHash']))}")
    if spec.get("displayName") is not None:
        extra.append(f"stoa-display:{enc(str(spec['displayName']))}")
    if spec.get("description") is not None:
        extra.append(f"stoa-description:{enc(str(spec['description']))}")
    return base_tags(owner, "API", record["name"], *extra)


def api_to_service(record: dict[str, Any], owner: str) -> dict[str, Any]:
    """The service fields we manage (merged over the live service by the caller)."""
    out = {"name": record["name"], **split_backend(str(record["spec"]["backend"])), "tags": api_tags(record, owner)}
    return out


def api_to_route(record: dict[str, Any], owner: str) -> dict[str, Any]:
    spec = record["spec"]
    return {"name": record["name"], "paths": [spec["basePath"]], "methods": sorted(spec["methods"]),
            "strip_path": True, "tags": base_tags(owner, "API", record["name"])}


def api_auth_plugins(name: str, owner: str) -> list[dict[str, Any]]:
    """The key-auth and acl plugins that make subscriptions (ACL groups) the way in."""
    return [
        {"id": entity_id(owner, "API", name, "key-auth"), "name": "key-auth", "enabled": True,
         "config": {"key_names": ["apikey"], "hide_credentials": True},
         "tags": base_tags(owner, "API", name, PART + "key-auth")},
        {"id": entity_id(owner, "API", name, "acl"), "name": "acl", "enabled": True,
         "config": {"allow": [name], "hide_groups_header": True},
         "tags": base_tags(owner, "API", name, PART + "acl")},
    ]


PROTECTED = "key-auth+acl"
"""The canonical `protection` of a managed service with both auth plugins in place and enabled."""


def protection_of(name: str, plugins: list[dict[str, Any]], owner: str | None) -> str:
    """What guards a service, read from its plugins: `key-auth+acl` when both of ours are enabled as
    `api_auth_plugins` writes them (acl allowing the API's group), else the parts found (`none`).

    Part of the API's live spec so that an apply interrupted between the service and its plugins, or
    a plugin deleted or disabled by hand, reads as drift and is healed, never as an open API in sync."""
    wanted = {p["name"]: p for p in api_auth_plugins(name, owner or "")}
    found = set()
    for plugin in plugins:
        kind = str(plugin.get("name"))
        if kind not in wanted or plugin.get("enabled") is False or owner_of(plugin) != owner:
            continue
        config = plugin.get("config") or {}
        if kind == "acl" and list(config.get("allow") or []) != [name]:
            continue
        if kind == "key-auth" and list(config.get("key_names") or []) != ["apikey"]:
            continue
        found.add(kind)
    return "+".join(sorted(found, key=["key-auth", "acl"].index)) or "none"


def api_from_kong(service: dict[str, Any], route: dict[str, Any] | None,
                  plugins: list[dict[str, Any]] | None = None,
                  routes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    tags = service.get("tags") or []
    name = tag_value(tags, NAME) or str(service.get("name"))
    spec: dict[str, Any] = {
        "tenant": tag_value(tags, "stoa-tenant:"),
        "version": tag_value(tags, "stoa-version:"),
        "basePath": (route.get("paths") or [None])[0] if route else None,
        "backend": join_backend(service),
        "methods": sorted(route.get("methods") or []) if route else [],
        "openapiHash": tag_value(tags, "stoa-openapi:"),
    }
    display = tag_value(tags, "stoa-display:")
    if display is not None:
        spec["displayName"] = display
    description = tag_value(tags, "stoa-description:")
    if description is not None:
        spec["description"] = description
    if plugins is not None:
        spec["protection"] = protection_of(name, plugins, owner_of(service))
    record = make_record("API", name, spec, id=service.get("id"), owner=owner_of(service))
    if unmanaged(service):
        record["unexpressed"] = service_unexpressed(service, route, routes)
    return record


#: Service and route fields Kong fills when an operator leaves them out (kong/db/schema/entities/
#: services.lua and routes.lua, Kong 3.9.1): other values have no manifest form.
SERVICE_DEFAULTS: dict[str, Any] = {"retries": 5, "connect_timeout": 60000, "write_timeout": 60000,
                                    "read_timeout": 60000, "enabled": True}
ROUTE_DEFAULTS: dict[str, Any] = {"protocols": ["http", "https"], "preserve_host": False, "regex_priority": 0,
                                  "https_redirect_status_code": 426, "path_handling": "v0", "hosts": None,
                                  "headers": None, "snis": None, "sources": None, "destinations": None}


def service_unexpressed(service: dict[str, Any], route: dict[str, Any] | None,
                        routes: list[dict[str, Any]] | None) -> list[str]:
    """What an operator's service and route hold beyond backend, path and methods."""
    out = [f"service {key}={service.get(key)!r} is kept as it is (no manifest form)"
           for key, default in SERVICE_DEFAULTS.items() if key in service and service.get(key) != default]
    if route is None:
        return out
    out += [f"route {route.get('name') or route.get('id')}: {key}={route.get(key)!r} is kept as it is (no manifest form)"
            for key, default in ROUTE_DEFAULTS.items() if key in route and route.get(key) not in (default, [])]
    paths = list(route.get("paths") or [])
    if len(paths) > 1:
        out.append(f"route paths {paths[1:]!r} beyond the first: adopting replaces the paths with basePath only")
    if route.get("strip_path") is False:
        out.append("route strip_path=false: adopting sets strip_path=true")
    if not route.get("methods"):
        out.append("the route accepts every method: the manifest lists methods, adopting restricts the route to them")
    others = [str(r.get("name") or r.get("id")) for r in routes or [] if r is not route]
    if others:
        out.append(f"the service's other routes {sorted(others)!r} are kept unmanaged")
    return out


# ------------------------------------------------------------------------------------------ policies
def policy_to_plugin(record: dict[str, Any], owner: str) -> dict[str, Any]:
    spec = record["spec"]
    config = spec["config"]
    if spec["type"] == "rate_limit":
        kong_config: dict[str, Any] = {str(config["period"]): int(config["requests"])}
    elif spec["type"] == "cors":
        kong_config = {
            "origins": list(config.get("origins") or []), "methods": list(config.get("methods") or []),
            "headers": list(config.get("headers") or []), "exposed_headers": list(config.get("exposeHeaders") or []),
            "credentials": bool(config.get("credentials", False)), "max_age": config.get("maxAge"),
        }
    else:
        raise ValueError(f"policy type {spec['type']!r} is not supported by kong")
    return {"name": PLUGIN_OF_TYPE[spec["type"]], "enabled": True, "config": kong_config,
            "tags": base_tags(owner, "Policy", record["name"], f"stoa-api:{enc(str(spec['api']))}")}


def _number(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


#: Plugin config fields the manifest has no form for, with the defaults of kong/plugins/{rate-limiting,
#: cors}/schema.lua (Kong 3.9.1): an adoption writes the plugin's config anew, so other values reset.
UNEXPRESSED_CONFIG: dict[str, dict[str, Any]] = {
    "rate-limiting": {"limit_by": "consumer", "header_name": None, "path": None, "policy": "local",
                      "fault_tolerant": True, "hide_client_headers": False, "error_code": 429,
                      "error_message": "API rate limit exceeded", "sync_rate": -1},
    "cors": {"private_network": False, "preflight_continue": False},
}
AUTH_PLUGINS = ("key-auth", "acl")


def unowned_plugin_name(plugin: dict[str, Any], scope: str | None) -> str:
    """The name `reconciler import` gives an operator's plugin: its instance_name, else `<scope>-<plugin>`."""
    if plugin.get("instance_name"):
        return str(plugin["instance_name"])
    return f"{scope}-{plugin.get('name')}" if scope else f"{plugin.get('name')}-{str(plugin.get('id'))[:8]}"


def plugin_unexpressed(plugin: dict[str, Any], api: str | None) -> list[str]:
    config = plugin.get("config") or {}
    out = [f"config.{key}={config.get(key)!r} has no manifest form: adopting resets it to {default!r}"
           for key, default in UNEXPRESSED_CONFIG.get(str(plugin.get("name")), {}).items()
           if key in config and config.get(key) != default]
    if plugin.get("enabled") is False:
        out.append("the plugin is disabled: adopting enables it")
    if api is None:
        scope = "route" if plugin.get("route") else "consumer" if plugin.get("consumer") else "global"
        out.append(f"{scope}-scoped plugin: a Policy applies to a whole API (a service)")
    return out


def plugin_to_policy(plugin: dict[str, Any], api: str | None) -> dict[str, Any] | None:
    """A canonical Policy record, or None for a plugin that is not a policy of ours. An operator's plugin
    reads as a Policy too (a `type` with no manifest form when it is neither rate-limiting nor cors),
    except the key-auth/acl pair of a service, which is the API's `protection`."""
    tags = plugin.get("tags") or []
    if unmanaged(plugin):
        return _unowned_policy(plugin, api)
    if tag_value(tags, KIND) != "Policy" or plugin.get("name") not in TYPE_OF_PLUGIN:
        return None
    return _policy_record(plugin, api, tag_value(tags, NAME) or str(plugin.get("id")))


def _unowned_policy(plugin: dict[str, Any], api: str | None) -> dict[str, Any] | None:
    kind = str(plugin.get("name"))
    if kind in AUTH_PLUGINS and api is not None:
        return None
    name = unowned_plugin_name(plugin, api)
    if kind in TYPE_OF_PLUGIN:
        record = _policy_record(plugin, api, name)
    else:  # no config copied: another plugin's config may hold credentials
        record = make_record("Policy", name, {"api": api, "type": kind, "config": {}}, id=plugin.get("id"))
    record["unexpressed"] = plugin_unexpressed(plugin, api)
    return record


def _policy_record(plugin: dict[str, Any], api: str | None, name: str) -> dict[str, Any]:
    tags = plugin.get("tags") or []
    config = plugin.get("config") or {}
    ptype = TYPE_OF_PLUGIN[str(plugin["name"])]
    if ptype == "rate_limit":
        limits = [(p, config.get(p)) for p in PERIODS if config.get(p) is not None]
        canonical: dict[str, Any] = (
            {"requests": _number(limits[0][1]), "period": limits[0][0]} if len(limits) == 1
            and limits[0][0] in CANONICAL_PERIODS else {"limits": {p: _number(v) for p, v in limits}})
    else:
        canonical = {
            "origins": sorted(config.get("origins") or []), "methods": sorted(config.get("methods") or []),
            "headers": sorted(config.get("headers") or []), "exposeHeaders": sorted(config.get("exposed_headers") or []),
            "credentials": bool(config.get("credentials", False)), "maxAge": _number(config.get("max_age")),
        }
    spec = {"api": api or tag_value(tags, "stoa-api:"), "type": ptype, "config": canonical}
    return make_record("Policy", name, spec, id=plugin.get("id"), owner=owner_of(plugin))


# ------------------------------------------------------------------------------------------ consumers
def consumer_to_kong(record: dict[str, Any], owner: str) -> dict[str, Any]:
    spec = record["spec"]
    extra = []
    if spec.get("displayName") is not None:
        extra.append(f"stoa-display:{enc(str(spec['displayName']))}")
    if spec.get("email") is not None:
        extra.append(f"stoa-email:{enc(str(spec['email']))}")
    return {"username": record["name"], "tags": base_tags(owner, "Consumer", record["name"], *extra)}


def keyauth_to_kong(record: dict[str, Any], owner: str, key: str) -> dict[str, Any]:
    return {"key": key, "tags": base_tags(owner, "Consumer", record["name"], PART + "key-auth",
                                          f"stoa-fingerprint:{secret_fingerprint(key)}")}


def acl_to_kong(consumer: str, group: str, owner: str) -> dict[str, Any]:
    return {"id": entity_id(owner, "Consumer", consumer, "acl", group), "group": group,
            "tags": base_tags(owner, "Consumer", consumer, PART + "acl")}


def adoptable_keys(keys: list[dict[str, Any]], secret: str) -> list[dict[str, Any]]:
    """An operator's key-auth credentials holding `secret`: adopted in place (Kong keeps keys unique)."""
    return [k for k in keys if unmanaged(k) and credential_fingerprint(k) == secret_fingerprint(secret)]


def service_route(routes: list[dict[str, Any]], owner: str, adopt: bool) -> dict[str, Any] | None:
    """The route of a service that carries its API when none has the API's name: ours, else (adopting)
    the operator's first."""
    return next((r for r in routes if owner_of(r) == owner), None) or (
        next((r for r in routes if unmanaged(r)), None) if adopt else None)


def service_plugin(plugins: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    """The service-scoped plugin of that name (Kong allows one per service, route and consumer)."""
    return next((p for p in plugins if p.get("name") == name and not p.get("route") and not p.get("consumer")), None)


def credential_fingerprint(credential: dict[str, Any]) -> str | None:
    """From the key when Kong returns it (so an out-of-band key change shows), else from the tag."""
    key = credential.get("key")
    if isinstance(key, str) and key:
        return secret_fingerprint(key)
    return tag_value(credential.get("tags"), "stoa-fingerprint:")


def consumer_from_kong(consumer: dict[str, Any], keyauths: list[dict[str, Any]],
                       acls: list[dict[str, Any]], apis: frozenset[str] | None = None) -> dict[str, Any]:
    """`apis`: the services' names; an operator's ACL group that names none is no subscription."""
    tags = consumer.get("tags") or []
    owner = owner_of(consumer)
    mine_keys = [k for k in keyauths if owner_of(k) == owner]
    groups = sorted({str(a.get("group")) for a in acls if owner_of(a) == owner})
    foreign = [g for g in groups if owner is None and apis is not None and g not in apis]
    spec: dict[str, Any] = {
        "subscriptions": [g for g in groups if g not in foreign],
        "credential": api_key_credential(credential_fingerprint(mine_keys[0]) if mine_keys else None),
    }
    display = tag_value(tags, "stoa-display:")
    if display is not None:
        spec["displayName"] = display
    email = tag_value(tags, "stoa-email:")
    if email is not None:
        spec["email"] = email
    name = tag_value(tags, NAME) or str(consumer.get("username") or consumer.get("custom_id") or consumer.get("id"))
    record = make_record("Consumer", name, spec, id=consumer.get("id"), owner=owner)
    if unmanaged(consumer):
        record["unexpressed"] = consumer_unexpressed(consumer, mine_keys, foreign)
    return record


def consumer_unexpressed(consumer: dict[str, Any], keys: list[dict[str, Any]], foreign: list[str]) -> list[str]:
    out = []
    if not keys:
        out.append("no key-auth credential: only an API key has a manifest form")
    if consumer.get("username") is None:
        out.append("no username: the reconciler addresses consumers by username")
    if consumer.get("custom_id") is not None:
        out.append("custom_id is kept as it is (no manifest form)")
    if len(keys) > 1:
        out.append(f"{len(keys)} key-auth credentials: the manifest holds one (the first); the others stay unmanaged")
    if foreign:
        out.append(f"ACL groups {foreign!r} name no API: they stay unmanaged")
    return out


def desired_view(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    """What Kong stores of a desired spec: no OpenAPI document (its hash is kept), normalized URL."""
    if kind == "API":
        out = {k: v for k, v in spec.items() if k != "openapi"}
        if "backend" in out:
            out["backend"] = normalize_backend(str(out["backend"]))
        if "methods" in out:
            out["methods"] = sorted(out["methods"])
        return out
    if kind == "Policy" and spec.get("type") == "cors":
        config = dict(spec.get("config") or {})
        for key in ("origins", "methods", "headers", "exposeHeaders"):
            if key in config:
                config[key] = sorted(config[key] or [])
        return {**spec, "config": config}
    if kind == "Consumer":
        return {**spec, "subscriptions": sorted(spec.get("subscriptions") or [])}
    return spec
