"""Emulator of the webMethods API Gateway 10.15 REST API (`/rest/apigateway`, HTTP Basic auth).

Written from the vendor's Swagger 2.0 files (`../shared/specs/webmethods/`), their response samples
and the vendor's documentation, never from the adapter. Where a sample's envelope differs from the
declared schema, the sample wins. Every rule below is listed, with its source (or `unconfirmed`)
and its test, in `fidelity/webmethods.md`.

Behaviour:
- Basic auth on every route (`Administrator` / `manage` on a fresh gateway): 401 otherwise. Errors
  carry `{"errorDetails": "..."}`; a body that is not JSON is a 400.
- `POST /apis` imports JSON (`InputAPI`: `apiName`, `type`, `apiDefinition`); `type` and `apiName`
  are required. Only OpenAPI 3.0.x is parsed (3.1 is a 400); a second API with the same name and
  version is 409; import by `url` (400) and multipart uploads (415) need what an emulator lacks.
  A new API is inactive and has its own policy (`policies[0]`) holding "Require HTTP / HTTPS"
  (transport) and "Straight Through Routing" (routing), actions nobody else owns.
- `PUT /apis/{id}` updates in place (same id, `isActive` kept) but refuses a new name or version
  while the API is active; activate on an active API and deactivate on an inactive one are 400;
  `DELETE /apis/{id}` is 400 while active, and 400 while applications use it unless `forceDelete`
  is true (its documented default); a deleted API leaves its applications and scope mappings.
- Policies: `GET /policyStages` as its sample (plus `corsPolicy` in responseProcessing). `PUT
  /policies/{id}` takes only those stage keys, each action in a stage that takes its template, at
  most one Identify & Authorize (`evaluatePolicy`, 500), and on an active API no throttle without
  one (500, also checked at activation). Deleting an action a policy enforces is a 400.
- Applications: the gateway makes the API key (`accessTokens.apiAccessKey_credentials`); a client
  cannot set it (`POST`/`PUT` ignore `accessTokens`); `POST /applications/{id}/accessTokens`
  renews it. `PUT`/`POST /applications/{id}/apis` replace the API list (unknown ids: 400);
  `GET /applications/{id}` lists the application under `applications`, as its sample.
- Aliases: name and type (one of the 12) required, names unique, an endpoint alias needs
  `endPointURI`, a type never changes, an auth-server alias a strategy uses cannot be deleted.
  Strategies must name an existing auth-server alias; scopes must name existing APIs and scopes the
  referenced auth server declares.
- `PUT /configurations/{key}` stores the document GET returns; `GET /archive` returns a real ZIP
  with one JSON file per exported object and a `manifest.json` index.
"""

from __future__ import annotations

import base64
import copy
import hmac
import io
import json
import threading
import time
import uuid
import zipfile
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from reconciler.emulators.server import Emulator

BASE = "/rest/apigateway"
ALIAS_TYPES = ("simple", "endpoint", "httpTransportSecurityAlias", "soapMessageSecurityAlias", "samlIssuerAlias",
               "authServerAlias", "webmethodsAlias", "transformationAlias", "serviceRegistryAlias",
               "clientMetadataMapping", "awsConfigurationAlias", "isConfigurationAlias")
STRATEGY_TYPES = ("JWT_RSA", "JWT_HSA", "OPENID_CONNECT_RSA", "OPENID_CONNECT_HSA", "OAUTH2", "OAUTH2_LOCAL_RSA",
                  "OAUTH2_LOCAL_HSA", "COMPOSITE")
