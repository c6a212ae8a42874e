"""Pure translation between canonical records and API Gateway (REST v1) objects. No I/O here.

Layout on AWS, per API `<name>`:
- a REST API named `<name>`; tags carry ownership (`managed-by`, `stoa-owner`) and the fields AWS has
  no place for (tenant, version, display name, OpenAPI hash); `description` is the API description;
- resources `<basePath>` and `<basePath>/{proxy+}`, each with one method per canonical method and an
  HTTP_PROXY integration to the backend (`<backend>` and `<backend>/{proxy}`), deployed to the stage;
- one usage plan per API (name `<name>`, tags `stoa-api`), bound to the API's stage: consumers' API
  keys are attached to it (subscriptions) and a rate_limit Policy sets its throttle/quota.

CORS: a cors Policy is an OPTIONS method on both resources (no API key; `operationName` carries the
marker `stoa-cors <policy> owner=<owner>`) with a MOCK integration answering the preflight: static
Allow-Methods/-Headers/-Max-Age/-Credentials (and Expose-Headers) response parameters, and a mapping
template that echoes the request's Origin when it is in the allowed list (a static header could hold
only one origin). The config reads back exactly from those. Limits: actual (non-preflight) responses
come from the backend through HTTP_PROXY, which AWS cannot decorate, so the backend must also send
Access-Control-Allow-Origin / Expose-Headers itself; a declared OPTIONS method and a cors policy on the
same API collide.

Rate limits: AWS throttles per second (a float rate plus a burst) and has quotas per DAY/WEEK/MONTH only.
`requests/period` maps to `throttle.rateLimit = ceil(requests / seconds(period))` (an integer, so it
survives moto's and AWS's patch operations exactly), `burstLimit = max(rateLimit, min(requests, 5000))`,
and, for `day`, a `quota {limit: requests, period: DAY}`. That numeric mapping is lossy (100/minute and
120/minute both throttle at 2 rps), so the canonical `requests/period` is kept in the plan's description
marker and the numbers are checked against it on read: an out-of-band change to the numbers reads back
as the numbers' own `requests`, i.e. as drift.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from reconciler.adapters import ownership as own
from reconciler.adapters.importing import manifest_url
from reconciler.adapters.ownership import MANAGED_BY as MANAGED_BY
from reconciler.adapters.ownership import MANAGED_VALUE as MANAGED_VALUE
from reconciler.model.records import api_key_credential, make_record

TAG_OWNER = own.OWNER
TAG_TENANT = own.key("tenant")
TAG_VERSION = own.key("version")
TAG_DISPLAY = own.key("display-name")
TAG_OPENAPI = own.key("openapi-hash")
TAG_API = own.key("api")
TAG_FINGERPRINT = own.key("fingerprint")
TAG_EMAIL = own.key("email")

PROXY_PART = "{proxy+}"
PERIOD_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_MARKER = re.compile(r"^stoa-policy (?P<name>[a-z0-9-]+) owner=(?P<owner>[a-z0-9-]+) "
                     r"rate=(?P<requests>\d+)/(?P<period>second|minute|hour|day)$")


def owner_of(tags: dict[str, str] | None) -> str | None:
    """Owner id from tags, or None when the object is not one of the reconciler's."""
    tags = tags or {}
    if tags.get(MANAGED_BY) != MANAGED_VALUE:
        return None
    return tags.get(TAG_OWNER) or None


def ownership_tags(owner: str) -> dict[str, str]:
    return {MANAGED_BY: MANAGED_VALUE, TAG_OWNER: owner}


# ---------------------------------------------------------------------------------------------- APIs
def api_tags(spec: dict[str, Any], owner: str) -> dict[str, str]:
    """Tags of a REST API: ownership plus the fields REST APIs cannot hold natively."""
    tags = ownership_tags(owner)
    tags[TAG_TENANT] = str(spec.get("tenant", ""))
    tags[TAG_VERSION] = str(spec.get("version", ""))
    if spec.get("displayName"):
        tags[TAG_DISPLAY] = str(spec["displayName"])
    if spec.get("openapiHash"):
        tags[TAG_OPENAPI] = str(spec["openapiHash"])
    return tags


