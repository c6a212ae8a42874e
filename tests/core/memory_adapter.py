"""An in-memory gateway for engine tests: stores canonical records as a real gateway stores objects."""

from __future__ import annotations

import copy
from typing import Any, ClassVar

from reconciler.adapters.base import GatewayAdapter
from reconciler.model.results import AdapterResult


class MemoryAdapter(GatewayAdapter):
    gateway_type: ClassVar[str] = "memory"

    def __init__(self, config: dict[str, Any] | None = None, *, objects: dict[str, dict[str, Any]] | None = None,
                 fail_names: set[str] | None = None) -> None:
        super().__init__(config)
        self.objects: dict[str, dict[str, Any]] = objects if objects is not None else {}
        self.calls: list[tuple[str, str]] = []
        self.fail_names = fail_names or set()
        self._seq = 0

    async def health_check(self) -> AdapterResult:
        return AdapterResult(success=True)

    def _upsert(self, record: dict[str, Any]) -> AdapterResult:
        self.calls.append(("upsert", record["name"]))
        if record["name"] in self.fail_names:
            return AdapterResult(success=False, error="boom", category="permanent")
        obj_id = record.get("id")
        if not obj_id:
            self._seq += 1
            obj_id = f"id-{self._seq}"
        stored = {"kind": record["kind"], "name": record["name"], "id": obj_id, "owner": self.owner,
                  "spec": copy.deepcopy(record["spec"])}
        self.objects[obj_id] = stored
        return AdapterResult(success=True, resource_id=obj_id)

    def _delete(self, obj_id: str) -> AdapterResult:
        self.calls.append(("delete", obj_id))
        self.objects.pop(obj_id, None)
        return AdapterResult(success=True, resource_id=obj_id)

    def _list(self, kind: str) -> list[dict[str, Any]]:
        return [copy.deepcopy(o) for o in self.objects.values() if o["kind"] == kind]

    async def sync_api(self, api_spec: dict[str, Any], tenant_id: str, auth_token: str | None = None) -> AdapterResult:
        return self._upsert(api_spec)

    async def delete_api(self, api_id: str, auth_token: str | None = None) -> AdapterResult:
        return self._delete(api_id)

    async def fetch_apis(self) -> list[dict[str, Any]]:
        return self._list("API")

    async def upsert_policy(self, policy_spec: dict[str, Any], auth_token: str | None = None) -> AdapterResult:
        return self._upsert(policy_spec)

    async def delete_policy(self, policy_id: str, auth_token: str | None = None) -> AdapterResult:
        return self._delete(policy_id)

    async def fetch_policies(self) -> list[dict[str, Any]]:
        return self._list("Policy")

    async def provision_application(self, app_spec: dict[str, Any], auth_token: str | None = None) -> AdapterResult:
        return self._upsert(app_spec)

    async def deprovision_application(self, app_id: str, auth_token: str | None = None) -> AdapterResult:
        return self._delete(app_id)

    async def fetch_applications(self) -> list[dict[str, Any]]:
        return self._list("Consumer")