#: `GET /policyStages` as its sample serves it (APIGatewayPolicyManagement.json): stage key, name, the
#: templates that stage takes, sequence. One addition: `corsPolicy` in responseProcessing, where the
#: documentation files the CORS policy (10.15 "Policies | Response Processing | CORS").
POLICY_STAGES: tuple[tuple[str, str, tuple[str, ...], str | None], ...] = (
    ("threatProtection", "Threat Protection", ("globalipdos", "ipdos", "egviolationalert", "MsgSizeLimitFilter",
                                               "OAuthFilter", "mobileAppProtectionFilter", "sqlInjectionFilter",
                                               "antiVirusFilter", "jsonThreatProtectionFilter",
                                               "xmlThreatProtectionFilter", "customFilter"), "insequence"),
    ("transport", "Transport", ("entryProtocolPolicy", "setMediaType"), "insequence"),
    ("IAM", "Identity and Access Management", ("inboundAuthTransport", "webServiceSecurityPolicy", "authorizeUser",
                                               "evaluatePolicy"), None),
    ("requestPayloadProcessing", "Request Payload Processing", ("invokeESB", "xsltTransformation",
                                                                "validateSchema"), "insequence"),
    ("routing", "Routing Policies", ("contentBasedRouting", "contextBasedRouting", "dynamicRouting",
                                     "loadBalancerRouting", "straightThroughRouting", "customHttpHeaders",
                                     "outboundTransportAuthentication", "outboundMessageAuthentication"),
     "insequence"),
    ("LMT", "Logging, Monitoring and Traffic Optimization", ("logInvocation", "monitorServicePerformance",
                                                             "monitorSLA", "throttle", "serviceResultCache"),
     "insequence"),
    ("responseProcessing", "Response Processing", ("invokeESB", "xsltTransformation", "validateSchema",
                                                   "corsPolicy"), "outsequence"),
    ("responseFaultProcessing", "Error Handling", ("conditionalErrorProcessing",), "faultsequence"),
)
STAGE_TEMPLATES = {key: set(templates) for key, _, templates, _ in POLICY_STAGES}
IAM_TEMPLATE = "evaluatePolicy"
"""Identify & Authorize Application: at most one per API (the 500 sample of `PUT /policies/{policyId}`)."""
THROTTLE_TEMPLATE = "throttle"
"""Traffic Optimization: depends on an Identify & Authorize action (the 500 sample of
`PUT /policies/{policyId}/deactivate`, `missingDependency: ["evaluatePolicy"]`)."""
CONFIG_DEFAULTS: dict[str, Any] = {
    "errorProcessing": {"sendNativeProviderFault": "false",
                        "defaultErrorMessage": "API Gateway encountered an error. Error Message: $ERROR_MESSAGE.",
                        "fallbackErrorMessage": "API Gateway encountered an error."},
    "loadBalancer": {"webAppUrl": "", "httpUrls": [], "httpsUrls": [], "websocketUrls": []},
    "keystore": {"keystoreName": "DEFAULT_IS_KEYSTORE", "truststoreName": "DEFAULT_IS_TRUSTSTORE"},
    "apiCallBackSettings": {"enabled": "false"},
    "whiteListingIPs": {"ipList": []},
    "customContentTypes": {},
    "accountLockSettings": {"maximumLoginAttempts": 3, "lockDuration": 30},
    "passwordRestrictions": {"minLength": 8},
    "passwordExpiry": {"expireAfterDays": 90},
    "denyByIPForFailedAuthConfig": {"maxAllowedFailedAttempts": 5},
    "settings": {"preferredSettings": {"wattKeys": {}, "extendedKeys": {}}, "allSettings": {"wattKeys": {},
                                                                                          "extendedKeys": {}}},
    "logConfig": {}, "cache": {}, "ldapConfig": {}, "samlsso": {}, "mobileApp": {},
    "analyticsDataStoreDestinationConfig": {}, "apiPortalDestinationConfig": {}, "auditlogDestinationConfig": {},
    "centraSiteDestinationCommunicationConfig": {}, "centraSiteDestinationSNMPConfig": {},
    "desDestinationConfig": {}, "elasticsearchDestinationConfig": {}, "emailDestinationConfig": {},
    "gatewayDestinationConfig": {}, "jdbcDestinationConfig": {}, "snmpDestinationConfig": {},
}


