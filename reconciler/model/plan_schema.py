"""JSON Schema of `reconciler plan --format json` / `--out plan.json` (format_version "1")."""

from __future__ import annotations

from typing import Any

_RECORD: dict[str, Any] = {
    "type": ["object", "null"],
    "required": ["kind", "name", "spec"],
    "properties": {
        "kind": {"type": "string"},
        "name": {"type": "string"},
        "id": {"type": ["string", "null"]},
        "owner": {"type": ["string", "null"]},
        "spec": {"type": "object"},
        "secret": False,
    },
}

PLAN_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://gostoa.dev/schemas/reconciler/plan.schema.json",
    "title": "stoa-reconciler plan",
    "type": "object",
    "required": ["format_version", "tool", "owner", "has_changes", "summary", "errors", "gateways"],
    "properties": {
        "format_version": {"const": "1"},
        "tool": {"type": "object", "required": ["name", "version"]},
        "owner": {"type": "string"},
        "has_changes": {"type": "boolean", "description": "some gateway that was read has changes to apply"},
        "complete": {"type": "boolean",
                     "description": "every gateway was read; false: some gateway's changes are unknown"},
        "summary": {
            "type": "object",
            "properties": {k: {"type": "integer", "minimum": 0}
                           for k in ("create", "update", "delete", "no-op", "conflict", "failed_gateways")},
            "required": ["create", "update", "delete", "no-op", "conflict"],
        },
        "errors": {"type": "array", "items": {"type": "string"}},
        "missing_secrets": {
            "type": "array", "items": {"type": "string"},
            "description": "secrets the plan could not read (their credentials show as unknown); apply needs them",
        },
        "secret_refs": {
            "type": "object",
            "description": "kind/name -> field -> reference (env:NAME or file:PATH); never a value",
            "additionalProperties": {"type": "object", "additionalProperties": {"type": "string", "pattern": "^(env|file):"}},
        },
        "base": {
            "type": "object",
            "description": "plan --base REF: the plan split into this change (objects whose desired state differs "
                           "between REF and HEAD) and drift (the other objects: live vs desired at REF)",
            "required": ["ref", "commit", "touched", "summary"],
            "properties": {
                "ref": {"type": "string"},
                "commit": {"type": "string"},
                "touched": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["gateway", "kind", "name", "change"],
                        "properties": {"gateway": {"type": "string"}, "kind": {"type": "string"},
                                       "name": {"type": "string"},
                                       "change": {"enum": ["added", "removed", "modified"]}},
                    },
                },
                "summary": {
                    "type": "object",
                    "required": ["change", "drift"],
                    "additionalProperties": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
                },
            },
        },
        "skipped_gateways": {
            "type": "object", "additionalProperties": {"type": "string"},
            "description": "gateway -> why it was not planned (--changed-since: its desired state did not change)",
        },
        "targets": {
            "type": "array", "items": {"type": "string", "pattern": "^[A-Za-z]+/.+"},
            "description": "--target KIND/NAME: only these and their dependencies were planned; the plan may be incomplete",
        },
        "gateways": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "type", "error", "fingerprint", "changes"],
                "properties": {
                    "name": {"type": "string"},
                    "type": {"type": "string"},
                    "error": {"type": ["string", "null"]},
                    "error_kind": {"enum": ["unreachable", "stale", "config", None],
                                   "description": "why error is set: unreadable, changed since a saved plan, not configured"},
                    "fingerprint": {"type": "string"},
                    "config": {"type": "object"},
                    "changes": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["op", "kind", "name", "diffs"],
                            "properties": {
                                "op": {"enum": ["create", "update", "delete", "no-op", "conflict"]},
                                "kind": {"type": "string"},
                                "name": {"type": "string"},
                                "id": {"type": ["string", "null"]},
                                "adopt": {"type": "boolean"},
                                "notes": {"type": "array", "items": {"type": "string"}},
                                "section": {"enum": ["change", "drift"],
                                            "description": "with base: this change, or drift made outside Git"},
                                "diffs": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["path", "before", "after", "sensitive"],
                                        "properties": {
                                            "path": {"type": "string"},
                                            "sensitive": {"type": "boolean"},
                                            "element": {"enum": ["added", "removed"],
                                                        "description": "one element of a list: after added, or before removed"},
                                        },
                                    },
                                },
                                "desired": _RECORD,
                                "actual": _RECORD,
                            },
                        },
                    },
                },
            },
        },
    },
}
