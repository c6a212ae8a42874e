"""Pure translation between canonical records and Apigee objects. No I/O here.

Layout on Apigee, per API `<name>` (org and environment from the gateway's options):
- proxy `<name>`: a generated bundle (`bundle.py`) imported as a revision and deployed to the
  environment; proxy labels carry ownership (`managed-by`, `stoa-owner`) and `stoa-hash`/`stoa-rev`,
  the content hash of the generated bundle and the revision that holds it (a new revision is imported
  only when the hash changes);
- API product `<name>` bound to the proxy and the environment (attributes `managed-by`, `stoa-owner`,
  `stoa-api`): consumers' keys are approved for it (subscriptions), and a rate_limit Policy sets its
  quota (`quota`/`quotaInterval`/`quotaTimeUnit`; attributes `stoa-policy`, `stoa-rate`);
- a cors Policy is Apigee's own CORS policy inside the API's bundle (`cors-<policy>.xml`, first step of
  the PreFlow): adding, changing or removing one imports and deploys a new revision of the proxy, and
  `sync_api` carries the deployed bundle's CORS policies over into the regenerated bundle;
- consumers are developer apps `<name>` of one developer per owner (`options.developerEmail`,
  default `<owner>@stoa-reconciler.invalid`), each with exactly one key: the consumer's API key, imported
  as a custom consumer key and approved for the products of its subscribed APIs.

Quota units are minute|hour|day|month, so `N/second` is written as `60*N` per minute (the same
throughput over a minute, coarser in time); the canonical `requests/period` is kept in the
`stoa-rate` attribute and checked against the numbers on read, so out-of-band edits read as drift.
"""

from __future__ import annotations

import re
from typing import Any

from reconciler.adapters import ownership as own
from reconciler.adapters.importing import manifest_url
from reconciler.adapters.ownership import MANAGED_BY as MANAGED_BY
from reconciler.adapters.ownership import MANAGED_VALUE as MANAGED_VALUE
from reconciler.model.records import api_key_credential, make_record, secret_fingerprint

OWNER = own.OWNER
HASH = own.key("hash")
REV = own.key("rev")
API = own.key("api")
POLICY = own.key("policy")
RATE = "stoa-rate"
EMAIL = "stoa-email"
DISPLAY = "DisplayName"  # Apigee's own attribute for an app's UI name
_RATE = re.compile(r"^(\d+)/(second|minute|hour|day)$")


def attrs_dict(attributes: list[dict[str, Any]] | None) -> dict[str, str]:
    return {str(a.get("name")): str(a.get("value", "")) for a in attributes or []}


def attrs_list(values: dict[str, str]) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in sorted(values.items())]


def owner_of(values: dict[str, str] | None) -> str | None:
    values = values or {}
    return (values.get(OWNER) or None) if values.get(MANAGED_BY) == MANAGED_VALUE else None


def ownership(owner: str) -> dict[str, str]:
    return {MANAGED_BY: MANAGED_VALUE, OWNER: owner}


# ---------------------------------------------------------------------------------------------- APIs
def proxy_labels(existing: dict[str, str] | None, owner: str, content_hash: str, revision: str) -> dict[str, str]:
    """Labels to set on a proxy: foreign labels kept, ours overwritten."""
    return {**(existing or {}), **ownership(owner), HASH: content_hash, REV: revision}


def api_record(name: str, labels: dict[str, str] | None, bundle_spec: dict[str, Any] | None) -> dict[str, Any]:
    owner = owner_of(labels)
    spec = dict(bundle_spec) if (owner is not None and bundle_spec is not None) else {}
    return make_record("API", name, spec, id=name, owner=owner)


PRODUCT_PRESENT = "present"
"""`spec.product` of an API whose API product (of ours) exists: policies and consumers hang on it."""


def desired_api_view(spec: dict[str, Any]) -> dict[str, Any]:
    view = {k: v for k, v in spec.items() if k != "openapi"}
    if "methods" in view:
        view["methods"] = sorted(str(m).upper() for m in view["methods"] or [])
    for key in ("displayName", "description", "openapiHash"):
        if key in view and not view[key]:
            view[key] = None
    return view


