"""The default inversion of a canonical live record into a manifest spec (pure), for `reconciler import`.

Canonical records (`reconciler.model.records`) were built from manifests; this undoes that for the
core kinds and passes an extended kind's spec through. An adapter whose reads carry markers,
hashes or gateway-only fields overrides `GatewayAdapter.import_spec` and starts from these.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from reconciler.model.imports import ImportedSpec
from reconciler.model.records import API_KEY

API_FIELDS = ("displayName", "description", "tenant", "version", "basePath", "backend", "methods")
REQUIRED_API_FIELDS = ("tenant", "version", "basePath", "backend")
POLICY_CONFIG = {"rate_limit": "rateLimit", "cors": "cors"}


def env_var_of(name: str, what: str = "API_KEY") -> str:
    """The environment variable an imported secret is read from: named after the object."""
    return re.sub(r"[^A-Z0-9]+", "_", f"{name}_{what}".upper()).strip("_")


def api_spec(spec: Mapping[str, Any]) -> ImportedSpec:
    missing = [key for key in REQUIRED_API_FIELDS if spec.get(key) in (None, "")]
    if missing:
        return ImportedSpec(None, (f"the gateway does not hold {', '.join(missing)}",))
    out = {key: spec[key] for key in API_FIELDS if spec.get(key) is not None}
    out["methods"] = sorted(out.get("methods") or [])
    openapi = spec.get("openapi")
    return ImportedSpec(out, openapi=dict(openapi) if isinstance(openapi, Mapping) else None)


def policy_spec(spec: Mapping[str, Any]) -> ImportedSpec:
    kind = str(spec.get("type"))
    if kind not in POLICY_CONFIG or not isinstance(spec.get("config"), Mapping) or not spec.get("api"):
        return ImportedSpec(None, (f"policy type {kind!r} on API {spec.get('api')!r} has no manifest form",))
    return ImportedSpec({"api": spec["api"], "type": kind, POLICY_CONFIG[kind]: dict(spec["config"])})


def consumer_spec(name: str, spec: Mapping[str, Any]) -> ImportedSpec:
    credential = spec.get("credential") or {}
    if credential.get("type") != API_KEY:
        return ImportedSpec(None, (f"credential type {credential.get('type')!r} has no manifest form (only apiKey)",))
    out: dict[str, Any] = {key: spec[key] for key in ("displayName", "email") if spec.get(key) is not None}
    out["credential"] = {"type": API_KEY, "secretRef": {"env": env_var_of(name)}}
    out["subscriptions"] = sorted(spec.get("subscriptions") or [])
    if not out["subscriptions"]:  # a Consumer reaches a gateway only through the APIs it subscribes to
        return ImportedSpec(None, ("subscribed to no API of this gateway: a Consumer is bound to gateways "
                                   "only through its subscriptions",))
    return ImportedSpec(out)


def default_import_spec(kind: str, record: Mapping[str, Any]) -> ImportedSpec:
    """A record's manifest spec, by its kind; extended kinds pass their spec through."""
    spec = record.get("spec") or {}
    if kind == "API":
        return api_spec(spec)
    if kind == "Policy":
        return policy_spec(spec)
    if kind == "Consumer":
        return consumer_spec(str(record.get("name")), spec)
    return ImportedSpec(dict(spec))


def manifest_url(url: str) -> str:
    """A live URL as the manifest model spells it (pydantic's `AnyHttpUrl` writes an empty path as `/`):
    the same address, so a hand-made object's backend and its import compare equal."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/")) if parts.scheme and parts.netloc and not parts.path else url