def rest_api_payload(name: str, spec: dict[str, Any], owner: str) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "endpointConfiguration": {"types": ["REGIONAL"]},
                            "tags": api_tags(spec, owner)}
    if spec.get("description"):
        body["description"] = spec["description"]
    return body


def path_parts(base_path: str) -> list[str]:
    """`/a/b` -> ["a", "b"]; `/` -> []."""
    return [p for p in base_path.strip("/").split("/") if p]


def join_path(parts: list[str]) -> str:
    return "/" + "/".join(parts)


def integration_uri(backend: str, *, proxy: bool) -> str:
    """The backend exactly as declared (read back from the base resource), `<backend>/{proxy}` for the rest."""
    return f"{backend.rstrip('/')}/{{proxy}}" if proxy else backend


def method_payload(*, proxy: bool, api_key_required: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"authorizationType": "NONE", "apiKeyRequired": api_key_required}
    if proxy:
        body["requestParameters"] = {"method.request.path.proxy": True}
    return body


def integration_payload(method: str, backend: str, *, proxy: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "HTTP_PROXY", "httpMethod": method,  # the integration verb (wire name)
                            "uri": integration_uri(backend, proxy=proxy)}
    if proxy:
        body["requestParameters"] = {"integration.request.path.proxy": "method.request.path.proxy"}
    return body


def desired_methods(spec: dict[str, Any]) -> list[str]:
    return sorted({str(m).upper() for m in spec.get("methods") or []})


def method_matches(live: dict[str, Any], method: str, backend: str, *, proxy: bool, api_key_required: bool) -> bool:
    """True when a live method (with its embedded integration) is exactly what we would write."""
    integration = live.get("methodIntegration") or {}
    return (
        bool(live.get("apiKeyRequired", False)) == api_key_required
        and integration.get("type") == "HTTP_PROXY"
        and integration.get("httpMethod", method) == method
        and integration.get("uri") == integration_uri(backend, proxy=proxy)
    )


_CORS_MARKER = re.compile(r"^stoa-cors (?P<name>[a-z0-9-]+) owner=(?P<owner>[a-z0-9-]+)$")
_ALLOWED = re.compile(r"#set\(\$allowed = (\[.*?\])\)")
_HEADER = "method.response.header."


def cors_marker(name: str, owner: str) -> str:
    return f"stoa-cors {name} owner={owner}"


def parse_cors_marker(value: Any) -> tuple[str, str] | None:
    match = _CORS_MARKER.match(str(value or ""))
    return None if match is None else (match["name"], match["owner"])


def is_cors_method(verb: str, method: dict[str, Any]) -> bool:
    return verb == "OPTIONS" and parse_cors_marker(method.get("operationName")) is not None


def cors_headers(config: dict[str, Any]) -> dict[str, str]:
    """Static preflight headers (header name -> value); origins are handled by the template."""
    headers = {"Access-Control-Allow-Methods": ",".join(str(m) for m in config.get("methods") or []),
               "Access-Control-Max-Age": str(int(config.get("maxAge", 3600)))}
    if config.get("headers"):
        headers["Access-Control-Allow-Headers"] = ",".join(config["headers"])
    if config.get("exposeHeaders"):
        headers["Access-Control-Expose-Headers"] = ",".join(config["exposeHeaders"])
    if config.get("credentials"):
        headers["Access-Control-Allow-Credentials"] = "true"
    return headers


def cors_template(origins: list[str]) -> str:
    return ("#set($origin = $input.params().header.get('Origin'))\n"
            f"#set($allowed = {json.dumps(list(origins))})\n"
            "#if($allowed.contains($origin) || $allowed.contains('*'))\n"
            "#set($context.responseOverride.header.Access-Control-Allow-Origin = $origin)\n#end\n")


def cors_method_payload(name: str, owner: str) -> dict[str, Any]:
    return {"authorizationType": "NONE", "apiKeyRequired": False, "operationName": cors_marker(name, owner)}


