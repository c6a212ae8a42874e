"""Check a request against the webMethods Swagger 2.0 operation it targets (method, path, query, body).

Loaded from `../shared/specs/webmethods/` via `specs_path` (never copied). Known spec defects
handled here, each on purpose:
- `POST /policyActions` declares a bare `PolicyAction` body and `PUT /policies/{id}` a bare `Policy`,
  while the samples (and the gateway) wrap them as `{"policyAction": ...}` / `{"policy": ...}`: the
  wrapped object is validated against the declared schema.
- `Alias` is polymorphic (`discriminator: type`): the concrete definition (`EndpointAlias`,
  `SimpleAlias`, `AuthServerAlias`, ...) is chosen from the body's `type`.
- `InputAPI.apiDefinition` is typed as the gateway's internal `API` model, but a JSON import with
  `type: openapi` carries the raw OpenAPI document: it is validated as OpenAPI 3.0 instead.
Beyond the schema (which never sets `additionalProperties: false`), every top-level body key must be
a declared property, so a misspelt field fails here rather than being silently ignored by the gateway.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import jsonschema
from openapi_spec_validator import validate as validate_openapi

from tests.conftest import specs_path

FILES = ("APIGatewayServiceManagement.json", "APIGatewayPolicyManagement.json", "APIGatewayApplication.json",
         "APIGatewayAlias.json", "APIGatewayAdministration.json", "APIGatewayArchive.json",
         "APIGatewayAvailability.json", "APIGatewayServerInfoSwagger.json")
WRAPPED = {("POST", "/policyActions"): "policyAction", ("PUT", "/policies/{policyId}"): "policy"}


@dataclass
class Operation:
    method: str
    path: str
    regex: re.Pattern[str]
    op: dict[str, Any]
    definitions: dict[str, Any]


class Swagger:
    def __init__(self) -> None:
        self.operations: list[Operation] = []
        for name in FILES:
            doc = json.loads(specs_path(f"webmethods/{name}").read_text())
            base = doc.get("basePath", "").rstrip("/")
            for path, item in doc["paths"].items():
                pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(base + path))
                for method, op in item.items():
                    if method == "parameters":
                        continue
                    self.operations.append(Operation(method.upper(), path, re.compile(pattern + "$"), op,
                                                     doc.get("definitions", {})))

    def find(self, method: str, path: str) -> Operation:
        matches = [o for o in self.operations if o.method == method and o.regex.match(path)]
        if not matches:
            raise AssertionError(f"{method} {path}: no operation in the webMethods Swagger files")
        # the most literal path wins (`/apis/{apiId}/activate` over a template of the same length)
        return min(matches, key=lambda o: o.path.count("{"))

    def check(self, method: str, path: str, query: str, body: bytes) -> list[str]:
        """Problems with one request (empty when it conforms)."""
        op = self.find(method, path)
        params = op.op.get("parameters", [])
        problems = []
        declared_query = {p["name"] for p in params if p.get("in") == "query"}
        for key, _ in parse_qsl(query, keep_blank_values=True):
            if key not in declared_query:
                problems.append(f"{method} {op.path}: undeclared query parameter {key!r}")
        body_params = [p for p in params if p.get("in") == "body"]
        if not body:
            if any(p.get("required") for p in body_params):
                problems.append(f"{method} {op.path}: required body missing")
            return problems
        if not body_params:
            problems.append(f"{method} {op.path}: body sent but the operation declares none")
            return problems
        payload = json.loads(body)
        wrapper = WRAPPED.get((method, op.path))
        if wrapper is not None:
            if not isinstance(payload, dict) or set(payload) != {wrapper}:
                return [f"{method} {op.path}: expected a {{{wrapper!r}: ...}} envelope"]
            payload = payload[wrapper]
        schema = body_params[0]["schema"]
        schema = self._concrete(schema, payload, op.definitions)
        if isinstance(payload, dict) and "apiDefinition" in payload and str(payload.get("type")) == "openapi":
            try:
                validate_openapi(payload["apiDefinition"])
            except Exception as exc:  # noqa: BLE001
                problems.append(f"{method} {op.path}: apiDefinition is not valid OpenAPI 3.0: {exc}")
            payload = {k: v for k, v in payload.items() if k != "apiDefinition"}
        validator = jsonschema.Draft4Validator({**schema, "definitions": op.definitions})
        problems += [f"{method} {op.path}: {e.message} at {list(e.absolute_path)}" for e in validator.iter_errors(payload)]
        props = self._properties(schema, op.definitions)
        if isinstance(payload, dict) and props is not None:
            for key in payload:
                if key not in props:
                    problems.append(f"{method} {op.path}: body field {key!r} is not in the schema")
        return problems

    @staticmethod
    def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = defs[schema["$ref"].rsplit("/", 1)[-1]]
        return schema

    def _concrete(self, schema: dict[str, Any], payload: Any, defs: dict[str, Any]) -> dict[str, Any]:
        """Pick the subtype of a polymorphic schema from the discriminator value in the payload."""
        base = self._resolve(schema, defs)
        field = base.get("discriminator")
        if field and isinstance(payload, dict) and isinstance(payload.get(field), str):
            wanted = payload[field].lower()
            for name in defs:
                if name.lower() in (wanted, wanted + "alias"):
                    return {"$ref": f"#/definitions/{name}"}
        return schema

    def _properties(self, schema: dict[str, Any], defs: dict[str, Any]) -> set[str] | None:
        schema = self._resolve(schema, defs)
        if schema.get("type") not in (None, "object") or "items" in schema:
            return None
        props = set(schema.get("properties", {}))
        for part in schema.get("allOf", []):
            more = self._properties(part, defs)
            props |= more or set()
        return props
