"""OpenAPI 3.1 -> 3.0.3, structurally (webMethods API Gateway 10.15 imports only 3.0.x).

A version-string replace is not enough: 3.1 schemas are JSON Schema 2020-12 (type arrays, `const`,
`examples`, numeric `exclusiveMinimum`, `$defs`, ...). `convert` rewrites what has a 3.0 equivalent
and drops what has none, recording a note for every loss, so the plan can say what the gateway will
not see. Pure functions, no I/O.
"""

from __future__ import annotations

import copy
from typing import Any

#: JSON Schema keywords 3.0 does not know; dropped with a note.
_DROPPED_KEYWORDS = (
    "$schema", "$id", "$anchor", "$dynamicAnchor", "$dynamicRef", "$comment", "$vocabulary",
    "unevaluatedProperties", "unevaluatedItems", "dependentRequired", "dependentSchemas",
    "prefixItems", "if", "then", "else", "propertyNames", "contains", "minContains", "maxContains",
    "patternProperties", "contentEncoding", "contentMediaType", "contentSchema",
)
#: Keys whose value is a schema / a list of schemas / a map of schemas.
_SCHEMA_ONE = ("items", "not", "additionalProperties")
_SCHEMA_LIST = ("allOf", "anyOf", "oneOf")
_SCHEMA_MAP = ("properties",)


def is_31(document: dict[str, Any]) -> bool:
    return str(document.get("openapi", "")).startswith("3.1")


