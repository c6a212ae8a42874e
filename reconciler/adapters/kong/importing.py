"""Kong live records -> manifest specs for `reconciler import` (pure).

A service made by hand has no tenant or version (the reconciler keeps them in `stoa-*` tags): the
import writes placeholders and says so; adopting tags the service with what the manifest then says.
What a record's `unexpressed` lists (fields with no manifest form, see `mappers`) goes into the notes,
and an operator's service without the key-auth/acl pair says that adopting it with `protectApis`
closes it to everyone but subscribed consumers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.adapters import importing
from reconciler.adapters.kong import mappers as m
from reconciler.model.imports import ImportedSpec

IMPORT_TENANT = "default"
"""Kong OSS has one workspace, `default`: the tenant an operator's service is written with."""
IMPORT_VERSION = "0.0.0"
MANIFEST_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
"""Every method an API manifest can list (`HttpMethod`): what a route open to every method is written as."""
CORS_MAX_AGE = 3600
"""The manifest's default `maxAge`, written when Kong's cors plugin sends no Access-Control-Max-Age."""


def _notes(record: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(str(n) for n in record.get("unexpressed") or ())


def api_import_spec(record: Mapping[str, Any], *, protect_apis: bool) -> ImportedSpec:
    spec = dict(record.get("spec") or {})
    notes = list(_notes(record))
    if spec.get("basePath") is None:
        return ImportedSpec(None, ("the service has no route: an API needs a basePath", *notes))
    if not spec.get("tenant"):
        spec["tenant"] = IMPORT_TENANT
        notes.append(f"tenant: Kong keeps none; written as {IMPORT_TENANT!r} (adopting tags the service with it)")
    if not spec.get("version"):
        spec["version"] = IMPORT_VERSION
        notes.append(f"version: Kong keeps none; written as {IMPORT_VERSION!r}, set the real one")
    if not spec.get("methods"):
        spec["methods"] = list(MANIFEST_METHODS)
    if protect_apis and spec.get("protection") != m.PROTECTED:
        notes.append(f"protection is {spec.get('protection')!r}: adopting with protectApis adds the key-auth and acl "
                     "plugins (only subscribed consumers' keys pass), a change the plan shows")
    imported = importing.api_spec(spec)
    return ImportedSpec(imported.spec, tuple(notes) + imported.notes, imported.openapi)


def policy_import_spec(record: Mapping[str, Any]) -> ImportedSpec:
    spec = dict(record.get("spec") or {})
    notes = list(_notes(record))
    config = dict(spec.get("config") or {})
    if spec.get("type") == "cors":
        if config.get("maxAge") is None:
            config["maxAge"] = CORS_MAX_AGE
            notes.append(f"cors max_age is unset: the manifest needs one, written as {CORS_MAX_AGE} (adopting sets it)")
        if not config.get("origins"):
            config["origins"] = ["*"]
            notes.append("cors origins are unset (any origin): written as ['*']")
    imported = importing.policy_spec({**spec, "config": config})
    return ImportedSpec(imported.spec, tuple(notes) + imported.notes)


def consumer_import_spec(record: Mapping[str, Any]) -> ImportedSpec:
    spec = record.get("spec") or {}
    notes = _notes(record)
    if record.get("owner") is None and not (spec.get("credential") or {}).get("fingerprint"):
        return ImportedSpec(None, notes or ("no key-auth credential: only an API key has a manifest form",))
    imported = importing.consumer_spec(str(record.get("name")), spec)
    return ImportedSpec(imported.spec, notes + imported.notes)


def import_spec(kind: str, record: Mapping[str, Any], *, protect_apis: bool) -> ImportedSpec:
    if kind == "API":
        return api_import_spec(record, protect_apis=protect_apis)
    if kind == "Policy":
        return policy_import_spec(record)
    if kind == "Consumer":
        return consumer_import_spec(record)
    return importing.default_import_spec(kind, record)
