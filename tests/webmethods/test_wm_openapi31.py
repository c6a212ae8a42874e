"""The OpenAPI 3.1 -> 3.0.3 converter: structure, not a version-string replace; every loss noted."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from openapi_spec_validator import validate

from reconciler.adapters.webmethods.adapter import WebMethodsAdapter
from reconciler.adapters.webmethods.openapi31 import conversion_notes, convert, is_31
from tests.webmethods.helpers import OPENAPI_31


def doc_with(schema: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {},
            "components": {"schemas": {"S": schema, "T": {"type": "string"}}}, **top}


def converted(schema: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    out, notes = convert(doc_with(schema))
    validate(out)  # a valid OpenAPI 3.0 document, whatever went in
    return out["components"]["schemas"]["S"], notes


def test_30_documents_pass_unchanged() -> None:
    doc = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {}}
    assert convert(doc) == (doc, []) and not is_31(doc)


def test_input_is_not_mutated() -> None:
    before = copy.deepcopy(OPENAPI_31)
    convert(OPENAPI_31)
    assert OPENAPI_31 == before


def test_full_example_is_valid_30() -> None:
    out, notes = convert(OPENAPI_31)
    validate(out)
    assert out["openapi"] == "3.0.3" and "webhooks" not in out and "summary" not in out["info"]
    assert notes == conversion_notes(OPENAPI_31) and len(notes) == 3


@pytest.mark.parametrize(("schema", "expected"), [
    ({"type": ["string", "null"]}, {"type": "string", "nullable": True}),
    ({"type": ["integer"]}, {"type": "integer"}),
    ({"type": ["string", "integer"]}, {"anyOf": [{"type": "string"}, {"type": "integer"}]}),
    ({"const": 3}, {"enum": [3]}),
    ({"type": "number", "exclusiveMinimum": 1.5}, {"type": "number", "minimum": 1.5, "exclusiveMinimum": True}),
    ({"type": "number", "exclusiveMaximum": 9}, {"type": "number", "maximum": 9, "exclusiveMaximum": True}),
    ({"type": "string", "examples": ["x"]}, {"type": "string", "example": "x"}),
    ({"anyOf": [{"type": "string"}, {"type": "null"}]}, {"type": "string", "nullable": True}),
    ({"oneOf": [{"$ref": "#/components/schemas/T"}, {"type": "null"}]},
     {"oneOf": [{"$ref": "#/components/schemas/T"}], "nullable": True}),
    ({"$ref": "#/components/schemas/T", "description": "d"},
     {"allOf": [{"$ref": "#/components/schemas/T"}], "description": "d"}),
])
def test_schema_rewrites(schema: dict[str, Any], expected: dict[str, Any]) -> None:
    assert converted(schema)[0] == expected


def test_nested_schemas_are_converted() -> None:
    out, _ = converted({"type": "object", "properties": {"a": {"type": "array", "items": {"type": ["string", "null"]}}},
                        "additionalProperties": {"const": "x"}, "allOf": [{"type": ["number", "null"]}]})
    assert out["properties"]["a"]["items"] == {"type": "string", "nullable": True}
    assert out["additionalProperties"] == {"enum": ["x"]}
    assert out["allOf"] == [{"type": "number", "nullable": True}]


def test_losses_are_noted_with_their_location() -> None:
    out, notes = converted({"type": "object", "$schema": "https://json-schema.org/draft/2020-12/schema",
                            "examples": [{"a": 1}, {"a": 2}], "patternProperties": {"^x": {}},
                            "$defs": {"Inner": {}}, "prefixItems": [{}]})
    assert set(out) == {"type", "example"}
    assert "components.schemas.S: kept 1 of 2 schema examples (3.0 has a single 'example')" in notes
    assert any("'patternProperties' dropped" in n for n in notes)
    assert any("'$defs' dropped (Inner)" in n for n in notes)
    assert any("'prefixItems' dropped" in n for n in notes)
    assert not any("$schema" in n for n in notes)  # no meaning lost


def test_schemas_in_parameters_bodies_responses_and_headers() -> None:
    nullable = {"type": ["string", "null"]}
    doc = {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {"/p": {
        "parameters": [{"name": "q", "in": "query", "schema": dict(nullable)}],
        "post": {"parameters": [{"name": "h", "in": "header", "schema": dict(nullable)}],
                 "requestBody": {"content": {"application/json": {"schema": dict(nullable)}}},
                 "responses": {"200": {"description": "ok", "headers": {"X": {"schema": dict(nullable)}},
                                       "content": {"application/json": {"schema": dict(nullable)}}}}}}}}
    out, notes = convert(doc)
    validate(out)
    item = out["paths"]["/p"]
    want = {"type": "string", "nullable": True}
    assert item["parameters"][0]["schema"] == want and item["post"]["parameters"][0]["schema"] == want
    assert item["post"]["requestBody"]["content"]["application/json"]["schema"] == want
    assert item["post"]["responses"]["200"]["headers"]["X"]["schema"] == want
    assert item["post"]["responses"]["200"]["content"]["application/json"]["schema"] == want
    assert notes == []


def test_document_level_31_features() -> None:
    doc = doc_with({"type": "string"}, jsonSchemaDialect="https://spec.openapis.org/oas/3.1/dialect/base",
                   webhooks={"a": {}, "b": {}})
    doc["info"]["license"] = {"name": "Apache-2.0", "identifier": "Apache-2.0"}
    doc["components"]["securitySchemes"] = {"mtls": {"type": "mutualTLS"}, "key": {"type": "apiKey", "name": "k",
                                                                                   "in": "header"}}
    doc["components"]["pathItems"] = {"Shared": {"get": {"responses": {"200": {"description": "ok"}}}}}
    doc["paths"] = {"/s": {"$ref": "#/components/pathItems/Shared"}}
    out, notes = convert(doc)
    validate(out)
    assert "jsonSchemaDialect" not in out and "webhooks" not in out and "pathItems" not in out["components"]
    assert out["paths"]["/s"] == {"get": {"responses": {"200": {"description": "ok"}}}}
    assert list(out["components"]["securitySchemes"]) == ["key"]
    assert out["info"]["license"] == {"name": "Apache-2.0"}
    assert "webhooks: dropped 2 webhook(s) (a, b)" in notes
    assert any("mutualTLS" in n for n in notes) and any("license.identifier" in n for n in notes)


def test_paths_are_optional_in_31_but_required_in_30() -> None:
    out, _ = convert({"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "webhooks": {"w": {}}})
    validate(out)
    assert out["paths"] == {}


def test_plan_notes_say_what_is_lost() -> None:
    adapter = WebMethodsAdapter({})
    iam, *notes = adapter.plan_notes("API", {"openapi": OPENAPI_31})
    assert iam.startswith("the API's policy gets an Identify & Authorize action")
    assert notes[0] == "OpenAPI 3.1.0 is converted to 3.0.3 for webMethods; 3 loss(es):"
    assert notes[1:] == conversion_notes(OPENAPI_31)
    lossless = doc_with({"type": ["string", "null"]})
    assert adapter.plan_notes("API", {"openapi": lossless})[1:] == [
        "OpenAPI 3.1.0 is converted to 3.0.3 for webMethods without loss"]
    assert adapter.plan_notes("API", {"openapi": None}) == [iam]
    assert adapter.plan_notes("Policy", {}) == []


# ------------------------------------------------------------------ property: any 3.1 schema -> valid 3.0
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_types = st.sampled_from(["string", "integer", "number", "boolean", "object", "array"])
_leaf = st.one_of(
    st.builds(lambda t: {"type": t}, _types),
    st.builds(lambda t, n: {"type": [t, "null"] if n else [t]}, _types, st.booleans()),
    st.builds(lambda v: {"const": v}, st.one_of(st.integers(), st.text(max_size=3))),
    st.builds(lambda lo: {"type": "number", "exclusiveMinimum": lo}, st.integers(-5, 5)),
    st.builds(lambda hi: {"type": "integer", "exclusiveMaximum": hi}, st.integers(-5, 5)),
    st.builds(lambda ex: {"type": "string", "examples": ex}, st.lists(st.text(max_size=3), min_size=1, max_size=3)),
    st.just({"type": "array", "prefixItems": [{"type": "string"}]}),
    st.just({"$ref": "#/components/schemas/T", "description": "x"}),
)
_schemas = st.recursive(_leaf, lambda inner: st.one_of(
    st.builds(lambda p: {"type": "object", "properties": p}, st.dictionaries(st.sampled_from("abc"), inner, max_size=3)),
    st.builds(lambda i: {"type": "array", "items": i}, inner),
    st.builds(lambda a: {"anyOf": [a, {"type": "null"}]}, inner),
    st.builds(lambda a, b: {"oneOf": [a, b]}, inner, inner),
), max_leaves=8)

_FORBIDDEN = {"const", "examples", "$defs", "prefixItems", "$schema"}


def _walk(schema: Any) -> None:
    if isinstance(schema, dict):
        assert not (_FORBIDDEN & set(schema)), schema
        assert not isinstance(schema.get("type"), list) and schema.get("type") != "null", schema
        for bound in ("exclusiveMinimum", "exclusiveMaximum"):
            assert bound not in schema or isinstance(schema[bound], bool), schema
        for value in schema.values():
            _walk(value)
    elif isinstance(schema, list):
        for item in schema:
            _walk(item)


@settings(max_examples=60, deadline=None)
@given(_schemas)
def test_any_31_schema_becomes_valid_30(schema: dict[str, Any]) -> None:
    out, _ = convert(doc_with(schema))
    validate(out)
    _walk(out["components"]["schemas"])
