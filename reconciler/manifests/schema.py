"""JSON Schemas generated from the pydantic models (the single source), plus the plan format.

`schemas/<Kind>.schema.json` are checked in for editors and CI; a test fails when they drift from
the models (`reconciler schema --write schemas` regenerates them).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reconciler.manifests.documents import DOCUMENT_MODELS
from reconciler.model.plan_schema import PLAN_SCHEMA


def all_schemas() -> dict[str, dict[str, Any]]:
    """Schema name -> JSON Schema, for every manifest kind and for the JSON plan."""
    out: dict[str, dict[str, Any]] = {}
    for kind, model in sorted(DOCUMENT_MODELS.items()):
        schema = model.model_json_schema(mode="validation")
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://gostoa.dev/schemas/reconciler/{kind}.schema.json"
        out[kind] = schema
    out["plan"] = PLAN_SCHEMA
    return out


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write_schemas(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in all_schemas().items():
        path = directory / f"{name}.schema.json"
        path.write_text(render(schema))
        written.append(path)
    return written
