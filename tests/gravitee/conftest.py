"""Fixtures for the Gravitee tests: the spec contract checker, a running emulator, record builders.

The contract checker validates one request against the operation it targets in
`../shared/specs/gravitee/openapi-apis.yaml` (method + path template + declared query parameters +
request body schema), per operation because some upstream `$ref`s are broken:
- refs to `./openapi-environments.yaml#…` are resolved by grafting that file under `x-environments`;
- `oneOf` + `discriminator` are turned into explicit if/then branches (jsonschema has no discriminator);
- a discriminator mapping that is not a `$ref` (upstream defect: `"ConditionSelector"`) accepts anything.
Applications are Management API v1, which has no static OpenAPI in ../shared/specs: those requests are
checked against `V1_OPERATIONS`, a table of path, query parameters (names, values) and bodies taken from
the 4.12.17 v1 resource classes it cites.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import yaml
from jsonschema import Draft202012Validator

from reconciler.emulators.gravitee import GraviteeEmulator
from reconciler.model.records import make_record, secret_fingerprint
from tests.conftest import specs_path

V2_PREFIX = re.compile(r"^/management/v2(?:/organizations/[^/]+)?(?=/environments/|/plugins/)")
V1_PREFIX = re.compile(r"^/management/organizations/[^/]+/environments/[^/]+")


def _int_between(low: int, high: int | None = None) -> Callable[[str], bool]:
    def ok(value: str) -> bool:
        return value.isdigit() and int(value) >= low and (high is None or int(value) <= high)
    return ok


def _one_of(*values: str, upper: bool = False, comma: bool = False) -> Callable[[str], bool]:
    def ok(value: str) -> bool:
        items = value.split(",") if comma else [value]
        return all((v.upper() if upper else v) in values for v in items)
    return ok


def _anything(value: str) -> bool:
    return True


#: Management API v1 (gravitee-apim-rest-api-management-rest, tag 4.12.17), under
#: /management/organizations/{org}/environments/{env}: (method, path) -> (resource method, query
#: parameters -> value check, body fields that must be non-null).
PAGEABLE = {"size": _int_between(1, 200), "page": _int_between(1)}  # model/Pageable: @Min(1) @Max(200), @Min(1)
SUBSCRIPTION_STATUSES = ("PENDING", "REJECTED", "ACCEPTED", "CLOSED", "PAUSED", "RESUMED")  # model SubscriptionStatus
V1_OPERATIONS: dict[tuple[str, str], tuple[str, dict[str, Callable[[str], bool]], tuple[str, ...]]] = {
    ("GET", ""): ("EnvironmentResource.getEnvironment", {}, ()),
    ("GET", "/applications"): ("ApplicationsResource.getApplications", {
        "group": _anything, "query": _anything, "status": _one_of("ACTIVE", "ARCHIVED", upper=True),
        "ids": _anything, "exclude": _one_of("PICTURE", "OWNER")}, ()),
    ("GET", "/applications/_paged"): ("ApplicationsResource.getApplicationsPaged", {
        "group": _anything, "query": _anything, "status": _one_of("ACTIVE", "ARCHIVED", upper=True),
        "ids": _anything, "exclude": _one_of("PICTURE", "OWNER"),
        "order": _one_of("name", "-name", "updated_at", "-updated_at"), **PAGEABLE}, ()),
    ("POST", "/applications"): ("ApplicationsResource.createApplication (NewApplicationEntity)", {},
                                ("name", "description")),
    ("GET", "/applications/{application}"): ("ApplicationResource.getApplication", {}, ()),
    ("PUT", "/applications/{application}"): ("ApplicationResource.updateApplication (UpdateApplicationEntity)", {},
                                             ("name", "description", "settings")),
    ("DELETE", "/applications/{application}"): ("ApplicationResource.deleteApplication", {}, ()),
    ("GET", "/applications/{application}/subscriptions"): (
        "ApplicationSubscriptionsResource.getApplicationSubscriptions (SubscriptionParam, Pageable)", {
            "plan": _anything, "api": _anything, "status": _one_of(*SUBSCRIPTION_STATUSES, upper=True, comma=True),
            "api_key": _anything, "security_types": _anything, "expand": _one_of("keys", "security"), **PAGEABLE}, ()),
    ("GET", "/settings"): ("PortalSettingsResource.getPortalSettings", {}, ()),
    ("POST", "/settings"): ("PortalSettingsResource.savePortalSettings", {}, ()),
}
ENV_FILE = "./openapi-environments.yaml"
#: Query parameters a v2 resource method takes that its operation in openapi-apis.yaml does not declare.
UNDECLARED_BUT_ACCEPTED = {
    # ApiSubscriptionsResource.getApiSubscriptionApiKeys(@BeanParam PaginationParam) -> computePaginationData
    ("GET", "/environments/{envId}/apis/{apiId}/subscriptions/{subscriptionId}/api-keys"): {"page", "perPage"},
}


def _graft(node: Any, prefix: str) -> Any:
    """Rewrite refs of the environments document so they resolve inside the merged document."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                if value.startswith(ENV_FILE + "#/"):
                    value = "#/x-environments/" + value[len(ENV_FILE) + 2:]
                elif value.startswith("#/") and prefix:
                    value = "#/" + prefix + value[2:]
            out[key] = _graft(value, prefix)
        return out
    if isinstance(node, list):
        return [_graft(v, prefix) for v in node]
    return node