# ---------------------------------------------------------------------------------------------- products
def quota_for(requests: int, period: str) -> dict[str, str]:
    if period == "second":
        return {"quota": str(requests * 60), "quotaInterval": "1", "quotaTimeUnit": "minute"}
    return {"quota": str(requests), "quotaInterval": "1", "quotaTimeUnit": period}


KEPT_PRODUCT_FIELDS = ("description", "apiResources", "scopes", "operationGroup")
"""Fields of a product we never write but keep when we replace it (PUT replaces the whole product)."""


def product_body(api: str, environment: str, owner: str, live: dict[str, Any] | None = None,
                 policy: tuple[str, dict[str, Any]] | None = None, keep_policy: bool = True) -> dict[str, Any]:
    """The full API product for an API (PUT replaces everything, so it is rebuilt from `live`)."""
    attrs = {**attrs_dict((live or {}).get("attributes")), **ownership(owner), API: api}
    body: dict[str, Any] = {k: (live or {})[k] for k in KEPT_PRODUCT_FIELDS if (live or {}).get(k)}
    body.update({"name": api, "displayName": (live or {}).get("displayName") or api,
                 "approvalType": "auto", "proxies": [api], "environments": [environment]})
    quota = {k: (live or {})[k] for k in ("quota", "quotaInterval", "quotaTimeUnit") if (live or {}).get(k)}
    if policy is not None:
        name, config = policy
        quota = quota_for(int(config["requests"]), str(config["period"]))
        attrs[POLICY] = name
        attrs[RATE] = f"{int(config['requests'])}/{config['period']}"
    elif not keep_policy:
        quota = {}
        attrs.pop(POLICY, None)
        attrs.pop(RATE, None)
    body.update(quota)
    body["attributes"] = attrs_list(attrs)
    return body


def product_is_current(live: dict[str, Any], api: str, environment: str, owner: str) -> bool:
    attrs = attrs_dict(live.get("attributes"))
    return (owner_of(attrs) == owner and attrs.get(API) == api and list(live.get("proxies") or []) == [api]
            and list(live.get("environments") or []) == [environment])


def policy_from_product(product: dict[str, Any]) -> dict[str, Any] | None:
    attrs = attrs_dict(product.get("attributes"))
    match = _RATE.match(attrs.get(RATE, ""))
    if not attrs.get(POLICY) or not attrs.get(API) or match is None:
        return None
    requests, period = int(match[1]), match[2]
    want = quota_for(requests, period)
    live = {k: str(product.get(k) or "") for k in want}
    if live != want:  # numbers edited out of band: report what they now mean
        try:
            total, interval = int(live["quota"]), max(1, int(live["quotaInterval"] or 1))
        except ValueError:
            total, interval = 0, 1
        per_unit = total // interval
        requests = per_unit // 60 if period == "second" and live["quotaTimeUnit"] == "minute" else per_unit
        if live["quotaTimeUnit"] not in ("minute", period):
            requests = -1
    spec = {"api": attrs[API], "type": "rate_limit", "config": {"requests": requests, "period": period}}
    return make_record("Policy", attrs[POLICY], spec, id=f"{product.get('name')}:{attrs[POLICY]}",
                       owner=owner_of(attrs))


# ---------------------------------------------------------------------------------------------- consumers
def developer_body(email: str, owner: str) -> dict[str, Any]:
    return {"email": email, "firstName": "STOA", "lastName": f"reconciler {owner}", "userName": f"stoa-{owner}",
            "attributes": attrs_list(ownership(owner))}


def app_attributes(spec: dict[str, Any], owner: str) -> dict[str, str]:
    attrs = ownership(owner)
    if spec.get("displayName"):
        attrs[DISPLAY] = str(spec["displayName"])
    if spec.get("email"):
        attrs[EMAIL] = str(spec["email"])
    return attrs


