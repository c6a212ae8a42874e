"""Pure translation between canonical records and webMethods API Gateway JSON. No I/O here.

Ownership markers (what the gateway stores and returns):
- APIs: OpenAPI tags in the API definition (`apiDefinition.tags[].name`): `stoa:owner=<owner>`, plus
  `stoa:tenant=`, `stoa:basePath=`, `stoa:methods=`, `stoa:hash=` that carry the canonical fields the
  definition cannot hold. webMethods keeps a REST API's tags and returns them on `GET /apis/{id}`.
- Everything else (policy actions, applications, aliases, auth servers, strategies, scopes): a
  trailing `[stoa:owner=<owner>]` in the object's description (`api=<name>` is added for policy
  actions, whose API link is otherwise only the policy enforcement; the Identify & Authorize action
  the adapter gives each API carries it too).

Policy stages (`GET /policyStages`, APIGatewayPolicyManagement.json): `throttle` is in `LMT`,
`evaluatePolicy` (Identify & Authorize) in `IAM`; the CORS policy is documented under Response
Processing, so `corsPolicy` goes to `responseProcessing`.
- Configuration keys have no description: the keys an owner manages are listed in a simple alias
  named `stoa-reconciler.<owner>.configurations`.
"""

from __future__ import annotations

import re
from typing import Any

from reconciler.adapters.webmethods.openapi31 import convert
from reconciler.model.records import make_record

TAG = "stoa:"
_MARK = re.compile(r"\s*\[stoa:owner=([A-Za-z0-9-]+)(?:;api=([A-Za-z0-9-]+))?\]\s*$")
CONFIG_ALIAS_PREFIX = "stoa-reconciler."

PERIOD_UNITS = {"second": "seconds", "minute": "minutes", "hour": "hours", "day": "days"}
UNIT_PERIODS = {v: k for k, v in PERIOD_UNITS.items()}
POLICY_TEMPLATES = {"rate_limit": "throttle", "cors": "corsPolicy"}
TEMPLATE_TYPES = {v: k for k, v in POLICY_TEMPLATES.items()}
IAM_TEMPLATE = "evaluatePolicy"
IAM_NAME = "Identify & Authorize Application"
"""The name of the Identify & Authorize action the adapter gives each API."""
#: Policy stage each template belongs to (the API policy groups enforcements by stage).
POLICY_STAGES = {"throttle": "LMT", "corsPolicy": "responseProcessing", IAM_TEMPLATE: "IAM"}
PROTECTED = "apiKey"
"""`protection` of an API whose policy identifies applications by API key (registered applications only)."""
ANONYMOUS = "anonymous"
"""`protection` of an API whose Identify & Authorize action lets unidentified calls through."""


# ------------------------------------------------------------------ markers
def mark(text: str | None, owner: str, api: str | None = None) -> str:
    suffix = f"[stoa:owner={owner}" + (f";api={api}" if api else "") + "]"
    return f"{text} {suffix}" if text else suffix


def unmark(text: str | None) -> tuple[str | None, str | None, str | None]:
    """(text without the marker or None, owner or None, api or None)."""
    if not text:
        return None, None, None
    found = _MARK.search(text)
    if not found:
        return text, None, None
    rest = text[: found.start()].strip()
    return (rest or None), found.group(1), found.group(2)


def config_alias_name(owner: str) -> str:
    return f"{CONFIG_ALIAS_PREFIX}{owner}.configurations"


# ------------------------------------------------------------------ APIs
def api_definition(record: dict[str, Any], owner: str) -> tuple[dict[str, Any], list[str]]:
    """The OpenAPI 3.0.3 document to import: the declared one (converted) or one built from the spec."""
    spec = record["spec"]
    notes: list[str] = []
    source = spec.get("openapi")
    if isinstance(source, dict):
        doc, notes = convert(source)
    else:
        doc = {
            "openapi": "3.0.3",
            "info": {"title": spec.get("displayName") or record["name"], "version": spec["version"]},
            "paths": {"/": {m.lower(): {"responses": {"200": {"description": "OK"}}}
                            for m in sorted(spec.get("methods") or [])}},
        }
    info = doc.setdefault("info", {})
    info["version"] = spec["version"]
    info["title"] = spec.get("displayName") or info.get("title") or record["name"]
    if spec.get("description"):
        info["description"] = spec["description"]
    doc["servers"] = [{"url": spec["backend"]}]
    user_tags = [t for t in doc.get("tags") or [] if not str(t.get("name", "")).startswith(TAG)]
    ours = [f"owner={owner}", f"tenant={spec.get('tenant', '')}", f"basePath={spec['basePath']}",
            f"methods={','.join(sorted(spec.get('methods') or []))}"]
    if spec.get("openapiHash"):
        ours.append(f"hash={spec['openapiHash']}")
    doc["tags"] = user_tags + [{"name": TAG + t} for t in ours]
    return doc, notes