def _discriminate(node: Any) -> Any:
    if isinstance(node, dict):
        node = {k: _discriminate(v) for k, v in node.items()}
        disc = node.get("discriminator")
        if "oneOf" in node and isinstance(disc, dict) and disc.get("mapping"):
            prop = disc["propertyName"]
            branches = []
            for value, target in disc["mapping"].items():
                then = {"$ref": target} if str(target).startswith("#/") else {}
                branches.append({"if": {"properties": {prop: {"const": value}}, "required": [prop]}, "then": then})
            node = {k: v for k, v in node.items() if k not in ("oneOf", "discriminator")}
            node["allOf"] = [*node.get("allOf", []), *branches,
                             {"properties": {prop: {"enum": list(disc["mapping"])}}}]
        return node
    if isinstance(node, list):
        return [_discriminate(v) for v in node]
    return node


def _nullable(node: Any) -> Any:
    if isinstance(node, dict):
        node = {k: _nullable(v) for k, v in node.items() if k not in ("example", "examples")}
        if node.pop("nullable", False) is True and "type" in node:
            node["type"] = [node["type"], "null"]
        return node
    if isinstance(node, list):
        return [_nullable(v) for v in node]
    return node


class GraviteeContract:
    def __init__(self) -> None:
        apis = yaml.safe_load(specs_path("gravitee/openapi-apis.yaml").read_text())
        envs = yaml.safe_load(specs_path("gravitee/openapi-environments.yaml").read_text())
        installation = yaml.safe_load(specs_path("gravitee/openapi-installation.yaml").read_text())
        plugins = yaml.safe_load(specs_path("gravitee/openapi-plugins.yaml").read_text())
        doc = _graft(apis, "")
        doc["x-environments"] = _graft({"components": envs.get("components", {})}, "x-environments/")
        # openapi-plugins.yaml (server /management/v2/organizations/{orgId}): its paths join ours, its
        # components live under x-plugins.
        doc["x-plugins"] = _graft({"components": plugins.get("components", {})}, "x-plugins/")
        doc["paths"].update(_graft(plugins["paths"], "x-plugins/"))
        doc["x-installation"] = _graft({"components": installation.get("components", {})}, "x-installation/")
        for path, ops in _graft(installation["paths"], "x-installation/").items():
            doc["paths"].setdefault(path, ops)
        self.doc = _nullable(_discriminate(doc))
        self.paths: dict[str, dict[str, Any]] = dict(self.doc["paths"])
        self.templates = sorted(self.paths, key=lambda p: (p.count("{"), -len(p)))
        self.checked: list[str] = []

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            target: Any = self.doc
            for part in node["$ref"][2:].split("/"):
                target = target[part]
            node = target
        return node

    @cache  # noqa: B019 - one contract per session
    def _match(self, path: str) -> str | None:
        for template in self.templates:
            pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
            if re.match(pattern, path):
                return template
        return None

    def _operation(self, method: str, full_path: str) -> tuple[str, dict[str, Any]]:
        prefix = V2_PREFIX.match(full_path)
        assert prefix, f"{method} {full_path}: not under /management/v2[/organizations/{{org}}]"
        template = self._match(full_path[prefix.end():])
        assert template, f"{method} {full_path}: no operation in the specs matches"
        op = self.paths[template].get(method.lower())
        assert op is not None, f"{method} {full_path}: {template} has no {method}"
        return template, op

    def _errors(self, schema: dict[str, Any], value: Any) -> list[str]:
        full = {**schema, **{k: self.doc[k] for k in ("components", "x-environments", "x-plugins", "x-installation")}}
        errors = sorted(Draft202012Validator(full).iter_errors(value), key=lambda e: list(e.path))
        return [f"{list(e.path)}: {e.message[:200]}" for e in errors[:5]]

    def check_response(self, method: str, full_path: str, status: int, body: Any) -> str:
        """Validate one v2 response against its operation's response for that status (or `default`)."""
        template, op = self._operation(method.upper(), full_path)
        responses = op.get("responses") or {}
        entry = responses.get(str(status)) or responses.get("default")
        assert entry is not None, f"{method} {template}: no response {status} in the spec ({sorted(responses)})"
        entry = self._resolve(entry)
        schema = ((entry.get("content") or {}).get("application/json") or {}).get("schema")
        if schema is None:
            assert body is None, f"{method} {template} {status}: the spec has no body, the emulator sent one"
        else:
            errors = self._errors(schema, body)
            assert not errors, f"{method} {template} {status}: response invalid: " + "; ".join(errors)
        self.checked.append(f"{method} {template} -> {status}")
        return f"{method} {template} -> {status}"

    def check(self, method: str, full_path: str, query: str, body: Any) -> str:
        """Validate one request; returns the operation it matched. Raises AssertionError otherwise."""
        method = method.upper()
        v1 = V1_PREFIX.match(full_path)
        if v1 and not full_path.startswith("/management/v2"):
            rest = re.sub(r"^/applications/(?!_paged$)[^/]+", "/applications/{application}", full_path[v1.end():])
            assert (method, rest) in V1_OPERATIONS, f"{method} {full_path}: not a Management API v1 operation"
            resource, params, required = V1_OPERATIONS[(method, rest)]
            for name, values in parse_qs(query, keep_blank_values=True).items():
                assert name in params, f"{method} {rest}: {resource} has no query parameter {name!r}"
                for value in values:
                    assert params[name](value), f"{method} {rest}: {name}={value!r} is refused by {resource}"
            if method in ("POST", "PUT"):
                assert isinstance(body, dict), f"{method} {rest}: {resource} needs a JSON object"
                missing = [f for f in required if body.get(f) is None]
                assert not missing, f"{method} {rest}: {resource} requires {missing}"
            self.checked.append(f"v1 {method} {rest}")
            return f"v1 {method} {rest}"
        prefix = V2_PREFIX.match(full_path)
        assert prefix, f"{method} {full_path}: not under /management/v2[/organizations/{{org}}]"
        path = full_path[prefix.end():]
        template = self._match(path)
        assert template, f"{method} {full_path}: no operation in openapi-apis.yaml matches {path}"
        ops = self.paths[template]
        op = ops.get(method.lower())
        assert op is not None, f"{method} {full_path}: {template} has no {method}"
        declared = {self._resolve(p)["name"] for p in [*ops.get("parameters", []), *op.get("parameters", [])]
                    if self._resolve(p).get("in") == "query"}
        declared |= UNDECLARED_BUT_ACCEPTED.get((method, template), set())
        for name in parse_qs(query, keep_blank_values=True):
            assert name in declared, f"{method} {template}: query parameter {name!r} is not declared ({declared})"
        content = (op.get("requestBody") or {}).get("content") or {}
        schema = (content.get("application/json") or {}).get("schema")
        if schema is not None and body is not None:
            errors = self._errors(schema, body)
            assert not errors, f"{method} {template}: body invalid: " + "; ".join(errors)
        elif body is not None and method in ("POST", "PUT"):
            assert content == {} or schema is not None, f"{method} {template}: unexpected body"
        if method in ("POST", "PUT") and op.get("requestBody", {}).get("required") and body is None:
            raise AssertionError(f"{method} {template}: body required")
        self.checked.append(f"{method} {template}")
        return f"{method} {template}"