def consumer_from_app(app: dict[str, Any], product_api: dict[str, str]) -> dict[str, Any]:
    """Canonical consumer of a developer app; `product_api` maps our API products to API names."""
    attrs = attrs_dict(app.get("attributes"))
    owner = owner_of(attrs)
    creds = list(app.get("credentials") or [])
    if len(creds) == 1:
        fingerprint = secret_fingerprint(str(creds[0].get("consumerKey", "")))
    else:
        fingerprint = f"sha256:{len(creds)}-keys"
    subs = sorted({product_api[p["apiproduct"]] for c in creds for p in c.get("apiProducts") or []
                   if p.get("status", "approved") == "approved" and p.get("apiproduct") in product_api})
    spec: dict[str, Any] = {"subscriptions": subs}
    if owner is not None:
        spec.update({"displayName": attrs.get(DISPLAY) or None, "email": attrs.get(EMAIL) or None,
                     "credential": api_key_credential(fingerprint)})
    return make_record("Consumer", str(app.get("name", "")), spec, id=str(app.get("name", "")), owner=owner)


# ---------------------------------------------------------------------------------------------- cors
def cors_id(api: str, policy: str) -> str:
    return f"cors:{api}:{policy}"


def parse_cors_id(policy_id: str) -> tuple[str, str] | None:
    kind, _, rest = policy_id.partition(":")
    api, _, policy = rest.partition(":")
    return (api, policy) if kind == "cors" and api and policy else None


def cors_record(api: str, policy: str, config: dict[str, Any], owner: str | None) -> dict[str, Any]:
    """A cors Policy read from the CORS policy of an API's deployed bundle (owned with the proxy)."""
    spec = {"api": api, "type": "cors", "config": config}
    return make_record("Policy", policy, spec, id=cors_id(api, policy), owner=owner)


# ---------------------------------------------------------------------------------------------- hand-made objects
IMPORT_NOTES = "importNotes"
"""Spec key of an unowned record: what the object holds that the manifest model cannot express (the
import report lists it; the diff never sees it, as no desired spec declares it)."""
_UNITS = {"minute", "hour", "day"}


IMPORT_VERSION = "0.0.0"


def import_tenant(organization: str) -> str:
    """The tenant an imported proxy is given: its organization, in manifest name spelling."""
    return re.sub(r"[^a-z0-9]+", "-", organization.lower()).strip("-")[:63].rstrip("-") or "default"


def product_fits(product: dict[str, Any], api: str, environment: str) -> bool:
    """A product laid out as ours would be for `api`: named after it, bundling only its proxy in our environment."""
    return (str(product.get("name")) == api and list(product.get("proxies") or []) == [api]
            and list(product.get("environments") or []) == [environment])


def foreign_api_record(name: str, bundle: dict[str, Any] | None, product: dict[str, Any] | None,
                       environment: str, *, verify_api_key: bool) -> dict[str, Any]:
    """An unowned proxy as the manifest would declare it: the deployed hand-made bundle's fields (no tenant
    or version: Apigee has no place for them), and what adoption would change or drop, as notes."""
    if bundle is None:
        return make_record("API", name, {"product": "missing",
                                         IMPORT_NOTES: ["no single deployed revision whose bundle can be read"]},
                           id=name, owner=None)
    notes = list(bundle["unexpressed"])
    if verify_api_key and not bundle["verifiesApiKey"]:
        notes.append("the proxy verifies no API key; the generated bundle will (options.verifyApiKey)")
    present = product is not None and product_fits(product, name, environment)
    if product is not None and present:
        if product.get("approvalType", "auto") != "auto":
            notes.append(f"API product {name!r} approval {product.get('approvalType')!r} becomes 'auto' on adoption")
        notes += [f"API product {name!r} {key} are not expressed; adoption keeps them"
                  for key in ("apiResources", "scopes", "operationGroup") if product.get(key)]
    spec = {k: bundle[k] for k in ("displayName", "description", "basePath", "methods")}
    spec["backend"] = manifest_url(str(bundle["backend"]))
    spec.update({"openapiHash": None, "product": PRODUCT_PRESENT if present else "missing", IMPORT_NOTES: notes})
    return make_record("API", name, spec, id=name, owner=None)


def quota_policy_name(product: str) -> str:
    return f"{product.lower()}-quota"


