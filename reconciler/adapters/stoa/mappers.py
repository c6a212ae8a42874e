"""Pure translation between canonical records and the STOA gateway's admin JSON. No I/O here.

Ownership: the STOA admin API has no tags or labels, so the owner is encoded in the ids it stores
and returns. Route ids, policy ids and consumer ids are `"<owner>.<name>"`. Manifest names and owner
ids are DNS-1123 labels (no dots), so the split is unambiguous. An id without a dot belongs to
nobody we know: owner None, name = the route's `name` field (or the id itself).

What a route cannot store (version, displayName, description, OpenAPI hash) is folded into the
route's `spec_hash`, so a version bump shows as a `specHash` difference and is re-synced.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from typing import Any

from reconciler.adapters import importing
from reconciler.model.imports import ImportedSpec
from reconciler.model.records import API_KEY, backend_url, content_hash, make_record, secret_fingerprint

PERIOD_SECONDS: dict[str, int] = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
SECONDS_PERIOD: dict[int, str] = {v: k for k, v in PERIOD_SECONDS.items()}
#: canonical CORS key -> STOA policy config key.
CORS_KEYS: dict[str, str] = {
    "origins": "allowOrigins",
    "methods": "allowMethods",
    "headers": "allowHeaders",
    "exposeHeaders": "exposeHeaders",
    "credentials": "allowCredentials",
    "maxAge": "maxAge",
}
POLICY_PRIORITY = 100
CREDENTIAL_HEADER = "X-API-Key"
#: API spec fields a route cannot hold; hashed into `spec_hash`.
HASHED_API_FIELDS = ("version", "displayName", "description", "openapiHash")


# ---------------------------------------------------------------------------------------- ids
def owned_id(owner: str, name: str) -> str:
    """The gateway id of an object we own."""
    return f"{owner}.{name}"


def parse_id(gateway_id: str, fallback_name: str | None = None) -> tuple[str | None, str]:
    """(owner, name) from a gateway id; ids without a dot are unowned, named by `fallback_name`."""
    owner, dot, name = gateway_id.partition(".")
    if dot and owner and name:
        return owner, name
    return None, fallback_name or gateway_id


# ---------------------------------------------------------------------------------------- APIs
def field_hash(value: Any) -> str:
    """A short, stable hash of one field's value (what a route can keep of it)."""
    if value is None or isinstance(value, str):
        return _scalar_hash(value)
    return content_hash(value).removeprefix("sha256:")[:16]


@functools.lru_cache(maxsize=4096)
def _scalar_hash(value: str | None) -> str:
    """Memoised: a plan hashes four fields of every API and most are None or a repeated version."""
    return content_hash(value).removeprefix("sha256:")[:16]


def api_spec_hash(spec: dict[str, Any]) -> str:
    """The route's `spec_hash`: one hash per field a route cannot store, `field=hash;...`.

    Per field, not one hash of all: an ignore rule on `spec.description` must not turn every other
    field's change invisible, nor a description change into drift (`folded_fields`)."""
    return ";".join(f"{key}={field_hash(spec.get(key))}" for key in sorted(HASHED_API_FIELDS))


def parse_spec_hash(value: Any) -> Any:
    """The per-field hashes of a route's `spec_hash`; anything else (older or foreign) as it is: drift."""
    if not isinstance(value, str):
        return value
    pairs = [part.partition("=") for part in value.split(";")]
    if all(sep and key in HASHED_API_FIELDS for key, sep, _ in pairs):
        return {key: hashed for key, _, hashed in pairs}
    return value


_HASHED_SORTED = tuple(sorted(HASHED_API_FIELDS))


def spec_hash_view(spec: dict[str, Any]) -> dict[str, str]:
    return {key: field_hash(spec.get(key)) for key in _HASHED_SORTED}


def api_view(spec: dict[str, Any]) -> dict[str, Any]:
    """The part of a desired API spec a route stores and returns."""
    return {
        "tenant": spec.get("tenant"),
        "basePath": spec.get("basePath"),
        "backend": spec.get("backend"),
        "methods": sorted(spec.get("methods") or []),
        "specHash": spec_hash_view(spec),
    }


def api_to_gateway(record: dict[str, Any], owner: str) -> dict[str, Any]:
    spec = record["spec"]
    return {
        "id": owned_id(owner, record["name"]),
        "name": record["name"],
        "tenant_id": spec["tenant"],
        "path_prefix": spec["basePath"],
        "backend_url": str(spec["backend"]),
        "methods": sorted(str(m) for m in spec.get("methods") or []),
        "spec_hash": api_spec_hash(spec),
        "activated": True,
    }


def api_from_gateway(route: dict[str, Any]) -> dict[str, Any]:
    owner, name = parse_id(str(route.get("id", "")), route.get("name"))
    spec = {
        "tenant": route.get("tenant_id"),
        "basePath": route.get("path_prefix"),
        "backend": backend_url(route.get("backend_url")),
        "methods": sorted(route.get("methods") or []),
        "specHash": parse_spec_hash(route.get("spec_hash")),
    }
    return make_record("API", name, spec, id=route.get("id"), owner=owner)


# ---------------------------------------------------------------------------------------- policies
def period_from_seconds(seconds: Any) -> str:
    """Canonical period of an interval; an unknown interval reads as e.g. "90s" (drift, not a crash)."""
    if isinstance(seconds, int) and not isinstance(seconds, bool) and seconds in SECONDS_PERIOD:
        return SECONDS_PERIOD[seconds]
    return f"{seconds}s"


