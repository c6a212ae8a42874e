"""Adapter for the STOA Rust gateway's admin API (every stoa_* gateway type).

- Auth: `Authorization: Bearer <auth.token>`. A gateway without an admin token answers 503
  "Admin API disabled"; that is reported at once as a permanent error (retrying cannot help),
  while other 503s are retried by the shared HTTP layer.
- APIs are routes (`/admin/apis`), policies are `/admin/policies`, and consumers exist only as
  consumer credentials (`/admin/consumer-credentials`): one api_key credential per subscribed route.
  Every POST is an upsert keyed by id, so sync/upsert/provision are idempotent by construction.
- Ownership: the admin API has no tags or labels, so it is encoded in the ids: route id, policy id
  and consumer id are `"<owner>.<name>"` (owners and names are DNS labels without dots). On read an
  id `"<o>.<n>"` gives owner `<o>` and name `<n>`; an id without a dot is unowned (owner None) and
  is named by the route's `name` field, or by the id. Provision / deprovision only ever touch
  credentials whose consumer id is the one they were asked about.
- Adoption (`--adopt`): an unowned object cannot be marked in place (the marker is its id), so the
  adapter writes the owned copy and then deletes the adopted id.
- What a route cannot store (version, displayName, description, OpenAPI hash) goes into
  `spec_hash`; `desired_view` computes the same hash, so changing any of them re-syncs the route.
- Deletes answered 404 count as success. The admin token and API keys never reach logs or errors.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from reconciler.adapters.base import GatewayAdapter
from reconciler.adapters.http import GatewayHttp
from reconciler.adapters.stoa import mappers
from reconciler.model.errors import PermanentError, sanitize
from reconciler.model.imports import ImportedSpec
from reconciler.model.records import api_key_of
from reconciler.model.results import AdapterResult

log = logging.getLogger("reconciler.adapters.stoa")

ADMIN_DISABLED = "Admin API disabled"


def _segment(value: str) -> str:
    return quote(value, safe="")


class StoaAdapter(GatewayAdapter):
    gateway_type: ClassVar[str] = "stoa"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        #: consumer id -> route id -> credential, from the last listing (see `_credentials_of`).
        self._credentials: dict[str, dict[str, dict[str, Any]]] | None = None
        if not self.auth.get("token"):
            # STOA's own adapter learned this the hard way (CAB-1944): say it before the 401s start.
            log.warning("%s: no admin token configured; the STOA admin API will answer 401", self.name)

    def make_http(self, **kwargs: Any) -> GatewayHttp:
        token = self.auth.get("token")
        if token:
            kwargs.setdefault("headers", {"Authorization": f"Bearer {token}"})
        return super().make_http(**kwargs)

    async def disconnect(self) -> None:
        self._credentials = None
        await super().disconnect()

    # ------------------------------------------------------------------ HTTP helpers
    async def _send(self, method: str, path: str, *, json: Any = None, ok: tuple[int, ...] = ()) -> httpx.Response:
        """One admin call; a 503 "Admin API disabled" fails fast instead of being retried."""
        response = await self.client.request(method, path, json=json, ok=(*ok, 503))
        if response.status_code != 503 or 503 in ok:
            return response
        try:
            body = response.json()
        except ValueError:
            body = None
        message = body.get("message") if isinstance(body, dict) else None
        if isinstance(message, str) and message.startswith(ADMIN_DISABLED):
            raise PermanentError(
                sanitize(f"{method} {path} -> HTTP 503: {message} (set admin_api_token on the gateway)",
                         secrets=self.secrets),
                status=503, body=body)
        return await self.client.request(method, path, json=json, ok=ok)  # a transient 503: retry

    async def _get_list(self, path: str) -> list[dict[str, Any]]:
        body = (await self._send("GET", path)).json()
        if not isinstance(body, list) or not all(isinstance(item, dict) for item in body):
            raise PermanentError(f"GET {path}: expected a JSON array of objects, got {type(body).__name__}")
        return body

    async def _delete(self, path: str, resource_id: str) -> AdapterResult:
        response = await self._send("DELETE", path, ok=(404,))
        return AdapterResult(success=True, resource_id=resource_id, data={"existed": response.status_code != 404})

    async def _guard_secret(self, what: str, secret: str | None,
                            call: Callable[[], Awaitable[AdapterResult]]) -> AdapterResult:
        """`guard`, also scrubbing a consumer's key from the message (the gateway might echo it)."""
        secrets = (*self.secrets, secret) if secret else self.secrets
        try:
            return await call()
        except Exception as exc:  # noqa: BLE001 - the contract forbids raising
            result = self.failure(exc, what=what)
            result.error = sanitize(result.error or "", secrets=secrets)
            log.warning("%s %s failed: %s", self.name, what, result.error)
            return result

    # ------------------------------------------------------------------ lifecycle
    async def health_check(self) -> AdapterResult:
        """Success means the admin API answers (as in STOA's adapter); `data.status` says ok/degraded."""
        async def run() -> AdapterResult:
            body = (await self._send("GET", "/admin/health")).json()
            return AdapterResult(success=True, data=body if isinstance(body, dict) else {"body": body})
        return await self.guard("health_check", run)

    # ------------------------------------------------------------------ APIs
    async def sync_api(self, api_spec: dict[str, Any], tenant_id: str, auth_token: str | None = None) -> AdapterResult:
        async def run() -> AdapterResult:
            record = dict(api_spec)
            spec = dict(record["spec"])
            if not spec.get("tenant") and tenant_id:
                spec["tenant"] = tenant_id
            record["spec"] = spec
            payload = mappers.api_to_gateway(record, self.owner)
            response = await self._send("POST", "/admin/apis", json=payload)
            body = response.json()
            if record.get("adopt"):
                await self._drop_adopted("/admin/apis", record.get("id"), payload["id"])
            return AdapterResult(success=True, resource_id=str(body.get("id", payload["id"])), data={
                "spec_hash": payload["spec_hash"], "deployment_id": body.get("deployment_id"),
                "created": response.status_code == 201})
        return await self.guard(f"sync_api {api_spec.get('name')}", run)

    async def _drop_adopted(self, collection: str, previous_id: Any, new_id: str) -> None:
        """After writing the owned copy of an adopted object, remove the unowned original."""
        if isinstance(previous_id, str) and previous_id and previous_id != new_id:
            await self._send("DELETE", f"{collection}/{_segment(previous_id)}", ok=(404,))

    async def delete_api(self, api_id: str, auth_token: str | None = None) -> AdapterResult:
        return await self.guard(f"delete_api {api_id}",
                                lambda: self._delete(f"/admin/apis/{_segment(api_id)}", api_id))

    async def fetch_apis(self) -> list[dict[str, Any]]:
        return [mappers.api_from_gateway(route) for route in await self._get_list("/admin/apis")]

    # ------------------------------------------------------------------ policies
    async def upsert_policy(self, policy_spec: dict[str, Any], auth_token: str | None = None) -> AdapterResult:
        async def run() -> AdapterResult:
            payload = mappers.policy_to_gateway(policy_spec, self.owner)
            response = await self._send("POST", "/admin/policies", json=payload)
            if policy_spec.get("adopt"):
                await self._drop_adopted("/admin/policies", policy_spec.get("id"), payload["id"])
            return AdapterResult(success=True, resource_id=payload["id"],
                                 data={"created": response.status_code == 201, "api_id": payload["api_id"]})
        return await self.guard(f"upsert_policy {policy_spec.get('name')}", run)

    async def delete_policy(self, policy_id: str, auth_token: str | None = None) -> AdapterResult:
        return await self.guard(f"delete_policy {policy_id}",
                                lambda: self._delete(f"/admin/policies/{_segment(policy_id)}", policy_id))

    async def fetch_policies(self) -> list[dict[str, Any]]:
        return [mappers.policy_from_gateway(entry) for entry in await self._get_list("/admin/policies")]

    # ------------------------------------------------------------------ consumers
    def _index_credentials(self, credentials: list[dict[str, Any]]) -> None:
        index: dict[str, dict[str, dict[str, Any]]] = {}
        for credential in credentials:
            index.setdefault(str(credential.get("consumer_id")), {})[str(credential.get("route_id"))] = credential
        self._credentials = index

    async def _credentials_of(self, consumer_id: str) -> list[dict[str, Any]]:
        """This consumer's credentials: from the listing the plan was computed from, else one GET.

        The admin API can only list every credential; re-listing per consumer would make an apply
        of N consumers cost N full listings. The index is refreshed by every `fetch_applications`,
        kept in step with our own writes, and dropped on disconnect.
        """
        if self._credentials is None:
            self._index_credentials(await self._get_list("/admin/consumer-credentials"))
        assert self._credentials is not None
        return list(self._credentials.get(consumer_id, {}).values())

    async def _post_credential(self, credential: dict[str, Any]) -> None:
        await self._send("POST", "/admin/consumer-credentials", json=credential)
        if self._credentials is not None:
            self._credentials.setdefault(credential["consumer_id"], {})[credential["route_id"]] = credential

    async def _delete_credential(self, route_id: str, consumer_id: str) -> None:
        await self._send("DELETE", f"/admin/consumer-credentials/{_segment(route_id)}/{_segment(consumer_id)}",
                         ok=(404,))
        if self._credentials is not None:
            self._credentials.get(consumer_id, {}).pop(route_id, None)

    async def provision_application(self, app_spec: dict[str, Any], auth_token: str | None = None) -> AdapterResult:
        """Upsert one credential per subscribed route; drop this consumer's credentials elsewhere."""
        secret = api_key_of(app_spec)

        async def run() -> AdapterResult:
            if not secret:
                raise PermanentError(f"consumer {app_spec.get('name')}: no API key was resolved for its credential")
            cid = mappers.consumer_id(self.owner, app_spec["name"])
            desired = mappers.credentials_to_gateway(app_spec, self.owner, secret)
            current = {str(c.get("route_id")): c for c in await self._credentials_of(cid)}
            written = deleted = 0
            for credential in desired:
                live = current.get(credential["route_id"])
                if live is not None and all(live.get(k) == v for k, v in credential.items()):
                    continue
                await self._post_credential(credential)
                written += 1
            wanted = {c["route_id"] for c in desired}
            for route_id in sorted(set(current) - wanted):
                await self._delete_credential(route_id, cid)
                deleted += 1
            previous = app_spec.get("id")
            if app_spec.get("adopt") and isinstance(previous, str) and previous and previous != cid:
                # adoption: retire the original
                for credential in await self._credentials_of(previous):
                    await self._delete_credential(str(credential.get("route_id")), previous)
            return AdapterResult(success=True, resource_id=cid, data={
                "routes": sorted(wanted), "written": written, "deleted": deleted})
        return await self._guard_secret(f"provision_application {app_spec.get('name')}", secret, run)

    async def deprovision_application(self, app_id: str, auth_token: str | None = None) -> AdapterResult:
        """Delete every credential of this consumer id (and only of it)."""
        async def run() -> AdapterResult:
            credentials = await self._credentials_of(app_id)
            for credential in credentials:
                await self._delete_credential(str(credential.get("route_id")), app_id)
            return AdapterResult(success=True, resource_id=app_id, data={"deleted": len(credentials)})
        return await self.guard(f"deprovision_application {app_id}", run)

    async def fetch_applications(self) -> list[dict[str, Any]]:
        credentials = await self._get_list("/admin/consumer-credentials")
        self._index_credentials(credentials)
        return mappers.consumers_from_gateway(credentials)

    # ------------------------------------------------------------------ reconciler hooks
    @staticmethod
    def folded_fields(kind: str) -> Mapping[str, str]:
        """A route keeps version, displayName, description and openapiHash only as hashes."""
        return {key: f"specHash.{key}" for key in mappers.HASHED_API_FIELDS} if kind == "API" else {}

    def import_spec(self, kind: str, record: Mapping[str, Any]) -> ImportedSpec:
        if kind == "API":
            return mappers.api_import_spec(dict(record))
        return super().import_spec(kind, record)

    @staticmethod
    def desired_view(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
        if kind == "API":
            return mappers.api_view(spec)
        if kind == "Policy":
            return mappers.policy_view(spec)
        if kind == "Consumer":
            return mappers.consumer_view(spec)
        return spec
