"""Copy this folder to start a new gateway: every method answers "Not supported by <gateway>".

Then: set `gateway_type`, implement the methods your gateway supports with `self.client`
(`GatewayHttp`: retries, pacing, sanitized errors) and the pure functions of `mappers.py`, declare
`GATEWAYS` in the folder's `__init__.py` with its entry-point line in `pyproject.toml`, and write an
emulator from the vendor's contract. The whole recipe: `README.md` beside this file.
"""

from __future__ import annotations

from typing import Any, ClassVar

from reconciler.adapters.base import GatewayAdapter
from reconciler.model.results import AdapterResult


class TemplateAdapter(GatewayAdapter):
    gateway_type: ClassVar[str] = "template"

    async def health_check(self) -> AdapterResult:
        return self.not_supported()

    async def sync_api(self, api_spec: dict[str, Any], tenant_id: str, auth_token: str | None = None) -> AdapterResult:
        return self.not_supported()

    async def delete_api(self, api_id: str, auth_token: str | None = None) -> AdapterResult:
        return self.not_supported()

    async def fetch_apis(self) -> list[dict[str, Any]]:
        return []

    async def upsert_policy(self, policy_spec: dict[str, Any], auth_token: str | None = None) -> AdapterResult:
        return self.not_supported()

    async def delete_policy(self, policy_id: str, auth_token: str | None = None) -> AdapterResult:
        return self.not_supported()

    async def fetch_policies(self) -> list[dict[str, Any]]:
        return []

    async def provision_application(self, app_spec: dict[str, Any], auth_token: str | None = None) -> AdapterResult:
        return self.not_supported()

    async def deprovision_application(self, app_id: str, auth_token: str | None = None) -> AdapterResult:
        return self.not_supported()

    async def fetch_applications(self) -> list[dict[str, Any]]:
        return []