def policy_config_to_gateway(policy_type: str, config: dict[str, Any]) -> dict[str, Any]:
    if policy_type == "rate_limit":
        return {"maxRequests": config["requests"], "intervalSeconds": PERIOD_SECONDS[str(config.get("period", "minute"))]}
    if policy_type == "cors":
        return {stoa: config[canonical] for canonical, stoa in CORS_KEYS.items() if canonical in config}
    return dict(config)


def policy_config_from_gateway(policy_type: str, config: Any) -> Any:
    if not isinstance(config, dict):
        return config
    if policy_type == "rate_limit":
        return {"requests": config.get("maxRequests"), "period": period_from_seconds(config.get("intervalSeconds"))}
    if policy_type == "cors":
        return {canonical: config[stoa] for canonical, stoa in CORS_KEYS.items() if stoa in config}
    return config


def policy_view(spec: dict[str, Any]) -> dict[str, Any]:
    """Desired policy view: api, type and config only (what a PolicyEntry stores)."""
    return {"api": spec.get("api"), "type": spec.get("type"), "config": spec.get("config")}


def policy_to_gateway(record: dict[str, Any], owner: str) -> dict[str, Any]:
    spec = record["spec"]
    policy_type = str(spec["type"])
    return {
        "id": owned_id(owner, record["name"]),
        "name": record["name"],
        "policy_type": policy_type,
        "config": policy_config_to_gateway(policy_type, spec.get("config") or {}),
        "priority": POLICY_PRIORITY,
        "api_id": owned_id(owner, spec["api"]),
    }


def policy_from_gateway(entry: dict[str, Any]) -> dict[str, Any]:
    owner, name = parse_id(str(entry.get("id", "")), entry.get("name"))
    policy_type = str(entry.get("policy_type", ""))
    _, api = parse_id(str(entry.get("api_id", "")))
    spec = {"api": api, "type": policy_type, "config": policy_config_from_gateway(policy_type, entry.get("config"))}
    return make_record("Policy", name, spec, id=entry.get("id"), owner=owner)


# ---------------------------------------------------------------------------------------- consumers
def consumer_view(spec: dict[str, Any]) -> dict[str, Any]:
    """Desired consumer view: displayName and email have nowhere to live on the gateway."""
    view = {k: v for k, v in spec.items() if k not in ("displayName", "email")}
    view["subscriptions"] = sorted(spec.get("subscriptions") or [])
    return view


def consumer_id(owner: str, name: str) -> str:
    return owned_id(owner, name)


def credentials_to_gateway(record: dict[str, Any], owner: str, api_key: str) -> list[dict[str, Any]]:
    """One api_key credential per subscribed API route (the secret is the caller's to protect)."""
    cid = consumer_id(owner, record["name"])
    return [
        {
            "route_id": owned_id(owner, api),
            "consumer_id": cid,
            "auth_type": "api_key",
            "header_name": CREDENTIAL_HEADER,
            "header_value": api_key,
        }
        for api in sorted(record["spec"].get("subscriptions") or [])
    ]


def _credential_type(credential: dict[str, Any]) -> str:
    """"apiKey" for what we write (api_key in X-API-Key); anything else reads as itself, i.e. drift."""
    auth_type, header = credential.get("auth_type"), credential.get("header_name")
    return API_KEY if (auth_type, header) == ("api_key", CREDENTIAL_HEADER) else f"{auth_type}:{header}"


def consumers_from_gateway(credentials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Group credentials by consumer_id into canonical Consumer records (fingerprints, never keys)."""
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for credential in credentials:
        grouped[str(credential.get("consumer_id", ""))].append(credential)
    records = []
    for cid in sorted(grouped):
        items = sorted(grouped[cid], key=lambda c: str(c.get("route_id", "")))
        owner, name = parse_id(cid)
        subscriptions = sorted(parse_id(str(c.get("route_id", "")))[1] for c in items)
        fingerprints = sorted({secret_fingerprint(str(c.get("header_value", ""))) for c in items})
        # Different keys on different routes can never equal one desired fingerprint: it shows as drift.
        fingerprint = fingerprints[0] if len(fingerprints) == 1 else "mixed:" + ",".join(fingerprints)
        kinds = sorted({_credential_type(c) for c in items})
        spec: dict[str, Any] = {
            "subscriptions": subscriptions,
            "credential": {"type": ",".join(kinds), "fingerprint": fingerprint},
        }
        record = make_record("Consumer", name, spec, id=cid, owner=owner)
        records.append(record)
    return records


# ---------------------------------------------------------------------------------------- import
IMPORT_VERSION = "0.0.0"


def api_import_spec(record: dict[str, Any]) -> ImportedSpec:
    """A route holds no version, display name, description or OpenAPI document, only their hashes: the
    import writes a placeholder version and says so; the other three it leaves out."""
    spec = dict(record.get("spec") or {})
    hashes = spec.get("specHash")
    imported = importing.api_spec({**spec, "version": IMPORT_VERSION})
    known = isinstance(hashes, dict) and hashes.get("version") == field_hash(IMPORT_VERSION)
    placeholder = f"version: STOA keeps only a hash of it; written as {IMPORT_VERSION!r}, set the real one"
    notes: tuple[str, ...] = () if known else (placeholder,)
    if isinstance(hashes, dict) and any(hashes.get(k) != field_hash(None) for k in ("displayName", "description")):
        notes += ("displayName/description: STOA keeps only their hashes; not written",)
    return ImportedSpec(imported.spec, notes + imported.notes)