def api_payload(record: dict[str, Any], owner: str) -> tuple[dict[str, Any], list[str]]:
    """Body of `POST /apis` (InputAPI) and `PUT /apis/{id}` (GatewayAPI): JSON import of OpenAPI."""
    doc, notes = api_definition(record, owner)
    spec = record["spec"]
    body = {"apiName": record["name"], "apiVersion": spec["version"], "type": "openapi",
            "apiDescription": spec.get("description") or "", "apiDefinition": doc}
    return body, notes


def api_tags(api: dict[str, Any]) -> dict[str, str]:
    definition = api.get("apiDefinition") or {}
    found: dict[str, str] = {}
    for tag in definition.get("tags") or []:
        name = str(tag.get("name", "")) if isinstance(tag, dict) else str(tag)
        if name.startswith(TAG) and "=" in name:
            key, _, value = name[len(TAG):].partition("=")
            found[key] = value
    return found


def api_from_gateway(api: dict[str, Any]) -> dict[str, Any]:
    """Canonical record of one API as `GET /apis/{id}` returns it (`apiResponse.api`)."""
    tags = api_tags(api)
    definition = api.get("apiDefinition") or {}
    endpoints = api.get("nativeEndpoint") or []
    backend = None
    if endpoints and isinstance(endpoints[0], dict):
        backend = endpoints[0].get("uri")
    if backend is None and definition.get("servers"):
        backend = definition["servers"][0].get("url")
    methods = sorted(m for m in tags.get("methods", "").split(",") if m)
    spec: dict[str, Any] = {
        "tenant": tags.get("tenant"),
        "version": api.get("apiVersion"),
        "basePath": tags.get("basePath"),
        "backend": backend,
        "methods": methods,
        "displayName": (definition.get("info") or {}).get("title"),
        "openapiHash": tags.get("hash"),
        "active": bool(api.get("isActive")),
    }
    if api.get("apiDescription"):
        spec["description"] = api["apiDescription"]
    return make_record("API", str(api.get("apiName")), spec, id=api.get("id"), owner=tags.get("owner"))


def api_desired_view(spec: dict[str, Any]) -> dict[str, Any]:
    """The gateway stores the converted document, not the declared one: compare its hash instead."""
    view = {k: v for k, v in spec.items() if k != "openapi"}
    view["methods"] = sorted(view.get("methods") or [])
    view["active"] = True
    return view


# ------------------------------------------------------------------ policies
def _param(key: str, *values: Any) -> dict[str, Any]:
    return {"templateKey": key, "values": [str(v).lower() if isinstance(v, bool) else str(v) for v in values]}


def policy_payload(record: dict[str, Any], owner: str) -> dict[str, Any]:
    """`{"policyAction": {...}}` for `POST /policyActions` / `PUT /policyActions/{id}`."""
    spec = record["spec"]
    config = spec["config"]
    template = POLICY_TEMPLATES[spec["type"]]
    if spec["type"] == "rate_limit":
        parameters = [
            {"templateKey": "throttleRule", "parameters": [
                _param("throttleRuleName", "requestCount"), _param("monitorRuleOperator", "GT"),
                _param("value", config["requests"])]},
            {"templateKey": "destination", "parameters": [_param("destinationType", "GATEWAY")]},
            _param("alertInterval", 1),
            _param("alertIntervalUnit", PERIOD_UNITS[config.get("period", "minute")]),
            _param("alertFrequency", "once"),
            # Whose calls count: every application (the throttle sample of APIGatewayMonetizationSwagger.json).
            _param("consumerIds", "AnyConsumers"),
        ]
    else:
        parameters = [
            _param("allowedOrigins", *config.get("origins", [])),
            _param("allowedMethods", *config.get("methods", [])),
            _param("allowHeaders", *config.get("headers", [])),
            _param("exposeHeaders", *config.get("exposeHeaders", [])),
            _param("allowCredentials", bool(config.get("credentials", False))),
            _param("maxAge", int(config.get("maxAge", 3600))),
        ]
    return {"policyAction": {
        "names": [{"value": record["name"], "locale": "en"}],
        "descriptions": [{"value": mark(None, owner, spec["api"]), "locale": "en"}],
        "templateKey": template, "parameters": parameters, "active": False,
    }}


