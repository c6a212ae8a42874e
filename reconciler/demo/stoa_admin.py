"""The demo's hands on a STOA gateway's admin API: what an operator does by hand, outside Git."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from reconciler.manifests.models import GatewayInstance
from reconciler.model.gateways import gateway_type


@dataclass(frozen=True)
class StoaAdmin:
    gateway: str
    url: str
    token: str

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=10)

    async def routes(self) -> list[dict[str, Any]]:
        async with self._client() as client:
            response = await client.get("/admin/apis")
            response.raise_for_status()
            return list(response.json())

    async def delete_route(self, route_id: str) -> None:
        async with self._client() as client:
            (await client.delete(f"/admin/apis/{route_id}")).raise_for_status()


def first_stoa(gateways: dict[str, GatewayInstance], endpoints: dict[str, str], env: dict[str, str]) -> StoaAdmin | None:
    """The first running STOA gateway with a token reference (the demo's drift steps use it), or None."""
    for name, gw in sorted(gateways.items()):
        if name not in endpoints or gw.spec.credentials.token is None:
            continue
        if gateway_type(gw.spec.gatewayType.value).emulator_name == "stoa":
            return StoaAdmin(name, endpoints[name], env[str(gw.spec.credentials.token.env)])
    return None