def convert(document: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Return (a 3.0.3 copy of `document`, notes on what was lost). 3.0 documents pass unchanged."""
    if not is_31(document):
        return copy.deepcopy(document), []
    doc = copy.deepcopy(document)
    notes: list[str] = []
    doc["openapi"] = "3.0.3"
    for key in ("jsonSchemaDialect", "$schema", "$id"):
        if doc.pop(key, None) is not None:
            notes.append(f"{key}: dropped (not in OpenAPI 3.0)")
    webhooks = doc.pop("webhooks", None)
    if webhooks:
        notes.append(f"webhooks: dropped {len(webhooks)} webhook(s) ({', '.join(sorted(webhooks))})")
    info = doc.get("info")
    if isinstance(info, dict):
        if info.pop("summary", None) is not None:
            notes.append("info.summary: dropped (not in OpenAPI 3.0)")
        lic = info.get("license")
        if isinstance(lic, dict) and lic.pop("identifier", None) is not None:
            notes.append("info.license.identifier: dropped (not in OpenAPI 3.0)")
    components = doc.get("components") if isinstance(doc.get("components"), dict) else {}
    path_items = components.pop("pathItems", None) if components else None
    paths = doc.get("paths")
    if not isinstance(paths, dict):
        doc["paths"] = paths = {}
    for path, item in list(paths.items()):
        if isinstance(item, dict) and "$ref" in item and isinstance(path_items, dict):
            target = str(item["$ref"]).rsplit("/", 1)[-1]
            if str(item["$ref"]).startswith("#/components/pathItems/") and target in path_items:
                paths[path] = copy.deepcopy(path_items[target])
    if path_items:
        notes.append("components.pathItems: inlined where referenced, then dropped")
    schemes = components.get("securitySchemes") if components else None
    if isinstance(schemes, dict):
        for name, scheme in list(schemes.items()):
            if isinstance(scheme, dict) and scheme.get("type") == "mutualTLS":
                del schemes[name]
                notes.append(f"components.securitySchemes.{name}: mutualTLS dropped (not in OpenAPI 3.0)")
    _walk_document(doc, notes)
    return doc, notes


def conversion_notes(document: dict[str, Any]) -> list[str]:
    """What converting `document` to 3.0.3 loses (empty for a 3.0 document): for the plan."""
    return convert(document)[1]


# ---------------------------------------------------------------------------------------------
def _walk_document(doc: dict[str, Any], notes: list[str]) -> None:
    """Find every schema position of an OpenAPI document and convert the schema in place."""
    components = doc.get("components")
    if isinstance(components, dict):
        for name, schema in (components.get("schemas") or {}).items():
            components["schemas"][name] = _schema(schema, f"components.schemas.{name}", notes)
        for section in ("parameters", "headers"):
            for name, obj in (components.get(section) or {}).items():
                _holder(obj, f"components.{section}.{name}", notes)
        for section in ("requestBodies", "responses"):
            for name, obj in (components.get(section) or {}).items():
                _with_content(obj, f"components.{section}.{name}", notes)
    for path, item in (doc.get("paths") or {}).items():
        if not isinstance(item, dict):
            continue
        for param in item.get("parameters") or []:
            _holder(param, f"paths.{path}.parameters", notes)
        for method, op in item.items():
            if not isinstance(op, dict) or method in ("parameters", "servers", "summary", "description"):
                continue
            where = f"paths.{path}.{method}"
            for param in op.get("parameters") or []:
                _holder(param, f"{where}.parameters", notes)
            if isinstance(op.get("requestBody"), dict):
                _with_content(op["requestBody"], f"{where}.requestBody", notes)
            for code, response in (op.get("responses") or {}).items():
                _with_content(response, f"{where}.responses.{code}", notes)


def _holder(obj: Any, where: str, notes: list[str]) -> None:
    """A parameter or header: a `schema` or a `content` map."""
    if not isinstance(obj, dict):
        return
    if isinstance(obj.get("schema"), dict):
        obj["schema"] = _schema(obj["schema"], f"{where}.{obj.get('name', '')}".rstrip("."), notes)
    _with_content(obj, where, notes)


def _with_content(obj: Any, where: str, notes: list[str]) -> None:
    if not isinstance(obj, dict):
        return
    for media, media_obj in (obj.get("content") or {}).items():
        if isinstance(media_obj, dict) and isinstance(media_obj.get("schema"), dict):
            media_obj["schema"] = _schema(media_obj["schema"], f"{where}.{media}", notes)
    for name, header in (obj.get("headers") or {}).items():
        _holder(header, f"{where}.headers.{name}", notes)


def _schema(schema: Any, where: str, notes: list[str]) -> Any:
    """Convert one JSON Schema 2020-12 object to an OpenAPI 3.0 Schema Object (recursively)."""
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    # anyOf/oneOf with a {"type": "null"} branch -> nullable (first, so a merged branch is converted too)
    for key in ("anyOf", "oneOf"):
        branches = out.get(key)
        if isinstance(branches, list) and any(b == {"type": "null"} for b in branches):
            rest = [b for b in branches if b != {"type": "null"}]
            out["nullable"] = True
            if len(rest) == 1 and isinstance(rest[0], dict) and "$ref" not in rest[0] and set(out) == {key, "nullable"}:
                out = {**rest[0], "nullable": True}
            else:
                out[key] = rest
    for key in _DROPPED_KEYWORDS:
        if key in out:
            del out[key]
            if key not in ("$schema", "$comment"):
                notes.append(f"{where}: '{key}' dropped (no OpenAPI 3.0 equivalent)")
    if "$defs" in out:
        names = ", ".join(sorted(out.pop("$defs")))
        notes.append(f"{where}: '$defs' dropped ({names}); move them to components.schemas")
    # type arrays -> type + nullable (or anyOf for several non-null types)
    kind = out.get("type")
    if isinstance(kind, list):
        types = [t for t in kind if t != "null"]
        if "null" in kind:
            out["nullable"] = True
        if len(types) == 1:
            out["type"] = types[0]
        elif not types:
            del out["type"]
            notes.append(f"{where}: type 'null' alone has no OpenAPI 3.0 equivalent (kept as nullable)")
        else:
            del out["type"]
            out["anyOf"] = [{"type": t} for t in types] + list(out.get("anyOf") or [])
    elif kind == "null":
        del out["type"]
        out["nullable"] = True
        notes.append(f"{where}: type 'null' alone has no OpenAPI 3.0 equivalent (kept as nullable)")
    if "const" in out:
        out["enum"] = [out.pop("const")]
    if "examples" in out:
        examples = out.pop("examples")
        if isinstance(examples, list) and examples:
            out.setdefault("example", examples[0])
            if len(examples) > 1:
                notes.append(f"{where}: kept 1 of {len(examples)} schema examples (3.0 has a single 'example')")
    for bound, flag in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        value = out.get(bound)
        if isinstance(value, int | float) and not isinstance(value, bool):
            if flag in out:
                notes.append(f"{where}: {flag} and numeric {bound} both set; kept the {bound}")
            out[flag] = value
            out[bound] = True
    if "$ref" in out and len(out) > 1:
        ref = out.pop("$ref")
        out = {"allOf": [{"$ref": ref}], **out}
    for key in _SCHEMA_ONE:
        if isinstance(out.get(key), dict):
            out[key] = _schema(out[key], f"{where}.{key}", notes)
    for key in _SCHEMA_LIST:
        if isinstance(out.get(key), list):
            out[key] = [_schema(s, f"{where}.{key}[{i}]", notes) for i, s in enumerate(out[key])]
    for key in _SCHEMA_MAP:
        if isinstance(out.get(key), dict):
            out[key] = {n: _schema(s, f"{where}.{key}.{n}", notes) for n, s in out[key].items()}
    return out
