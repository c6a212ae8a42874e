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

Responses (`response_problems`): the status must be one the operation documents, and a JSON body is
compared with the operation's sample for that status, which wins over the schema (the samples carry
the real envelopes): the same envelope key, the same JSON type wherever both have a value, and no
field that neither the sample nor the schema knows (the schema describes what a sample's envelope
holds; a polymorphic object of another subtype than the sample's is checked against its subtype).
Some samples are not valid JSON (a missing comma, a doubled one); those are parsed after that one
repair, and a sample still unreadable falls back to the schema's property names.
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
FREE_FORM = frozenset({"apiDefinition"})
SAMPLE_GAPS: dict[str, frozenset[str]] = {
    # an older sample of the same object: the application samples of APIGatewayApplication.json have these
    "/apis/{apiId}/applications": frozenset({"expirationDate", "expired", "isSuspended", "jsOrigins", "owner"}),
    # no sample; the schema has the parts only, while every part's sample has a top-level status
    "/all": frozenset({"status"}),
}
"""Fields a response may carry that its own sample and schema lack, each with the reason."""
"""Response fields not compared field by field: the API definition the emulator keeps as imported (an
OpenAPI 3.0 document plus `type: rest`), where the gateway keeps its own internal model (`RestAPI`)."""


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


    # ------------------------------------------------------------------ responses
    def response_problems(self, method: str, path: str, status: int, payload: Any) -> list[str]:
        """Problems with one emulator response (empty when it looks like the vendor's)."""
        op = self.find(method, path)
        where = f"{method} {op.path} {status}"
        documented = op.op.get("responses", {})
        if str(status) not in documented:
            return [f"{where}: status not documented (documented: {', '.join(sorted(documented))})"]
        response = documented[str(status)]
        schema = response.get("schema")
        sample = _sample(response)
        if payload is None:
            return []
        problems: list[str] = []
        if sample is not None:
            self._like(payload, sample, schema, op.definitions, where, problems)
        elif schema is not None:
            self._known_fields(payload, schema, op.definitions, where, problems)
        return problems

    def _like(self, actual: Any, sample: Any, schema: dict[str, Any] | None, defs: dict[str, Any], where: str,
              problems: list[str]) -> None:
        if sample is None or actual is None:
            return
        if _kind(actual) != _kind(sample):
            problems.append(f"{where}: {_kind(actual)} where the sample has {_kind(sample)}")
            return
        if isinstance(sample, list):
            merged = _merge([x for x in sample if x is not None])
            for item in actual:
                if merged is not None:
                    self._like(item, merged, self._item_schema(schema, defs), defs, where + "[]", problems)
            return
        if not isinstance(sample, dict):
            return
        props = self._properties(schema, defs) if schema is not None else None
        if len(sample) == 1 and isinstance(next(iter(sample.values())), dict | list):
            if set(actual) != set(sample):
                problems.append(f"{where}: envelope {sorted(actual)} where the sample has {sorted(sample)}")
                return
            ((key, inner),) = sample.items()
            if props is None or key not in props:  # the schema describes what the envelope holds
                self._like(actual[key], inner, schema, defs, f"{where}.{key}", problems)
                return
        if schema is not None and str(actual.get("type")) in self._resolve(schema, defs).get("properties", {}):
            # a one-of keyed by type (OneOfStrategyModel): the property named after the object's type
            schema = self._resolve(schema, defs)["properties"][str(actual["type"])]
            props = self._properties(schema, defs)
        if schema is not None and self._resolve(schema, defs).get("discriminator"):
            field = self._resolve(schema, defs)["discriminator"]
            if actual.get(field) != sample.get(field):  # another subtype than the sample's: its schema decides
                self._known_fields(actual, schema, defs, where, problems)
                return
        for key, value in actual.items():
            if key in FREE_FORM:
                continue
            if key in sample:
                self._like(value, sample[key], self._property_schema(schema, key, defs), defs, f"{where}.{key}",
                           problems)
            elif (props is None or key not in props) and key not in SAMPLE_GAPS.get(where.split(" ", 2)[1], ()):
                problems.append(f"{where}: field {key!r} is in neither the sample nor the schema")

    def _known_fields(self, actual: Any, schema: dict[str, Any], defs: dict[str, Any], where: str,
                      problems: list[str]) -> None:
        props = self._properties(self._concrete(schema, actual, defs), defs)
        if isinstance(actual, dict) and props:
            gaps = SAMPLE_GAPS.get(where.split(" ", 2)[1], frozenset())
            problems += [f"{where}: field {k!r} is not in the schema" for k in actual if k not in props | gaps]

    def _property_schema(self, schema: dict[str, Any] | None, key: str, defs: dict[str, Any]) -> dict[str, Any] | None:
        if schema is None:
            return None
        resolved = self._resolve(schema, defs)
        found = resolved.get("properties", {}).get(key)
        for part in resolved.get("allOf", []):
            found = found or self._resolve(part, defs).get("properties", {}).get(key)
        return found if isinstance(found, dict) else None

    def _item_schema(self, schema: dict[str, Any] | None, defs: dict[str, Any]) -> dict[str, Any] | None:
        if schema is None:
            return None
        resolved = self._resolve(schema, defs)
        items = resolved.get("items")
        if isinstance(items, dict):
            return items
        return schema if resolved.get("type") in (None, "object") else None  # a schema of one item, sample of many


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {dict: "object", list: "array", str: "string"}.get(type(value), "null")


def _merge(items: list[Any]) -> Any:
    """One sample item standing for all: the union of the objects' keys (a list of stages, of actions)."""
    if not items:
        return None
    if all(isinstance(x, dict) for x in items):
        merged: dict[str, Any] = {}
        for item in items:
            for key, value in item.items():
                if merged.get(key) is None:
                    merged[key] = value
        return merged
    return items[0]


def _sample(response: dict[str, Any]) -> Any:
    text = (response.get("examples") or {}).get("application/json")
    if text is None:
        return None
    if not isinstance(text, str):
        return text
    for attempt in (text, re.sub(r",\s*,", ",", re.sub(r'(["\d}\]])\s*\n(\s*")', r"\1,\n\2", text))):
        try:
            return json.loads(attempt)
        except ValueError:
            continue
    return None