def identify_payload(api_name: str, owner: str, *, anonymous: bool) -> dict[str, Any]:
    """The API's Identify & Authorize action: applications identified by their API key, as in the
    vendor's use case (postmancollections/usecases/api-application-association); `allowAnonymous`
    lets unidentified calls through when the API is not protected."""
    return {"policyAction": {
        "names": [{"value": IAM_NAME, "locale": "en"}],
        "descriptions": [{"value": mark(None, owner, api_name), "locale": "en"}],
        "templateKey": IAM_TEMPLATE,
        "parameters": [
            _param("logicalConnector", "OR"),
            _param("allowAnonymous", anonymous),
            {"templateKey": "IdentificationRule", "parameters": [_param("identificationType", "apiKey")]},
        ],
        "active": False,
    }}


def protection_of(actions: list[dict[str, Any]], api_name: str, owner: str) -> str:
    """What guards an API, from the Identify & Authorize actions its policy enforces: `apiKey` or
    `anonymous` when exactly ours is there as `identify_payload` writes it, else `none`."""
    if len(actions) != 1:
        return "none"
    action = actions[0]
    _, marked_owner, marked_api = unmark(((action.get("descriptions") or [{}])[0]).get("value"))
    if (marked_owner, marked_api) != (owner, api_name):
        return "none"
    for anonymous, value in ((False, PROTECTED), (True, ANONYMOUS)):
        wanted = identify_payload(api_name, owner, anonymous=anonymous)["policyAction"]["parameters"]
        if action.get("parameters") == wanted:
            return value
    return "none"


def _values(parameters: list[dict[str, Any]], key: str) -> list[str]:
    for p in parameters:
        if p.get("templateKey") == key:
            return [str(v) for v in p.get("values") or []]
    return []


