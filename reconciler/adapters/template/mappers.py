"""Pure translation between canonical records and the gateway's JSON. No I/O here.

Write two functions per kind: `<kind>_to_gateway(record, owner) -> dict` (the payload) and
`<kind>_from_gateway(obj, owner) -> dict | None` (a canonical record, owner marker read back; None
for objects that are not APIs/policies/consumers at all). A read-back of what `_to_gateway` wrote
must compare equal to the desired spec after `desired_view`.
"""

from __future__ import annotations

from typing import Any

from reconciler.model.records import make_record


def api_to_gateway(record: dict[str, Any], owner: str) -> dict[str, Any]:
    spec = record["spec"]
    return {"name": record["name"], "owner": owner, "path": spec["basePath"], "upstream": spec["backend"]}


def api_from_gateway(obj: dict[str, Any]) -> dict[str, Any]:
    spec = {"basePath": obj["path"], "backend": obj["upstream"]}
    return make_record("API", obj["name"], spec, id=obj.get("id"), owner=obj.get("owner"))
