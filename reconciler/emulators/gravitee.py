"""Gravitee APIM 4.x Management API emulator (v2 for APIs, plans, subscriptions; v1 for applications).

Written from `../shared/specs/gravitee/openapi-*.yaml` and the server code at tag 4.12.17; each rule
below is a row of `reconciler/emulators/fidelity/gravitee.md` with its source and test. It never
imports from `reconciler.adapters`. What it enforces:

- HTTP Basic auth (admin/admin, as a fresh Gravitee), 401 otherwise.
- Base paths `/management/v2/organizations/{org}/environments/{env}` and `/management/v2/environments/{env}`
  (org DEFAULT), `/management/v2[/organizations/{org}]/plugins/policies`; v1
  `/management/organizations/{org}/environments/{env}` for applications and settings.
- V4 APIs: created STOPPED and NEED_REDEPLOY; `CreateApiV4` has no `labels` (ignored; set them with PUT);
  paths sanitized (leading/trailing slash) and refused when one is a prefix of another API's; the HTTP
  listener's `cors` validated (allowOrigin) and stored with its defaults; `GET /apis` sorted by name,
  `deploymentState` only with `?expands=deploymentState`.
- Policy plugins: the 4.12.17 bundle (no `cors`); a flow step (API or plan) with an uninstalled policy is
  404 `plugin.notFound`.
- Plans: created STAGING, `_publish`ed (one key-less plan PUBLISHED or DEPRECATED per API), listed
  PUBLISHED by default; closed plans stay updatable; a published plan with subscriptions cannot be deleted.
- Lifecycle: `_start` needs a published plan and deploys the first time; `_start`/`_stop` in that state
  are 400; an API change, or a change of a non-STAGING plan, is NEED_REDEPLOY until `POST /deployments`
  (202, no body). A STARTED API cannot be deleted; PUBLISHED plans need `?closePlans=true`.
- Subscriptions: plan PUBLISHED and not key-less, one live subscription per application and plan, AUTO
  validation accepts at once. `customApiKey` is refused (400 `subscription.invalid`) unless the setting
  `plan.security.apikey.allowCustom.enabled` is on (off by default; `allow_custom_api_key=True`); a key
  value is taken by another application, and by the same one on the same API unless `allowCustomReuse`
  (which reactivates it); SHARED/EXCLUSIVE key modes; `_renew` lets the old keys expire 2 h later; keys
  are revoked / reactivated one by one; closing revokes the keys; v1 `GET/POST .../settings`.
- Applications (v1): name and description required; delete archives (keys deleted, subscriptions closed);
  an archived application is still found and cannot be updated.
- Errors: v2 `Error` and v1 `ErrorEntity` without null fields; bean-validation errors per version.
- Lists: v2 `{data, pagination, links}` (`page`/`perPage`; 400 past the last page for lists cut in
  memory: plans, API keys); v1 `PagedResult` (`size` 1..200, default 20), dates in epoch ms.

`fail_next_deployments = N` makes the next N deployments answer 500 (tests of a failed deployment); it
is a test switch, not a Gravitee rule.
"""

from __future__ import annotations

import base64
import json
import math
import re
import threading
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from reconciler.emulators.server import Emulator

API_TYPES = {"A2A_PROXY", "AUTHZ", "EDGE", "LLM_PROXY", "MCP_PROXY", "MESSAGE", "NATIVE", "PROXY"}
SECURITY_TYPES = {"KEY_LESS", "API_KEY", "OAUTH2", "JWT", "MTLS"}
PLAN_STATUSES = {"STAGING", "PUBLISHED", "DEPRECATED", "CLOSED"}
SUB_STATUSES = {"PENDING", "REJECTED", "ACCEPTED", "CLOSED", "PAUSED", "RESUMED"}
ACTIVE_SUBS = {"PENDING", "ACCEPTED", "PAUSED"}

#: The policy plugins of the 4.12.17 distribution (gravitee-apim-distribution/pom.xml, the open-source
#: `<dependencies>` shipped in the default bundle), as (plugin id, name, category). The ids are each
#: plugin's `src/main/resources/plugin.properties` `id=`; only plugins whose id was read are listed.
#: There is no `cors` policy: CORS is the HTTP listener's `cors` field (HttpListener.cors); the `cors`
#: plugin lives in gravitee-io-community/gravitee-policy-cors and is not bundled.
POLICY_PLUGINS: tuple[tuple[str, str, str], ...] = (
    ("api-key", "API Key", "security"),
    ("cache", "Cache", "performance"),
    ("dynamic-routing", "Dynamic Routing", "others"),
    ("groovy", "Groovy", "others"),
    ("http-redirect", "HTTP Redirect", "others"),
    ("ip-filtering", "IPFiltering", "security"),
    ("json-to-json", "JSON to JSON Transformation", "transformation"),
    ("json-validation", "JSON Validation", "others"),
    ("json-xml", "JSON to XML", "transformation"),
    ("key-less", "Keyless", "security"),
    ("latency", "Latency", "others"),
    ("mock", "Mock Policy", "others"),
    ("mtls", "mTLS", "security"),
    ("oauth2", "OAuth2", "security"),
    ("policy-assign-attributes", "Assign attributes", "transformation"),
    ("policy-assign-content", "Assign content", "transformation"),
    ("policy-http-callout", "HTTP Callout", "others"),
    ("policy-override-request-method", "Override HTTP Method", "transformation"),
    ("policy-request-validation", "Validate Request", "others"),
    ("quota", "Quota", "others"),
    ("rate-limit", "Rate Limit", "others"),
    ("resource-filtering", "Resource Filtering", "others"),
    ("retry", "Retry", "others"),
    ("spike-arrest", "Spike Arrest", "others"),
    ("ssl-enforcement", "SSL Enforcement", "security"),
    ("status-code-policy", "Status Code Transformation Policy", "transformation"),
    ("token-bucket-rate-limit", "Token Bucket Rate Limit", "others"),
    ("traffic-shadowing", "Traffic Shadowing", "others"),
    ("transform-headers", "Transform Headers", "transformation"),
    ("transform-queryparams", "Transform Query Parameters", "transformation"),
    ("url-rewriting", "URL Rewriting", "transformation"),
    ("xml-json", "XML to JSON", "transformation"),
)
#: Policies whose configuration is never validated (PolicyPluginServiceImpl.INTERNAL_POLICIES_ID).
INTERNAL_POLICIES = frozenset({"shared-policy-group-policy"})
#: CorsValidationServiceImpl.CORS_REGEX_PATTERN / CORS_REGEX_CHARS.
_CORS_ORIGIN = re.compile(r"^((\*)|(null)|(^(([^:\/?#]+):)?(\/\/([^\/?#]*))?))$")
_CORS_REGEX_CHARS = ("{", "[", "(", "*")


def _epoch_ms() -> int:
    """v1 dates: GraviteeMapper enables WRITE_DATES_AS_TIMESTAMPS and the v1 ObjectMapperResolver keeps it
    (the v2 one disables it, so v2 dates are ISO strings)."""
    return int(datetime.now(UTC).timestamp() * 1000)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class GraviteeHttpError(Exception):
    """An error as Gravitee renders it: v2 `Error` or v1 `ErrorEntity`, null fields left out.

    v2: exceptionmapper/AbstractExceptionMapper.convert (httpStatus, message, parameters, technicalCode);
    v1: rest/provider/AbstractExceptionMapper.convert (message, http_status, parameters, technicalCode);
    both serialised by GraviteeMapper, which is `Include.NON_NULL`.
    """

    def __init__(self, status: int, message: str, code: str | None, details: list[dict[str, Any]] | None = None,
                 v1: bool = False, parameters: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.details = details or []
        self.v1 = v1
        self.parameters = parameters

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = ({"message": self.message, "http_status": self.status} if self.v1
                                else {"httpStatus": self.status, "message": self.message})
        if self.parameters is not None:
            body["parameters"] = self.parameters
        if self.code is not None:
            body["technicalCode"] = self.code
        if self.details and not self.v1:
            body["details"] = self.details
        return body

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status)


class V1ConstraintError(GraviteeHttpError):
    """v1 bean-validation failure: rest/provider/ConstraintValidationExceptionMapper.ConstraintValidationError
    (`message`, `path`, `details[{message, location}]`; no `http_status`; null `invalid_value` left out)."""

    def __init__(self, method: str, param: str, field: str, message: str) -> None:
        super().__init__(400, message, None, v1=True)
        self.path = f"{method}.{param}.{field}"
        self.field = field

    def body(self) -> dict[str, Any]:
        return {"message": self.message, "path": self.path,
                "details": [{"message": self.message, "location": self.field}]}


def _bad(message: str, code: str | None, location: str = "", value: Any = None,
         parameters: dict[str, str] | None = None) -> GraviteeHttpError:
    details = [{"message": message, "location": location, "invalidValue": value}] if location else []
    return GraviteeHttpError(400, message, code, details, parameters=parameters)


