"""Pure translation between canonical records and Gravitee APIM 4 JSON (no I/O).

Mapping (see the adapter docstring for the why):
- API -> a V4 PROXY API: one HTTP listener path (basePath), one `http-proxy` endpoint group with one
  endpoint (backend); methods outside `spec.methods` are answered 405 by an API flow
  `stoa-method-filter` (a `mock` step selected on those methods). Ownership and identity live in
  `labels`: `managed-by:stoa-reconciler`, `stoa-owner:<owner>`, `stoa-name:<name>`,
  `stoa-tenant:<tenant>`, `stoa-openapi:<hash>`; foreign labels are kept. Until the PUT that writes
  them, a disabled flow `stoa-create:{"name":…,"owner":…}` sent with the create says whose it is.
- Policy -> rate limits are a flow `stoa-policy:<name>` in each managed plan of its API (`stoa-keyless`
  KEY_LESS and `stoa-api-key` API_KEY): `rate-limit` (second/minute) or `quota` (hour/day). CORS is
  not a policy plugin in Gravitee 4.12 (the distribution bundles none; a `cors` step is 404
  `plugin.notFound`): it is the HTTP listener's `cors` field (HttpListener.cors), named by the API
  label `stoa-cors:<policy name>`. One CORS policy per API.
- Consumer -> a v1 application whose description carries a marker `[stoa:{json}]` (v1 applications
  have no labels): owner, manifest name, email and the API key's fingerprint. Its API-key
  subscriptions (to each subscribed API's `stoa-api-key` plan) are read back by the adapter.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from reconciler.adapters import ownership as own
from reconciler.model.records import api_key_credential, make_record, secret_fingerprint

MANAGED_LABEL = own.MANAGED_TAG
OWNER_PREFIX = own.OWNER_TAG_PREFIX
NAME_PREFIX = own.string_tag(own.key("name"))
TENANT_PREFIX = own.string_tag(own.key("tenant"))
OPENAPI_PREFIX = own.string_tag(own.key("openapi"))
OUR_LABEL_PREFIXES = (OWNER_PREFIX, NAME_PREFIX, TENANT_PREFIX, OPENAPI_PREFIX)
CORS_PREFIX = own.string_tag(own.key("cors"))
"""Label naming the CORS policy held by the API's listener (kept apart from the API's own labels)."""

METHOD_FILTER_FLOW = "stoa-method-filter"
CREATE_FLOW_PREFIX = "stoa-create:"
"""An inert API flow (disabled, no step) a create carries: CreateApiV4 has no labels, so this is what
proves an API ours between `POST /apis` and the PUT that labels it (which drops every `stoa-` flow)."""
POLICY_FLOW_PREFIX = "stoa-policy:"
ALL_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")

KEYLESS_PLAN = "stoa-keyless"
API_KEY_PLAN = "stoa-api-key"
PLAN_SECURITY = {KEYLESS_PLAN: "KEY_LESS", API_KEY_PLAN: "API_KEY"}
PLAN_DESCRIPTION = "Managed by stoa-reconciler"

#: Keys of an API that `PUT /apis/{id}` (UpdateApiV4) accepts; everything else is server-filled.
UPDATE_KEYS = (
    "name", "apiVersion", "description", "definitionVersion", "groups", "tags", "resources",
    "responseTemplates", "visibility", "categories", "labels", "lifecycleState",
    "disableMembershipNotifications", "type", "listeners", "endpointGroups", "analytics", "failover",
    "flowExecution", "flows", "services", "allowedInApiProducts", "allowMultiJwtOauth2Subscriptions",
)

_RATE_UNITS = {"second": ("rate-limit", "SECONDS"), "minute": ("rate-limit", "MINUTES"),
               "hour": ("quota", "HOURS"), "day": ("quota", "DAYS")}
_UNIT_PERIODS = {unit: period for period, (_, unit) in _RATE_UNITS.items()}
_MARKER = re.compile(r"\[stoa:(\{.*\})\]\s*$", re.DOTALL)


# ---------------------------------------------------------------------------- labels
def owner_labels(name: str, owner: str, spec: dict[str, Any]) -> list[str]:
    labels = [MANAGED_LABEL, OWNER_PREFIX + owner, NAME_PREFIX + name, TENANT_PREFIX + str(spec.get("tenant", ""))]
    if spec.get("openapiHash"):
        labels.append(OPENAPI_PREFIX + str(spec["openapiHash"]))
    return labels


def label_value(labels: list[str], prefix: str) -> str | None:
    for label in labels:
        if isinstance(label, str) and label.startswith(prefix):
            return label[len(prefix):]
    return None


def create_marker_flow(name: str, owner: str) -> dict[str, Any]:
    """The create's ownership marker: a disabled flow without steps (no effect on traffic)."""
    marker = json.dumps({"name": name, "owner": owner}, sort_keys=True, separators=(",", ":"))
    return {"name": CREATE_FLOW_PREFIX + marker, "enabled": False,
            "selectors": [{"type": "HTTP", "path": "/", "pathOperator": "STARTS_WITH"}], "request": [], "response": []}


