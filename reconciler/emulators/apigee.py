"""Emulator of the Apigee X / hybrid management API (`apigee.googleapis.com/v1`).

Written from Google's discovery document (`../shared/specs/apigee/apigee-v1.discovery.json`), not
from the adapter. What it implements, and how strictly:

- OAuth2 bearer auth: any non-empty `Authorization: Bearer …` is accepted unless a token is configured
  (then it must match); a missing/other token → 401 UNAUTHENTICATED. Errors use Google's body
  `{"error": {"code", "message", "status"[, "details"]}}`.
- Organizations / environments: any org name is accepted (like an org the token can see); environments
  are any name unless a list is configured (then others → 404).
- `organizations.apis`: `create` imports a proxy bundle (`?name=&action=import|validate`, body
  `multipart/form-data` with a `file` field or raw `application/octet-stream`). The bundle must be a
  real ZIP with `apiproxy/<name>.xml`, at least one `apiproxy/proxies/*.xml` ProxyEndpoint with a
  `HTTPProxyConnection/BasePath`, `apiproxy/targets/*.xml` TargetEndpoints with an
  `HTTPTargetConnection/URL`, route rules naming existing targets and steps naming existing policies;
  policies of type VerifyAPIKey, Quota, CORS and RaiseFault holding only their documented child elements
  and attributes (`POLICY_ELEMENTS`); otherwise 400 INVALID_ARGUMENT with a `BadBundle` detail listing
  violations. Each import of an
  existing proxy creates the next revision. `get`, `patch` (`updateMask=labels`, GCP label rules),
  `delete` (400 FAILED_PRECONDITION while a revision is deployed); `revisions.get` (`format=bundle`
  returns the ZIP) and `revisions.delete`.
- Deployments: `environments.apis.revisions.deploy` (another deployed revision of the proxy without
  `override=true` → 400 FAILED_PRECONDITION; with it, the old revision is replaced), `undeploy`,
  `getDeployments`, `environments.deployments.list`, `apis.deployments.list`.
- `apiproducts` CRUD (list → `{"apiProduct": [...]}` names only unless `expand=true`; `count`/`startKey`
  paging; `quotaTimeUnit` in minute|hour|day|month; at most 18 attributes), `developers` CRUD
  (email, firstName, lastName, userName required; list → `{"developer": [...]}`), `developers.apps` CRUD
  (create generates a key bound to the app's products; list → `{"app": [...]}`), app keys: custom key
  `keys` create (consumerKey/consumerSecret, no products), `keys/create`, get, delete,
  `updateDeveloperAppKey` (adds products, replaces attributes, `action=approve|revoke`) and
  `keys/{key}/apiproducts/{product}` delete.
"""

from __future__ import annotations

import hmac
import io
import json
import re
import secrets
import threading
import time
import uuid
import zipfile
from typing import Any
from xml.etree import ElementTree

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from reconciler.emulators.server import Emulator

_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
           409: "ALREADY_EXISTS", 412: "FAILED_PRECONDITION", 500: "INTERNAL"}
_PROXY_NAME = re.compile(r"^[A-Za-z0-9._-]{1,255}$")
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
_KEY_CHARS = re.compile(r"^[A-Za-z0-9_-]{1,2048}$")
_TIME_UNITS = {"minute", "hour", "day", "month"}


