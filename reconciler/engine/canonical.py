"""Desired state -> canonical desired records, per gateway (pure).

Bindings: an API (and any kind with `gateways`/`gatewaySelector`) goes to the gateways it names or
selects; a Policy follows its API; a Consumer goes to every gateway where one of its subscribed APIs
is, with only those APIs as its subscriptions there. Secrets are looked up in `secrets` (reference ->
value, resolved by the caller at the edge) and only their fingerprint enters the record; a secret the
caller could not resolve enters it as `UNKNOWN_SECRET` (a plan without production keys).
"""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from reconciler.manifests.loader import DesiredState, Document, bound_gateways
from reconciler.manifests.models import API, Consumer, Policy, SecretRef
from reconciler.model.records import (
    API_KEY,
    UNKNOWN_SECRET,
    api_key_credential,
    content_hash,
    make_record,
    secret_fingerprint,
)

CORE_KINDS = ("GatewayInstance", "API", "Policy", "Consumer")


def secret_refs(state: DesiredState) -> dict[tuple[str, str], dict[str, SecretRef]]:
    """Every secret reference of every reconciled object: (kind, name) -> field -> reference."""
    refs: dict[tuple[str, str], dict[str, SecretRef]] = {}
    for kind, docs in state.documents.items():
        if kind == "GatewayInstance":
            continue
        for name, doc in docs.items():
            if isinstance(doc.model, Consumer):
                found = {API_KEY: doc.model.spec.credential.secretRef}
            else:
                found = _find_refs(getattr(doc.model, "spec", None))
            if found:
                refs[(kind, name)] = found
    return refs


def _find_refs(spec: Any) -> dict[str, SecretRef]:
    out: dict[str, SecretRef] = {}
    if spec is None:
        return out
    spec_type: type[BaseModel] = type(spec)
    for field_name in _ref_candidates(spec_type):
        value = getattr(spec, field_name)
        if isinstance(value, SecretRef):
            out[field_name] = value
        elif isinstance(getattr(value, "secretRef", None), SecretRef):
            out[field_name] = value.secretRef
    return out


@functools.cache
def _ref_candidates(model: type[BaseModel]) -> tuple[str, ...]:
    """The fields of a spec class that may be a SecretRef or a model with a `secretRef` (a Policy's
    spec has none: 30,000 policies are not searched field by field)."""
    def candidate(annotation: Any) -> bool:
        if isinstance(annotation, type):  # a SecretRef, or a model with a `secretRef` (a str, a URL: neither)
            return annotation is SecretRef or (issubclass(annotation, BaseModel) and "secretRef" in annotation.model_fields)
        args = typing.get_args(annotation)
        if typing.get_origin(annotation) is typing.Annotated:
            return candidate(args[0])
        if typing.get_origin(annotation) in (typing.Union, types.UnionType):
            return any(candidate(a) for a in args)
        if args:
            return False  # list[...], dict[...], Literal[...]: a container is never one
        return True
    return tuple(name for name, info in model.model_fields.items() if candidate(info.annotation))


def api_spec(api: API, openapi: dict[str, Any] | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "tenant": api.spec.tenant,
        "version": api.spec.version,
        "basePath": api.spec.basePath,
        "backend": str(api.spec.backend),
        "methods": sorted(m.value for m in api.spec.methods),
        "openapi": openapi,
        "openapiHash": content_hash(openapi) if openapi is not None else None,
    }
    if api.spec.displayName is not None:
        spec["displayName"] = api.spec.displayName
    if api.spec.description is not None:
        spec["description"] = api.spec.description
    return spec


def policy_spec(policy: Policy) -> dict[str, Any]:
    if policy.spec.rateLimit is not None:
        config: dict[str, Any] = {"requests": policy.spec.rateLimit.requests,
                                  "period": policy.spec.rateLimit.period.value}
    else:
        assert policy.spec.cors is not None
        cors = policy.spec.cors
        config = {
            "origins": sorted(cors.origins),
            "methods": sorted(m.value for m in cors.methods),
            "headers": sorted(cors.headers),
            "exposeHeaders": sorted(cors.exposeHeaders),
            "credentials": cors.credentials,
            "maxAge": cors.maxAge,
        }
    return {"api": policy.spec.api, "type": policy.spec.type.value, "config": config}


def consumer_spec(consumer: Consumer, subscriptions: list[str], fingerprint: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "subscriptions": sorted(subscriptions),
        "credential": api_key_credential(fingerprint),
    }
    if consumer.spec.displayName is not None:
        spec["displayName"] = consumer.spec.displayName
    if consumer.spec.email is not None:
        spec["email"] = consumer.spec.email
    return spec


def generic_spec(doc: Document) -> dict[str, Any]:
    """Canonical spec of an extended kind: its spec minus the bindings, secrets as references."""
    dumped = doc.model.model_dump(mode="json", exclude_none=True)["spec"]
    dumped.pop("gateways", None)
    dumped.pop("gatewaySelector", None)
    return dict(dumped)


def desired_records(state: DesiredState, secrets: Mapping[str, str]) -> dict[str, list[dict[str, Any]]]:
    """Gateway name -> desired canonical records for it (no secret values, only fingerprints)."""
    owner = state.settings.owner
    gateways = state.gateways
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in gateways}
    api_gateways: dict[str, set[str]] = {}

    for name, doc in sorted(state.of_kind("API").items()):
        api: API = doc.model  # type: ignore[assignment]
        bound = bound_gateways(api.spec, gateways) & set(gateways)
        api_gateways[name] = bound
        spec = api_spec(api, state.openapi.get(name))
        for gw in sorted(bound):
            out[gw].append(make_record("API", name, spec, owner=owner))

    for name, doc in sorted(state.of_kind("Policy").items()):
        policy: Policy = doc.model  # type: ignore[assignment]
        spec = policy_spec(policy)
        for gw in sorted(api_gateways.get(policy.spec.api, set())):
            out[gw].append(make_record("Policy", name, spec, owner=owner))

    for name, doc in sorted(state.of_kind("Consumer").items()):
        consumer: Consumer = doc.model  # type: ignore[assignment]
        value = secrets.get(consumer.spec.credential.secretRef.describe())
        fingerprint = secret_fingerprint(value) if value is not None else UNKNOWN_SECRET
        per_gateway: dict[str, list[str]] = {}
        for api_name in consumer.spec.subscriptions:
            for gw in api_gateways.get(api_name, set()):
                per_gateway.setdefault(gw, []).append(api_name)
        for gw, subs in sorted(per_gateway.items()):
            out[gw].append(make_record("Consumer", name, consumer_spec(consumer, subs, fingerprint), owner=owner))

    for kind, docs in sorted(state.documents.items()):
        if kind in CORE_KINDS:
            continue
        for name, doc in sorted(docs.items()):
            spec_model = getattr(doc.model, "spec", None)
            bound = bound_gateways(spec_model, gateways) & set(gateways)
            generic = generic_spec(doc)
            for gw in sorted(bound):
                out[gw].append(make_record(kind, name, generic, owner=owner))
    return out