def _nested(parameters: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    for p in parameters:
        if p.get("templateKey") == key:
            return list(p.get("parameters") or [])
    return []


def policy_from_gateway(action: dict[str, Any], attached: bool | None = None) -> dict[str, Any] | None:
    """Canonical record of a policy action; None for templates this reconciler does not manage.
    `attached`: whether its API's policy enforces it in its stage (None: not looked up)."""
    policy_type = TEMPLATE_TYPES.get(str(action.get("templateKey")))
    if policy_type is None:
        return None
    names = action.get("names") or [{}]
    descriptions = action.get("descriptions") or [{}]
    _, owner, api = unmark(descriptions[0].get("value"))
    params = action.get("parameters") or []
    config: dict[str, Any]
    if policy_type == "rate_limit":
        value = _values(_nested(params, "throttleRule"), "value")
        unit = (_values(params, "alertIntervalUnit") or ["minutes"])[0]
        config = {"requests": int(value[0]) if value and value[0].isdigit() else 0,
                  "period": UNIT_PERIODS.get(unit, unit)}
    else:
        max_age = (_values(params, "maxAge") or ["3600"])[0]
        config = {"origins": _values(params, "allowedOrigins"), "methods": _values(params, "allowedMethods"),
                  "headers": _values(params, "allowHeaders"), "exposeHeaders": _values(params, "exposeHeaders"),
                  "credentials": (_values(params, "allowCredentials") or ["false"])[0] == "true",
                  "maxAge": int(max_age) if max_age.isdigit() else 0}
    spec: dict[str, Any] = {"api": api, "type": policy_type, "config": config}
    if attached is not None:
        spec["attached"] = attached
    return make_record("Policy", str(names[0].get("value")), spec, id=action.get("id"), owner=owner)


# ------------------------------------------------------------------ applications
def application_payload(record: dict[str, Any], owner: str) -> dict[str, Any]:
    """`POST /applications` / `PUT /applications/{id}`. No key: the gateway makes the application's
    API key (`accessTokens.apiAccessKey_credentials`) and a client cannot set it; no identifiers
    either, since the API key is what the API's Identify & Authorize action checks."""
    spec = record["spec"]
    return {
        "name": record["name"],
        "description": mark(spec.get("displayName"), owner),
        "contactEmails": [spec["email"]] if spec.get("email") else [],
        "identifiers": [],
    }


def application_from_gateway(app: dict[str, Any], api_names: list[str]) -> dict[str, Any]:
    """No `credential`: the key is the gateway's own, so there is no declared key to compare it with."""
    display, owner, _ = unmark(app.get("description"))
    spec: dict[str, Any] = {"subscriptions": sorted(api_names)}
    if display:
        spec["displayName"] = display
    emails = app.get("contactEmails") or []
    if emails:
        spec["email"] = emails[0]
    return make_record("Consumer", str(app.get("name")), spec, id=app.get("id"), owner=owner)


# ------------------------------------------------------------------ aliases and auth servers
def auth_server_payload(record: dict[str, Any], owner: str, client_secret: str | None) -> dict[str, Any]:
    spec = record["spec"]
    body: dict[str, Any] = {
        "name": record["name"], "description": mark(spec.get("description"), owner), "type": "authServerAlias",
        "authServerType": spec.get("authServerType", "EXTERNAL"),
        "scopes": [{k: v for k, v in s.items() if v is not None} for s in spec.get("scopes") or []],
        "supportedGrantTypes": list(spec.get("supportedGrantTypes") or []),
    }
    if spec.get("discoveryURL"):
        body["discoveryURL"] = spec["discoveryURL"]
    if spec.get("introspectionURL") or spec.get("clientId"):
        remote: dict[str, Any] = {}
        if spec.get("introspectionURL"):
            remote["introspectionEndpoint"] = spec["introspectionURL"]
        if spec.get("clientId"):
            remote["clientId"] = spec["clientId"]
        if client_secret:
            remote["clientSecret"] = {"secret": client_secret}
        body["remoteIntrospectionConfig"] = remote
    return body


def auth_server_from_gateway(alias: dict[str, Any]) -> dict[str, Any]:
    description, owner, _ = unmark(alias.get("description"))
    remote = alias.get("remoteIntrospectionConfig") or {}
    spec: dict[str, Any] = {
        "authServerType": alias.get("authServerType"),
        "scopes": [{k: v for k, v in s.items() if k in ("name", "description") and v is not None}
                   for s in alias.get("scopes") or []],
        "supportedGrantTypes": list(alias.get("supportedGrantTypes") or []),
    }
    for key, value in (("description", description), ("discoveryURL", alias.get("discoveryURL")),
                       ("introspectionURL", remote.get("introspectionEndpoint")),
                       ("clientId", remote.get("clientId"))):
        if value:
            spec[key] = value
    return make_record("AuthServer", str(alias.get("name")), spec, id=alias.get("id"), owner=owner)


def alias_payload(record: dict[str, Any], owner: str) -> dict[str, Any]:
    spec = record["spec"]
    body: dict[str, Any] = {"name": record["name"], "description": mark(spec.get("description"), owner),
                            "type": spec.get("type", "endpoint")}
    if body["type"] == "simple":
        body["value"] = spec["value"]
        return body
    body["endPointURI"] = spec["endpointUri"]
    for key in ("connectionTimeout", "readTimeout", "passSecurityHeaders"):
        if spec.get(key) is not None:
            body[key] = spec[key]
    return body


def alias_from_gateway(alias: dict[str, Any]) -> dict[str, Any]:
    description, owner, _ = unmark(alias.get("description"))
    spec: dict[str, Any] = {"type": alias.get("type")}
    if description:
        spec["description"] = description
    if alias.get("type") == "simple":
        spec["value"] = alias.get("value")
    else:
        spec["endpointUri"] = alias.get("endPointURI")
        for key in ("connectionTimeout", "readTimeout"):
            if alias.get(key) is not None:
                spec[key] = int(alias[key])
        if alias.get("passSecurityHeaders") is not None:
            spec["passSecurityHeaders"] = bool(alias["passSecurityHeaders"])
    return make_record("Alias", str(alias.get("name")), spec, id=alias.get("id"), owner=owner)


# ------------------------------------------------------------------ strategies and scopes
def strategy_payload(record: dict[str, Any], owner: str) -> dict[str, Any]:
    spec = record["spec"]
    body: dict[str, Any] = {"name": record["name"], "description": mark(spec.get("description"), owner),
                            "type": spec.get("type", "OAUTH2"), "authServerAlias": spec["authServer"]}
    if spec.get("clientId"):
        body["clientId"] = spec["clientId"]
    return body


def strategy_from_gateway(strategy: dict[str, Any]) -> dict[str, Any]:
    description, owner, _ = unmark(strategy.get("description"))
    spec: dict[str, Any] = {"type": strategy.get("type"), "authServer": strategy.get("authServerAlias")}
    if description:
        spec["description"] = description
    if strategy.get("clientId"):
        spec["clientId"] = strategy["clientId"]
    return make_record("Strategy", str(strategy.get("name")), spec, id=strategy.get("id"), owner=owner)


def scope_payload(record: dict[str, Any], owner: str, api_ids: list[str]) -> dict[str, Any]:
    spec = record["spec"]
    return {
        "scopeName": record["name"], "scopeDescription": mark(spec.get("description"), owner),
        "audience": spec.get("audience", ""), "apiScopes": api_ids,
        "requiredAuthScopes": [{"authServerAlias": r["authServer"], "scopeName": r["scope"]}
                               for r in spec.get("requiredAuthScopes") or []],
    }


def scope_from_gateway(scope: dict[str, Any], api_names: dict[str, str]) -> dict[str, Any]:
    """`api_names` maps gateway API ids to API names (ids of unknown APIs are kept as they are)."""
    description, owner, _ = unmark(scope.get("scopeDescription"))
    spec: dict[str, Any] = {
        "audience": scope.get("audience") or "",
        "apis": sorted(api_names.get(i, i) for i in scope.get("apiScopes") or []),
        "requiredAuthScopes": [{"authServer": r.get("authServerAlias"), "scope": r.get("scopeName")}
                               for r in scope.get("requiredAuthScopes") or []],
    }
    if description:
        spec["description"] = description
    return make_record("Scope", str(scope.get("scopeName")), spec, id=scope.get("id"), owner=owner)


# ------------------------------------------------------------------ objects made in the console
# What `reconciler import` needs of an object without our marker: `importNotes` (what the manifest
# cannot say) and `notImportable` (why no manifest can declare it), live-only keys the diff never
# compares (it compares declared fields only).
IMPORT_TENANT = "default"
IMPORT_NOTES = "importNotes"
NOT_IMPORTABLE = "notImportable"
IMPORT_OPENAPI = "importOpenapi"
"""The API's stored OpenAPI document, saved beside its manifest by the import."""
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_OPERATIONS = ("get", "put", "post", "delete", "options", "head", "patch")


def is_name(text: str) -> bool:
    return bool(_DNS_LABEL.match(text))


def manifest_name(text: str) -> str | None:
    """A console name as a manifest name (DNS-1123 label); None when nothing is left."""
    value = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:63].strip("-")
    return value or None