class _Error(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S GMT", time.gmtime())


def _new_id() -> str:
    return str(uuid.uuid4())


class WebMethodsEmulator(Emulator):
    gateway_type = "webmethods"

    def __init__(self, username: str = "Administrator", password: str = "manage") -> None:
        super().__init__()
        self.username = username
        self.password = password
        self.state_lock = threading.RLock()
        self.apis: dict[str, dict[str, Any]] = {}
        self.policies: dict[str, dict[str, Any]] = {}
        self.policy_actions: dict[str, dict[str, Any]] = {}
        self.applications: dict[str, dict[str, Any]] = {}
        self.app_apis: dict[str, list[str]] = {}
        self.aliases: dict[str, dict[str, Any]] = {}
        self.strategies: dict[str, dict[str, Any]] = {}
        self.scopes: dict[str, dict[str, Any]] = {}
        self.configurations: dict[str, Any] = copy.deepcopy(CONFIG_DEFAULTS)

    @classmethod
    def from_credentials(cls, credentials: dict[str, str], options: dict[str, Any]) -> WebMethodsEmulator:
        return cls(username=credentials.get("username") or "Administrator",
                   password=credentials.get("password") or "manage")

    # ------------------------------------------------------------------ plumbing
    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return hmac.compare_digest(user, self.username) and hmac.compare_digest(password, self.password)

    def _handler(self, method: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            if not self._authorized(request):
                return JSONResponse({"errorDetails": "Unauthorized: invalid or missing credentials"}, status_code=401,
                                    headers={"WWW-Authenticate": 'Basic realm="Integration Server"'})
            body: Any = None
            if request.method in ("POST", "PUT", "PATCH"):
                raw = await request.body()
                ctype = request.headers.get("content-type", "")
                if raw and "multipart/" in ctype:
                    return JSONResponse({"errorDetails": "multipart import is not available in this emulator; "
                                                         "send InputAPI as JSON"}, status_code=415)
                if raw:
                    try:
                        body = json.loads(raw)
                    except ValueError:
                        return JSONResponse({"errorDetails": " Unable to process the payload. Malformed JSON."},
                                            status_code=400)
            try:
                with self.state_lock:
                    result = method(request, body)
            except _Error as exc:
                return JSONResponse({"errorDetails": exc.message}, status_code=exc.status)
            if isinstance(result, Response):
                return result
            status, payload = result
            if status == 204:
                return Response(status_code=204)
            return JSONResponse(payload, status_code=status)

        return endpoint

    def routes(self) -> list[BaseRoute]:
        h = self._handler
        r = BASE
        return [
            Route(r + "/health/{part}", h(self._health), methods=["GET"]),
            Route(r + "/is/serverinfo", h(self._serverinfo), methods=["GET"]),
            Route(r + "/apis", h(self._apis), methods=["GET", "POST", "DELETE"]),
            Route(r + "/apis/{api_id}", h(self._api), methods=["GET", "PUT", "DELETE"]),
            Route(r + "/apis/{api_id}/activate", h(self._activate), methods=["PUT"]),
            Route(r + "/apis/{api_id}/deactivate", h(self._deactivate), methods=["PUT"]),
            Route(r + "/apis/{api_id}/scopes", h(self._api_scopes), methods=["GET"]),
            Route(r + "/apis/{api_id}/applications", h(self._api_applications), methods=["GET"]),
            Route(r + "/policies", h(self._policies), methods=["GET"]),
            Route(r + "/policies/{policy_id}", h(self._policy), methods=["GET", "PUT"]),
            Route(r + "/policyStages", h(self._policy_stages), methods=["GET"]),
            Route(r + "/policyActions", h(self._policy_actions), methods=["GET", "POST"]),
            Route(r + "/policyActions/{action_id}", h(self._policy_action), methods=["GET", "PUT", "DELETE"]),
            Route(r + "/applications", h(self._applications), methods=["GET", "POST", "DELETE"]),
            Route(r + "/applications/{app_id}", h(self._application), methods=["GET", "PUT", "DELETE"]),
            Route(r + "/applications/{app_id}/apis", h(self._application_apis), methods=["GET", "PUT", "POST"]),
            Route(r + "/applications/{app_id}/accessTokens", h(self._access_tokens), methods=["POST"]),
            Route(r + "/alias", h(self._alias_list), methods=["GET", "POST"]),
            Route(r + "/alias/{alias_id}", h(self._alias), methods=["GET", "PUT", "DELETE"]),
            Route(r + "/strategies", h(self._strategies), methods=["GET", "POST"]),
            Route(r + "/strategies/{strategy_id}", h(self._strategy), methods=["GET", "PUT", "DELETE"]),
            Route(r + "/scopes", h(self._scopes), methods=["GET", "POST"]),
            Route(r + "/scopes/{scope_id}", h(self._scope), methods=["GET", "PUT", "DELETE"]),
            Route(r + "/configurations/{key}", h(self._configuration), methods=["GET", "PUT"]),
            Route(r + "/archive", h(self._archive), methods=["GET"]),
        ]

    # ------------------------------------------------------------------ health
    def _health(self, request: Request, body: Any) -> tuple[int, Any]:
        part = request.path_params["part"]
        green = {"status": "green", "response_time_ms": "1"}
        admin = {"status": "green", "ui": green}
        engine = {"status": "green", "elasticsearch": {"status": "green"}, "is": green, "terracotta": green}
        shapes = {
            # `all` has no sample: its schema (HealthCheckAllResult) holds the parts; `status` as each part has
            "all": {"status": "green", "admin": admin, "engine": engine,
                    "external": {"name": "externalServices", "type": "all", "status": "green",
                                 "response_time_ms": "1"}},
            "admin": admin,
            "engine": engine,
            "externalServices": {"status": "green", "destinations": [], "external_accounts": []},
        }
        if part not in shapes:
            raise _Error(404, f" Unable to find the resource: health/{part}")
        return 200, shapes[part]

    def _serverinfo(self, request: Request, body: Any) -> tuple[int, Any]:
        return 200, {"version": "10.15.0.0", "build": "emulator", "description": "webMethods API Gateway (emulator)",
                     "publisher": "Software AG"}  # ServerInfo's field names (no sample)

    # ------------------------------------------------------------------ APIs
    def _get_api(self, api_id: str) -> dict[str, Any]:
        api = self.apis.get(api_id)
        if api is None:
            raise _Error(404, f" Unable to find the resource: {api_id}")
        return api

    @staticmethod
    def _definition(body: dict[str, Any]) -> dict[str, Any]:
        """InputAPI -> the stored REST API definition (OpenAPI 3.0.x only)."""
        kind = str(body.get("type", "")).lower()
        if body.get("url") and not body.get("apiDefinition"):
            raise _Error(400, " Unable to fetch the API definition from the URL: no network in this emulator.")
        definition = body.get("apiDefinition")
        if not isinstance(definition, dict):
            raise _Error(400, " Unable to create the API. 'apiDefinition' or 'url' is required.")
        if kind == "openapi":
            version = str(definition.get("openapi", ""))
            if version.startswith("3.1"):
                raise _Error(400, f" Unable to parse the OpenAPI document: version {version} is not supported. "
                                  "Supported versions: 3.0.x")
            if not version.startswith("3.0"):
                raise _Error(400, " Unable to parse the OpenAPI document: 'openapi: 3.0.x' is required.")
            if not isinstance(definition.get("info"), dict) or not definition["info"].get("title"):
                raise _Error(400, " Unable to parse the OpenAPI document: info.title is required.")
            if not isinstance(definition.get("paths"), dict):
                raise _Error(400, " Unable to parse the OpenAPI document: paths is required.")
        elif kind not in ("swagger", "rest"):
            raise _Error(400, f" Unsupported API type '{body.get('type')}' for JSON import.")
        stored = copy.deepcopy(definition)
        stored["type"] = "rest"
        return stored

    def _summary(self, api: dict[str, Any]) -> dict[str, Any]:
        keys = ("apiName", "apiVersion", "apiDescription", "isActive", "type", "publishedPortals", "systemVersion",
                "id")
        return {k: api[k] for k in keys if k in api}

    def _apis(self, request: Request, body: Any) -> tuple[int, Any]:
        if request.method == "GET":
            ids = [i for i in request.query_params.get("apiIds", "").split(",") if i]
            items = [a for a in self.apis.values() if not ids or a["id"] in ids]
            start = int(request.query_params.get("from", "0") or 0)
            size = int(request.query_params.get("size", "0") or 0) or len(items)
            page = items[start:start + size]
            return 200, {"apiResponse": [{"api": self._summary(a), "responseStatus": "SUCCESS"} for a in page]}
        if request.method == "DELETE":
            ids = [i for i in request.query_params.get("apiIds", "").split(",") if i]
            force = request.query_params.get("forceDelete", "true").lower() != "false"
            results = []
            for api_id in ids:
                try:
                    self._delete_api(api_id, force)
                    results.append({"apiId": api_id, "responseStatus": "SUCCESS"})
                except _Error as exc:
                    results.append({"apiId": api_id, "responseStatus": "ERROR", "errorReason": exc.message})
            return 200, {"apiResponse": results}
        if not isinstance(body, dict) or not body.get("apiName") or not body.get("type"):
            raise _Error(400, " Unable to create the API. 'apiName' and 'type' are required.")
        definition = self._definition(body)
        version = str(body.get("apiVersion") or (definition.get("info") or {}).get("version") or "1.0")
        for api in self.apis.values():
            if api["apiName"] == body["apiName"] and api["apiVersion"] == version:
                raise _Error(409, f" API with name {body['apiName']} and version {version} already exists.")
        api_id = _new_id()
        policy_id = _new_id()
        api = {"id": api_id, "apiName": body["apiName"], "apiVersion": version, "type": "REST",
               "apiDescription": body.get("apiDescription") or "", "isActive": False, "publishedPortals": [],
               "systemVersion": 1, "owner": self.username, "creationDate": _now(), "lastModified": _now(),
               "maturityState": body.get("maturityState") or "Beta", "scopes": [],
               "policies": [policy_id], "apiDefinition": definition,
               "nativeEndpoint": self._endpoints(definition),
               "gatewayEndpoints": {}}
        self.apis[api_id] = api
        self._create_api_policy(api)
        return 200, {"apiResponse": {"api": copy.deepcopy(api), "responseStatus": "SUCCESS"}}

    @staticmethod
    def _endpoints(definition: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"passSecurityHeaders": True, "uri": s.get("url"), "connectionTimeoutDuration": 0, "alias": False}
                for s in definition.get("servers") or [] if isinstance(s, dict) and s.get("url")]

    def _create_api_policy(self, api: dict[str, Any]) -> None:
        protocol: dict[str, Any] = {"id": _new_id(), "names": [{"value": "Require HTTP / HTTPS", "locale": "en"}],
                    "templateKey": "entryProtocolPolicy",
                    "parameters": [{"templateKey": "protocol", "values": ["http", "https"]}], "active": False}
        uri = (api["nativeEndpoint"] or [{}])[0].get("uri", "")
        routing: dict[str, Any] = {"id": _new_id(), "names": [{"value": "Straight Through Routing", "locale": "en"}],
                   "templateKey": "straightThroughRouting",
                   "parameters": [{"templateKey": "endpointUri", "values": [f"{uri}/${{sys:resource_path}}"]}],
                   "active": False}
        for action in (protocol, routing):
            self.policy_actions[str(action["id"])] = action
        self.policies[api["policies"][0]] = {
            "id": api["policies"][0], "names": [{"value": f"Policy for API {api['apiName']}", "locale": "English"}],
            "descriptions": [], "scope": {"applicableAPITypes": ["REST"], "scopeConditions": [],
                                          "logicalConnector": "AND"},
            "policyEnforcements": [
                {"stageKey": "transport", "enforcements": [{"enforcementObjectId": protocol["id"], "order": None}]},
                {"stageKey": "routing", "enforcements": [{"enforcementObjectId": routing["id"], "order": None}]},
            ],
            "policyScope": "SERVICE", "global": False, "active": False, "systemPolicy": False,
        }

    def _api(self, request: Request, body: Any) -> tuple[int, Any]:
        api_id = request.path_params["api_id"]
        api = self._get_api(api_id)
        if request.method == "GET":
            return 200, {"apiResponse": {"api": copy.deepcopy(api), "responseStatus": "SUCCESS"}}
        if request.method == "DELETE":
            force = request.query_params.get("forceDelete", "true").lower() != "false"
            self._delete_api(api_id, force)
            return 204, None
        if not isinstance(body, dict):
            raise _Error(400, " Unable to update the API. Payload is required.")
        renamed = any(body.get(key) not in (None, api[key]) for key in ("apiName", "apiVersion"))
        if api["isActive"] and renamed:
            raise _Error(400, " You cannot modify the name and version of an API while updating an active API. "
                              "Deactivate the API first.")
        if "apiDefinition" in body or "url" in body:
            if not body.get("type"):
                raise _Error(400, " Unable to update the API. 'type' is required with a definition.")
            api["apiDefinition"] = self._definition(body)
            api["nativeEndpoint"] = self._endpoints(api["apiDefinition"])
        for key in ("apiName", "apiVersion", "apiDescription"):
            if key in body and body[key] is not None:
                api[key] = body[key]
        api["lastModified"] = _now()
        return 200, {"apiResponse": {"api": copy.deepcopy(api), "responseStatus": "SUCCESS"}}

    def _delete_api(self, api_id: str, force: bool) -> None:
        api = self._get_api(api_id)
        if api["isActive"]:
            raise _Error(400, f" API {api['apiName']} is active. Deactivate the API before deleting it.")
        users = [a for a, ids in self.app_apis.items() if api_id in ids]
        if users and not force:
            raise _Error(400, f" API {api['apiName']} is associated with {len(users)} application(s); "
                              "use forceDelete=true.")
        for app_id in users:
            self.app_apis[app_id] = [i for i in self.app_apis[app_id] if i != api_id]
        for policy_id in api.get("policies") or []:
            self.policies.pop(policy_id, None)
        for scope in self.scopes.values():
            scope["apiScopes"] = [i for i in scope.get("apiScopes") or [] if i != api_id]
        del self.apis[api_id]

    def _activate(self, request: Request, body: Any) -> tuple[int, Any]:
        api = self._get_api(request.path_params["api_id"])
        if api["isActive"]:
            raise _Error(400, f" API {api['apiName']} is already active.")
        for policy_id in api.get("policies") or []:
            self._check_dependencies(api, self.policies.get(policy_id, {}).get("policyEnforcements") or [])
        api["isActive"] = True
        return 200, {"apiResponse": {"api": copy.deepcopy(api), "responseStatus": "SUCCESS"}}

    def _deactivate(self, request: Request, body: Any) -> tuple[int, Any]:
        api = self._get_api(request.path_params["api_id"])
        if not api["isActive"]:
            raise _Error(400, f" API {api['apiName']} is already inactive.")
        api["isActive"] = False
        return 200, {"apiResponse": {"api": copy.deepcopy(api), "responseStatus": "SUCCESS"}}

    def _api_scopes(self, request: Request, body: Any) -> tuple[int, Any]:
        """The API's own scopes (groups of resources; none are made here), as `scopeReferences`."""
        api = self._get_api(request.path_params["api_id"])
        return 200, {"scopeReferences": copy.deepcopy(api.get("scopes") or [])}

    def _api_applications(self, request: Request, body: Any) -> tuple[int, Any]:
        api_id = self._get_api(request.path_params["api_id"])["id"]
        return 200, {"applications": [self.applications[a] for a, ids in self.app_apis.items() if api_id in ids]}

    # ------------------------------------------------------------------ policies and policy actions
    def _policies(self, request: Request, body: Any) -> tuple[int, Any]:
        ids = [i for i in request.query_params.get("policyIds", "").split(",") if i]
        return 200, {"policy": [copy.deepcopy(p) for p in self.policies.values() if not ids or p["id"] in ids]}

    def _policy(self, request: Request, body: Any) -> tuple[int, Any]:
        policy_id = request.path_params["policy_id"]
        policy = self.policies.get(policy_id)
        if policy is None:
            raise _Error(404, f" Unable to find the resource: {policy_id}")
        if request.method == "GET":
            return 200, {"policy": copy.deepcopy(policy)}
        incoming = body.get("policy", body) if isinstance(body, dict) else None
        if not isinstance(incoming, dict):
            raise _Error(400, " Unable to update the policy. Error in processing the payload.")
        enforcements = incoming.get("policyEnforcements") or []
        self._check_enforcements(enforcements)
        api = next((a for a in self.apis.values() if policy_id in (a.get("policies") or [])), None)
        if api is not None and api["isActive"]:
            self._check_dependencies(api, enforcements)
        policy["policyEnforcements"] = copy.deepcopy(enforcements)
        for key in ("names", "descriptions"):
            if key in incoming:
                policy[key] = copy.deepcopy(incoming[key])
        return 200, {"policy": copy.deepcopy(policy)}

    def _policy_stages(self, request: Request, body: Any) -> tuple[int, Any]:
        return 200, {"stages": [{"stageKey": key, "names": [{"value": name, "locale": "en"}], "descriptions": [],
                                 "policyActionTemplates": list(templates), "sequence": sequence}
                                for key, name, templates, sequence in POLICY_STAGES]}

    def _check_enforcements(self, stages: Any) -> None:
        """Stage keys from `/policyStages`, each action in a stage that takes its template, and at most
        one Identify & Authorize action."""
        if not isinstance(stages, list):
            raise _Error(400, " Unable to update the policy. Error in processing the payload.")
        identify: list[str] = []
        for stage in stages:
            key = stage.get("stageKey") if isinstance(stage, dict) else None
            if key not in STAGE_TEMPLATES:
                raise _Error(400, f" Invalid stage key {key}. Valid stages: {', '.join(STAGE_TEMPLATES)}.")
            for item in stage.get("enforcements") or []:
                action = self.policy_actions.get(str(item.get("enforcementObjectId")))
                if action is None:
                    raise _Error(400, f" Policy action {item.get('enforcementObjectId')} does not exist.")
                template = str(action.get("templateKey"))
                if template not in STAGE_TEMPLATES[key]:
                    raise _Error(400, f" Policy action template {template} cannot be added to the stage {key}.")
                if template == IAM_TEMPLATE:
                    identify.append(str(action["id"]))
        if len(identify) > 1:
            raise _Error(500, " An API can be associated with only one policy action with template id "
                              "Identify & Authorize Application")

    def _check_dependencies(self, api: dict[str, Any], stages: list[dict[str, Any]]) -> None:
        """What an active API's policy must hold: Traffic Optimization needs Identify & Authorize."""
        templates = {str(self.policy_actions.get(str(e.get("enforcementObjectId")), {}).get("templateKey"))
                     for stage in stages for e in stage.get("enforcements") or []}
        if THROTTLE_TEMPLATE in templates and IAM_TEMPLATE not in templates:
            raise _Error(500, f" Conflict for API - {api['apiName']} -  Policy action Throttling Traffic "
                              "Optimization is dependent to policy action(s) [Identify & Authorize Application]")

    @staticmethod
    def _check_action(action: Any) -> dict[str, Any]:
        if not isinstance(action, dict) or not action.get("templateKey"):
            raise _Error(400, " Unable to create the resource. Error in processing the payload null. Error Message . "
                              "Check the correctness of key and payload.")
        for param in action.get("parameters") or []:
            if not isinstance(param, dict) or not param.get("templateKey"):
                raise _Error(400, " Policy action parameter without templateKey.")
        return action

    def _policy_actions(self, request: Request, body: Any) -> tuple[int, Any]:
        if request.method == "GET":
            ids = [i for i in request.query_params.get("policyActionIds", "").split(",") if i]
            return 200, {"policyAction": [copy.deepcopy(a) for a in self.policy_actions.values()
                                          if not ids or a["id"] in ids]}
        action = self._check_action(body.get("policyAction", body) if isinstance(body, dict) else None)
        stored = {k: copy.deepcopy(v) for k, v in action.items() if k != "id"}
        stored["id"] = _new_id()
        stored.setdefault("active", False)
        self.policy_actions[stored["id"]] = stored
        return 201, {"policyAction": copy.deepcopy(stored)}

    def _policy_action(self, request: Request, body: Any) -> tuple[int, Any]:
        action_id = request.path_params["action_id"]
        action = self.policy_actions.get(action_id)
        if action is None:
            raise _Error(404, f" Unable to find the resource: {action_id}")
        if request.method == "GET":
            return 200, {"policyAction": copy.deepcopy(action)}
        if request.method == "DELETE":
            for policy in self.policies.values():
                for stage in policy.get("policyEnforcements") or []:
                    if any(e.get("enforcementObjectId") == action_id for e in stage.get("enforcements") or []):
                        raise _Error(400, f" Policy action {action_id} is used by policy {policy['id']}.")
            del self.policy_actions[action_id]
            return 204, None
        if not isinstance(body, dict) or not isinstance(body.get("policyAction"), dict):
            raise _Error(400, " Unable to update the resource. Expected a 'policyAction' object.")
        incoming = self._check_action(body["policyAction"])
        stored = {k: copy.deepcopy(v) for k, v in incoming.items() if k != "id"}
        stored["id"] = action_id
        stored.setdefault("active", action.get("active", False))
        self.policy_actions[action_id] = stored
        return 200, {"policyAction": copy.deepcopy(stored)}

    # ------------------------------------------------------------------ applications
    def _get_app(self, app_id: str) -> dict[str, Any]:
        app = self.applications.get(app_id)
        if app is None:
            raise _Error(404, f" Unable to find the resource: {app_id}")
        return app

    def _app_view(self, app: dict[str, Any]) -> dict[str, Any]:
        view = copy.deepcopy(app)
        view["consumingAPIs"] = list(self.app_apis.get(app["id"], []))
        return view

    def _applications(self, request: Request, body: Any) -> tuple[int, Any]:
        if request.method == "GET":
            return 200, {"applications": [self._app_view(a) for a in self.applications.values()]}
        if request.method == "DELETE":
            for app_id in [i for i in request.query_params.get("ids", "").split(",") if i]:
                self.applications.pop(app_id, None)
                self.app_apis.pop(app_id, None)
            return 204, None
        if not isinstance(body, dict) or not body.get("name"):
            raise _Error(400, " Unable to create the application. 'name' is required.")
        app_id = _new_id()
        app = {k: copy.deepcopy(v) for k, v in body.items() if k not in ("id", "accessTokens", "consumingAPIs")}
        for ident in app.get("identifiers") or []:
            ident.setdefault("id", _new_id())
        app.update({"id": app_id, "version": "1.0", "created": _now(), "lastupdated": None, "owner": self.username,
                    "isSuspended": False, "siteURLs": app.get("siteURLs", []), "jsOrigins": app.get("jsOrigins", []),
                    "accessTokens": {"apiAccessKey_credentials": self._new_api_key()}})
        self.applications[app_id] = app
        self.app_apis[app_id] = []
        return 200, self._app_view(app)

    @staticmethod
    def _new_api_key() -> dict[str, Any]:
        """The gateway makes the key (64 hex characters, as in the `GET /applications` sample)."""
        return {"apiAccessKey": uuid.uuid4().hex + uuid.uuid4().hex, "expirationInterval": None,
                "expirationDate": None, "expired": False}

    def _access_tokens(self, request: Request, body: Any) -> tuple[int, Any]:
        """`POST /applications/{id}/accessTokens {"type": "apiAccessKeyCredentials"}`: a new key."""
        app = self.applications.get(request.path_params["app_id"])
        if app is None:  # the operation documents 400, not 404, for an unknown application
            raise _Error(400, f" Unable to find the application: {request.path_params['app_id']}")
        if not isinstance(body, dict) or body.get("type") != "apiAccessKeyCredentials":
            raise _Error(400, " Unable to regenerate the access tokens. Supported type: apiAccessKeyCredentials.")
        app["accessTokens"] = {**(app.get("accessTokens") or {}), "apiAccessKey_credentials": self._new_api_key()}
        app["lastupdated"] = _now()
        return 201, {"accessTokens": copy.deepcopy(app["accessTokens"])}

    def _application(self, request: Request, body: Any) -> tuple[int, Any]:
        app_id = request.path_params["app_id"]
        app = self._get_app(app_id)
        if request.method == "GET":  # the sample lists the one application under `applications`
            return 200, {"applications": [self._app_view(app)]}
        if request.method == "DELETE":
            del self.applications[app_id]
            self.app_apis.pop(app_id, None)
            return 204, None
        if not isinstance(body, dict) or not body.get("name"):
            raise _Error(400, " Unable to update the application. 'name' is required.")
        for key, value in body.items():
            if key not in ("id", "accessTokens", "consumingAPIs", "created", "owner"):
                app[key] = copy.deepcopy(value)
        for ident in app.get("identifiers") or []:
            ident.setdefault("id", _new_id())
        app["lastupdated"] = _now()
        return 200, self._app_view(app)

    def _application_apis(self, request: Request, body: Any) -> tuple[int, Any]:
        app_id = self._get_app(request.path_params["app_id"])["id"]
        if request.method == "GET":
            return 200, {"apiIDs": list(self.app_apis.get(app_id, []))}
        # POST and PUT both take the complete list (`{"apiIDs": [...]}` in both samples; POST's schema
        # says a bare array, accepted too) and replace the old one.
        ids = body.get("apiIDs") if isinstance(body, dict) else body
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise _Error(400, " Unable to register APIs. Expected {\"apiIDs\": [...]}.")
        unknown = [i for i in ids if i not in self.apis]
        if unknown:
            raise _Error(400, f" Unable to register APIs: unknown API id(s) {', '.join(unknown)}.")
        self.app_apis[app_id] = list(dict.fromkeys(ids))
        return 200, {"apiIDs": list(self.app_apis[app_id])}

    # ------------------------------------------------------------------ aliases
    def _check_alias(self, body: Any, alias_id: str | None) -> dict[str, Any]:
        if not isinstance(body, dict) or not body.get("name") or not body.get("type"):
            raise _Error(400, " Unable to process the alias. 'name' and 'type' are required.")
        if body["type"] not in ALIAS_TYPES:
            raise _Error(400, f" Unable to process the alias. Unknown alias type {body['type']}.")
        for other in self.aliases.values():
            if other["name"] == body["name"] and other["id"] != alias_id:
                raise _Error(400, f" Alias with name {body['name']} already exists.")
        if body["type"] == "endpoint" and not body.get("endPointURI"):
            raise _Error(400, " Unable to process the alias. 'endPointURI' is required for an endpoint alias.")
        return body

    def _alias_list(self, request: Request, body: Any) -> tuple[int, Any]:
        if request.method == "GET":
            return 200, {"alias": [copy.deepcopy(a) for a in self.aliases.values()]}
        incoming = self._check_alias(body, None)
        stored = {k: copy.deepcopy(v) for k, v in incoming.items() if k != "id"}
        stored["id"] = _new_id()
        stored.setdefault("owner", self.username)
        self.aliases[stored["id"]] = stored
        return 201, copy.deepcopy(stored)

    def _alias(self, request: Request, body: Any) -> tuple[int, Any]:
        alias_id = request.path_params["alias_id"]
        alias = self.aliases.get(alias_id)
        if alias is None:
            raise _Error(404, f" Alias with id: {alias_id} does not exist.")  # the 404 sample
        if request.method == "GET":  # bare, as the sample and the `Alias` schema
            return 200, copy.deepcopy(alias)
        if request.method == "DELETE":
            if alias["type"] == "authServerAlias":
                users = [s["name"] for s in self.strategies.values() if s.get("authServerAlias") == alias["name"]]
                if users:
                    raise _Error(400, f" Alias {alias['name']} is used by strategies {', '.join(users)}.")
            del self.aliases[alias_id]
            return 204, None
        incoming = self._check_alias(body, alias_id)
        if incoming["type"] != alias["type"]:
            raise _Error(400, " The type of an alias cannot be changed.")
        stored = {k: copy.deepcopy(v) for k, v in incoming.items() if k != "id"}
        stored["id"] = alias_id
        stored.setdefault("owner", alias.get("owner", self.username))
        self.aliases[alias_id] = stored
        return 200, copy.deepcopy(stored)

    def _auth_server(self, name: Any) -> dict[str, Any]:
        for alias in self.aliases.values():
            if alias["name"] == name and alias["type"] == "authServerAlias":
                return alias
        raise _Error(400, f" Authorization server alias {name} does not exist.")

    # ------------------------------------------------------------------ strategies
    def _check_strategy(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not body.get("name") or body.get("type") not in STRATEGY_TYPES:
            raise _Error(400, " Unable to process the strategy. 'name' and a valid 'type' are required.")
        self._auth_server(body.get("authServerAlias"))
        return body

    def _strategies(self, request: Request, body: Any) -> tuple[int, Any]:
        if request.method == "GET":
            return 200, {"strategies": [copy.deepcopy(s) for s in self.strategies.values()]}
        incoming = self._check_strategy(body)
        stored = {k: copy.deepcopy(v) for k, v in incoming.items() if k != "id"}
        stored["id"] = _new_id()
        stored.setdefault("clientId", _new_id())
        self.strategies[stored["id"]] = stored
        return 200, {"strategy": copy.deepcopy(stored)}

    def _strategy(self, request: Request, body: Any) -> tuple[int, Any]:
        strategy_id = request.path_params["strategy_id"]
        strategy = self.strategies.get(strategy_id)
        if strategy is None:
            raise _Error(404, f" Unable to find the resource: {strategy_id}")
        if request.method == "GET":
            return 200, {"strategy": copy.deepcopy(strategy)}
        if request.method == "DELETE":
            del self.strategies[strategy_id]
            return 204, None
        incoming = self._check_strategy(body)
        stored = {k: copy.deepcopy(v) for k, v in incoming.items() if k != "id"}
        stored["id"] = strategy_id
        stored.setdefault("clientId", strategy.get("clientId"))
        self.strategies[strategy_id] = stored
        return 200, {"strategy": copy.deepcopy(stored)}

    # ------------------------------------------------------------------ scopes
    def _check_scope(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not body.get("scopeName"):
            raise _Error(400, " Unable to process the scope. 'scopeName' is required.")
        for api_id in body.get("apiScopes") or []:
            if api_id not in self.apis:
                raise _Error(400, f" API {api_id} does not exist.")
        for required in body.get("requiredAuthScopes") or []:
            alias = self._auth_server(required.get("authServerAlias"))
            declared = {s.get("name") for s in alias.get("scopes") or []}
            if required.get("scopeName") not in declared:
                raise _Error(400, f" Scope {required.get('scopeName')} is not defined in authorization server "
                                  f"{alias['name']}.")
        return body

    def _scopes(self, request: Request, body: Any) -> tuple[int, Any]:
        if request.method == "GET":
            return 200, {"scopes": [copy.deepcopy(s) for s in self.scopes.values()]}
        incoming = self._check_scope(body)
        stored = {k: copy.deepcopy(v) for k, v in incoming.items() if k != "id"}
        stored["id"] = _new_id()
        self.scopes[stored["id"]] = stored
        return 201, {"scope": copy.deepcopy(stored)}

    def _scope(self, request: Request, body: Any) -> tuple[int, Any]:
        scope_id = request.path_params["scope_id"]
        scope = self.scopes.get(scope_id)
        if scope is None:
            raise _Error(404, f" Unable to find the resource: {scope_id}")
        if request.method == "GET":
            return 200, {"scope": copy.deepcopy(scope)}
        if request.method == "DELETE":
            del self.scopes[scope_id]
            return 204, None
        incoming = self._check_scope(body)
        stored = {k: copy.deepcopy(v) for k, v in incoming.items() if k != "id"}
        stored["id"] = scope_id
        self.scopes[scope_id] = stored
        return 200, {"scope": copy.deepcopy(stored)}

    # ------------------------------------------------------------------ configurations
    def _configuration(self, request: Request, body: Any) -> tuple[int, Any]:
        key = request.path_params["key"]
        if key not in self.configurations:
            raise _Error(404, f" Unable to find the resource: configurations/{key}")
        if request.method == "GET":
            return 200, copy.deepcopy(self.configurations[key])
        if not isinstance(body, dict):
            raise _Error(400, f" Unable to update the configuration {key}: a JSON object is required.")
        self.configurations[key] = copy.deepcopy(body)
        return 200, copy.deepcopy(body)

    # ------------------------------------------------------------------ archive
    def _archive(self, request: Request, body: Any) -> Response:
        query = request.query_params
        selections = {
            "apis": ("api", self.apis, "apiName"),
            "aliases": ("alias", self.aliases, "name"),
            "applications": ("application", self.applications, "name"),
            "policies": ("policy", self.policies, "id"),
            "policyActions": ("policyAction", self.policy_actions, "id"),
            "gatewayScopes": ("gatewayScope", self.scopes, "scopeName"),
        }
        if not any(query.get(k) for k in selections):
            raise _Error(400, " Select at least one asset type to export (e.g. apis=*).")
        index: list[dict[str, str]] = []
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for param, (folder, store, label) in selections.items():
                wanted = [w for w in query.get(param, "").split(",") if w]
                if not wanted:
                    continue
                for obj_id, obj in store.items():
                    if "*" not in wanted and obj_id not in wanted:
                        continue
                    payload = self._app_view(obj) if folder == "application" else obj
                    archive.writestr(f"{folder}/{obj_id}.json", json.dumps(payload, indent=2, sort_keys=True))
                    index.append({"type": folder, "id": obj_id, "name": str(obj.get(label, obj_id))})
            archive.writestr("manifest.json", json.dumps({"product": "webMethods API Gateway (emulator)",
                                                          "version": "10.15", "assets": index}, indent=2))
        return Response(buffer.getvalue(), media_type="application/zip",
                        headers={"Content-Disposition": 'attachment; filename="export.zip"'})