def cors_integration_payload() -> dict[str, Any]:
    return {"type": "MOCK", "requestTemplates": {"application/json": '{"statusCode": 200}'}}


def cors_method_response(config: dict[str, Any]) -> dict[str, Any]:
    names = sorted(set(cors_headers(config)) | {"Access-Control-Allow-Origin"})
    return {"responseParameters": {_HEADER + h: False for h in names}}


def cors_integration_response(config: dict[str, Any]) -> dict[str, Any]:
    params = {_HEADER + h: f"'{v}'" for h, v in sorted(cors_headers(config).items())}
    return {"responseParameters": params,
            "responseTemplates": {"application/json": cors_template(list(config.get("origins") or []))}}


def cors_from_method(method: dict[str, Any]) -> dict[str, Any] | None:
    """The cors config a preflight OPTIONS method answers, or None when it is not one of ours."""
    integration = method.get("methodIntegration") or {}
    response = (integration.get("integrationResponses") or {}).get("200") or {}
    template = str((response.get("responseTemplates") or {}).get("application/json") or "")
    found = _ALLOWED.search(template)
    if integration.get("type") != "MOCK" or found is None:
        return None
    try:
        origins = [str(o) for o in json.loads(found.group(1))]
    except ValueError:
        return None
    params = {k[len(_HEADER):]: str(v).strip("'") for k, v in (response.get("responseParameters") or {}).items()
              if k.startswith(_HEADER)}

    def split(header: str) -> list[str]:
        return [v for v in params.get(header, "").split(",") if v]
    max_age = params.get("Access-Control-Max-Age", "0")
    return {"origins": origins, "methods": split("Access-Control-Allow-Methods"),
            "headers": split("Access-Control-Allow-Headers"), "exposeHeaders": split("Access-Control-Expose-Headers"),
            "credentials": params.get("Access-Control-Allow-Credentials") == "true",
            "maxAge": int(max_age) if max_age.isdigit() else -1}


def cors_from_resources(api_name: str, api_id: str, resources: list[dict[str, Any]],
                        api_owner: str | None) -> dict[str, Any] | None:
    """The cors Policy of a REST API we laid out, read from its base resource's OPTIONS method."""
    base, _ = find_layout(resources)
    method = ((base or {}).get("resourceMethods") or {}).get("OPTIONS")
    marker = parse_cors_marker((method or {}).get("operationName"))
    if method is None or marker is None:
        return None
    config = cors_from_method(method) or {}
    owner = marker[1] if api_owner == marker[1] else None
    return make_record("Policy", marker[0], {"api": api_name, "type": "cors", "config": config},
                       id=f"cors:{api_id}:{marker[0]}", owner=owner)