def create_marker(api: dict[str, Any]) -> dict[str, str] | None:
    """{owner, name} of a half-made API (created by us, not yet labelled); None for any other API."""
    for flow in api.get("flows") or []:
        text = str(flow.get("name") or "") if isinstance(flow, dict) else ""
        if not text.startswith(CREATE_FLOW_PREFIX) or flow.get("enabled") is not False or flow.get("request"):
            continue
        try:
            value = json.loads(text[len(CREATE_FLOW_PREFIX):])
        except ValueError:
            continue
        if isinstance(value, dict) and isinstance(value.get("owner"), str) and isinstance(value.get("name"), str):
            return {"owner": value["owner"], "name": value["name"]}
    return None


def is_half_made(api: dict[str, Any]) -> bool:
    """Created by a run that stopped before labelling it (a kill, a lost answer): ours, to be completed."""
    return MANAGED_LABEL not in (api.get("labels") or []) and create_marker(api) is not None


def is_managed(api: dict[str, Any]) -> bool:
    return MANAGED_LABEL in (api.get("labels") or []) or is_half_made(api)


def api_owner(api: dict[str, Any]) -> str | None:
    labels = api.get("labels") or []
    if MANAGED_LABEL in labels:
        return label_value(labels, OWNER_PREFIX)
    marker = create_marker(api)
    return marker["owner"] if marker else None


def api_name(api: dict[str, Any]) -> str:
    """The manifest name of a managed (or half-made) API; for any other API the one `reconciler import`
    gives it: its Gravitee name (free text in the console, "Pets API") as a DNS-1123 label ("pets-api")."""
    labels = api.get("labels") or []
    marker = create_marker(api)
    managed = label_value(labels, NAME_PREFIX) if MANAGED_LABEL in labels else (marker or {}).get("name")
    return managed or manifest_name(str(api.get("name", ""))) or str(api.get("name", ""))


def manifest_name(text: str) -> str | None:
    """A console name as a manifest name (DNS-1123 label): lowercase, runs of other characters -> '-'.
    None when nothing is left ("!!!")."""
    value = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:63].strip("-")
    return value or None


# ---------------------------------------------------------------------------- APIs
def method_filter_flow(methods: list[str]) -> dict[str, Any] | None:
    """A flow answering 405 to the methods the API does not expose (None when all are exposed)."""
    blocked = sorted(set(ALL_METHODS) - {m.upper() for m in methods})
    if not blocked:
        return None
    return {
        "name": METHOD_FILTER_FLOW, "enabled": True,
        "selectors": [{"type": "HTTP", "path": "/", "pathOperator": "STARTS_WITH", "methods": blocked}],
        "request": [{"name": "Method not allowed", "enabled": True, "policy": "mock",
                     "configuration": {"status": "405", "headers": [], "content": ""}}],
        "response": [],
    }


def api_create_body(record: dict[str, Any]) -> dict[str, Any]:
    """CreateApiV4 (it has no `labels`: the adapter sets them right after with a PUT)."""
    spec = record["spec"]
    flow = method_filter_flow(list(spec.get("methods") or ALL_METHODS))
    body: dict[str, Any] = {
        "name": spec.get("displayName") or record["name"],
        "apiVersion": str(spec["version"]),
        "definitionVersion": "V4",
        "type": "PROXY",
        "description": spec.get("description") or "",
        "listeners": [{"type": "HTTP", "paths": [{"path": spec["basePath"]}],
                       "entrypoints": [{"type": "http-proxy", "configuration": {}}]}],
        "endpointGroups": [{
            "name": "default-group", "type": "http-proxy",
            "endpoints": [{"name": "default", "type": "http-proxy", "weight": 1, "inheritConfiguration": False,
                           "configuration": {"target": str(spec["backend"])}}],
        }],
        "flows": [flow] if flow else [],
    }
    return body