def named_by(kind: str, name: str) -> str | None:
    """Why an object webMethods refers to by name (APIs by their gateway endpoint, aliases, strategies,
    scopes) cannot be declared under a name that is no DNS-1123 label: adopting would rename it."""
    if is_name(name):
        return None
    return (f"its name {name!r} is no manifest name (DNS-1123 label), and webMethods refers to {kind}s by "
            "name: adopting it under another would rename it")


def definition_methods(definition: dict[str, Any]) -> list[str]:
    return sorted({op.upper() for item in (definition.get("paths") or {}).values() if isinstance(item, dict)
                   for op in item if op in _OPERATIONS})


def unmanaged_api(spec: dict[str, Any], api: dict[str, Any], identify: list[dict[str, Any]]) -> dict[str, Any]:
    """The live spec of an API made in the console, as `reconciler import` declares it: no tenant (the
    placeholder), the base path `/<apiName>` (webMethods routes `/gateway/<apiName>/<version>`; the
    manifest's basePath is kept as a tag only), the methods of its document, what guards it."""
    name = str(api.get("apiName", ""))
    definition = {k: v for k, v in (api.get("apiDefinition") or {}).items() if k != "type"}
    notes = [f"tenant: webMethods has none; written as {IMPORT_TENANT!r} (an adoption stores it as a tag)",
             f"basePath: webMethods routes /gateway/{name}/{api.get('apiVersion')}; written as /{name} (kept as a tag)"]
    out = {**spec, "tenant": IMPORT_TENANT, "basePath": f"/{name}", "methods": definition_methods(definition),
           IMPORT_OPENAPI: definition, IMPORT_NOTES: notes}
    if len(api.get("nativeEndpoint") or []) > 1:
        notes.append("several native endpoints: the manifest declares one backend (the first)")
    if len(identify) == 1:
        params = identify[0].get("parameters") or []
        rule = _values(_nested(params, "IdentificationRule"), "identificationType")
        anonymous = (_values(params, "allowAnonymous") or ["false"])[0] == "true"
        out["protection"] = (ANONYMOUS if anonymous else PROTECTED) if rule == [PROTECTED] else "none"
        if out["protection"] != "none":
            notes.append(f"its Identify & Authorize action {_first(identify[0], 'names')!r} is replaced on adoption by "
                         "the reconciler's own (the same rule: API key)")
    else:
        out["protection"] = "none"
    if out["protection"] == "none":
        notes.append("no Identify & Authorize action by API key: adopting adds one, so only registered "
                     "applications get through")
    why = named_by("API", name) or ("not a REST API with an OpenAPI document" if not definition.get("paths") else None)
    if why is not None:
        out[NOT_IMPORTABLE] = why
    return out