class RecordingTransport(httpx.AsyncBaseTransport):
    """An adapter's HTTP transport that keeps every (method, path, status, JSON body) it received back."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.responses: list[tuple[str, str, int, Any]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        content = await response.aread()
        body = json.loads(content) if content and response.headers.get("content-type", "").startswith(
            "application/json") else None
        self.responses.append((request.method, request.url.path, response.status_code, body))
        return httpx.Response(response.status_code, headers=response.headers, content=content, request=request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture(scope="session")
def contract() -> GraviteeContract:
    return GraviteeContract()


@pytest.fixture
def emulator() -> Iterator[GraviteeEmulator]:
    with GraviteeEmulator() as emu:
        yield emu


def adapter_config(url: str, owner: str = "platform", **extra: Any) -> dict[str, Any]:
    return {"name": "gravitee-dev", "gateway_type": "gravitee", "base_url": url, "owner": owner,
            "auth": {"username": "admin", "password": "admin"}, "options": {}, "timeout": 5.0, **extra}


@pytest.fixture
def config() -> Callable[..., dict[str, Any]]:
    return adapter_config


def api_record(name: str = "pets", **spec: Any) -> dict[str, Any]:
    base = {"tenant": "acme", "version": "1.0.0", "basePath": f"/{name}", "backend": f"https://{name}.example.com/v1",
            "methods": ["GET", "POST"], "openapi": None, "openapiHash": None}
    base.update(spec)
    return make_record("API", name, base, owner="platform")


def rate_record(name: str = "pets-rate", api: str = "pets", requests: int = 100, period: str = "minute") -> dict[str, Any]:
    return make_record("Policy", name, {"api": api, "type": "rate_limit",
                                        "config": {"requests": requests, "period": period}}, owner="platform")


def cors_record(name: str = "pets-cors", api: str = "pets", origins: list[str] | None = None) -> dict[str, Any]:
    return make_record("Policy", name, {"api": api, "type": "cors", "config": {
        "origins": origins or ["https://app.example.com"], "methods": ["GET"], "headers": [], "exposeHeaders": [],
        "credentials": False, "maxAge": 600}}, owner="platform")


def consumer_record(name: str = "mobile", subs: list[str] | None = None, key: str = "mobile-key-0123456789",
                    **spec: Any) -> dict[str, Any]:
    body = {"displayName": "Mobile app", "subscriptions": sorted(subs if subs is not None else ["pets"]),
            "credential": {"type": "apiKey", "fingerprint": secret_fingerprint(key)}, **spec}
    record = make_record("Consumer", name, body, owner="platform")
    record["secret"] = {"apiKey": key}
    return record


@pytest.fixture
def records() -> Any:
    class Records:
        api = staticmethod(api_record)
        rate = staticmethod(rate_record)
        cors = staticmethod(cors_record)
        consumer = staticmethod(consumer_record)

    return Records