def api_update_body(record: dict[str, Any], owner: str, existing: dict[str, Any] | None) -> dict[str, Any]:
    """UpdateApiV4: the live API's updatable fields, with ours overwritten (foreign labels/flows kept)."""
    base = {k: v for k, v in (existing or {}).items() if k in UPDATE_KEYS and v is not None}
    ours = api_create_body(record)
    labels = [lb for lb in base.get("labels") or [] if lb != MANAGED_LABEL and not lb.startswith(OUR_LABEL_PREFIXES)]
    flows = [f for f in base.get("flows") or [] if not str(f.get("name", "")).startswith("stoa-")]
    base.update(ours)
    base["labels"] = labels + owner_labels(record["name"], owner, record["spec"])
    base["flows"] = flows + ours["flows"]
    base["definitionVersion"] = "V4"
    return base


def url_form(url: str) -> str:
    """A backend URL as a manifest's (pydantic's AnyHttpUrl) reads: `https://host` is `https://host/`.
    Our writes use that form already; a target typed in the console may not."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/")) if parts.scheme in ("http", "https") and not parts.path else url


def _strip_path(path: str) -> str:
    return path.rstrip("/") or "/"


def api_spec_from_gateway(api: dict[str, Any]) -> dict[str, Any]:
    labels = api.get("labels") or []
    base_path = ""
    for listener in api.get("listeners") or []:
        if listener.get("type") == "HTTP" and listener.get("paths"):
            base_path = _strip_path(str(listener["paths"][0].get("path", "/")))
            break
    backend = ""
    for group in api.get("endpointGroups") or []:
        for endpoint in group.get("endpoints") or []:
            target = (endpoint.get("configuration") or {}).get("target")
            if target:
                backend = url_form(str(target))
                break
        if backend:
            break
    blocked: set[str] = set()
    for flow in api.get("flows") or []:
        if flow.get("name") == METHOD_FILTER_FLOW:
            for selector in flow.get("selectors") or []:
                blocked |= {str(m).upper() for m in selector.get("methods") or []}
    tenant = label_value(labels, TENANT_PREFIX)
    spec: dict[str, Any] = {
        "tenant": tenant if tenant is not None or is_managed(api) else IMPORT_TENANT,
        "version": str(api.get("apiVersion", "")),
        "basePath": base_path,
        "backend": backend,
        "methods": sorted(set(ALL_METHODS) - blocked),
        "displayName": str(api.get("name", "")),
        "description": str(api.get("description") or ""),
        "openapiHash": label_value(labels, OPENAPI_PREFIX),
        "gatewayState": gateway_state(api),
    }
    return spec


def gateway_state(api: dict[str, Any]) -> str:
    """`STARTED/DEPLOYED` when the API serves its last definition; anything else is drift to fix."""
    return f"{api.get('state', 'UNKNOWN')}/{api.get('deploymentState', 'UNKNOWN')}"


def api_from_gateway(api: dict[str, Any]) -> dict[str, Any]:
    spec = api_spec_from_gateway(api)
    if not is_managed(api):
        spec.update(unmanaged_api_notes(api))
    return make_record("API", api_name(api), spec, id=str(api.get("id")), owner=api_owner(api))


def api_content_equal(desired: dict[str, Any], live: dict[str, Any], owner: str) -> bool:
    """True when the live API already matches the desired record (content and our labels)."""
    want = desired_api_view(desired["spec"])
    have = api_spec_from_gateway(live)
    have_labels = set(live.get("labels") or [])
    ours = {lb for lb in have_labels if lb == MANAGED_LABEL or lb.startswith(OUR_LABEL_PREFIXES)}
    if ours != set(owner_labels(desired["name"], owner, desired["spec"])):
        return False
    want.pop("gatewayState", None)
    return all(have.get(k) == v for k, v in want.items())


def desired_api_view(spec: dict[str, Any]) -> dict[str, Any]:
    """What Gravitee stores of a desired API: no OpenAPI document (only its hash), name fallback."""
    view = {k: v for k, v in spec.items() if k != "openapi" and not (k in ("displayName", "description") and v is None)}
    view["methods"] = sorted({str(m).upper() for m in spec.get("methods") or ALL_METHODS})
    if isinstance(view.get("basePath"), str):
        # Gravitee sanitizes listener paths (a trailing slash is added) and the read-back strips it:
        # compare the same form, or `/pets/` would be an update on every plan.
        view["basePath"] = _strip_path(view["basePath"])
    view["gatewayState"] = "STARTED/DEPLOYED"
    return view


# ---------------------------------------------------------------------------- policies (plan flows)
def policy_step(spec: dict[str, Any]) -> dict[str, Any]:
    config = spec["config"]
    if spec["type"] == "rate_limit":
        policy, unit = _RATE_UNITS[str(config.get("period", "minute"))]
        key = "rate" if policy == "rate-limit" else "quota"
        return {"name": "Rate limiting" if key == "rate" else "Quota", "enabled": True, "policy": policy,
                "configuration": {key: {"limit": int(config["requests"]), "periodTime": 1, "periodTimeUnit": unit}}}
    raise ValueError(f"unsupported policy type {spec['type']!r}")


def policy_flow(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"name": POLICY_FLOW_PREFIX + name, "enabled": True,
            "selectors": [{"type": "HTTP", "path": "/", "pathOperator": "STARTS_WITH"}],
            "request": [policy_step(spec)], "response": []}


def policy_from_flow(flow: dict[str, Any], api: str) -> tuple[str, dict[str, Any]] | None:
    """(policy name, canonical spec) of one of our plan flows; None for any other flow."""
    name = str(flow.get("name", ""))
    if not name.startswith(POLICY_FLOW_PREFIX) or not flow.get("request"):
        return None
    step = flow["request"][0]
    cfg = step.get("configuration") or {}
    policy = step.get("policy")
    if policy in ("rate-limit", "quota"):
        inner = cfg.get("rate" if policy == "rate-limit" else "quota") or {}
        period = _UNIT_PERIODS.get(str(inner.get("periodTimeUnit")), str(inner.get("periodTimeUnit")).lower())
        if int(inner.get("periodTime", 1)) != 1:
            period = f"{inner.get('periodTime')} {period}"
        config: dict[str, Any] = {"requests": inner.get("limit"), "period": period}
        ptype = "rate_limit"
    else:
        config = {"policy": policy, "configuration": cfg}
        ptype = str(policy)
    if step.get("enabled") is False or flow.get("enabled") is False:
        config = {**config, "enabled": False}
    return name[len(POLICY_FLOW_PREFIX):], {"api": api, "type": ptype, "config": config}


def plan_policies(plan: dict[str, Any], api: str) -> dict[str, dict[str, Any]]:
    """Our policy flows of a plan. A `cors` step (written before CORS moved to the listener) is not a
    policy any more: the plan then has an extra flow, so it is rewritten without it."""
    out: dict[str, dict[str, Any]] = {}
    for flow in plan.get("flows") or []:
        parsed = policy_from_flow(flow, api)
        if parsed is not None and parsed[1]["type"] != "cors":
            out[parsed[0]] = parsed[1]
    return out


def plan_flows(policies: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [policy_flow(name, policies[name]) for name in sorted(policies)]


def is_policy_flow(flow: dict[str, Any]) -> bool:
    return str(flow.get("name", "")).startswith(POLICY_FLOW_PREFIX)


def plan_in_sync(plan: dict[str, Any], policies: dict[str, dict[str, Any]], api: str,
                 keep: list[dict[str, Any]] | None = None) -> bool:
    """True when the plan's flows are exactly our policy flows (nothing missing, changed or extra) and
    the flows that are not ours are `keep` (default: all of them, as they are)."""
    flows = plan.get("flows") or []
    ours = [f for f in flows if is_policy_flow(f)]
    foreign = [f for f in flows if not is_policy_flow(f)]
    return (len(ours) == len(policies) and plan_policies(plan, api) == policies
            and (keep is None or foreign == keep))


def plan_create_body(plan_name: str, policies: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {"definitionVersion": "V4", "name": plan_name, "description": PLAN_DESCRIPTION,
            "security": {"type": PLAN_SECURITY[plan_name], "configuration": {}}, "mode": "STANDARD",
            "validation": "AUTO", "characteristics": [], "flows": plan_flows(policies)}


#: UpdatePlanV4 fields a plan keeps as they are (an adopted plan made in the console keeps its own).
PLAN_KEPT_KEYS = ("tags", "excludedGroups", "commentRequired", "commentMessage", "generalConditions", "selectionRule")


def plan_update_body(plan: dict[str, Any], policies: dict[str, dict[str, Any]],
                     keep: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """UpdatePlanV4: our policy flows first, then `keep` (flows that are not ours: kept as they are)."""
    body = {"definitionVersion": "V4", "name": plan["name"], "description": plan.get("description") or PLAN_DESCRIPTION,
            "security": {"configuration": (plan.get("security") or {}).get("configuration") or {}},
            "validation": "AUTO", "characteristics": plan.get("characteristics") or [],
            "flows": plan_flows(policies) + list(keep or [])}
    body.update({k: plan[k] for k in PLAN_KEPT_KEYS if plan.get(k) is not None})
    return body


# ---------------------------------------------------------------------------- CORS (the HTTP listener's)
def cors_from_policy(spec: dict[str, Any]) -> dict[str, Any]:
    """A CORS policy as Gravitee's `Cors` of an HTTP listener (definition model Cors.java)."""
    config = spec["config"]
    return {"enabled": True, "allowOrigin": sorted(config.get("origins") or []),
            "allowMethods": sorted(config.get("methods") or []), "allowHeaders": sorted(config.get("headers") or []),
            "exposeHeaders": sorted(config.get("exposeHeaders") or []),
            "allowCredentials": bool(config.get("credentials", False)), "maxAge": int(config.get("maxAge", 3600))}