def _first(obj: dict[str, Any], key: str) -> str:
    return str(((obj.get(key) or [{}])[0] or {}).get("value") or "")


def unmanaged_policy(record: dict[str, Any], action: dict[str, Any], api: str | None) -> dict[str, Any]:
    """A policy action made in the console: named as the import names it, its API the one whose policy
    enforces it; what a rewrite by `policy_payload` would change is said."""
    spec = record["spec"]
    spec["api"] = api
    text = _first(action, "names")
    record["name"] = manifest_name(text) or text
    notes: list[str] = []
    if api is None:
        spec[NOT_IMPORTABLE] = "no API's policy enforces it"
    elif manifest_name(text) is None:
        spec[NOT_IMPORTABLE] = f"its name {text!r} has no letter or digit to make a manifest name of"
    else:
        rewritten = policy_payload(record, "x")["policyAction"]["parameters"]
        live = list(action.get("parameters") or [])
        changed = sorted({str(q.get("templateKey")) for q in live if q not in rewritten}
                         | {str(q.get("templateKey")) for q in rewritten if q not in live})
        if changed:
            notes.append(f"settings the manifest does not hold ({', '.join(changed)}) are rewritten on adoption as "
                         "the reconciler writes them")
        if text != record["name"]:
            notes.append(f"named {record['name']!r} after its name {text!r} (renamed on adoption)")
    spec[IMPORT_NOTES] = notes
    return record


def unmanaged_application(record: dict[str, Any], app: dict[str, Any]) -> dict[str, Any]:
    """An application made in the console: named as the import names it; its key is the gateway's."""
    spec = record["spec"]
    name = str(app.get("name", ""))
    record["name"] = manifest_name(name) or name
    notes = ["API key: webMethods generates it; the secretRef is not sent (clients keep the key they have)"]
    if record["name"] != name:
        notes.append(f"named {record['name']!r} after its name {name!r} (renamed on adoption)")
    if len(app.get("contactEmails") or []) > 1:
        notes.append("several contact emails: the manifest holds the first; adoption keeps only it")
    if app.get("identifiers"):
        notes.append("identifiers (IP, hostname, ...): the manifest has none; adoption removes them, the API key "
                     "identifies the application")
    spec[IMPORT_NOTES] = notes
    if manifest_name(name) is None:
        spec[NOT_IMPORTABLE] = f"its name {name!r} has no letter or digit to make a manifest name of"
    return record