def find_layout(resources: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(base resource, `{proxy+}` resource) of an API we laid out; (None, None) if there is none."""
    by_id = {r.get("id"): r for r in resources}
    for res in resources:
        if res.get("pathPart") == PROXY_PART:
            return by_id.get(res.get("parentId")), res
    return None, None


def api_from_gateway(rest_api: dict[str, Any], resources: list[dict[str, Any]] | None) -> dict[str, Any]:
    """Canonical API record of a REST API (with its resources; None when not read)."""
    tags = rest_api.get("tags") or {}
    owner = owner_of(tags)
    spec: dict[str, Any] = {}
    if owner is not None:
        spec = {"tenant": tags.get(TAG_TENANT, ""), "version": tags.get(TAG_VERSION, ""),
                "displayName": tags.get(TAG_DISPLAY) or None,
                "description": rest_api.get("description") or None,
                "openapiHash": tags.get(TAG_OPENAPI) or None}
    if resources is not None:
        base, proxy = find_layout(resources)
        if base is not None and proxy is not None:
            base_path = str(base.get("path") or "/")
            methods = sorted(m for m, v in (proxy.get("resourceMethods") or {}).items() if not is_preflight(m, v))
            uri = str(((base.get("resourceMethods") or {}).get(methods[0] if methods else "", {})
                       .get("methodIntegration") or {}).get("uri") or "")
            if not uri:
                proxy_uri = str(((proxy.get("resourceMethods") or {}).get(methods[0] if methods else "", {})
                                 .get("methodIntegration") or {}).get("uri") or "")
                uri = proxy_uri.removesuffix("/{proxy}")
            spec.update({"basePath": base_path, "backend": uri, "methods": methods})
    return make_record("API", str(rest_api.get("name", "")), spec, id=rest_api.get("id"), owner=owner)


# ---------------------------------------------------------------------------------------------- usage plans
def usage_plan_payload(api_name: str, api_id: str, stage: str, owner: str) -> dict[str, Any]:
    tags = ownership_tags(owner)
    tags[TAG_API] = api_name
    return {"name": api_name, "description": "", "apiStages": [{"apiId": api_id, "stage": stage}], "tags": tags}


def throttle_for(requests: int, period: str) -> dict[str, int]:
    rate = max(1, math.ceil(requests / PERIOD_SECONDS[period]))
    return {"rateLimit": rate, "burstLimit": max(rate, min(requests, 5000))}


def quota_for(requests: int, period: str) -> dict[str, Any] | None:
    return {"limit": requests, "period": "DAY", "offset": 0} if period == "day" else None


def policy_marker(name: str, owner: str, requests: int, period: str) -> str:
    return f"stoa-policy {name} owner={owner} rate={requests}/{period}"


def parse_marker(description: str | None) -> dict[str, Any] | None:
    match = _MARKER.match(description or "")
    if match is None:
        return None
    return {"name": match["name"], "owner": match["owner"], "requests": int(match["requests"]),
            "period": match["period"]}


def _num(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def policy_from_plan(plan: dict[str, Any]) -> dict[str, Any] | None:
    """The rate_limit Policy a usage plan carries, or None when it carries none."""
    marker = parse_marker(plan.get("description"))
    tags = plan.get("tags") or {}
    if marker is None or not tags.get(TAG_API):
        return None
    requests, period = marker["requests"], marker["period"]
    throttle = plan.get("throttle") or {}
    quota = plan.get("quota") or {}
    want_throttle, want_quota = throttle_for(requests, period), quota_for(requests, period)
    live_rate, live_burst = _num(throttle.get("rateLimit")), _num(throttle.get("burstLimit"))
    live_limit = _num(quota.get("limit"))
    consistent = (
        live_rate == want_throttle["rateLimit"] and live_burst == want_throttle["burstLimit"]
        and ((want_quota is None and not quota)
             or (want_quota is not None and live_limit == want_quota["limit"] and quota.get("period") == "DAY"))
    )
    if not consistent:  # the numbers were changed out of band: report what they now mean
        if period == "day" and live_limit is not None:
            requests = int(live_limit)
        elif live_rate is not None:
            requests = int(round(live_rate * PERIOD_SECONDS[period]))
        else:
            requests = 0
    owner = marker["owner"] if owner_of(tags) == marker["owner"] else None
    spec = {"api": tags[TAG_API], "type": "rate_limit", "config": {"requests": requests, "period": period}}
    return make_record("Policy", marker["name"], spec, id=plan.get("id"), owner=owner)


def policy_patch(name: str, owner: str, config: dict[str, Any], live: dict[str, Any]) -> list[dict[str, Any]]:
    """Patch operations that put a rate_limit policy on the API's usage plan."""
    requests, period = int(config["requests"]), str(config["period"])
    throttle, quota = throttle_for(requests, period), quota_for(requests, period)
    ops: list[dict[str, Any]] = [
        {"op": "replace", "path": "/throttle/rateLimit", "value": str(throttle["rateLimit"])},
        {"op": "replace", "path": "/throttle/burstLimit", "value": str(throttle["burstLimit"])},
    ]
    if quota is not None:
        ops += [{"op": "replace", "path": "/quota/limit", "value": str(quota["limit"])},
                {"op": "replace", "path": "/quota/period", "value": "DAY"}]
    elif live.get("quota"):
        ops.append({"op": "remove", "path": "/quota"})
    ops.append({"op": "replace", "path": "/description", "value": policy_marker(name, owner, requests, period)})
    return ops


def policy_clear_patch(live: dict[str, Any]) -> list[dict[str, Any]]:
    ops: list[dict[str, Any]] = []
    if live.get("throttle"):
        ops.append({"op": "remove", "path": "/throttle"})
    if live.get("quota"):
        ops.append({"op": "remove", "path": "/quota"})
    ops.append({"op": "replace", "path": "/description", "value": ""})
    return ops


# ---------------------------------------------------------------------------------------------- consumers
def api_key_payload(name: str, spec: dict[str, Any], value: str, fingerprint: str, owner: str) -> dict[str, Any]:
    tags = ownership_tags(owner)
    tags[TAG_FINGERPRINT] = fingerprint
    if spec.get("email"):
        tags[TAG_EMAIL] = str(spec["email"])
    body: dict[str, Any] = {"name": name, "enabled": True, "value": value, "tags": tags}
    if spec.get("displayName"):
        body["description"] = spec["displayName"]
    return body


def consumer_from_key(key: dict[str, Any], subscriptions: list[str]) -> dict[str, Any]:
    tags = key.get("tags") or {}
    owner = owner_of(tags)
    spec: dict[str, Any] = {"subscriptions": sorted(subscriptions)}
    if owner is not None:
        spec.update({"displayName": key.get("description") or None, "email": tags.get(TAG_EMAIL) or None,
                     "credential": api_key_credential(tags.get(TAG_FINGERPRINT))})
    return make_record("Consumer", str(key.get("name", "")), spec, id=key.get("id"), owner=owner)


def desired_api_view(spec: dict[str, Any]) -> dict[str, Any]:
    """Drop the OpenAPI document itself (only its hash is stored, in a tag)."""
    view = {k: v for k, v in spec.items() if k != "openapi"}
    if "methods" in view:
        view["methods"] = sorted(str(m).upper() for m in view["methods"] or [])
    return view


# ---------------------------------------------------------------------------------------------- hand-made objects
IMPORT_NOTES = "importNotes"
"""Spec key of an unowned record: what the object holds that the manifest model cannot express (the
import report lists it; no desired spec declares it, so the diff never sees it)."""
ALL_VERBS = ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"]


def is_preflight(verb: str, method: dict[str, Any]) -> bool:
    """An OPTIONS method answered by a MOCK integration: a CORS preflight (ours or the console's "Enable CORS")."""
    return verb == "OPTIONS" and str((method.get("methodIntegration") or {}).get("type")) == "MOCK"


def manifest_name(value: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")[:63].rstrip("-")


def foreign_api_record(rest_api: dict[str, Any], resources: list[dict[str, Any]], *,
                       api_key_required: bool) -> dict[str, Any]:
    """An unowned REST API as the manifest would declare it: the `<basePath>` + `<basePath>/{proxy+}`
    layout's path, backend and verbs and its description (no tenant, version or OpenAPI hash: AWS has no
    place for them); what adoption would change, or what the model cannot hold, as notes."""
    name, api_id = str(rest_api.get("name", "")), rest_api.get("id")
    base, proxy = find_layout(resources)
    if base is None or proxy is None:
        why = "no `<basePath>/{proxy+}` resource: the manifest model describes one base path proxied to one backend"
        return make_record("API", name, {IMPORT_NOTES: [why]}, id=api_id, owner=None)
    notes: list[str] = []
    verbs = {res_id: {v: m for v, m in (res.get("resourceMethods") or {}).items() if not is_preflight(v, m)}
             for res_id, res in (("base", base), ("proxy", proxy))}
    if set(verbs["base"]) != set(verbs["proxy"]):
        notes.append(f"{base.get('path')} and its {{proxy+}} accept different verbs: the {{proxy+}} ones are written")
    methods = sorted(verbs["proxy"])
    if "ANY" in methods:
        notes.append("ANY method: written as all seven methods (adoption puts one method per verb)")
        methods = sorted(set(ALL_VERBS) | (set(methods) - {"ANY"}))
    uri = ""
    for where, table in verbs.items():
        for verb, method in sorted(table.items()):
            integration = method.get("methodIntegration") or {}
            if integration.get("type") != "HTTP_PROXY":
                notes.append(f"{where} {verb}: {integration.get('type')} integration has no manifest form "
                             "(adoption makes it HTTP_PROXY to the backend)")
            elif where == "base" and not uri:
                uri = str(integration.get("uri") or "")
            if bool(method.get("apiKeyRequired", False)) != api_key_required:
                notes.append(f"{where} {verb}: apiKeyRequired becomes {str(api_key_required).lower()} on adoption "
                             "(options.apiKeyRequired)")
            if str(method.get("authorizationType") or "NONE") != "NONE":
                notes.append(f"{where} {verb}: authorization {method.get('authorizationType')} is not expressed")
    if not uri:
        first: dict[str, Any] = next(iter(sorted(verbs["proxy"].items())), ("", {}))[1]
        uri = str((first.get("methodIntegration") or {}).get("uri") or "").removesuffix("/{proxy}")
    base_path = str(base.get("path") or "/")
    layout = {base_path, str(proxy.get("path"))} | {join_path(path_parts(base_path)[:i])
                                                    for i in range(len(path_parts(base_path)))}
    notes += [f"resource {r.get('path')} is not expressed (adoption keeps it)" for r in resources
              if str(r.get("path")) not in layout]
    if manifest_url(uri) != uri:
        notes.append(f"backend {uri!r} is written as {manifest_url(uri)!r} (the manifest's spelling of the same "
                     "address): adoption sets the integration URI to it and deploys the stage once")
    spec = {"basePath": base_path, "backend": manifest_url(uri), "methods": methods,
            "description": rest_api.get("description") or None, "displayName": None, "openapiHash": None,
            IMPORT_NOTES: notes}
    return make_record("API", name, spec, id=api_id, owner=None)


def foreign_cors_record(api_name: str, api_id: str, resources: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The console's "Enable CORS" preflight (OPTIONS, MOCK, static Access-Control-* headers) of an unowned
    REST API's base resource, as a cors Policy `<api>-cors`; None when there is none."""
    base, _ = find_layout(resources)
    method = ((base or {}).get("resourceMethods") or {}).get("OPTIONS")
    if method is None or not is_preflight("OPTIONS", method) or parse_cors_marker(method.get("operationName")):
        return None
    response = ((method.get("methodIntegration") or {}).get("integrationResponses") or {}).get("200") or {}
    params = {k[len(_HEADER):]: str(v).strip("'") for k, v in (response.get("responseParameters") or {}).items()
              if k.startswith(_HEADER)}

    def split(header: str) -> list[str]:
        return sorted({v.strip() for v in params.get(header, "").split(",") if v.strip()})
    name = manifest_name(f"{api_name}-cors")
    record_id = f"cors:{api_id}:{name}"
    if not params.get("Access-Control-Allow-Origin"):
        return make_record("Policy", name, {IMPORT_NOTES: ["OPTIONS preflight without Access-Control-Allow-Origin: "
                                                           "not a CORS policy the manifest can express"]},
                           id=record_id, owner=None)
    max_age = params.get("Access-Control-Max-Age", "")
    config = {"origins": split("Access-Control-Allow-Origin"),
              "methods": [m for m in split("Access-Control-Allow-Methods") if m != "OPTIONS"],
              "headers": split("Access-Control-Allow-Headers"), "exposeHeaders": split("Access-Control-Expose-Headers"),
              "credentials": params.get("Access-Control-Allow-Credentials") == "true",
              "maxAge": int(max_age) if max_age.isdigit() else 3600}
    notes = ["the preflight's static Access-Control-Allow-Origin becomes a template echoing an allowed Origin"]
    if not max_age.isdigit():
        notes.append("no Access-Control-Max-Age: written as 3600 (adoption sends it)")
    if "OPTIONS" in params.get("Access-Control-Allow-Methods", ""):
        notes.append("OPTIONS in Access-Control-Allow-Methods is implied (not written)")
    return make_record("Policy", name, {"api": api_name, "type": "cors", "config": config, IMPORT_NOTES: notes},
                       id=record_id, owner=None)


def adoptable_plan_api(plan: dict[str, Any], api_names: dict[str, str], stage: str) -> str | None:
    """The API an unowned usage plan serves when it is laid out as ours would be: bound to that one API's stage."""
    stages = list(plan.get("apiStages") or [])
    if owner_of(plan.get("tags")) is not None or len(stages) != 1 or stages[0].get("stage") != stage:
        return None
    return api_names.get(str(stages[0].get("apiId")))


def policy_from_foreign_plan(plan: dict[str, Any], api: str | None) -> dict[str, Any] | None:
    """The rate_limit Policy an unowned usage plan's throttle (and quota) is, named after the plan; None when
    it limits nothing. Numbers that no `requests/period` maps to exactly come with the reason as the only note."""
    throttle, quota = plan.get("throttle") or {}, plan.get("quota") or {}
    if not throttle and not quota:
        return None
    name = manifest_name(str(plan.get("name") or plan.get("id")))
    live = {"rateLimit": _num(throttle.get("rateLimit")), "burstLimit": _num(throttle.get("burstLimit"))}
    limits = (f"throttle {live['rateLimit']}/s burst {live['burstLimit']}"
              + (f", quota {quota.get('limit')} per {quota.get('period')}" if quota else ""))
    if api is None:
        why = (f"usage plan {plan.get('name')!r} ({limits}) serves {len(plan.get('apiStages') or [])} API stage(s); "
               "only a plan bound to one API's stage is a Policy")
        return make_record("Policy", name, {IMPORT_NOTES: [why]}, id=plan.get("id"), owner=None)
    found = None
    burst = live["burstLimit"]
    for period in ("second", "minute", "hour", "day"):  # the mapping that gives these numbers back exactly
        requests = int(_num(quota.get("limit")) or 0) if period == "day" else int(burst or 0)
        quota_ok = (not quota) if period != "day" else (
            quota.get("period") == "DAY" and int(_num(quota.get("offset")) or 0) == 0)
        if requests > 0 and quota_ok and {k: float(v) for k, v in throttle_for(requests, period).items()} == live:
            found = (requests, period)
            break
    if found is None:
        why = f"usage plan {plan.get('name')!r} ({limits}): no requests/period maps to these numbers exactly"
        return make_record("Policy", name, {IMPORT_NOTES: [why]}, id=plan.get("id"), owner=None)
    spec = {"api": api, "type": "rate_limit", "config": {"requests": found[0], "period": found[1]}, IMPORT_NOTES: []}
    return make_record("Policy", name, spec, id=f"{plan.get('id')}:{name}", owner=None)


def foreign_consumer(key: dict[str, Any], fingerprint: str, subscriptions: list[str], others: list[str]) -> dict[str, Any]:
    """An unowned API key as a consumer: its description as display name, the fingerprint of its value, the
    APIs of the adoptable plans it is in; other plans and a disabled key as notes."""
    notes = [f"in usage plan {p!r}, which is no API's plan: not expressed (adoption keeps it)" for p in others]
    if not key.get("enabled", True):
        notes.append("the key is disabled; adoption does not enable it, a create would")
    foreign_tags = sorted(k for k in (key.get("tags") or {}))
    if foreign_tags:
        notes.append(f"tags {', '.join(foreign_tags)}: not expressed (adoption keeps them)")
    spec: dict[str, Any] = {"subscriptions": sorted(subscriptions), "displayName": key.get("description") or None,
                            "email": None, "credential": api_key_credential(fingerprint), IMPORT_NOTES: notes}
    return make_record("Consumer", str(key.get("name", "")), spec, id=key.get("id"), owner=None)