def norm_cors(cors: Any) -> dict[str, Any] | None:
    """A listener's `cors` in a comparable form: Gravitee keeps its lists as sets (no order) and fills
    defaults (`enabled` false, `maxAge` -1, `allowCredentials` false)."""
    if not isinstance(cors, dict):
        return None
    return {"enabled": bool(cors.get("enabled", False)),
            **{k: sorted(str(v) for v in cors.get(k) or []) for k in
               ("allowOrigin", "allowMethods", "allowHeaders", "exposeHeaders")},
            "allowCredentials": bool(cors.get("allowCredentials", False)), "maxAge": int(cors.get("maxAge", -1))}


def http_listener(api: dict[str, Any]) -> dict[str, Any] | None:
    for listener in api.get("listeners") or []:
        if listener.get("type") == "HTTP":
            return dict(listener)
    return None


def api_cors(api: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
    """(our CORS policy's name or None, the HTTP listener's `cors` or None) of a live API."""
    listener = http_listener(api) or {}
    return label_value(api.get("labels") or [], CORS_PREFIX), norm_cors(listener.get("cors"))


def policy_from_cors(cors: dict[str, Any] | None, api: str) -> dict[str, Any]:
    """The canonical CORS policy held by a listener (an empty config when the listener lost it)."""
    if cors is None:
        return {"api": api, "type": "cors", "config": {}}
    config: dict[str, Any] = {"origins": cors["allowOrigin"], "methods": cors["allowMethods"],
                              "headers": cors["allowHeaders"], "exposeHeaders": cors["exposeHeaders"],
                              "credentials": cors["allowCredentials"], "maxAge": cors["maxAge"]}
    if not cors["enabled"]:
        config["enabled"] = False
    return {"api": api, "type": "cors", "config": config}


def with_cors(body: dict[str, Any], name: str | None, cors: dict[str, Any] | None) -> dict[str, Any]:
    """An UpdateApiV4 body whose HTTP listener holds `cors` (none when None) and whose `stoa-cors:`
    label names `name` (none when None)."""
    out = dict(body)
    listeners = []
    for listener in out.get("listeners") or []:
        listener = dict(listener)
        if listener.get("type") == "HTTP":
            listener.pop("cors", None)
            if cors is not None:
                listener["cors"] = cors
        listeners.append(listener)
    out["listeners"] = listeners
    labels = [lb for lb in out.get("labels") or [] if not str(lb).startswith(CORS_PREFIX)]
    out["labels"] = labels + ([CORS_PREFIX + name] if name is not None else [])
    return out


def with_path(body: dict[str, Any], path: str) -> dict[str, Any]:
    """An UpdateApiV4 body whose HTTP listener has this one path."""
    out = dict(body)
    out["listeners"] = [{**lst, "paths": [{"path": path}]} if lst.get("type") == "HTTP" else lst
                        for lst in out.get("listeners") or []]
    return out


def api_keep_body(live: dict[str, Any]) -> dict[str, Any]:
    """UpdateApiV4 from a live API as it is (for a change of its CORS only)."""
    body = {k: v for k, v in live.items() if k in UPDATE_KEYS and v is not None}
    body["definitionVersion"] = "V4"
    return body


def step_policies(api_body: dict[str, Any], plan_bodies: list[dict[str, Any]]) -> set[str]:
    """Policy plugin ids the steps of these API and plan flows use (each must be installed)."""
    out: set[str] = set()
    for body in (api_body, *plan_bodies):
        for flow in body.get("flows") or []:
            for phase in ("request", "response", "publish", "subscribe"):
                out |= {str(step["policy"]) for step in flow.get(phase) or [] if step.get("policy")}
    return out


def policy_id(api_id: str, name: str) -> str:
    return f"{api_id}:{name}"


def split_policy_id(value: str) -> tuple[str, str]:
    api_id, sep, name = value.rpartition(":")
    if not sep or not api_id or not name:
        raise ValueError(f"policy id {value!r} is not '<api id>:<policy name>'")
    return api_id, name


# ---------------------------------------------------------------------------- consumers (v1 applications)
def app_marker(description: str) -> dict[str, Any] | None:
    match = _MARKER.search(description or "")
    if not match:
        return None
    try:
        value = json.loads(match.group(1))
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def app_text(description: str) -> str:
    """An application's description without our marker (what the operator wrote)."""
    return _MARKER.sub("", description or "").strip()


def app_body(record: dict[str, Any], owner: str, fingerprint: str | None, text: str | None = None) -> dict[str, Any]:
    """UpdateApplicationEntity with our marker at the end of the description; `text` is what the live
    description says before it (an adopted application keeps its own), else "Managed by stoa-reconciler"."""
    spec = record["spec"]
    marker: dict[str, Any] = {"owner": owner, "name": record["name"], "fingerprint": fingerprint}
    if spec.get("email") is not None:
        marker["email"] = spec["email"]
    description = f"{text or PLAN_DESCRIPTION} [stoa:{json.dumps(marker, sort_keys=True, separators=(',', ':'))}]"
    return {"name": spec.get("displayName") or record["name"], "description": description,
            "settings": {"app": {"type": "SIMPLE"}}}


def app_from_gateway(app: dict[str, Any], subscriptions: list[str], *, keys: list[str] | None = None,
                     notes: list[str] | None = None) -> dict[str, Any]:
    """A Consumer record. An application without our marker is named as `reconciler import` names it
    (its console name as a DNS-1123 label); `keys` are the values of its live API keys (only their
    fingerprint enters the record: one value on every subscription is the consumer's key)."""
    marker = app_marker(str(app.get("description") or ""))
    spec: dict[str, Any] = {"displayName": str(app.get("name", "")), "subscriptions": sorted(set(subscriptions))}
    if marker is None:
        values = sorted(set(keys or []))
        spec["credential"] = api_key_credential(secret_fingerprint(values[0]) if len(values) == 1 else None)
        spec.update(unmanaged_app_notes(app, len(values), notes or []))
        name = manifest_name(str(app.get("name", ""))) or str(app.get("name", ""))
        return make_record("Consumer", name, spec, id=str(app.get("id")), owner=None)
    if "email" in marker:
        spec["email"] = marker["email"]
    spec["credential"] = api_key_credential(marker.get("fingerprint"))
    return make_record("Consumer", str(marker.get("name") or app.get("name", "")), spec, id=str(app.get("id")),
                       owner=marker.get("owner"))


def app_in_sync(app: dict[str, Any], body: dict[str, Any]) -> bool:
    return (app.get("name") == body["name"] and app.get("description") == body["description"]
            and ((app.get("settings") or {}).get("app") or {}).get("type") == "SIMPLE")


def desired_consumer_view(spec: dict[str, Any]) -> dict[str, Any]:
    view = {k: v for k, v in spec.items() if not (k in ("displayName", "email") and v is None)}
    view["subscriptions"] = sorted(set(spec.get("subscriptions") or []))
    return view


# ---------------------------------------------------------------------------- objects made in the console
# What `reconciler import` needs of an object the reconciler did not write: its records carry
# `importNotes` (what the manifest cannot say, kept on the gateway or changed by an adoption) and
# `notImportable` (why no manifest can declare it). The diff compares declared fields only, so these
# live-only keys never show as changes.
IMPORT_TENANT = "default"
"""Gravitee has no tenant: an API made in the console reads as this one (the label an adoption writes)."""
IMPORT_NOTES = "importNotes"
NOT_IMPORTABLE = "notImportable"
HANDMADE_RATE_POLICIES = ("rate-limit", "quota")


def _listed(what: str, values: list[Any]) -> str:
    return f"{what} {', '.join(sorted(repr(str(v)) for v in values))}"


def unmanaged_api_notes(api: dict[str, Any]) -> dict[str, Any]:
    """Why an API made in the console cannot be declared, or what its manifest leaves out."""
    name = str(api.get("name", ""))
    listeners = api.get("listeners") or []
    http = [lst for lst in listeners if lst.get("type") == "HTTP"]
    groups = api.get("endpointGroups") or []
    endpoints = [e for g in groups for e in g.get("endpoints") or []]
    why: str | None = None
    if manifest_name(name) is None:
        why = f"its name {name!r} has no letter or digit to make a manifest name of"
    elif api.get("type") != "PROXY":
        why = f"a {api.get('type')} API (the manifest declares HTTP proxies)"
    elif len(http) != 1 or len(listeners) != 1:
        why = "it has several listeners (the manifest declares one HTTP path)"
    elif len(http[0].get("paths") or []) != 1 or (http[0]["paths"][0].get("host")):
        why = "its listener has several paths or a virtual host (the manifest declares one base path)"
    elif len(endpoints) != 1 or len(groups) != 1 or endpoints[0].get("type") != "http-proxy":
        why = "it has several endpoints or endpoint groups (the manifest declares one backend)"
    notes = [f"tenant: Gravitee has none; written as {IMPORT_TENANT!r} (an adoption stores it as a label)"]
    kept = [_listed(key, api[key]) for key in ("labels", "tags", "categories", "groups") if api.get(key)]
    flows = [str(f.get("name") or "(unnamed)") for f in api.get("flows") or [] if f.get("name") != METHOD_FILTER_FLOW]
    if flows:
        kept.append(_listed("API flows", flows))
    if kept:
        notes.append("kept on the gateway, not in the manifest: " + "; ".join(kept))
    extra = sorted({k for e in endpoints for k in (e.get("configuration") or {}) if k != "target"}
                   | {k for g in groups if g.get("sharedConfiguration") for k in ("sharedConfiguration",)}
                   | {k for e in endpoints if e.get("sharedConfigurationOverride") for k in ("sharedConfigurationOverride",)})
    if extra:
        notes.append(f"endpoint settings other than its target ({', '.join(extra)}) are not in the manifest: "
                     "`apply --adopt` writes the endpoint with Gravitee's defaults")
    out: dict[str, Any] = {IMPORT_NOTES: notes}
    if why is not None:
        out[NOT_IMPORTABLE] = why
    return out


def role_plans(plans: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Our two plans by role (`stoa-keyless`, `stoa-api-key`): a plan of that name, else (an API made in
    the console, or one whose plan was replaced there) its first PUBLISHED plan of that security type —
    adoption takes that plan over (its name, id and subscriptions stay) instead of adding a second one,
    which Gravitee would refuse for a keyless plan (`plan.keyless.exists`)."""
    out: dict[str, dict[str, Any]] = {}
    # Of two open plans of one name (two runs at once), the PUBLISHED one: the other is closed.
    for plan in sorted(plans, key=lambda p: (p.get("status") != "PUBLISHED", int(p.get("order") or 0))):
        name = str(plan.get("name", ""))
        if name in PLAN_SECURITY and plan.get("status") != "CLOSED" and name not in out:
            out[name] = plan
    taken = {str(p.get("id")) for p in out.values()}
    for role, security in PLAN_SECURITY.items():
        if role in out:
            continue
        found = next((p for p in sorted(plans, key=lambda p: int(p.get("order") or 0))
                      if p.get("status") == "PUBLISHED" and str(p.get("id")) not in taken
                      and str(p.get("name", "")) not in PLAN_SECURITY
                      and (p.get("security") or {}).get("type") == security), None)
        if found is not None:
            out[role] = found
            taken.add(str(found.get("id")))
    return out


def duplicate_plans(plans: list[dict[str, Any]]) -> list[str]:
    """`<name> (duplicate)` for each open plan beyond the first of a managed name: drift, so the next
    apply closes it (two runs creating the plans of one API at once leave a second, STAGING one)."""
    names = [str(p.get("name")) for p in plans if p.get("status") != "CLOSED" and str(p.get("name")) in PLAN_SECURITY]
    return sorted(f"{n} (duplicate)" for i, n in enumerate(names) if n in names[:i])


def handmade_policy(flow: dict[str, Any], api: str) -> tuple[str, dict[str, Any]] | None:
    """(policy name, canonical spec) of a rate limit made in the console: a flow of one rate-limit or
    quota step on every path and method. Named `<api>-<flow name>` ("pets-api-rate-limit")."""
    if is_policy_flow(flow) or flow.get("response") or len(flow.get("request") or []) != 1:
        return None
    selectors = flow.get("selectors") or []
    if any(s.get("type") != "HTTP" or s.get("methods") or _strip_path(str(s.get("path", "/"))) != "/"
           or s.get("pathOperator", "STARTS_WITH") != "STARTS_WITH" for s in selectors):
        return None
    if len(selectors) > 1 or any(s.get("condition") for s in selectors):
        return None
    step = flow["request"][0]
    if step.get("policy") not in HANDMADE_RATE_POLICIES:
        return None
    inner = (step.get("configuration") or {}).get("rate" if step["policy"] == "rate-limit" else "quota") or {}
    if not isinstance(inner.get("limit"), int) or inner.get("dynamicLimit") or inner.get("key"):
        return None
    label = manifest_name(str(flow.get("name") or "")) or str(step["policy"])
    parsed = policy_from_flow({**flow, "name": POLICY_FLOW_PREFIX + f"{api}-{label}"[:63].strip("-")}, api)
    return parsed


def unmanaged_plan_policies(plan: dict[str, Any], api: str) -> dict[str, dict[str, Any]]:
    """The policies of a plan of an API made in the console: ours (`stoa-policy:`) and its rate limits."""
    out = plan_policies(plan, api)
    for flow in plan.get("flows") or []:
        parsed = handmade_policy(flow, api)
        if parsed is not None and parsed[0] not in out:
            out[parsed[0]] = parsed[1]
    return out


def kept_flows(plan: dict[str, Any], api: str, replaced: set[str], *, managed: bool) -> list[dict[str, Any]]:
    """The flows of a plan that are not ours, kept as they are by a plan update. Of an API being adopted,
    the console-made rate limits that become declared policies (`replaced`) are not kept: their
    `stoa-policy:` flows replace them."""
    out = []
    for flow in plan.get("flows") or []:
        if is_policy_flow(flow):
            continue
        parsed = None if managed else handmade_policy(flow, api)
        if parsed is not None and parsed[0] in replaced:
            continue
        out.append(flow)
    return out


def unmanaged_plan_notes(plans: list[dict[str, Any]], roles: dict[str, dict[str, Any]], api: str) -> list[str]:
    """What the plans of an API made in the console hold that the manifest does not say."""
    notes = []
    role_ids = {str(p.get("id")) for p in roles.values()}
    for plan in plans:
        name = str(plan.get("name", ""))
        security = (plan.get("security") or {}).get("type")
        if str(plan.get("id")) not in role_ids:
            if plan.get("status") != "CLOSED":
                notes.append(f"plan {name!r} ({security}, {plan.get('status')}) is kept on the gateway, not in the "
                             "manifest (the reconciler manages one keyless and one API-key plan)")
            continue
        for flow in plan.get("flows") or []:
            if not is_policy_flow(flow) and handmade_policy(flow, api) is None:
                notes.append(f"plan {name!r}: flow {str(flow.get('name') or '(unnamed)')!r} has no manifest form; "
                             "kept on the gateway")
        if plan.get("validation") not in (None, "AUTO"):
            notes.append(f"plan {name!r} validates subscriptions {plan.get('validation')}: after adoption the "
                         "reconciler's plans accept them automatically (AUTO)")
    for role, security in PLAN_SECURITY.items():
        if role not in roles:
            notes.append(f"no published {security} plan: `apply --adopt` adds {role!r}"
                         + (" (callers without a key are let in)" if security == "KEY_LESS" else ""))
    return notes


def unmanaged_app_notes(app: dict[str, Any], keys: int, notes: list[str]) -> dict[str, Any]:
    """Why an application made in the console cannot be declared, or what its manifest leaves out."""
    settings = app.get("settings") or {}
    out: dict[str, Any] = {IMPORT_NOTES: list(notes)}
    if settings.get("oauth") or str(app.get("type", "SIMPLE")).upper() != "SIMPLE":
        out[NOT_IMPORTABLE] = (f"a {app.get('type')} (OAuth client) application: a manifest consumer is a SIMPLE "
                               "application with an API key")
    elif manifest_name(str(app.get("name", ""))) is None:
        out[NOT_IMPORTABLE] = f"its name {app.get('name')!r} has no letter or digit to make a manifest name of"
    if keys > 1:
        out[IMPORT_NOTES].append(f"its subscriptions hold {keys} different API keys; a consumer has one: "
                                 "`apply --adopt` makes the declared key the key of every subscription")
    elif keys == 0:
        out[IMPORT_NOTES].append("no live API key to compare with the declared one: `apply --adopt` sends it")
    if app_text(str(app.get("description") or "")):
        out[IMPORT_NOTES].append("description: kept on the gateway (the manifest has none)")
    return out