def _plugin_not_found(plugin: str) -> GraviteeHttpError:
    """PluginNotFoundException (AbstractPluginService.get): 404 `plugin.notFound`, parameter `plugin`."""
    return GraviteeHttpError(404, f"Plugin [{plugin}] cannot be found.", "plugin.notFound", parameters={"plugin": plugin})


class _Env:
    """The objects of one organization/environment."""

    def __init__(self, settings: dict[str, bool] | None = None) -> None:
        self.settings: dict[str, bool] = dict(settings or {})
        """Environment parameters (parameters/Key.java), by PlanSettings.PlanSecurity field name."""
        self.apis: dict[str, dict[str, Any]] = {}
        self.plans: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.apps: dict[str, dict[str, Any]] = {}
        self.api_keys: dict[str, dict[str, Any]] = {}


def _paged(items: list[dict[str, Any]], request: Request, *, strict: bool = True) -> dict[str, Any]:
    """The v2 list envelope (PaginationParam: page 1, perPage 10 by default, each @Min(1); PaginationInfo).
    `strict` lists are cut in memory by AbstractResource.computePaginationData, which answers 400
    `pagination.invalid` past the last page; the others are paged by the repository (an empty page)."""
    try:
        page = int(request.query_params.get("page", "1"))
        per_page = int(request.query_params.get("perPage", "10"))
    except ValueError:
        raise GraviteeHttpError(404, "HTTP 404 Not Found", None) from None  # JAX-RS 2.1 spec 3.2
    for name, value in (("page", page), ("perPage", per_page)):
        if value < 1:
            message = f"Pagination {name} param must be >= 1"
            raise GraviteeHttpError(400, "Validation error", None,
                                    [{"message": message, "location": name, "invalidValue": value}])
    total = len(items)
    page_count = math.ceil(total / per_page) if total else 0
    if strict and total and (page - 1) * per_page >= total:
        raise GraviteeHttpError(400, "Pagination is not valid", "pagination.invalid")
    chunk = items[(page - 1) * per_page: page * per_page]
    base = str(request.url.remove_query_params(["page", "perPage"]))
    sep = "&" if "?" in base else "?"

    def link(p: int) -> str:
        return f"{base}{sep}page={p}&perPage={per_page}"

    links: dict[str, Any] = {"self": str(request.url)}
    if page_count:
        links.update(first=link(1), last=link(page_count))
        if page > 1:
            links["previous"] = link(page - 1)
        if page < page_count:
            links["next"] = link(page + 1)
    return {"data": chunk,
            "pagination": {"page": page, "perPage": per_page, "pageCount": page_count,
                           "pageItemsCount": len(chunk), "totalCount": total},
            "links": links}


def _csv(request: Request, name: str) -> set[str] | None:
    values = request.query_params.getlist(name)
    if not values:
        return None
    return {v.strip().upper() for raw in values for v in raw.split(",") if v.strip()}


def _stored_cors(cors: dict[str, Any]) -> dict[str, Any]:
    """definition/model/Cors.java as Jackson writes it back: Sets (HashSet, so no order kept: sorted
    here), `maxAge` -1 and booleans false by default, `runPolicies`/`allowPrivateNetwork` only when true."""
    out: dict[str, Any] = {"enabled": bool(cors.get("enabled", False))}
    for key in ("allowOrigin", "exposeHeaders", "allowMethods", "allowHeaders"):
        if cors.get(key) is not None:
            out[key] = sorted({str(v) for v in cors[key]})
    out["maxAge"] = int(cors.get("maxAge", -1))
    out["allowCredentials"] = bool(cors.get("allowCredentials", False))
    for key in ("runPolicies", "allowPrivateNetwork"):
        if cors.get(key):
            out[key] = True
    return out


_URI_PATH = re.compile(r"^[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*$")


def _norm_path(path: str) -> str:
    """core/api/model/Path.sanitizePath: a leading and a trailing `/`, duplicate slashes removed."""
    value = path or "/"
    if not value.startswith("/"):
        value = "/" + value
    if not value.endswith("/"):
        value += "/"
    return re.sub(r"/+", "/", value)


