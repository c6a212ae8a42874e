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


def product_body(api: str, environment: str, owner: str, live: dict[str, Any] | None = None,
                 policy: tuple[str, dict[str, Any]] | None = None, keep_policy: bool = True) -> dict[str, Any]:
    """The full API product for an API (PUT replaces everything, so it is rebuilt from `live`)."""
    attrs = {**attrs_dict((live or {}).get("attributes")), **ownership(owner), API: api}
    body: dict[str, Any] = {"name": api, "displayName": (live or {}).get("displayName") or api,
                            "approvalType": "auto", "proxies": [api], "environments": [environment]}
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