def policy_from_foreign_product(product: dict[str, Any], environment: str) -> dict[str, Any] | None:
    """The rate_limit Policy an unowned API product's quota is, or None when it holds no quota; a quota the
    manifest cannot express (several proxies, an interval, a month) comes with the reason as its only note."""
    if not product.get("quota"):
        return None
    name = str(product.get("name"))
    proxies = [str(p) for p in product.get("proxies") or []]
    quota, interval, unit = str(product.get("quota")), str(product.get("quotaInterval") or "1"), product.get("quotaTimeUnit")
    why = None
    if len(proxies) != 1 or not product_fits(product, proxies[0], environment):
        why = (f"API product {name!r} (proxies {', '.join(proxies) or 'none'}, environments "
               f"{', '.join(product.get('environments') or []) or 'none'}) holds a quota of {quota} per {interval} "
               f"{unit}; only a product named after its one proxy, in this environment, is a Policy")
    elif interval != "1" or unit not in _UNITS or not quota.isdigit() or int(quota) <= 0:
        why = f"API product {name!r} quota {quota} per {interval} {unit}: a rate_limit is N per 1 minute|hour|day"
    record_id = f"{name}:{quota_policy_name(name)}"
    if why is not None:
        return make_record("Policy", quota_policy_name(name), {IMPORT_NOTES: [why]}, id=record_id, owner=None)
    spec = {"api": proxies[0], "type": "rate_limit", "config": {"requests": int(quota), "period": str(unit)}}
    return make_record("Policy", quota_policy_name(name), spec, id=record_id, owner=None)


def foreign_consumer(app: dict[str, Any], developer: str, product_api: dict[str, str]) -> dict[str, Any]:
    """An unowned developer app as a consumer: its developer's email, Apigee's DisplayName, its one key's
    fingerprint, the APIs whose products (laid out as ours) its key is approved for; the rest as notes."""
    attrs = attrs_dict(app.get("attributes"))
    creds = list(app.get("credentials") or [])
    notes = []
    if len(creds) != 1:
        notes.append(f"the app holds {len(creds)} keys; a consumer holds one (adoption keeps the one its "
                     "secretRef gives and deletes the others)")
    fingerprint = secret_fingerprint(str(creds[0].get("consumerKey", ""))) if len(creds) == 1 else f"sha256:{len(creds)}-keys"
    subs, others = set(), set()
    for cred in creds:
        for entry in cred.get("apiProducts") or []:
            product = str(entry.get("apiproduct"))
            if entry.get("status", "approved") != "approved":
                notes.append(f"key approval for API product {product!r} is {entry.get('status')!r}: not expressed")
            elif product in product_api:
                subs.add(product_api[product])
            else:
                others.add(product)
    notes += [f"key approved for API product {p!r}, which is no API's product: not expressed (adoption keeps it)"
              for p in sorted(others)]
    extra = sorted(k for k in attrs if k != DISPLAY)
    if extra:
        notes.append(f"app attributes {', '.join(extra)}: not expressed (adoption replaces the app's attributes)")
    spec: dict[str, Any] = {"subscriptions": sorted(subs), "displayName": attrs.get(DISPLAY) or None,
                            "email": developer or None, "credential": api_key_credential(fingerprint),
                            IMPORT_NOTES: notes}
    return make_record("Consumer", str(app.get("name", "")), spec, id=app_id(developer, str(app.get("name", ""))),
                       owner=None)


def foreign_cors_name(api: str, policy: str) -> str:
    """The Policy name of a hand-made bundle's CORS policy: `<api>-<policy>` in manifest spelling."""
    return re.sub(r"[^a-z0-9]+", "-", f"{api}-{policy}".lower()).strip("-")[:63].rstrip("-")


def app_id(developer: str, app: str) -> str:
    """A consumer's id: `<developer email>/<app>` (apps are named per developer)."""
    return f"{developer}/{app}"


def parse_app_id(value: str, default_developer: str) -> tuple[str, str]:
    developer, _, app = value.rpartition("/")
    return (developer or default_developer), app