class GraviteeEmulator(Emulator):
    gateway_type = "gravitee"

    def __init__(self, username: str = "admin", password: str = "admin",
                 policies: Iterable[str] | None = None, *, allow_custom_api_key: bool = False,
                 allow_custom_api_key_reuse: bool = False, allow_shared_api_key: bool = False) -> None:
        """The `allow_*` switches are the environment settings `plan.security.apikey.allowCustom.enabled`,
        `...allowCustomReuse.enabled` and `...allowShared.enabled`; Gravitee's defaults are all false
        (parameters/Key.java PLAN_SECURITY_APIKEY_CUSTOM_ALLOWED / _CUSTOM_REUSE_ALLOWED / _SHARED_ALLOWED)."""
        super().__init__()
        self.username = username
        self.password = password
        self.settings = {"apikey": True, "customApiKey": allow_custom_api_key,
                         "customApiKeyReuse": allow_custom_api_key_reuse, "sharedApiKey": allow_shared_api_key,
                         "keyless": True, "oauth2": True, "jwt": True, "mtls": True, "push": True}
        self.policies: dict[str, tuple[str, str]] = {pid: (name, cat) for pid, name, cat in POLICY_PLUGINS}
        """Installed policy plugins (id -> name, category); `policies=` replaces the 4.12 bundle's set."""
        if policies is not None:
            known = self.policies
            self.policies = {pid: known.get(pid, (pid, "others")) for pid in policies}
        self.envs: dict[tuple[str, str], _Env] = {}
        self.state_lock = threading.RLock()
        self.fail_next_deployments = 0
        self.deployments = 0

    @classmethod
    def from_credentials(cls, credentials: dict[str, str], options: dict[str, Any]) -> GraviteeEmulator:
        """The emulator of `reconciler demo` / `reconciler emulate`: an environment prepared for declared API
        keys (an operator has turned `plan.security.apikey.allowCustom.enabled` on; Gravitee's default is
        off). Options `allowCustomApiKey`, `allowCustomApiKeyReuse`, `allowSharedApiKey` (true/false) set them."""
        def flag(name: str, default: bool) -> bool:
            value = options.get(name, default)
            return value if isinstance(value, bool) else str(value).strip().lower() in ("1", "true", "yes", "on")

        return cls(username=credentials.get("username", "admin"), password=credentials.get("password", "admin"),
                   allow_custom_api_key=flag("allowCustomApiKey", True),
                   allow_custom_api_key_reuse=flag("allowCustomApiKeyReuse", False),
                   allow_shared_api_key=flag("allowSharedApiKey", False))

    # ------------------------------------------------------------------ helpers
    def env(self, org: str = "DEFAULT", env: str = "DEFAULT") -> _Env:
        with self.state_lock:
            return self.envs.setdefault((org, env), _Env(self.settings))

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return user == self.username and password == self.password

    def _api(self, env: _Env, api_id: str) -> dict[str, Any]:
        api = env.apis.get(api_id)
        if api is None:
            raise GraviteeHttpError(404, f"Api [{api_id}] cannot be found.", "api.notFound", parameters={"api": api_id})
        return api

    def _plan(self, env: _Env, api_id: str, plan_id: str) -> dict[str, Any]:
        plan = env.plans.get(plan_id)
        if plan is None or plan["apiId"] != api_id:
            raise GraviteeHttpError(404, f"Plan [{plan_id}] cannot be found.", "plan.notFound",
                                    parameters={"plan": plan_id})
        return plan

    def _sub(self, env: _Env, api_id: str, sub_id: str) -> dict[str, Any]:
        sub = env.subscriptions.get(sub_id)
        if sub is None or sub["api"] != api_id:
            raise GraviteeHttpError(404, f"Subscription [{sub_id}] cannot be found.", "subscription.notFound",
                                    parameters={"subscription": sub_id})
        return sub

    @staticmethod
    def _touch(api: dict[str, Any]) -> None:
        api["updatedAt"] = _now()
        api["deploymentState"] = "NEED_REDEPLOY"

    @staticmethod
    def _plan_changed(api: dict[str, Any], plan: dict[str, Any]) -> None:
        """ApiStateServiceImpl.isSynchronized: a plan change needs a redeploy unless the plan is STAGING."""
        if plan["status"] != "STAGING":
            api["deploymentState"] = "NEED_REDEPLOY"

    def _check_api_body(self, env: _Env, body: Any, api_id: str | None) -> None:
        if not isinstance(body, dict):
            raise _bad("Request body is not a JSON object", "request.invalid")
        for key in ("name", "apiVersion"):
            if not isinstance(body.get(key), str) or not body[key]:
                raise _bad(f"{key} must not be blank", "validation", key, body.get(key))
        if body.get("definitionVersion") != "V4":
            raise _bad("Only V4 definitions are handled here", "api.definitionVersion.invalid",
                       "definitionVersion", body.get("definitionVersion"))
        if body.get("type") not in API_TYPES:
            raise _bad("type is invalid", "validation", "type", body.get("type"))
        listeners = body.get("listeners")
        if not isinstance(listeners, list) or not listeners:
            raise _bad("listeners must contain at least 1 item", "validation", "listeners", listeners)
        groups = body.get("endpointGroups")
        if not isinstance(groups, list) or not groups:
            raise _bad("endpointGroups must contain at least 1 item", "validation", "endpointGroups", groups)
        for i, group in enumerate(groups):
            if not isinstance(group, dict) or not group.get("type"):
                raise _bad("endpoint group type is required", "validation", f"endpointGroups[{i}].type")
        used = sorted({p for other in env.apis.values() if other["id"] != api_id for p in self._paths(other)})
        for i, listener in enumerate(listeners):
            if not isinstance(listener, dict) or listener.get("type") not in {"HTTP", "TCP", "SUBSCRIPTION", "KAFKA"}:
                raise _bad("listener type is invalid", "validation", f"listeners[{i}].type")
            if listener["type"] == "HTTP":
                paths = listener.get("paths")
                if not isinstance(paths, list) or not paths:
                    raise _bad("paths must contain at least 1 item", "validation", f"listeners[{i}].paths")
                for path in paths:
                    value = path.get("path", "/") if isinstance(path, dict) else None
                    if not isinstance(value, str) or not _URI_PATH.match(value):
                        # VerifyApiPathDomainService.invalidPathErrors: a path that is no URI path.
                        raise GraviteeHttpError(400, f"Path [{value}] is invalid", None, parameters={})
                    # ApiPathExtractor.findConflictingPathError: one path is a prefix of the other (host-less
                    # paths); InvalidPathsException is a ValidationDomainException without technical code.
                    clash = next((u for u in used if u.startswith(_norm_path(value)) or _norm_path(value).startswith(u)),
                                 None)
                    if clash is not None:
                        raise GraviteeHttpError(400, f"Path [{clash}] already exists", None, parameters={})
                self._check_cors(listener.get("cors"))
        self._check_flows(body.get("flows"))

    def _check_cors(self, cors: Any) -> None:
        """CorsValidationServiceImpl.validateAndSanitize: each `allowOrigin` is `*`, `null`, a scheme://host
        origin, or (when it has a regex character) a valid regex; else 400 `allowOrigin.notAllowed`."""
        if not isinstance(cors, dict):
            return
        for origin in cors.get("allowOrigin") or []:
            if _CORS_ORIGIN.fullmatch(str(origin)):
                continue
            if any(ch in str(origin) for ch in _CORS_REGEX_CHARS):
                try:
                    re.compile(str(origin))
                    continue
                except re.error:
                    pass
            raise _bad(f"{origin} is not valid as an 'allow origin' value", "allowOrigin.notAllowed",
                       parameters={"allowOrigin": str(origin)})

    def _check_flows(self, flows: Any) -> None:
        """FlowValidationDomainService.validateAndSanitizeHttpV4 -> checkPolicyConfiguration: every step with a
        policy and a configuration is validated against its plugin, so an unknown policy is 404
        `plugin.notFound` (PolicyPluginServiceImpl.validatePolicyConfiguration -> findById)."""
        for flow in flows or []:
            if not isinstance(flow, dict):
                continue
            for phase in ("request", "response", "publish", "subscribe"):
                for step in flow.get(phase) or []:
                    if not isinstance(step, dict) or step.get("policy") is None or step.get("configuration") is None:
                        continue
                    policy = str(step["policy"])
                    if policy not in INTERNAL_POLICIES and policy not in self.policies:
                        raise _plugin_not_found(policy)

    @staticmethod
    def _sanitize_listeners(listeners: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Gravitee stores HTTP paths with a trailing slash and fills `overrideAccess`; `cors` is the
        definition's Cors (enabled/maxAge/allowCredentials always there, sets unordered, defaults -1/false)."""
        out = []
        for listener in listeners:
            listener = dict(listener)
            if listener.get("type") == "HTTP":
                listener["paths"] = [{**p, "path": _norm_path(str(p.get("path", "/"))),
                                      "overrideAccess": bool(p.get("overrideAccess", False))}
                                     for p in listener.get("paths") or []]
                if isinstance(listener.get("cors"), dict):
                    listener["cors"] = _stored_cors(listener["cors"])
                else:
                    listener.pop("cors", None)
            out.append(listener)
        return out

    @staticmethod
    def _paths(api: dict[str, Any]) -> set[str]:
        return {_norm_path(str(p.get("path", "/"))) for lst in api.get("listeners") or []
                if lst.get("type") == "HTTP" for p in lst.get("paths") or []}

    def _deploy(self, api: dict[str, Any]) -> None:
        api["deploymentState"] = "DEPLOYED"
        api["deployedAt"] = _now()
        self.deployments += 1

    # ------------------------------------------------------------------ routing
    def routes(self) -> list[BaseRoute]:
        v2_handlers: list[tuple[str, str, Any]] = [
            ("", "GET", self.get_environment),
            ("/apis", "GET", self.list_apis),
            ("/apis", "POST", self.create_api),
            ("/apis/_search", "POST", self.search_apis),
            ("/apis/{apiId}", "GET", self.get_api),
            ("/apis/{apiId}", "PUT", self.update_api),
            ("/apis/{apiId}", "DELETE", self.delete_api),
            ("/apis/{apiId}/_start", "POST", self.start_api),
            ("/apis/{apiId}/_stop", "POST", self.stop_api),
            ("/apis/{apiId}/deployments", "POST", self.deploy_api),
            ("/apis/{apiId}/plans", "GET", self.list_plans),
            ("/apis/{apiId}/plans", "POST", self.create_plan),
            ("/apis/{apiId}/plans/{planId}", "GET", self.get_plan),
            ("/apis/{apiId}/plans/{planId}", "PUT", self.update_plan),
            ("/apis/{apiId}/plans/{planId}", "DELETE", self.delete_plan),
            ("/apis/{apiId}/plans/{planId}/_publish", "POST", self.publish_plan),
            ("/apis/{apiId}/plans/{planId}/_close", "POST", self.close_plan),
            ("/apis/{apiId}/plans/{planId}/_deprecate", "POST", self.deprecate_plan),
            ("/apis/{apiId}/subscriptions", "GET", self.list_subscriptions),
            ("/apis/{apiId}/subscriptions", "POST", self.create_subscription),
            ("/apis/{apiId}/subscriptions/{subId}", "GET", self.get_subscription),
            ("/apis/{apiId}/subscriptions/{subId}/_close", "POST", self.close_subscription),
            ("/apis/{apiId}/subscriptions/{subId}/api-keys", "GET", self.list_api_keys),
            ("/apis/{apiId}/subscriptions/{subId}/api-keys/_renew", "POST", self.renew_api_key),
            ("/apis/{apiId}/subscriptions/{subId}/api-keys/{keyId}", "PUT", self.update_api_key),
            ("/apis/{apiId}/subscriptions/{subId}/api-keys/{keyId}/_revoke", "POST", self.revoke_api_key),
            ("/apis/{apiId}/subscriptions/{subId}/api-keys/{keyId}/_reactivate", "POST", self.reactivate_api_key),
        ]
        v1_handlers: list[tuple[str, str, Any]] = [
            ("", "GET", self.v1_environment),
            ("/applications", "GET", self.v1_list_apps),
            ("/applications", "POST", self.v1_create_app),
            ("/applications/_paged", "GET", self.v1_paged_apps),
            ("/applications/{appId}", "GET", self.v1_get_app),
            ("/applications/{appId}", "PUT", self.v1_update_app),
            ("/applications/{appId}", "DELETE", self.v1_delete_app),
            ("/applications/{appId}/subscriptions", "GET", self.v1_app_subscriptions),
            ("/settings", "GET", self.v1_get_settings),
            ("/settings", "POST", self.v1_save_settings),
        ]
        out: list[BaseRoute] = []
        for prefix in ("/management/v2/organizations/{org}/environments/{env}", "/management/v2/environments/{env}"):
            for suffix, method, handler in v2_handlers:
                out.append(Route(prefix + suffix, self._wrap(handler), methods=[method]))
        for suffix, method, handler in v1_handlers:
            out.append(Route("/management/organizations/{org}/environments/{env}" + suffix,
                             self._wrap(handler, v1=True), methods=[method]))
        out.append(Route("/management/v2/environments", self._wrap(self.list_environments), methods=["GET"]))
        # PoliciesResource: registered at the root (GraviteeManagementV2Application) and under
        # OrganizationResource (`/organizations/{orgId}/plugins/policies`).
        for prefix in ("/management/v2", "/management/v2/organizations/{org}"):
            out.append(Route(prefix + "/plugins/policies", self._wrap(self.list_policy_plugins), methods=["GET"]))
            out.append(Route(prefix + "/plugins/policies/{policyId}", self._wrap(self.get_policy_plugin),
                             methods=["GET"]))
        return out

    def _wrap(self, handler: Any, v1: bool = False) -> Any:
        async def endpoint(request: Request) -> Response:
            if not self._authorized(request):
                error = GraviteeHttpError(401, "Unauthorized", "unauthorized", v1=v1)
                response = error.response()
                response.headers["WWW-Authenticate"] = 'Basic realm="Gravitee.io Management API"'
                return response
            body: Any = None
            if request.method in ("POST", "PUT"):
                raw = await request.body()
                if raw:
                    try:
                        body = json.loads(raw)
                    except ValueError:
                        return GraviteeHttpError(400, "Malformed JSON body", "request.invalid", v1=v1).response()
            params = dict(request.path_params)
            env = self.env(params.pop("org", "DEFAULT"), params.pop("env", "DEFAULT"))
            try:
                with self.state_lock:
                    result = handler(request, env, body, **params)
            except GraviteeHttpError as exc:
                exc.v1 = v1
                return exc.response()
            if isinstance(result, Response):
                return result
            status, payload = result
            if payload is None:
                return Response(status_code=status)
            return JSONResponse(payload, status_code=status)

        return endpoint

    # ------------------------------------------------------------------ environment (health probe)
    def get_environment(self, request: Request, env: _Env, body: Any) -> tuple[int, Any]:
        env_id = request.path_params.get("env", "DEFAULT")
        org = request.path_params.get("org", "DEFAULT")
        return 200, {"id": env_id, "name": "Default environment", "organizationId": org, "hrids": ["default"]}

    def list_environments(self, request: Request, env: _Env, body: Any) -> tuple[int, Any]:
        return 200, _paged([{"id": "DEFAULT", "name": "Default environment", "organizationId": "DEFAULT"}], request)

    # ------------------------------------------------------------------ plugins
    def _policy_plugin(self, plugin_id: str) -> dict[str, Any]:
        name, category = self.policies[plugin_id]
        return {"id": plugin_id, "name": name, "category": category, "deployed": True}

    def list_policy_plugins(self, request: Request, env: _Env, body: Any) -> tuple[int, Any]:
        """`GET /plugins/policies`: a JSON array of PolicyPlugin (openapi-plugins.yaml getPolicies)."""
        return 200, [self._policy_plugin(pid) for pid in sorted(self.policies)]

    def get_policy_plugin(self, request: Request, env: _Env, body: Any, policyId: str) -> tuple[int, Any]:
        if policyId not in self.policies:
            raise _plugin_not_found(policyId)
        return 200, self._policy_plugin(policyId)

    # ------------------------------------------------------------------ APIs
    def list_apis(self, request: Request, env: _Env, body: Any) -> tuple[int, Any]:
        # `deploymentState` is computed only when asked: `?expands=deploymentState`
        # (ApisResource.getApis, EXPAND_DEPLOYMENT_STATE; the single-API GET always has it).
        # ApisResource.getApis: SortableImpl("name", true), paged by the repository.
        items = sorted(env.apis.values(), key=lambda a: (a["name"].lower(), a["id"]))
        if "deploymentState" not in request.query_params.getlist("expands"):
            items = [{k: v for k, v in a.items() if k != "deploymentState"} for a in items]
        return 200, _paged(items, request, strict=False)

    def search_apis(self, request: Request, env: _Env, body: Any) -> tuple[int, Any]:
        query = body if isinstance(body, dict) else {}
        items = sorted(env.apis.values(), key=lambda a: (a["createdAt"], a["id"]))
        text = str(query.get("query") or "").lower()
        if text:
            items = [a for a in items if text in a["name"].lower() or text in (a.get("description") or "").lower()]
        ids = query.get("ids")
        if ids:
            items = [a for a in items if a["id"] in set(ids)]
        return 200, _paged(items, request)

    def create_api(self, request: Request, env: _Env, body: Any) -> tuple[int, Any]:
        self._check_api_body(env, body, None)
        api_id = str(uuid.uuid4())
        now = _now()
        api = {
            "id": api_id, "crossId": str(uuid.uuid4()), "name": body["name"], "apiVersion": body["apiVersion"],
            "definitionVersion": "V4", "type": body["type"], "description": body.get("description", ""),
            "listeners": self._sanitize_listeners(body["listeners"]), "endpointGroups": body["endpointGroups"],
            "flows": body.get("flows") or [], "flowExecution": body.get("flowExecution")
            or {"mode": "DEFAULT", "matchRequired": False},
            "analytics": body.get("analytics") or {"enabled": True},
            "tags": body.get("tags") or [], "labels": [], "groups": body.get("groups") or [],
            "categories": [], "visibility": body.get("visibility", "PRIVATE"),
            "state": "STOPPED", "deploymentState": "NEED_REDEPLOY", "lifecycleState": "CREATED",
            "createdAt": now, "updatedAt": now, "disableMembershipNotifications": False,
            "primaryOwner": {"id": "admin-id", "displayName": self.username, "type": "USER"},
            "responseTemplates": {}, "resources": [], "properties": [],
        }
        env.apis[api_id] = api
        return 201, api

    def get_api(self, request: Request, env: _Env, body: Any, apiId: str) -> tuple[int, Any]:
        return 200, self._api(env, apiId)

    def update_api(self, request: Request, env: _Env, body: Any, apiId: str) -> tuple[int, Any]:
        api = self._api(env, apiId)
        self._check_api_body(env, body, apiId)
        if body["type"] != api["type"]:
            raise _bad("The type of an API cannot change", "api.type.immutable", "type", body["type"])
        for key in ("name", "apiVersion", "endpointGroups"):
            api[key] = body[key]
        api["listeners"] = self._sanitize_listeners(body["listeners"])
        for key, default in (("description", ""), ("flows", []), ("labels", []), ("tags", []),
                             ("groups", []), ("categories", []), ("visibility", "PRIVATE"),
                             ("responseTemplates", {}), ("resources", []), ("properties", [])):
            api[key] = body.get(key, default)
        if body.get("flowExecution"):
            api["flowExecution"] = body["flowExecution"]
        if body.get("analytics"):
            api["analytics"] = body["analytics"]
        if body.get("lifecycleState"):
            api["lifecycleState"] = body["lifecycleState"]
        self._touch(api)
        return 200, api

    def delete_api(self, request: Request, env: _Env, body: Any, apiId: str) -> tuple[int, Any]:
        api = self._api(env, apiId)
        # v4 ApiServiceImpl.delete: a STARTED API is refused; without closePlans, PUBLISHED plans are.
        if api["state"] == "STARTED":
            raise GraviteeHttpError(400, f"API [{apiId}] is still running and must be stopped before being deleted !",
                                    "api.running", parameters={"api": apiId})
        plans = [p for p in env.plans.values() if p["apiId"] == apiId]
        published = sorted(p["name"] for p in plans if p["status"] == "PUBLISHED")
        close = request.query_params.get("closePlans", "false").lower() == "true"
        if published and not close:
            raise GraviteeHttpError(400, f"Plan(s) [{published}] must be closed before being able to delete the API !",
                                    "api.notDeletable", parameters={"plans": ", ".join(published)})
        for plan in plans:
            self._close_plan(env, plan)
            del env.plans[plan["id"]]
        for sub_id in [s["id"] for s in env.subscriptions.values() if s["api"] == apiId]:
            del env.subscriptions[sub_id]
        del env.apis[apiId]
        return 204, None

    def start_api(self, request: Request, env: _Env, body: Any, apiId: str) -> tuple[int, Any]:
        api = self._api(env, apiId)
        # ApiResource.checkApiLifeCycle (BadRequestException: no technical code), then
        # ApiStateServiceImpl.start -> ApiValidationServiceImpl.canDeploy (a PUBLISHED or DEPRECATED plan).
        if api.get("lifecycleState") == "ARCHIVED":
            raise GraviteeHttpError(400, "Deleted API cannot be started", None)
        if api["state"] == "STARTED":
            raise GraviteeHttpError(400, "API is already started", None)
        if not any(p["apiId"] == apiId and p["status"] in ("PUBLISHED", "DEPRECATED") for p in env.plans.values()):
            raise GraviteeHttpError(400, f"The API {{{apiId}}} can not be started without at least one published plan",
                                    "api.NotDeployable")
        api["state"] = "STARTED"
        api["updatedAt"] = _now()
        if not api.get("deployedAt"):
            self._deploy(api)
        return 204, None

    def stop_api(self, request: Request, env: _Env, body: Any, apiId: str) -> tuple[int, Any]:
        api = self._api(env, apiId)
        if api.get("lifecycleState") == "ARCHIVED":
            raise GraviteeHttpError(400, "Deleted API cannot be stopped", None)
        if api["state"] == "STOPPED":
            raise GraviteeHttpError(400, "API is already stopped", None)
        api["state"] = "STOPPED"
        api["updatedAt"] = _now()
        return 204, None

    def deploy_api(self, request: Request, env: _Env, body: Any, apiId: str) -> tuple[int, Any]:
        api = self._api(env, apiId)
        label = (body or {}).get("deploymentLabel") if isinstance(body, dict) else None
        if label is not None and (not isinstance(label, str) or len(label) > 32):
            # ApiDeploymentEntity @Size(max = 32) -> ConstraintValidationExceptionMapper (v2).
            raise GraviteeHttpError(400, "Validation error", None, [{"message": "size must be between 0 and 32",
                                                                      "location": "deploymentLabel",
                                                                      "invalidValue": label}])
        if self.fail_next_deployments > 0:
            self.fail_next_deployments -= 1
            raise GraviteeHttpError(500, "Deployment failed: the gateway did not accept the definition",
                                    "api.deployment.failed")
        self._deploy(api)
        return 202, None  # ApiResource.deployApi: Response.accepted() without an entity

    # ------------------------------------------------------------------ plans
    def list_plans(self, request: Request, env: _Env, body: Any, apiId: str) -> tuple[int, Any]:
        self._api(env, apiId)
        statuses = _csv(request, "statuses") or {"PUBLISHED"}
        securities = _csv(request, "securities")
        items = [p for p in env.plans.values() if p["apiId"] == apiId and p["status"] in statuses
                 and (securities is None or p["security"]["type"] in securities)]
        items.sort(key=lambda p: (p["order"], p["createdAt"], p["id"]))  # comparingInt(GenericPlanEntity::getOrder)
        return 200, _paged(items, request)

    def create_plan(self, request: Request, env: _Env, body: Any, apiId: str) -> tuple[int, Any]:
        self._api(env, apiId)
        if not isinstance(body, dict):
            raise _bad("Request body is not a JSON object", "request.invalid")
        if body.get("definitionVersion") != "V4":
            raise _bad("definitionVersion must be V4 for a V4 API", "validation", "definitionVersion",
                       body.get("definitionVersion"))
        if not isinstance(body.get("name"), str) or not body["name"]:
            raise _bad("name must not be blank", "validation", "name")
        security = body.get("security")
        if not isinstance(security, dict) or security.get("type") not in SECURITY_TYPES:
            raise _bad("security.type is invalid", "validation", "security.type")
        # CreatePlanDomainService.createHttpV4ApiPlan validates the flows before anything is stored.
        self._check_flows(body.get("flows"))
        now = _now()
        order = 1 + max((p["order"] for p in env.plans.values() if p["apiId"] == apiId), default=0)
        plan = {
            "id": str(uuid.uuid4()), "crossId": body.get("crossId") or str(uuid.uuid4()), "apiId": apiId,
            "name": body["name"], "description": body.get("description", ""), "definitionVersion": "V4",
            "security": {"type": security["type"], "configuration": security.get("configuration") or {}},
            "mode": body.get("mode", "STANDARD"), "status": "STAGING", "type": "API",
            "validation": body.get("validation", "MANUAL"), "characteristics": body.get("characteristics") or [],
            "commentRequired": bool(body.get("commentRequired", False)),
            "excludedGroups": body.get("excludedGroups") or [], "tags": body.get("tags") or [],
            "flows": body.get("flows") or [], "order": body.get("order", order), "createdAt": now,
            "updatedAt": now,
        }
        env.plans[plan["id"]] = plan  # CreatePlanUseCase: STAGING, which needs no redeploy
        return 201, plan

    def get_plan(self, request: Request, env: _Env, body: Any, apiId: str, planId: str) -> tuple[int, Any]:
        self._api(env, apiId)
        return 200, self._plan(env, apiId, planId)

    def update_plan(self, request: Request, env: _Env, body: Any, apiId: str, planId: str) -> tuple[int, Any]:
        api = self._api(env, apiId)
        plan = self._plan(env, apiId, planId)
        if not isinstance(body, dict) or body.get("definitionVersion") != "V4":
            raise _bad("definitionVersion must be V4", "validation", "definitionVersion")
        # UpdatePlanDomainService.assertNotClosedStatus refuses only a status change of a CLOSED plan, which
        # UpdatePlanV4 cannot ask for: a closed plan's flows and name can still be updated.
        if not isinstance(body.get("name"), str) or not body["name"]:
            raise _bad("name must not be blank", "validation", "name")
        self._check_flows(body.get("flows"))  # UpdatePlanDomainService: validateAndSanitizeHttpV4
        plan["name"] = body["name"]
        for key, default in (("description", ""), ("flows", []), ("characteristics", []), ("tags", []),
                             ("excludedGroups", []), ("commentRequired", False)):
            plan[key] = body.get(key, default)
        for key in ("validation", "order", "selectionRule", "generalConditions", "commentMessage"):
            if key in body:
                plan[key] = body[key]
        security = body.get("security")
        if isinstance(security, dict) and "configuration" in security:
            plan["security"]["configuration"] = security["configuration"] or {}
        plan["updatedAt"] = _now()
        self._plan_changed(api, plan)
        return 200, plan

    def delete_plan(self, request: Request, env: _Env, body: Any, apiId: str, planId: str) -> tuple[int, Any]:
        api = self._api(env, apiId)
        plan = self._plan(env, apiId, planId)
        # v4 PlanServiceImpl.delete: a PUBLISHED or DEPRECATED plan with subscriptions (any status).
        if plan["status"] in ("PUBLISHED", "DEPRECATED") and any(s["plan"] == planId for s in env.subscriptions.values()):
            raise _bad("You can't delete a plan with existing subscriptions. Please close it instead.",
                       "plan.notDeletable", parameters={"plan": planId})
        del env.plans[plan["id"]]
        self._plan_changed(api, plan)
        return 204, None

    def publish_plan(self, request: Request, env: _Env, body: Any, apiId: str, planId: str) -> tuple[int, Any]:
        api = self._api(env, apiId)
        plan = self._plan(env, apiId, planId)
        # v4 PlanServiceImpl.publish: closed / published / deprecated refused, then one key-less plan
        # PUBLISHED or DEPRECATED per API; the plan goes last in the order of the published ones.
        refused = {"CLOSED": ("closed", "plan.closed"), "PUBLISHED": ("published", "plan.published"),
                   "DEPRECATED": ("deprecated", "plan.deprecated")}
        if plan["status"] in refused:
            word, code = refused[plan["status"]]
            raise _bad(f"Plan {planId} is already {word} !", code, parameters={"plan": planId})
        if plan["security"]["type"] == "KEY_LESS" and any(
                p["apiId"] == apiId and p["status"] in ("PUBLISHED", "DEPRECATED") and p["security"]["type"] == "KEY_LESS"
                for p in env.plans.values()):
            raise _bad("A key-less plan is already published (or has been deprecated)!", "plan.keyless.exists",
                       parameters={"plan": planId})
        published = [p["order"] for p in env.plans.values() if p["apiId"] == apiId and p["status"] == "PUBLISHED"]
        plan["order"] = max(published) + 1 if published else 1
        plan["status"] = "PUBLISHED"
        plan["publishedAt"] = plan["updatedAt"] = _now()
        self._plan_changed(api, plan)
        return 200, plan

    def _close_plan(self, env: _Env, plan: dict[str, Any]) -> None:
        plan["status"] = "CLOSED"
        plan["closedAt"] = plan["updatedAt"] = _now()
        for sub in env.subscriptions.values():
            if sub["plan"] == plan["id"] and sub["status"] in ACTIVE_SUBS:
                self._close_sub(env, sub)

    def close_plan(self, request: Request, env: _Env, body: Any, apiId: str, planId: str) -> tuple[int, Any]:
        api = self._api(env, apiId)
        plan = self._plan(env, apiId, planId)
        if plan["status"] == "CLOSED":  # v4 PlanServiceImpl.close: PlanAlreadyClosedException
            raise _bad(f"Plan {planId} is already closed !", "plan.closed", parameters={"plan": planId})
        self._close_plan(env, plan)
        self._plan_changed(api, plan)
        return 200, plan

    def deprecate_plan(self, request: Request, env: _Env, body: Any, apiId: str, planId: str) -> tuple[int, Any]:
        api = self._api(env, apiId)
        plan = self._plan(env, apiId, planId)
        if plan["status"] != "PUBLISHED":
            raise _bad(f"Plan [{planId}] is not published", "plan.notPublished")
        plan["status"] = "DEPRECATED"
        self._plan_changed(api, plan)
        return 200, plan

    # ------------------------------------------------------------------ subscriptions (v2, API side)
    def _sub_view(self, env: _Env, sub: dict[str, Any]) -> dict[str, Any]:
        api = env.apis.get(sub["api"], {})
        plan = env.plans.get(sub["plan"], {})
        app = env.apps.get(sub["application"], {})
        return {
            "id": sub["id"], "status": sub["status"], "consumerStatus": "STARTED",
            "api": {"id": sub["api"], "name": api.get("name")},
            "plan": {"id": sub["plan"], "name": plan.get("name"), "security": plan.get("security")},
            "application": {"id": sub["application"], "name": app.get("name")},
            "metadata": sub.get("metadata") or {}, "createdAt": sub["createdAt"],
            "updatedAt": sub["updatedAt"], **({"closedAt": sub["closedAt"]} if "closedAt" in sub else {}),
        }

    def list_subscriptions(self, request: Request, env: _Env, body: Any, apiId: str) -> tuple[int, Any]:
        self._api(env, apiId)
        apps = {v for raw in request.query_params.getlist("applicationIds") for v in raw.split(",") if v}
        plans = {v for raw in request.query_params.getlist("planIds") for v in raw.split(",") if v}
        statuses = _csv(request, "statuses") or {"ACCEPTED"}  # getApiSubscriptions: @DefaultValue("ACCEPTED")
        items = [self._sub_view(env, s) for s in env.subscriptions.values() if s["api"] == apiId
                 and (not apps or s["application"] in apps) and (not plans or s["plan"] in plans)
                 and s["status"] in statuses]
        items.sort(key=lambda s: (s["createdAt"], s["id"]))
        return 200, _paged(items, request, strict=False)  # subscriptionService.search pages in the repository

    @staticmethod
    def _custom_key_refused(env: _Env, custom: Any) -> None:
        """ApiSubscriptionsResource.createApiSubscription / renewApiSubscriptionApiKeys: a non-empty
        `customApiKey` without `plan.security.apikey.allowCustom.enabled` is 400 `subscription.invalid`,
        checked first (before the plan, the application or the subscription are looked up)."""
        if isinstance(custom, str) and custom and not env.settings.get("customApiKey"):
            raise GraviteeHttpError(400, "You are not allowed to provide a custom API Key", "subscription.invalid")

    def create_subscription(self, request: Request, env: _Env, body: Any, apiId: str) -> tuple[int, Any]:
        if not isinstance(body, dict) or not body.get("planId") or not body.get("applicationId"):
            raise _bad("planId and applicationId are required", "validation", "planId")
        custom = body.get("customApiKey") or None
        self._custom_key_refused(env, custom)
        self._api(env, apiId)
        plan = self._plan(env, apiId, str(body["planId"]))
        # SubscriptionServiceImpl.create: the plan's status, then its security, then the application.
        if plan["status"] == "DEPRECATED":
            raise _bad(f"Plan {plan['id']} is not subscribable", "plan.notSubscribable", parameters={"plan": plan["id"]})
        if plan["status"] == "CLOSED":
            raise _bad(f"Plan {plan['id']} is already closed !", "plan.closed", parameters={"plan": plan["id"]})
        if plan["status"] == "STAGING":
            raise _bad(f"Plan {plan['id']} is not yet published !", "plan.notPublished", parameters={"plan": plan["id"]})
        if plan["security"]["type"] == "KEY_LESS":
            raise _bad("A keyless plan is not subscribable!", "plan.notSubscribable")
        app = env.apps.get(str(body["applicationId"]))
        if app is None:
            raise GraviteeHttpError(404, f"Application [{body['applicationId']}] cannot be found.",
                                    "application.notFound", parameters={"application": str(body["applicationId"])})
        if app["status"] == "ARCHIVED":
            raise _bad(f"Application [{app['name']}] is archived and cannot be modified.", "application.archived",
                       parameters={"application": app["name"]})
        same_api = [s for s in env.subscriptions.values() if s["application"] == app["id"] and s["api"] == apiId
                    and s["status"] not in ("REJECTED", "CLOSED")]
        if any(s["plan"] == plan["id"] for s in same_api):
            raise _bad("There is already a PENDING or ACCEPTED subscription for this plan.", "plan.subscribed",
                       parameters={"plan": plan["id"]})
        api_key = plan["security"]["type"] == "API_KEY"
        if api_key and app["api_key_mode"] == "SHARED" and any(
                env.plans.get(s["plan"], {}).get("security", {}).get("type") == "API_KEY" for s in same_api):
            raise _bad("An API Key subscription already exists for this application with a shared API Key",
                       "plan.subscribable.sharedApiKey")
        if api_key:
            self._update_api_key_mode(env, app, body.get("apiKeyMode"))
        if api_key and plan.get("validation") == "AUTO":
            # ApiKeyServiceImpl.generate runs when the subscription is accepted (AUTO: right away).
            reuse = self._reusable_key(env, custom, app["id"], apiId) if custom else None
            if custom and reuse is None and app["api_key_mode"] != "SHARED" and self._key_conflict(env, custom, app["id"],
                                                                                                     apiId):
                raise _bad("API Key already exists", "apiKey.existing")
        now = _now()
        sub = {"id": str(uuid.uuid4()), "api": apiId, "plan": plan["id"], "application": app["id"],
               "status": "ACCEPTED" if plan.get("validation") == "AUTO" else "PENDING",
               "metadata": body.get("metadata") or {}, "createdAt": now, "updatedAt": now}
        env.subscriptions[sub["id"]] = sub
        if api_key and sub["status"] == "ACCEPTED":
            self._generate_key(env, app, sub, custom)
        return 201, self._sub_view(env, sub)

    @staticmethod
    def _api_key_subs(env: _Env, app_id: str) -> int:
        """SubscriptionServiceImpl.countApiKeySubscriptions: ACCEPTED, PAUSED, PENDING, API_KEY plans."""
        return sum(1 for s in env.subscriptions.values() if s["application"] == app_id
                   and s["status"] in ("ACCEPTED", "PAUSED", "PENDING")
                   and env.plans.get(s["plan"], {}).get("security", {}).get("type") == "API_KEY")

    def _update_api_key_mode(self, env: _Env, app: dict[str, Any], selected: Any) -> None:
        """SubscriptionServiceImpl.updateApplicationApiKeyMode: an UNSPECIFIED application subscribing to a
        second API-key plan becomes EXCLUSIVE (SHARED only when asked for, with exactly one such subscription)."""
        if app["api_key_mode"] != "UNSPECIFIED":
            return
        count = self._api_key_subs(env, app["id"])
        mode = selected if selected in ("SHARED", "EXCLUSIVE") else None
        if mode == "SHARED" and count == 0:
            return
        if mode == "SHARED" and count > 1:
            mode = "EXCLUSIVE"
        if mode is None and count > 0:
            mode = "EXCLUSIVE"
        if mode is not None:
            app["api_key_mode"] = mode

    @staticmethod
    def _key_active(key: dict[str, Any]) -> bool:
        expire = key.get("expireAt")
        return not key["revoked"] and not (expire is not None and expire <= _now())

    def _key_conflict(self, env: _Env, value: str, app_id: str, api_id: str) -> bool:
        """ApiKeyServiceImpl.canCreate / isConflictingKeyForReference: a key value held by another application
        (revoked or not) is taken; by the same application on the same API it is taken unless
        `allowCustomReuse` is on and that key is inactive; on another API of the same application it is free."""
        reuse = bool(env.settings.get("customApiKeyReuse"))
        for key in env.api_keys.values():
            if key["key"] != value:
                continue
            if key["application"] != app_id:
                return True
            if api_id in key["apis"] and not (reuse and not self._key_active(key)):
                return True
        return False

    def _reusable_key(self, env: _Env, value: str, app_id: str, api_id: str) -> dict[str, Any] | None:
        """ApiKeyServiceImpl.findReusableInactiveKey: with `allowCustomReuse`, an inactive key of the same
        value, API and application is reactivated instead of a new one being made."""
        if not env.settings.get("customApiKeyReuse"):
            return None
        return next((k for k in env.api_keys.values() if k["key"] == value and k["application"] == app_id
                     and api_id in k["apis"] and not self._key_active(k)), None)

    def _generate_key(self, env: _Env, app: dict[str, Any], sub: dict[str, Any], custom: str | None) -> dict[str, Any]:
        """ApiKeyServiceImpl.generate: SHARED applications reuse their key (findOrGenerate); else
        createOrReuseForSubscription (reactivate a reusable key, or a new one after canCreate)."""
        if app["api_key_mode"] == "SHARED":
            existing = [k for k in env.api_keys.values() if k["application"] == app["id"]]
            if existing:
                key = existing[0]
                key["subscriptions"].append(sub["id"])
                key["apis"].append(sub["api"])
                return key
        return self._create_or_reuse(env, sub, custom)

    def _create_or_reuse(self, env: _Env, sub: dict[str, Any], custom: str | None) -> dict[str, Any]:
        reused = self._reusable_key(env, custom, sub["application"], sub["api"]) if custom else None
        if reused is not None:
            reused.update(revoked=False, expireAt=None, updatedAt=_now())
            if sub["id"] not in reused["subscriptions"]:
                reused["subscriptions"].append(sub["id"])
            return reused
        if custom and self._key_conflict(env, custom, sub["application"], sub["api"]):
            raise _bad("API Key already exists", "apiKey.existing")
        now = _now()
        key = {"id": str(uuid.uuid4()), "key": custom or uuid.uuid4().hex, "subscriptions": [sub["id"]],
               "apis": [sub["api"]], "application": sub["application"], "revoked": False, "paused": False,
               "expireAt": None, "createdAt": now, "updatedAt": now}
        env.api_keys[key["id"]] = key
        return key

    def _key_view(self, env: _Env, key: dict[str, Any]) -> dict[str, Any]:
        app = env.apps.get(key["application"], {})
        view = {"id": key["id"], "key": key["key"], "revoked": key["revoked"], "paused": key["paused"],
                "expired": key.get("expireAt") is not None and key["expireAt"] <= _now(),
                "createdAt": key["createdAt"], "updatedAt": key["updatedAt"],
                "application": {"id": key["application"], "name": app.get("name")},
                "subscriptions": [{"id": sid} for sid in key["subscriptions"]]}
        if key.get("expireAt") is not None:
            view["expireAt"] = key["expireAt"]
        return view

    def get_subscription(self, request: Request, env: _Env, body: Any, apiId: str, subId: str) -> tuple[int, Any]:
        return 200, self._sub_view(env, self._sub(env, apiId, subId))

    def _close_sub(self, env: _Env, sub: dict[str, Any]) -> None:
        """CloseSubscriptionDomainService.closeSubscription: ACCEPTED/PAUSED -> CLOSED and the keys revoked
        (not for a SHARED application); PENDING -> REJECTED; CLOSED/REJECTED are left as they are."""
        if sub["status"] == "PENDING":
            sub["status"] = "REJECTED"
            sub["updatedAt"] = _now()
            return
        if sub["status"] not in ("ACCEPTED", "PAUSED"):
            return
        sub["status"] = "CLOSED"
        sub["closedAt"] = sub["updatedAt"] = _now()
        app = env.apps.get(sub["application"], {})
        if app.get("api_key_mode") != "SHARED":
            for key in env.api_keys.values():
                if sub["id"] in key["subscriptions"]:
                    key["revoked"] = True
                    key["updatedAt"] = _now()

    def close_subscription(self, request: Request, env: _Env, body: Any, apiId: str, subId: str) -> tuple[int, Any]:
        sub = self._sub(env, apiId, subId)
        self._close_sub(env, sub)
        return 200, self._sub_view(env, sub)

    def list_api_keys(self, request: Request, env: _Env, body: Any, apiId: str, subId: str) -> tuple[int, Any]:
        self._sub(env, apiId, subId)
        keys = [self._key_view(env, k) for k in env.api_keys.values() if subId in k["subscriptions"]]
        return 200, _paged(keys, request)

    def renew_api_key(self, request: Request, env: _Env, body: Any, apiId: str, subId: str) -> tuple[int, Any]:
        """ApiSubscriptionsResource.renewApiSubscriptionApiKeys -> ApiKeyServiceImpl.renew: the new key is made
        (canCreate), the subscription's other keys expire two hours after it (expireApiKeys), not at once."""
        custom = (body.get("customApiKey") or None) if isinstance(body, dict) else None
        self._custom_key_refused(env, custom)
        sub = self._sub(env, apiId, subId)
        app = env.apps.get(sub["application"], {})
        if app.get("api_key_mode") == "SHARED":
            raise _bad(f"Invalid operation for API Key mode [SHARED] of application [{app['id']}].",
                       "application.apiKeyMode.invalid")
        if sub["status"] not in ("ACCEPTED", "PAUSED"):
            raise GraviteeHttpError(400, f"Subscription [{subId}] should be paused or accepted. Currently it is "
                                         f"{sub['status']}", "subscription.closed",
                                    parameters={"subscription": subId, "status": sub["status"]})
        new = self._create_or_reuse(env, sub, custom)
        expire = (datetime.now(UTC) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        for key in env.api_keys.values():
            if key is not new and subId in key["subscriptions"] and self._key_active(key):
                key["expireAt"] = expire
                key["updatedAt"] = _now()
        return 200, self._key_view(env, new)

    def _sub_key(self, env: _Env, apiId: str, subId: str, keyId: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The subscription (404 subscription.notFound) and one of its keys (404 apiKey.notFound), refused for a
        SHARED application (ApiSubscriptionsResource.checkApplicationDoesntUseSharedApiKey)."""
        sub = self._sub(env, apiId, subId)
        key = env.api_keys.get(keyId)
        if key is None or subId not in key["subscriptions"]:
            raise GraviteeHttpError(404, "No API Key can be found.", "apiKey.notFound", parameters={"apiKeyId": keyId})
        app = env.apps.get(sub["application"], {})
        if app.get("api_key_mode") == "SHARED":
            raise _bad(f"Invalid operation for API Key mode [SHARED] of application [{app['id']}].",
                       "application.apiKeyMode.invalid")
        return sub, key

    def update_api_key(self, request: Request, env: _Env, body: Any, apiId: str, subId: str,
                       keyId: str) -> tuple[int, Any]:
        """updateApiSubscriptionApiKey: only `expireAt` changes (absent: no expiration)."""
        _, key = self._sub_key(env, apiId, subId, keyId)
        key["expireAt"] = (body or {}).get("expireAt") if isinstance(body, dict) else None
        key["updatedAt"] = _now()
        return 200, self._key_view(env, key)

    def revoke_api_key(self, request: Request, env: _Env, body: Any, apiId: str, subId: str,
                       keyId: str) -> tuple[int, Any]:
        """RevokeApiSubscriptionApiKeyUseCase -> RevokeApiKeyDomainService.revoke: a key that cannot be revoked
        (already revoked or expired) is returned as it is."""
        _, key = self._sub_key(env, apiId, subId, keyId)
        if self._key_active(key):
            key["revoked"] = True
            key["updatedAt"] = _now()
        return 200, self._key_view(env, key)

    def reactivate_api_key(self, request: Request, env: _Env, body: Any, apiId: str, subId: str,
                           keyId: str) -> tuple[int, Any]:
        """ApiKeyServiceImpl.reactivate: 400 `apiKey.activated` for an active key; its subscription must be
        ACCEPTED or PAUSED; the key gets no expiration (the subscription's ending date)."""
        _, key = self._sub_key(env, apiId, subId, keyId)
        if self._key_active(key):
            raise _bad("API Key is already activated", "apiKey.activated")
        first = env.subscriptions.get(key["subscriptions"][0], {})
        if first.get("status") not in ("ACCEPTED", "PAUSED"):
            raise GraviteeHttpError(400, f"Subscription [{first.get('id')}] should be paused or accepted. Currently "
                                         f"it is {first.get('status')}", "subscription.closed",
                                    parameters={"subscription": str(first.get("id")), "status": str(first.get("status"))})
        key.update(revoked=False, expireAt=None, updatedAt=_now())
        return 200, self._key_view(env, key)

    # ------------------------------------------------------------------ settings (v1)
    def _settings_view(self, env: _Env) -> dict[str, Any]:
        """PortalSettingsEntity's `plan.security` (PlanSettings.PlanSecurity: one `{enabled}` per parameter)."""
        return {"plan": {"security": {name: {"enabled": value} for name, value in sorted(env.settings.items())}}}

    def v1_get_settings(self, request: Request, env: _Env, body: Any) -> tuple[int, Any]:
        return 200, self._settings_view(env)

    def v1_save_settings(self, request: Request, env: _Env, body: Any) -> tuple[int, Any]:
        """PortalSettingsResource.savePortalSettings (only `plan.security.*.enabled` is kept here)."""
        security = ((body or {}).get("plan") or {}).get("security") or {} if isinstance(body, dict) else {}
        for name, value in security.items():
            if name in env.settings and isinstance(value, dict) and isinstance(value.get("enabled"), bool):
                env.settings[name] = value["enabled"]
        return 200, self._settings_view(env)

    # ------------------------------------------------------------------ applications (v1)
    def v1_environment(self, request: Request, env: _Env, body: Any) -> tuple[int, Any]:
        return 200, {"id": request.path_params.get("env", "DEFAULT"), "name": "Default environment",
                     "organizationId": request.path_params.get("org", "DEFAULT")}

    @staticmethod
    def _app_item(app: dict[str, Any]) -> dict[str, Any]:
        return dict(app)

    def _app(self, env: _Env, app_id: str) -> dict[str, Any]:
        app = env.apps.get(app_id)  # ApplicationServiceImpl.findById: an ARCHIVED application is found too
        if app is None:
            raise GraviteeHttpError(404, f"Application [{app_id}] cannot be found.", "application.notFound",
                                    parameters={"application": app_id})
        return app

    def v1_list_apps(self, request: Request, env: _Env, body: Any) -> tuple[int, Any]:
        """ApplicationsResource.getApplications (deprecated): the `_paged` search without paging, a bare array."""
        status = request.query_params.get("status", "ACTIVE").upper()
        order = "updated_at" if status == "ARCHIVED" else "name"
        return 200, self._apps_matching(env, request, status, order)

    def _apps_matching(self, env: _Env, request: Request, status: str, order: str) -> list[dict[str, Any]]:
        query = request.query_params.get("query", "").lower()
        ids = {v for raw in request.query_params.getlist("ids") for v in raw.split(",") if v}
        items = [a for a in env.apps.values() if a["status"] == status and query in a["name"].lower()
                 and (not ids or a["id"] in ids)]
        field = order.lstrip("-")
        items.sort(key=lambda a: (a["name"].lower() if field == "name" else a["updated_at"], a["id"]),
                   reverse=order.startswith("-"))
        return [dict(a) for a in items]

    @staticmethod
    def _v1_pageable(request: Request, method: str) -> tuple[int, int]:
        """rest/model/Pageable: `size` default 20, @Min(1) @Max(200); `page` default 1, @Min(1). A value that is
        not a number cannot be converted: JAX-RS answers 404 for a @QueryParam (JAX-RS 2.1 spec, 3.2)."""
        try:
            size = int(request.query_params.get("size", "20"))
            page = int(request.query_params.get("page", "1"))
        except ValueError:
            raise GraviteeHttpError(404, "HTTP 404 Not Found", None, v1=True) from None
        if size < 1:
            raise V1ConstraintError(method, "pageable", "size", "Page size should not be less than 1")
        if size > 200:
            raise V1ConstraintError(method, "pageable", "size", "Page size should not be more than 200")
        if page < 1:
            raise V1ConstraintError(method, "pageable", "page", "Page number should not be less than 1")
        return page, size

    @staticmethod
    def _paged_result(items: list[dict[str, Any]], page: int, size: int) -> dict[str, Any]:
        """rest/model/PagedResult: `data`, `page {current, per_page, size, total_pages, total_elements}`; a page
        past the last is empty (the repository pages), not an error."""
        chunk = items[(page - 1) * size: page * size]
        return {"data": chunk, "page": {"current": page, "per_page": size, "size": len(chunk),
                                        "total_pages": math.ceil(len(items) / size), "total_elements": len(items)}}

    def v1_paged_apps(self, request: Request, env: _Env, body: Any) -> tuple[int, Any]:
        """ApplicationsResource.getApplicationsPaged: status (default ACTIVE), query, ids, order (name), paging;
        `metadata` is never set for applications, so Include.NON_NULL leaves it out."""
        page, size = self._v1_pageable(request, "getApplicationsPaged")
        status = request.query_params.get("status", "ACTIVE").upper()
        order = request.query_params.get("order", "name")
        if order.lstrip("-") not in ("name", "updated_at"):
            order = "name"
        return 200, self._paged_result(self._apps_matching(env, request, status, order), page, size)

    @staticmethod
    def _check_app_body(body: Any, method: str, param: str) -> dict[str, Any]:
        """NewApplicationEntity / UpdateApplicationEntity: `name` and `description` are @NotNull (their
        messages), `settings` too on update."""
        if not isinstance(body, dict):
            raise GraviteeHttpError(400, "An application must be provided", None)
        if not isinstance(body.get("name"), str):
            raise V1ConstraintError(method, param, "name", "Application's name must not be null")
        if not isinstance(body.get("description"), str):
            raise V1ConstraintError(method, param, "description", "Application's description must not be null")
        return body

    def v1_create_app(self, request: Request, env: _Env, body: Any) -> tuple[int, Any]:
        body = self._check_app_body(body, "createApplication", "application")
        settings = body.get("settings") or {}
        if not settings.get("app") and not settings.get("oauth"):
            # ApplicationsResource.createApplication: SimpleApplicationSettings from the body's `type`/`clientId`.
            settings = {"app": {k: body[k] for k in ("type", "clientId") if body.get(k) is not None}}
        mode = body.get("api_key_mode") or "UNSPECIFIED"
        if mode == "SHARED" and not env.settings.get("sharedApiKey"):
            # ApplicationServiceImpl.create (checkAndSanitize): SHARED needs plan.security.apikey.allowShared.
            raise GraviteeHttpError(400, "Can't create application with SHARED API Key mode cause environment "
                                         "setting is disabled", "application.apiKeyMode.invalid")
        now = _epoch_ms()
        app = {"id": str(uuid.uuid4()), "name": body["name"], "description": body["description"],
               **({"domain": body["domain"]} if body.get("domain") is not None else {}),
               "groups": body.get("groups") or [], "status": "ACTIVE",
               "type": "SIMPLE" if "app" in settings else "BACKEND_TO_BACKEND", "settings": settings,
               "api_key_mode": mode,
               "owner": {"id": "admin-id", "displayName": self.username, "type": "USER"},
               "created_at": now, "updated_at": now}
        env.apps[app["id"]] = app
        return 201, app

    def v1_get_app(self, request: Request, env: _Env, body: Any, appId: str) -> tuple[int, Any]:
        return 200, self._app(env, appId)

    def v1_update_app(self, request: Request, env: _Env, body: Any, appId: str) -> tuple[int, Any]:
        app = self._app(env, appId)
        body = self._check_app_body(body, "updateApplication", "updatedApplication")
        if app["status"] == "ARCHIVED":  # ApplicationServiceImpl.update
            raise GraviteeHttpError(400, f"Application [{app['name']}] is archived and cannot be modified.",
                                    "application.archived", parameters={"application": app["name"]})
        if not isinstance(body.get("settings"), dict):
            raise V1ConstraintError("updateApplication", "updatedApplication", "settings",
                                    "Application's settings must not be null")
        app.update(name=body["name"], description=body["description"], settings=body["settings"],
                   domain=body.get("domain"), groups=body.get("groups") or [], updated_at=_epoch_ms())
        return 200, app

    def v1_delete_app(self, request: Request, env: _Env, body: Any, appId: str) -> tuple[int, Any]:
        """ApplicationResource.deleteApplication -> ApplicationServiceImpl.archive: the subscriptions' API keys
        are deleted, the subscriptions closed, the application ARCHIVED (again if it already is)."""
        app = self._app(env, appId)
        for sub in env.subscriptions.values():
            if sub["application"] == appId:
                for key_id in [k["id"] for k in env.api_keys.values() if sub["id"] in k["subscriptions"]]:
                    del env.api_keys[key_id]
                self._close_sub(env, sub)
        app["status"] = "ARCHIVED"
        app["updated_at"] = _epoch_ms()
        return 204, None

    def v1_app_subscriptions(self, request: Request, env: _Env, body: Any, appId: str) -> tuple[int, Any]:
        """ApplicationSubscriptionsResource.getApplicationSubscriptions: SubscriptionParam (plan, api: comma
        lists; status: comma list, default ACCEPTED, ListSubscriptionStatusParam), Pageable; items are
        SubscriptionEntity (snake-case dates, epoch ms); `metadata` has the APIs, plans and application."""
        self._app(env, appId)
        page, size = self._v1_pageable(request, "getApplicationSubscriptions")
        statuses = _csv(request, "status") or {"ACCEPTED"}
        plans = {v for raw in request.query_params.getlist("plan") for v in raw.split(",") if v}
        apis = {v for raw in request.query_params.getlist("api") for v in raw.split(",") if v}
        items = [s for s in env.subscriptions.values() if s["application"] == appId and s["status"] in statuses
                 and (not plans or s["plan"] in plans) and (not apis or s["api"] in apis)]
        items.sort(key=lambda s: (s["createdAt"], s["id"]))
        result = self._paged_result([self._v1_sub(s) for s in items], page, size)
        metadata: dict[str, Any] = {}
        for sub in result["data"]:
            api = env.apis.get(sub["api"])
            plan = env.plans.get(sub["plan"])
            if api:
                metadata[api["id"]] = {"name": api["name"], "version": api["apiVersion"]}
            if plan:
                metadata[plan["id"]] = {"name": plan["name"]}
        app = env.apps[appId]
        metadata[appId] = {"name": app["name"]}
        result["metadata"] = metadata
        return 200, result

    @staticmethod
    def _v1_sub(sub: dict[str, Any]) -> dict[str, Any]:
        def ms(value: str) -> int:
            return int(datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp() * 1000)

        out = {"id": sub["id"], "api": sub["api"], "plan": sub["plan"], "application": sub["application"],
               "status": sub["status"], "consumerStatus": "STARTED", "origin": "MANAGEMENT",
               "referenceId": sub["api"], "referenceType": "API",
               "created_at": ms(sub["createdAt"]), "updated_at": ms(sub["updatedAt"])}
        if "closedAt" in sub:
            out["closed_at"] = ms(sub["closedAt"])
        return out