class ApiError(Exception):
    def __init__(self, code: int, message: str, status: str | None = None, details: list[Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.message = code, message
        self.status = status or _STATUS.get(code, "UNKNOWN")
        self.details = details


def _error(code: int, message: str, status: str | None = None, details: list[Any] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message, "status": status or _STATUS.get(code, "UNKNOWN")}
    if details:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=code)


def _now_ms() -> str:
    return str(int(time.time() * 1000))


def _bad_bundle(violations: list[str]) -> ApiError:
    detail = {"@type": "type.googleapis.com/edge.configstore.bundle.BadBundle",
              "violations": [{"filename": v.split(":", 1)[0], "description": v} for v in violations]}
    return ApiError(400, "bundle contains errors", "INVALID_ARGUMENT", [detail])


_COMMON_ATTRS = frozenset({"name", "continueOnError", "enabled", "async"})
#: Policy type -> element path -> allowed child elements, from the policy reference pages (ledger rows
#: apigee.md "policy XML"): only these four types are checked; other policy types pass unchecked.
POLICY_ELEMENTS: dict[str, dict[str, frozenset[str]]] = {
    "VerifyAPIKey": {"VerifyAPIKey": frozenset({"DisplayName", "APIKey"})},
    "CORS": {"CORS": frozenset({"AllowCredentials", "AllowHeaders", "AllowMethods", "AllowOrigins", "DisplayName",
                                "ExposeHeaders", "GeneratePreflightResponse", "IgnoreUnresolvedVariables", "MaxAge"})},
    "RaiseFault": {"RaiseFault": frozenset({"DisplayName", "FaultResponse", "IgnoreUnresolvedVariables",
                                            "ShortFaultReason"}),
                   "RaiseFault/FaultResponse": frozenset({"Add", "Copy", "Remove", "Set", "AssignVariable"}),
                   "RaiseFault/FaultResponse/Set": frozenset({"Headers", "Payload", "QueryParams", "FormParams",
                                                              "StatusCode", "ReasonPhrase", "Verb", "Path",
                                                              "Version"})},
    "Quota": {"Quota": frozenset({"DisplayName", "Allow", "Interval", "TimeUnit", "StartTime", "Distributed",
                                  "Synchronous", "AsynchronousConfiguration", "Identifier", "MessageWeight",
                                  "UseQuotaConfigInAPIProduct", "SharedName", "CountOnly", "EnforceOnly"}),
              "Quota/UseQuotaConfigInAPIProduct": frozenset({"DefaultConfig"}),
              "Quota/UseQuotaConfigInAPIProduct/DefaultConfig": frozenset({"Allow", "Interval", "TimeUnit"})},
}
POLICY_ATTRIBUTES: dict[str, frozenset[str]] = {
    "VerifyAPIKey/APIKey": frozenset({"ref"}),
    "Quota": _COMMON_ATTRS | {"type"},
    "Quota/UseQuotaConfigInAPIProduct": frozenset({"stepName"}),
}


def policy_violations(path: str, el: ElementTree.Element) -> list[str]:
    """Unknown child elements / attributes of a known policy type (Apigee refuses such a bundle)."""
    table = POLICY_ELEMENTS.get(el.tag)
    if table is None:
        return []
    out: list[str] = []

    def walk(node: ElementTree.Element, where: str) -> None:
        allowed_attrs = POLICY_ATTRIBUTES.get(where, _COMMON_ATTRS if where == el.tag else None)
        if allowed_attrs is not None:
            out.extend(f"{path}: unknown attribute {a!r} on <{node.tag}>" for a in node.attrib if a not in allowed_attrs)
        allowed = table.get(where)
        if allowed is None:
            return
        for child in node:
            if child.tag not in allowed:
                out.append(f"{path}: unknown element <{child.tag}> in <{node.tag}> ({el.tag} policy)")
            else:
                walk(child, f"{where}/{child.tag}")
    walk(el, el.tag)
    return out


def parse_bundle(data: bytes) -> dict[str, Any]:
    """Validate a proxy bundle ZIP and summarise it as an ApiProxyRevision would (raises ApiError)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = archive.namelist()
    except zipfile.BadZipFile:
        raise _bad_bundle(["bundle: not a ZIP archive"]) from None
    violations: list[str] = []

    def xml(path: str) -> ElementTree.Element | None:
        try:
            return ElementTree.fromstring(archive.read(path))
        except ElementTree.ParseError as exc:
            violations.append(f"{path}: invalid XML ({exc})")
            return None

    descriptors = [n for n in names if re.fullmatch(r"apiproxy/[^/]+\.xml", n)]
    if len(descriptors) != 1:
        violations.append("apiproxy: expected exactly one apiproxy/<name>.xml descriptor")
    root = xml(descriptors[0]) if len(descriptors) == 1 else None
    if root is not None and root.tag != "APIProxy":
        violations.append(f"{descriptors[0]}: root element must be APIProxy")
    policies: dict[str, str] = {}
    for n in names:
        if re.fullmatch(r"apiproxy/policies/[^/]+\.xml", n):
            el = xml(n)
            if el is not None:
                policies[el.get("name") or n.rsplit("/", 1)[1][:-4]] = el.tag
                violations += policy_violations(n, el)
    targets: dict[str, str] = {}
    for n in names:
        if re.fullmatch(r"apiproxy/targets/[^/]+\.xml", n):
            el = xml(n)
            if el is None:
                continue
            name = el.get("name") or n.rsplit("/", 1)[1][:-4]
            url = el.findtext("HTTPTargetConnection/URL")
            if el.tag != "TargetEndpoint":
                violations.append(f"{n}: root element must be TargetEndpoint")
            elif not url and el.find("HTTPTargetConnection/LoadBalancer") is None:
                violations.append(f"{n}: TargetEndpoint {name} has no HTTPTargetConnection/URL")
            targets[name] = url or ""
            violations += [f"{n}: step {s} names no policy" for s in _steps(el) if s not in policies]
    proxies: dict[str, str] = {}
    for n in names:
        if re.fullmatch(r"apiproxy/proxies/[^/]+\.xml", n):
            el = xml(n)
            if el is None:
                continue
            name = el.get("name") or n.rsplit("/", 1)[1][:-4]
            base = el.findtext("HTTPProxyConnection/BasePath")
            if el.tag != "ProxyEndpoint":
                violations.append(f"{n}: root element must be ProxyEndpoint")
            elif not base or not base.startswith("/"):
                violations.append(f"{n}: ProxyEndpoint {name} has no HTTPProxyConnection/BasePath")
            proxies[name] = base or ""
            for rule in el.findall("RouteRule"):
                target = rule.findtext("TargetEndpoint")
                if target and target not in targets:
                    violations.append(f"{n}: RouteRule {rule.get('name')} names unknown target {target}")
            violations += [f"{n}: step {s} names no policy" for s in _steps(el) if s not in policies]
    if not proxies:
        violations.append("apiproxy/proxies: at least one ProxyEndpoint is required")
    if violations:
        raise _bad_bundle(violations)
    assert root is not None
    return {"displayName": root.findtext("DisplayName") or "", "description": root.findtext("Description") or "",
            "basepaths": sorted(set(proxies.values())), "proxies": sorted(proxies), "proxyEndpoints": sorted(proxies),
            "targets": sorted(targets), "targetEndpoints": sorted(targets), "policies": sorted(policies),
            "resources": sorted(n.split("/", 2)[2].replace("/", "://", 1) for n in names
                                if n.startswith("apiproxy/resources/") and not n.endswith("/"))}


def _steps(el: ElementTree.Element) -> list[str]:
    return [s.text or "" for s in el.iter("Step") for s in s.findall("Name")]


class _Org:
    def __init__(self, name: str) -> None:
        self.name = name
        self.proxies: dict[str, dict[str, Any]] = {}
        self.deployments: dict[tuple[str, str], dict[str, Any]] = {}   # (env, api) -> deployment
        self.products: dict[str, dict[str, Any]] = {}
        self.developers: dict[str, dict[str, Any]] = {}
        self.apps: dict[tuple[str, str], dict[str, Any]] = {}          # (email, app) -> app


class ApigeeEmulator(Emulator):
    gateway_type = "apigee"

    def __init__(self, token: str | None = None, environments: list[str] | None = None) -> None:
        super().__init__()
        self.token = token
        self.environments = environments
        self.orgs: dict[str, _Org] = {}
        self._state = threading.RLock()

    @classmethod
    def from_credentials(cls, credentials: dict[str, str], options: dict[str, Any]) -> ApigeeEmulator:
        return cls(token=credentials.get("token"))

    # ------------------------------------------------------------------ plumbing
    def routes(self) -> list[BaseRoute]:
        o = "/v1/organizations/{org}"
        table: list[tuple[str, Any, list[str]]] = [
            (o, self.get_org, ["GET"]),
            (o + "/environments/{env}", self.get_env, ["GET"]),
            (o + "/environments/{env}/deployments", self.env_deployments, ["GET"]),
            (o + "/environments/{env}/apis/{api}/deployments", self.env_api_deployments, ["GET"]),
            (o + "/environments/{env}/apis/{api}/revisions/{rev}/deployments", self.deployment, ["GET", "POST", "DELETE"]),
            (o + "/apis", self.apis, ["GET", "POST"]),
            (o + "/apis/{api}", self.api, ["GET", "PATCH", "DELETE"]),
            (o + "/apis/{api}/deployments", self.api_deployments, ["GET"]),
            (o + "/apis/{api}/revisions/{rev}", self.revision, ["GET", "DELETE"]),
            (o + "/apis/{api}/revisions/{rev}/deployments", self.revision_deployments, ["GET"]),
            (o + "/apiproducts", self.products, ["GET", "POST"]),
            (o + "/apiproducts/{product}", self.product, ["GET", "PUT", "DELETE"]),
            (o + "/developers", self.developers, ["GET", "POST"]),
            (o + "/developers/{dev}", self.developer, ["GET", "PUT", "DELETE"]),
            (o + "/developers/{dev}/apps", self.apps, ["GET", "POST"]),
            (o + "/developers/{dev}/apps/{app}", self.app, ["GET", "PUT", "DELETE"]),
            (o + "/developers/{dev}/apps/{app}/keys", self.keys, ["POST"]),
            (o + "/developers/{dev}/apps/{app}/keys/create", self.keys, ["POST"]),
            (o + "/developers/{dev}/apps/{app}/keys/{key}", self.key, ["GET", "POST", "PUT", "DELETE"]),
            (o + "/developers/{dev}/apps/{app}/keys/{key}/apiproducts/{product}", self.key_product, ["POST", "DELETE"]),
        ]
        return [Route(path, self._wrap(handler), methods=methods) for path, handler, methods in table]

    def _wrap(self, handler: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            header = request.headers.get("authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip() or (
                    self.token is not None and not hmac.compare_digest(token.strip(), self.token)):
                return _error(401, "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                              "login cookie or other valid authentication credential.")
            try:
                body = await request.body()
                with self._state:
                    org = self._org(request.path_params["org"])
                    if "env" in request.path_params:
                        self._check_env(request.path_params["env"])
                    result = handler(request, org, body)
            except ApiError as exc:
                return _error(exc.code, exc.message, exc.status, exc.details)
            if isinstance(result, Response):
                return result
            return JSONResponse(result)
        return endpoint

    def _org(self, name: str) -> _Org:
        if name not in self.orgs:
            self.orgs[name] = _Org(name)
        return self.orgs[name]

    def _check_env(self, env: str) -> None:
        if self.environments is not None and env not in self.environments:
            raise ApiError(404, f'environment "{env}" not found')

    @staticmethod
    def _json(body: bytes) -> dict[str, Any]:
        try:
            value = json.loads(body or b"{}")
        except ValueError:
            raise ApiError(400, "Invalid JSON payload received.") from None
        if not isinstance(value, dict):
            raise ApiError(400, "Invalid JSON payload received. Expected an object.")
        return value

    @staticmethod
    def _flag(request: Request, name: str) -> bool:
        return request.query_params.get(name, "").lower() == "true"

    @staticmethod
    def _attributes(value: Any) -> list[dict[str, str]]:
        attrs = value or []
        if not isinstance(attrs, list) or len(attrs) > 18:
            raise ApiError(400, "attributes: at most 18 name/value pairs are allowed")
        return [{"name": str(a.get("name", "")), "value": str(a.get("value", ""))} for a in attrs]

    @staticmethod
    def _page(items: list[dict[str, Any]], key: str, request: Request) -> list[dict[str, Any]]:
        items = sorted(items, key=lambda x: str(x.get(key, "")))
        start = request.query_params.get("startKey")
        if start:
            items = [i for i in items if str(i.get(key, "")) >= start]
        count = request.query_params.get("count")
        if count:
            items = items[: max(1, min(int(count), 1000))]
        return items

    # ------------------------------------------------------------------ org / env
    def get_org(self, request: Request, org: _Org, body: bytes) -> dict[str, Any]:
        return {"name": org.name, "runtimeType": "CLOUD", "state": "ACTIVE", "environments": self.environments or [],
                "subscriptionType": "PAID", "billingType": "PAYG"}

    def get_env(self, request: Request, org: _Org, body: bytes) -> dict[str, Any]:
        return {"name": request.path_params["env"], "state": "ACTIVE", "deploymentType": "PROXY"}

    # ------------------------------------------------------------------ proxies
    def _proxy(self, org: _Org, name: str) -> dict[str, Any]:
        proxy = org.proxies.get(name)
        if proxy is None:
            raise ApiError(404, f'generic::not_found: resource organizations/{org.name}/apis/{name} not found')
        return proxy

    @staticmethod
    def _proxy_view(proxy: dict[str, Any]) -> dict[str, Any]:
        revs = sorted(proxy["revisions"], key=int)
        view = {"name": proxy["name"], "revision": revs, "latestRevisionId": revs[-1] if revs else "",
                "metaData": {"createdAt": proxy["createdAt"], "lastModifiedAt": proxy["lastModifiedAt"],
                             "subType": "Proxy"}, "apiProxyType": "PROGRAMMABLE"}
        if proxy["labels"]:
            view["labels"] = dict(proxy["labels"])
        return view

    def _revision_view(self, org: _Org, proxy: dict[str, Any], rev: str) -> dict[str, Any]:
        info = proxy["revisions"][rev]
        view = {k: v for k, v in info.items() if k != "bundle"}
        return {**view, "name": proxy["name"], "revision": rev, "type": "Application",
                "configurationVersion": {"majorVersion": 4}, "contextInfo": f"Revision {rev} of application "
                f"{proxy['name']}, in organization {org.name}"}

    def apis(self, request: Request, org: _Org, body: bytes) -> Any:
        if request.method == "GET":
            return {"proxies": [self._proxy_view(p) if self._flag(request, "includeRevisions")
                                or self._flag(request, "includeMetaData") else
                                {"name": p["name"], **({"labels": p["labels"]} if p["labels"] else {})}
                                for _, p in sorted(org.proxies.items())]}
        name = request.query_params.get("name", "")
        action = request.query_params.get("action", "")
        if not _PROXY_NAME.fullmatch(name):
            raise ApiError(400, f'Invalid API proxy name "{name}": use A-Za-z0-9._-')
        if action not in ("import", "validate"):
            raise ApiError(400, "action must be import or validate when uploading a bundle")
        data = self._bundle_bytes(request, body)
        info = parse_bundle(data)
        if action == "validate":
            return {**info, "name": name, "revision": "0"}
        proxy = org.proxies.get(name)
        now = _now_ms()
        if proxy is None:
            proxy = {"name": name, "labels": {}, "revisions": {}, "createdAt": now, "lastModifiedAt": now, "next": 1}
            org.proxies[name] = proxy
        rev = str(proxy["next"])
        proxy["next"] += 1
        proxy["lastModifiedAt"] = now
        proxy["revisions"][rev] = {**info, "bundle": data, "createdAt": now, "lastModifiedAt": now}
        return self._revision_view(org, proxy, rev)

    @staticmethod
    def _bundle_bytes(request: Request, body: bytes) -> bytes:
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("multipart/form-data"):
            match = re.search(r"boundary=\"?([^\";]+)\"?", ctype)
            if not match:
                raise ApiError(400, "multipart body without boundary")
            boundary = b"--" + match.group(1).encode()
            for part in body.split(boundary):
                head, _, content = part.partition(b"\r\n\r\n")
                if b'name="file"' in head:
                    return content.rsplit(b"\r\n", 1)[0]
            raise ApiError(400, 'multipart body has no "file" field')
        if ctype.startswith(("application/octet-stream", "application/zip")):
            return body
        raise ApiError(400, "the bundle must be sent as multipart/form-data or application/octet-stream")

    def api(self, request: Request, org: _Org, body: bytes) -> Any:
        name = request.path_params["api"]
        proxy = self._proxy(org, name)
        if request.method == "PATCH":
            mask = request.query_params.get("updateMask", "")
            if not mask:
                raise ApiError(400, "updateMask is required")
            if set(mask.split(",")) - {"labels"}:
                raise ApiError(400, f"updateMask {mask!r}: only labels can be updated")
            labels = self._json(body).get("labels") or {}
            if len(labels) > 64 or any(not _LABEL_KEY.fullmatch(str(k)) or not _LABEL_VALUE.fullmatch(str(v))
                                       for k, v in labels.items()):
                raise ApiError(400, "labels: keys [a-z][a-z0-9_-]{0,62}, values [a-z0-9_-]{0,63}, at most 64")
            proxy["labels"] = {str(k): str(v) for k, v in labels.items()}
            proxy["lastModifiedAt"] = _now_ms()
        elif request.method == "DELETE":
            if any(a == name for (_, a) in org.deployments):
                raise ApiError(400, f"Undeploy the ApiProxy {name} from every environment and try again",
                               "FAILED_PRECONDITION")
            del org.proxies[name]
        return self._proxy_view(proxy)

    def revision(self, request: Request, org: _Org, body: bytes) -> Any:
        proxy = self._proxy(org, request.path_params["api"])
        rev = request.path_params["rev"]
        if rev not in proxy["revisions"]:
            raise ApiError(404, f"revision {rev} of API proxy {proxy['name']} not found")
        view = self._revision_view(org, proxy, rev)
        if request.method == "DELETE":
            if any(d["revision"] == rev for (_, a), d in org.deployments.items() if a == proxy["name"]):
                raise ApiError(400, f"revision {rev} is deployed; undeploy it first", "FAILED_PRECONDITION")
            del proxy["revisions"][rev]
            return view
        if request.query_params.get("format") == "bundle":
            return Response(proxy["revisions"][rev]["bundle"], media_type="application/octet-stream")
        return view

    # ------------------------------------------------------------------ deployments
    @staticmethod
    def _deployment_view(dep: dict[str, Any], status: bool = False) -> dict[str, Any]:
        view = dict(dep)
        if status:
            view["state"] = "READY"
        return view

    def env_deployments(self, request: Request, org: _Org, body: bytes) -> Any:
        env = request.path_params["env"]
        return {"deployments": [self._deployment_view(d) for (e, _), d in sorted(org.deployments.items()) if e == env]}

    def env_api_deployments(self, request: Request, org: _Org, body: bytes) -> Any:
        env, api = request.path_params["env"], request.path_params["api"]
        self._proxy(org, api)
        dep = org.deployments.get((env, api))
        return {"deployments": [self._deployment_view(dep)] if dep else []}

    def api_deployments(self, request: Request, org: _Org, body: bytes) -> Any:
        api = request.path_params["api"]
        self._proxy(org, api)
        return {"deployments": [self._deployment_view(d) for (_, a), d in sorted(org.deployments.items()) if a == api]}

    def revision_deployments(self, request: Request, org: _Org, body: bytes) -> Any:
        api, rev = request.path_params["api"], request.path_params["rev"]
        self._proxy(org, api)
        return {"deployments": [self._deployment_view(d) for (_, a), d in sorted(org.deployments.items())
                                if a == api and d["revision"] == rev]}

    def deployment(self, request: Request, org: _Org, body: bytes) -> Any:
        env, api, rev = request.path_params["env"], request.path_params["api"], request.path_params["rev"]
        proxy = self._proxy(org, api)
        if rev not in proxy["revisions"]:
            raise ApiError(404, f"revision {rev} of API proxy {api} not found")
        current = org.deployments.get((env, api))
        if request.method == "GET":
            if current is None or current["revision"] != rev:
                raise ApiError(404, f"revision {rev} of {api} is not deployed in environment {env}")
            return self._deployment_view(current, status=True)
        if request.method == "DELETE":
            if current is None or current["revision"] != rev:
                raise ApiError(400, f"revision {rev} of {api} is not deployed in environment {env}",
                               "FAILED_PRECONDITION")
            del org.deployments[(env, api)]
            return {}
        if current is not None:
            if current["revision"] == rev:
                raise ApiError(400, f"revision {rev} of {api} is already deployed in environment {env}",
                               "FAILED_PRECONDITION")
            if not self._flag(request, "override"):
                raise ApiError(400, f"revision {current['revision']} of {api} is deployed in environment {env}; "
                               "set override=true to replace it", "FAILED_PRECONDITION")
        dep = {"environment": env, "apiProxy": api, "revision": rev, "deployStartTime": _now_ms(),
               "proxyDeploymentType": "STANDARD"}
        org.deployments[(env, api)] = dep
        return dep

    # ------------------------------------------------------------------ API products
    def _product_in(self, data: dict[str, Any], name: str, created: str | None) -> dict[str, Any]:
        unit = data.get("quotaTimeUnit")
        if unit is not None and unit not in _TIME_UNITS:
            raise ApiError(400, f"quotaTimeUnit {unit!r}: valid values are minute, hour, day, month")
        for key in ("quota", "quotaInterval"):
            if data.get(key) is not None and not str(data[key]).isdigit():
                raise ApiError(400, f"{key} must be a number")
        now = _now_ms()
        product = {k: v for k, v in data.items() if k not in ("createdAt", "lastModifiedAt", "name")}
        product.update({"name": name, "displayName": data.get("displayName") or name,
                        "approvalType": data.get("approvalType") or "auto",
                        "attributes": self._attributes(data.get("attributes")),
                        "createdAt": created or now, "lastModifiedAt": now})
        for key in ("proxies", "environments", "apiResources", "scopes"):
            if key in product and not isinstance(product[key], list):
                raise ApiError(400, f"{key} must be a list")
        return product

    def products(self, request: Request, org: _Org, body: bytes) -> Any:
        if request.method == "GET":
            items = list(org.products.values())
            attr, value = request.query_params.get("attributename"), request.query_params.get("attributevalue")
            if attr:
                items = [p for p in items if any(a["name"] == attr and (value is None or a["value"] == value)
                                                 for a in p["attributes"])]
            items = self._page(items, "name", request)
            return {"apiProduct": items if self._flag(request, "expand") else [{"name": p["name"]} for p in items]}
        data = self._json(body)
        name = str(data.get("name") or "")
        if not re.fullmatch(r"[A-Za-z0-9._\-$ %]+", name):
            raise ApiError(400, "name is required (characters A-Z0-9._-$ %)")
        if name in org.products:
            raise ApiError(409, f"API product {name} already exists")
        org.products[name] = self._product_in(data, name, None)
        return org.products[name]

    def product(self, request: Request, org: _Org, body: bytes) -> Any:
        name = request.path_params["product"]
        product = org.products.get(name)
        if product is None:
            raise ApiError(404, f"API product {name} not found")
        if request.method == "PUT":
            org.products[name] = self._product_in(self._json(body), name, product["createdAt"])
            return org.products[name]
        if request.method == "DELETE":
            del org.products[name]
        return product

    # ------------------------------------------------------------------ developers and apps
    def _developer(self, org: _Org, email: str) -> dict[str, Any]:
        dev = org.developers.get(email.lower())
        if dev is None:
            raise ApiError(404, f"developer {email} not found")
        return dev

    def _developer_view(self, org: _Org, dev: dict[str, Any]) -> dict[str, Any]:
        apps = sorted(a for (e, a) in org.apps if e == dev["email"])
        return {**dev, "apps": apps, "organizationName": org.name}

    def developers(self, request: Request, org: _Org, body: bytes) -> Any:
        if request.method == "GET":
            items = self._page([self._developer_view(org, d) for d in org.developers.values()], "email", request)
            return {"developer": items if self._flag(request, "expand") else [{"email": d["email"]} for d in items]}
        data = self._json(body)
        missing = [k for k in ("email", "firstName", "lastName", "userName") if not data.get(k)]
        if missing:
            raise ApiError(400, f"missing required field(s): {', '.join(missing)}")
        email = str(data["email"]).lower()
        if email in org.developers:
            raise ApiError(409, f"developer {email} already exists")
        now = _now_ms()
        org.developers[email] = {"email": email, "firstName": data["firstName"], "lastName": data["lastName"],
                                 "userName": data["userName"], "attributes": self._attributes(data.get("attributes")),
                                 "developerId": str(uuid.uuid4()), "status": "active", "createdAt": now,
                                 "lastModifiedAt": now}
        return self._developer_view(org, org.developers[email])

    def developer(self, request: Request, org: _Org, body: bytes) -> Any:
        dev = self._developer(org, request.path_params["dev"])
        if request.method == "PUT":
            data = self._json(body)
            for key in ("firstName", "lastName", "userName"):
                if data.get(key):
                    dev[key] = data[key]
            dev["attributes"] = self._attributes(data.get("attributes"))
            dev["lastModifiedAt"] = _now_ms()
        elif request.method == "DELETE":
            del org.developers[dev["email"]]
            for app_key in [k for k in org.apps if k[0] == dev["email"]]:
                del org.apps[app_key]
        return self._developer_view(org, dev)

    def _products_exist(self, org: _Org, names: list[Any]) -> list[str]:
        out = []
        for name in names:
            name = str(name.get("apiproduct") if isinstance(name, dict) else name)
            if name not in org.products:
                raise ApiError(400, f"API product {name} does not exist")
            out.append(name)
        return out

    @staticmethod
    def _new_key(consumer_key: str | None = None, secret: str | None = None) -> dict[str, Any]:
        return {"consumerKey": consumer_key or secrets.token_urlsafe(24), "consumerSecret": secret or secrets.token_urlsafe(24),
                "apiProducts": [], "attributes": [], "scopes": [], "status": "approved", "issuedAt": _now_ms(),
                "expiresAt": "-1"}

    def _app(self, org: _Org, request: Request) -> dict[str, Any]:
        dev = self._developer(org, request.path_params["dev"])
        app = org.apps.get((dev["email"], request.path_params["app"]))
        if app is None:
            raise ApiError(404, f"app {request.path_params['app']} of developer {dev['email']} not found")
        return app

    def apps(self, request: Request, org: _Org, body: bytes) -> Any:
        dev = self._developer(org, request.path_params["dev"])
        if request.method == "GET":
            items = self._page([a for (e, _), a in org.apps.items() if e == dev["email"]], "name", request)
            if self._flag(request, "expand"):
                return {"app": items}
            return {"app": [{"appId": a["appId"]} for a in items]}
        data = self._json(body)
        name = str(data.get("name") or "")
        if not name:
            raise ApiError(400, "name is required")
        if (dev["email"], name) in org.apps:
            raise ApiError(409, f"app {name} already exists for developer {dev['email']}")
        products = self._products_exist(org, list(data.get("apiProducts") or []))
        key = self._new_key()
        key["apiProducts"] = [{"apiproduct": p, "status": "approved"} for p in products]
        now = _now_ms()
        app = {"name": name, "appId": str(uuid.uuid4()), "developerId": dev["developerId"], "status": "approved",
               "attributes": self._attributes(data.get("attributes")), "callbackUrl": data.get("callbackUrl", ""),
               "apiProducts": products, "credentials": [key], "createdAt": now, "lastModifiedAt": now,
               "scopes": list(data.get("scopes") or []), "appFamily": "default"}
        org.apps[(dev["email"], name)] = app
        return app

    def app(self, request: Request, org: _Org, body: bytes) -> Any:
        app = self._app(org, request)
        if request.method == "PUT":
            data = self._json(body)
            if data.get("name") and data["name"] != app["name"]:
                raise ApiError(400, "the app name cannot be changed")
            app["attributes"] = self._attributes(data.get("attributes"))
            if "callbackUrl" in data:
                app["callbackUrl"] = data["callbackUrl"]
            new = [p for p in self._products_exist(org, list(data.get("apiProducts") or [])) if p not in app["apiProducts"]]
            if new:  # adding products to an app generates a new key for them (documented behaviour)
                key = self._new_key()
                key["apiProducts"] = [{"apiproduct": p, "status": "approved"} for p in new]
                app["credentials"].append(key)
                app["apiProducts"] = app["apiProducts"] + new
            app["lastModifiedAt"] = _now_ms()
        elif request.method == "DELETE":
            del org.apps[(self._developer(org, request.path_params["dev"])["email"], app["name"])]
        return app

    def keys(self, request: Request, org: _Org, body: bytes) -> Any:
        app = self._app(org, request)
        data = self._json(body)
        consumer_key, secret = data.get("consumerKey"), data.get("consumerSecret")
        if not consumer_key or not secret:
            raise ApiError(400, "consumerKey and consumerSecret are required")
        if not _KEY_CHARS.fullmatch(str(consumer_key)) or not _KEY_CHARS.fullmatch(str(secret)):
            raise ApiError(400, "consumer keys and secrets may contain letters, numbers, underscores and hyphens only")
        if data.get("apiProducts"):
            raise ApiError(400, "do not pass apiProducts when creating a key; use UpdateDeveloperAppKey")
        for other in org.apps.values():
            if any(c["consumerKey"] == consumer_key for c in other["credentials"]):
                raise ApiError(409, "the consumer key already exists")
        key = self._new_key(str(consumer_key), str(secret))
        key["attributes"] = self._attributes(data.get("attributes"))
        app["credentials"].append(key)
        return key

    def _key(self, app: dict[str, Any], key: str) -> dict[str, Any]:
        for cred in app["credentials"]:
            if cred["consumerKey"] == key:
                return cred  # type: ignore[no-any-return]
        raise ApiError(404, "consumer key not found")

    def key(self, request: Request, org: _Org, body: bytes) -> Any:
        app = self._app(org, request)
        cred = self._key(app, request.path_params["key"])
        if request.method == "DELETE":
            app["credentials"].remove(cred)
        elif request.method == "POST":
            action = request.query_params.get("action")
            if action:
                if action not in ("approve", "revoke"):
                    raise ApiError(400, "action must be approve or revoke")
                cred["status"] = "approved" if action == "approve" else "revoked"
            else:
                data = self._json(body)
                for name in self._products_exist(org, list(data.get("apiProducts") or [])):
                    if all(p["apiproduct"] != name for p in cred["apiProducts"]):
                        cred["apiProducts"].append({"apiproduct": name, "status": "approved"})
                if "attributes" in data:
                    cred["attributes"] = self._attributes(data.get("attributes"))
        elif request.method == "PUT":
            cred["scopes"] = list(self._json(body).get("scopes") or [])
        return cred

    def key_product(self, request: Request, org: _Org, body: bytes) -> Any:
        app = self._app(org, request)
        cred = self._key(app, request.path_params["key"])
        name = request.path_params["product"]
        entry = next((p for p in cred["apiProducts"] if p["apiproduct"] == name), None)
        if entry is None:
            raise ApiError(404, f"API product {name} is not associated with this key")
        if request.method == "DELETE":
            cred["apiProducts"].remove(entry)
            return cred
        action = request.query_params.get("action")
        if action not in ("approve", "revoke"):
            raise ApiError(400, "action must be approve or revoke")
        entry["status"] = "approved" if action == "approve" else "revoked"
        return {}
