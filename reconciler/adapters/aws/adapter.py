"""AWS API Gateway (REST APIs, v1 control plane) adapter: SigV4-signed httpx, paced, tag-owned.

Why httpx and not boto3: the shared `GatewayHttp` gives every adapter the same retries, pacing,
request counts (zero-write checks) and sanitized errors; botocore is used only to sign (SigV4).

Limits of the AWS control plane are respected: about 10 requests per second (`options.requestsPerSecond`),
`TooManyRequestsException` (429) retried with backoff by the shared layer, and at most one
`CreateDeployment` per API per apply, spaced `options.deploymentIntervalSeconds` (default 5) apart per API.
The account-level quotas per operation (CreateRestApi 1 per 3 s, DeleteRestApi 1 per 30 s, ...) are
paced by `quotas.QuotaTransport`, shared per endpoint and access key across adapters of one process
(`options.accountQuotas: false` turns it off, `options.quotaScale` shrinks the periods for tests), and
throttled calls are retried for up to `options.throttleRetrySeconds` (default 120) so a 30 s bucket refills.
See `mappers.py` for the object layout and the rate-limit mapping.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from reconciler.adapters import importing
from reconciler.adapters.aws import mappers as m
from reconciler.adapters.aws.quotas import QuotaTransport
from reconciler.adapters.aws.sigv4 import SigV4HttpxAuth, resolve_credentials
from reconciler.adapters.base import GatewayAdapter, gather_bounded
from reconciler.adapters.http import GatewayHttp, RetryPolicy, default_ssl_context
from reconciler.model.changes import Change, ItemResult, Op
from reconciler.model.errors import ConflictError, GatewayError, PermanentError
from reconciler.model.imports import ImportedSpec
from reconciler.model.records import api_key_of, secret_fingerprint
from reconciler.model.results import AdapterResult

IMPORT_TENANT = "default"
IMPORT_VERSION = "0.0.0"

READ_CONCURRENCY = 10
"""Per-object reads in flight at once (resources per REST API, keys per usage plan): `options.readConcurrency`.
The process's request pacer (`requestsPerSecond`) still spaces them."""

#: (endpoint, rest api id) -> monotonic time of the last CreateDeployment sent by this process.
_LAST_DEPLOY: dict[tuple[str, str], float] = {}


class _LazySigV4(httpx.Auth):
    """Resolves credentials on first use, so a missing profile fails the call, not the constructor."""

    requires_request_body = True

    def __init__(self, auth: dict[str, str], region: str, profile: str | None) -> None:
        self._auth, self._region, self._profile = auth, region, profile
        self._signer: SigV4HttpxAuth | None = None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self._signer is None:
            creds = resolve_credentials(self._auth.get("access_key_id"), self._auth.get("secret_access_key"),
                                        self._auth.get("session_token"), self._profile)
            if creds is None:
                raise PermanentError("no AWS credentials: set accessKeyId/secretAccessKey, AWS_* variables or a profile")
            self._signer = SigV4HttpxAuth(creds, self._region)
        self._signer.sign(request)
        yield request


@dataclass
class _Layouts:
    """Every REST API and its resources (methods embedded) as one read saw them: APIs and Policies are
    both read from it, so a plan lists each API's resources once, not once per kind."""

    writes: int
    """The client's write count when read: any write since makes it stale."""
    apis: list[tuple[dict[str, Any], list[dict[str, Any]]]]
    readers: set[str] = field(default_factory=set)
    """Kinds served: a kind reading again (the next drift check) is a new read."""



class AwsApiGatewayAdapter(GatewayAdapter):
    gateway_type: ClassVar[str] = "aws_apigateway"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.region = str(self.options.get("region", "us-east-1"))
        self.stage = str(self.options.get("stage", "prod"))
        self.deploy_interval = float(self.options.get("deploymentIntervalSeconds", 5))
        self.api_key_required = bool(self.options.get("apiKeyRequired", True))
        if not self._config.get("base_url"):
            self._config["base_url"] = f"https://apigateway.{self.region}.amazonaws.com"
        self.deployments = 0
        """CreateDeployment calls sent by this adapter instance (tests and reports read it)."""
        # One deployment per API per apply: cors changes (their own level, after the API's) owe the
        # API's deployment; `apply_batch` counts them before anything runs (see `_deploy_owed`).
        self._cors_owed: dict[str, int] = {}
        self._dirty: set[str] = set()
        self._api_deleted: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self.quota_transport: QuotaTransport | None = None
        self.read_concurrency = max(1, int(self.options.get("readConcurrency", READ_CONCURRENCY)))
        self._layouts: _Layouts | None = None

    async def connect(self) -> None:
        """A new session reads afresh (no layout snapshot)."""
        self._layouts = None
        await super().connect()

    def make_http(self, **kwargs: Any) -> GatewayHttp:
        profile = self.options.get("profile")
        kwargs.setdefault("auth", _LazySigV4(self.auth, self.region, str(profile) if profile else None))
        kwargs.setdefault("pace_per_second", float(self.options.get("requestsPerSecond", 10)))
        # Without it API Gateway answers HAL (`_embedded`), not the `item` lists (botocore sets it too).
        kwargs.setdefault("headers", {"Accept": "application/json"})
        retry_seconds = float(self.options.get("throttleRetrySeconds", 120))
        kwargs.setdefault("retry", RetryPolicy(attempts=int(self.options.get("throttleRetries", 8)), read_attempts=8,
                                               cap=max(10.0, retry_seconds / 4), deadline=retry_seconds))
        if self.options.get("accountQuotas", True):
            inner = kwargs.get("transport") or self._config.get("transport") or httpx.AsyncHTTPTransport(
                limits=httpx.Limits(max_connections=20, max_keepalive_connections=20), verify=default_ssl_context())
            who = self.auth.get("access_key_id") or self.options.get("profile") or ""
            account = f"{self._config['base_url']}|{self.region}|{who}"
            self.quota_transport = QuotaTransport(inner, account, float(self.options.get("quotaScale", 1.0)))
            kwargs["transport"] = self.quota_transport
        return super().make_http(**kwargs)

    # ------------------------------------------------------------------ low-level helpers
    async def _items(self, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """All items of a paged AWS collection (`item` + `position`)."""
        out: list[dict[str, Any]] = []
        query: dict[str, Any] = {"limit": 500, **(params or {})}
        seen: set[str] = set()
        while True:
            body = await self.client.get_json(path, params=query) or {}
            out.extend(body.get("item") or body.get("items") or [])
            position = body.get("position")
            if not position or position in seen:
                return out
            seen.add(position)
            query["position"] = position

    async def _read_layouts(self, reader: str) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
        """Each REST API with its resources: shared by the kinds of one read (like Kong's listings);
        the same kind again, or any write since, reads afresh."""
        hit = self._layouts
        if hit is not None and hit.writes == self.client.writes and reader not in hit.readers:
            hit.readers.add(reader)
            return hit.apis
        writes = self.client.writes
        rest_apis = await self._items("/restapis")
        resources = await gather_bounded([
            lambda a=a: self._items(f"/restapis/{a['id']}/resources", {"embed": "methods"})  # type: ignore[misc]
            for a in rest_apis], self.read_concurrency)
        self._layouts = _Layouts(writes, list(zip(rest_apis, resources, strict=True)), {reader})
        return self._layouts.apis

    def _arn(self, api_id: str, collection: str = "restapis") -> str:
        return f"arn:aws:apigateway:{self.region}::/{collection}/{api_id}"

    async def _tag(self, collection: str, resource_id: str, tags: dict[str, str]) -> None:
        """TagResource (adds or replaces these keys; the resource's other tags stay)."""
        await self.client.request("PUT", f"/tags/{quote(self._arn(resource_id, collection), safe='')}", json={"tags": tags})

    async def _plans(self) -> list[dict[str, Any]]:
        return await self._items("/usageplans")

    async def _api_plan(self, api_name: str, plans: list[dict[str, Any]] | None = None) -> dict[str, Any] | None:
        """The usage plan this adapter keeps for an API (ours, tagged with the API name)."""
        for plan in plans if plans is not None else await self._plans():
            tags = plan.get("tags") or {}
            if tags.get(m.TAG_API) == api_name and m.owner_of(tags) == self.owner:
                return plan
        return None

    async def _deploy(self, api_id: str) -> None:
        key = (self.client.base_url, api_id)
        last = _LAST_DEPLOY.get(key)
        if last is not None:
            wait = last + self.deploy_interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        await self.client.request("POST", f"/restapis/{api_id}/deployments",
                                  json={"stageName": self.stage, "description": f"{self.owner} reconcile"})
        _LAST_DEPLOY[key] = time.monotonic()
        self.deployments += 1

    # ------------------------------------------------------------------ lifecycle
    async def health_check(self) -> AdapterResult:
        async def run() -> AdapterResult:
            await self.client.get_json("/restapis", params={"limit": 1})
            return AdapterResult(True, data={"status": "ok", "region": self.region})
        return await self.guard("health_check", run)

    # ------------------------------------------------------------------ APIs
    async def fetch_apis(self) -> list[dict[str, Any]]:
        """Our REST APIs; a hand-made one reads as its resources declare it (owner None: adoption, import)."""
        records = []
        for rest_api, resources in await self._read_layouts("API"):
            if m.owner_of(rest_api.get("tags")) is None:
                records.append(m.foreign_api_record(rest_api, resources, api_key_required=self.api_key_required))
            else:
                records.append(m.api_from_gateway(rest_api, resources))
        return records

    async def sync_api(self, api_spec: dict[str, Any], tenant_id: str, auth_token: str | None = None) -> AdapterResult:
        return await self.guard(f"sync_api {api_spec.get('name')}", lambda: self._sync_api(api_spec))

    async def _sync_api(self, record: dict[str, Any]) -> AdapterResult:
        name, spec = str(record["name"]), dict(record["spec"])
        live: dict[str, Any] | None = None
        if record.get("id"):
            live = await self.client.get_or_none(f"/restapis/{record['id']}")
            if live is not None and m.owner_of(live.get("tags")) != self.owner and not record.get("adopt"):
                raise ConflictError(f"REST API {name!r} exists and is not owned by {self.owner!r}")
        if live is None:
            for item in await self._items("/restapis"):
                if item.get("name") == name:
                    if m.owner_of(item.get("tags")) != self.owner:
                        raise ConflictError(f"REST API {name!r} exists and is not owned by {self.owner!r}")
                    live = item
                    break
        if live is None:
            live = (await self.client.request("POST", "/restapis", json=m.rest_api_payload(name, spec, self.owner))).json()
        else:
            await self._update_api_metadata(live, spec)
        api_id = str(live["id"])
        try:
            changed = await self._sync_resources(api_id, spec)
        except Exception:
            self._dirty.add(api_id)  # a half-written layout must still reach the stage
            await self._deploy_owed(name, api_id, count=False)
            raise
        stage = await self.client.get_or_none(f"/restapis/{api_id}/stages/{self.stage}")
        if changed or stage is None:
            self._dirty.add(api_id)
            # deploys now, unless a cors change of this API follows in this apply (it deploys once, last)
            await self._deploy_owed(name, api_id, count=False)
        plans = await self._plans()
        if await self._api_plan(name, plans) is None:
            adoptable = next((p for p in plans if m.adoptable_plan_api(p, {api_id: name}, self.stage) == name), None)
            if record.get("adopt") and adoptable is not None:  # the hand-made plan of this API becomes ours
                await self._tag("usageplans", str(adoptable["id"]), {**m.ownership_tags(self.owner), m.TAG_API: name})
            else:
                await self.client.request("POST", "/usageplans", json=m.usage_plan_payload(name, api_id, self.stage, self.owner))
        return AdapterResult(True, resource_id=api_id, data={"id": api_id, "deployed": changed or stage is None})

    async def _update_api_metadata(self, live: dict[str, Any], spec: dict[str, Any]) -> None:
        api_id = str(live["id"])
        want_desc = spec.get("description") or ""
        if (live.get("description") or "") != want_desc:
            op = {"op": "replace", "path": "/description", "value": want_desc}
            await self.client.request("PATCH", f"/restapis/{api_id}", json={"patchOperations": [op]})
        want_tags, have_tags = m.api_tags(spec, self.owner), dict(live.get("tags") or {})
        stale = [k for k in (m.TAG_DISPLAY, m.TAG_OPENAPI) if k in have_tags and k not in want_tags]
        if any(have_tags.get(k) != v for k, v in want_tags.items()):
            # TagResource on a REST API ARN (AWS supports it; moto through `emulators.moto.install_tagging`).
            await self.client.request("PUT", f"/tags/{quote(self._arn(api_id), safe='')}", json={"tags": want_tags})
        if stale:
            await self.client.request("DELETE", f"/tags/{quote(self._arn(api_id), safe='')}",
                                      params=[("tagKeys", k) for k in stale])  # type: ignore[arg-type]

    async def _sync_resources(self, api_id: str, spec: dict[str, Any]) -> bool:
        """Lay out `<basePath>` and `<basePath>/{proxy+}` with one HTTP_PROXY method per verb; True if written."""
        resources = await self._items(f"/restapis/{api_id}/resources", {"embed": "methods"})
        by_path = {str(r.get("path")): r for r in resources}
        parts = m.path_parts(str(spec["basePath"]))
        base_path = m.join_path(parts)
        backend, methods = str(spec["backend"]), m.desired_methods(spec)
        changed = False
        old_base, old_proxy = m.find_layout(resources)
        carried: tuple[str, dict[str, Any]] | None = None
        if old_base is not None and old_proxy is not None and old_base.get("path") != base_path:
            options = (old_base.get("resourceMethods") or {}).get("OPTIONS") or {}
            marker, config = m.parse_cors_marker(options.get("operationName")), m.cors_from_method(options)
            carried = (marker[0], config) if marker is not None and config is not None else None
            await self.client.request("DELETE", f"/restapis/{api_id}/resources/{old_proxy['id']}")
            for verb in old_base.get("resourceMethods") or {}:
                await self.client.request("DELETE", f"/restapis/{api_id}/resources/{old_base['id']}/methods/{verb}")
            old_path = str(old_base.get("path"))
            if old_path != "/" and not (base_path + "/").startswith(old_path + "/"):
                await self.client.request("DELETE", f"/restapis/{api_id}/resources/{old_base['id']}")
            resources = await self._items(f"/restapis/{api_id}/resources", {"embed": "methods"})
            by_path = {str(r.get("path")): r for r in resources}
            changed = True
        parent = by_path["/"]
        for i in range(len(parts)):
            path = m.join_path(parts[: i + 1])
            if path not in by_path:
                created = (await self.client.request("POST", f"/restapis/{api_id}/resources/{parent['id']}",
                                                     json={"pathPart": parts[i]})).json()
                by_path[path] = created
                changed = True
            parent = by_path[path]
        base = parent
        proxy_path = (base_path.rstrip("/") + "/" + m.PROXY_PART)
        if proxy_path not in by_path:
            by_path[proxy_path] = (await self.client.request("POST", f"/restapis/{api_id}/resources/{base['id']}",
                                                             json={"pathPart": m.PROXY_PART})).json()
            changed = True
        for resource, proxy in ((base, False), (by_path[proxy_path], True)):
            changed |= await self._sync_methods(api_id, resource, methods, backend, proxy=proxy)
        if carried is not None:  # the cors preflight moves with the base path
            for resource in (base, by_path[proxy_path]):
                await self._put_cors(api_id, resource, carried[0], carried[1])
        return changed

    async def _sync_methods(self, api_id: str, resource: dict[str, Any], methods: list[str], backend: str,
                            *, proxy: bool) -> bool:
        live: dict[str, Any] = dict(resource.get("resourceMethods") or {})
        prefix = f"/restapis/{api_id}/resources/{resource['id']}/methods"
        changed = False
        for verb in sorted(v for v in set(live) - set(methods) if not m.is_preflight(v, live[v])):
            await self.client.request("DELETE", f"{prefix}/{verb}")
            changed = True
        for verb in methods:
            current = live.get(verb)
            if current is not None and m.method_matches(current, verb, backend, proxy=proxy,
                                                        api_key_required=self.api_key_required):
                continue
            if current is not None and bool(current.get("apiKeyRequired", False)) != self.api_key_required:
                await self.client.request("DELETE", f"{prefix}/{verb}")
                current = None
            if current is None:
                await self.client.request("PUT", f"{prefix}/{verb}",
                                          json=m.method_payload(proxy=proxy, api_key_required=self.api_key_required))
            await self.client.request("PUT", f"{prefix}/{verb}/integration",
                                      json=m.integration_payload(verb, backend, proxy=proxy))
            changed = True
        return changed

    async def delete_api(self, api_id: str, auth_token: str | None = None) -> AdapterResult:
        async def delete(live: dict[str, Any]) -> None:
            plan = await self._api_plan(str(live.get("name")))
            if plan is not None:
                await self._delete_plan(plan)
            await self.client.request("DELETE", f"/restapis/{api_id}", ok=(404,))

        return await self.delete_owned(f"REST API {api_id}", api_id, read=lambda: self.client.get_or_none(f"/restapis/{api_id}"),
                                       owner=lambda live: m.owner_of(live.get("tags")), delete=delete)

    async def _delete_plan(self, plan: dict[str, Any]) -> None:
        """AWS refuses to delete a plan still bound to stages: unbind first, then delete."""
        ops = [{"op": "remove", "path": "/apiStages", "value": f"{s['apiId']}:{s['stage']}"}
               for s in plan.get("apiStages") or []]
        if ops:
            await self.client.request("PATCH", f"/usageplans/{plan['id']}", json={"patchOperations": ops})
        await self.client.request("DELETE", f"/usageplans/{plan['id']}", ok=(404,))

    # ------------------------------------------------------------------ policies
    async def fetch_policies(self) -> list[dict[str, Any]]:
        """Our cors preflights and usage plan limits; a hand-made API's console preflight and a hand-made
        plan's throttle/quota read as unowned Policies (`<api>-cors`, the plan's name)."""
        records = []
        names: dict[str, str] = {}
        for rest_api, resources in await self._read_layouts("Policy"):
            owner = m.owner_of(rest_api.get("tags"))
            names[str(rest_api["id"])] = str(rest_api.get("name"))
            if owner is not None:
                record = m.cors_from_resources(str(rest_api.get("name")), str(rest_api["id"]), resources, owner)
            else:
                record = m.foreign_cors_record(str(rest_api.get("name")), str(rest_api["id"]), resources)
            if record is not None:
                records.append(record)
        for plan in await self._plans():
            record = m.policy_from_plan(plan)
            if record is not None:
                record["id"] = f"{plan['id']}:{record['name']}"
                records.append(record)
            elif m.owner_of(plan.get("tags")) is None and m.parse_marker(plan.get("description")) is None:
                foreign = m.policy_from_foreign_plan(plan, m.adoptable_plan_api(plan, names, self.stage))
                if foreign is not None:
                    records.append(foreign)
        return records

    async def upsert_policy(self, policy_spec: dict[str, Any], auth_token: str | None = None) -> AdapterResult:
        """Write the policy where its spec says; then retire its previous place when it moved (another
        API, another type): a usage plan or an OPTIONS preflight keeps a moved policy otherwise, and
        the plan alternates between a duplicate and a move forever."""
        return await self.retire_moved(policy_spec.get("id"), await self._write_policy(policy_spec))

    async def _write_policy(self, policy_spec: dict[str, Any]) -> AdapterResult:
        spec = policy_spec.get("spec") or {}
        if spec.get("type") == "cors":
            return await self.guard(f"upsert_policy {policy_spec.get('name')}", lambda: self._set_cors(
                str(spec["api"]), str(policy_spec["name"]), dict(spec["config"])))
        if spec.get("type") != "rate_limit":
            return AdapterResult(False, error=f"{spec.get('type')} policies: Not supported by {self.gateway_type}",
                                 category="unsupported")

        async def run() -> AdapterResult:
            plan = await self._api_plan(str(spec["api"]))
            if plan is None:
                raise PermanentError(f"API {spec['api']!r} has no usage plan of ours on this gateway (apply the API first)")
            ops = m.policy_patch(str(policy_spec["name"]), self.owner, dict(spec["config"]), plan)
            await self.client.request("PATCH", f"/usageplans/{plan['id']}", json={"patchOperations": ops})
            rid = f"{plan['id']}:{policy_spec['name']}"
            return AdapterResult(True, resource_id=rid, data={"id": rid})
        return await self.guard(f"upsert_policy {policy_spec.get('name')}", run)

    async def delete_policy(self, policy_id: str, auth_token: str | None = None) -> AdapterResult:
        if policy_id.startswith("cors:"):
            _, api_id, name = (policy_id.split(":", 2) + ["", ""])[:3]
            return await self.guard(f"delete_policy {policy_id}", lambda: self._set_cors(None, name, None, api_id=api_id))

        async def run() -> AdapterResult:
            plan_id, _, name = policy_id.partition(":")
            plan = await self.client.get_or_none(f"/usageplans/{plan_id}")
            marker = m.parse_marker((plan or {}).get("description"))
            if plan is None or marker is None or (name and marker["name"] != name):
                return AdapterResult(True, resource_id=policy_id, data={"deleted": False})
            if m.owner_of(plan.get("tags")) != self.owner or marker["owner"] != self.owner:
                raise ConflictError(f"usage plan {plan_id} is not owned by {self.owner!r}")
            await self.client.request("PATCH", f"/usageplans/{plan_id}",
                                      json={"patchOperations": m.policy_clear_patch(plan)})
            return AdapterResult(True, resource_id=policy_id, data={"deleted": True})
        return await self.guard(f"delete_policy {policy_id}", run)

    # ------------------------------------------------------------------ cors (preflight OPTIONS methods)
    async def _set_cors(self, api: str | None, policy: str, config: dict[str, Any] | None, *,
                        api_id: str | None = None) -> AdapterResult:
        """Put (config) or remove (None) the cors preflight of an API; deploys once the API owes nothing."""
        rest_api: dict[str, Any] | None = None
        if api_id:
            rest_api = await self.client.get_or_none(f"/restapis/{api_id}")
        else:
            rest_api = next((a for a in await self._items("/restapis")
                             if a.get("name") == api and m.owner_of(a.get("tags")) == self.owner), None)
        name = str((rest_api or {}).get("name") or api or "")
        try:
            if rest_api is None or m.owner_of(rest_api.get("tags")) != self.owner:
                if config is None:
                    return AdapterResult(True, data={"deleted": False})
                raise PermanentError(f"API {api!r} has no REST API of ours on this gateway (apply the API first)")
            rid = f"cors:{rest_api['id']}:{policy}"
            if config is None and name in self._api_deleted:
                return AdapterResult(True, resource_id=rid, data={"deleted": False})  # goes with its API
            resources = await self._items(f"/restapis/{rest_api['id']}/resources", {"embed": "methods"})
            base, proxy = m.find_layout(resources)
            if base is None or proxy is None:
                raise PermanentError(f"API {name!r} has no resource layout of ours (apply the API first)")
            changed = False
            for resource in (base, proxy):
                live = (resource.get("resourceMethods") or {}).get("OPTIONS")
                if config is None:
                    marker = m.parse_cors_marker((live or {}).get("operationName"))
                    if live is not None and marker is not None and marker[0] == policy:
                        path = f"/restapis/{rest_api['id']}/resources/{resource['id']}/methods/OPTIONS"
                        await self.client.request("DELETE", path)
                        changed = True
                elif not (live is not None and m.parse_cors_marker(live.get("operationName")) == (policy, self.owner)
                          and m.cors_from_method(live) == config):
                    await self._put_cors(str(rest_api["id"]), resource, policy, config, replace=live is not None)
                    changed = True
            if changed:
                self._dirty.add(str(rest_api["id"]))
            return AdapterResult(True, resource_id=rid, data={"id": rid, "changed": changed})
        finally:
            await self._deploy_owed(name, str((rest_api or {}).get("id") or ""))

    async def _put_cors(self, api_id: str, resource: dict[str, Any], policy: str, config: dict[str, Any],
                        *, replace: bool = False) -> None:
        path = f"/restapis/{api_id}/resources/{resource['id']}/methods/OPTIONS"
        if replace:
            await self.client.request("DELETE", path)
        await self.client.request("PUT", path, json=m.cors_method_payload(policy, self.owner))
        await self.client.request("PUT", f"{path}/integration", json=m.cors_integration_payload())
        await self.client.request("PUT", f"{path}/responses/200", json=m.cors_method_response(config))
        await self.client.request("PUT", f"{path}/integration/responses/200", json=m.cors_integration_response(config))

    async def _deploy_owed(self, name: str, api_id: str, *, count: bool = True) -> None:
        """Count down (`count`) the cors changes this apply owes an API; deploy once, after the last one."""
        async with self._locks.setdefault(name, asyncio.Lock()):
            owed = self._cors_owed.get(name, 0)
            if count and owed > 0:
                self._cors_owed[name] = owed - 1
            if self._cors_owed.get(name, 0) == 0 and api_id and api_id in self._dirty:
                self._dirty.discard(api_id)
                await self._deploy(api_id)

    async def apply_batch(self, changes: list[Change]) -> list[ItemResult] | None:
        """Not a batch writer: only counts the cors changes per API so each API deploys once."""
        self._cors_owed, self._dirty = {}, set()
        self._api_deleted = {c.name for c in changes if c.kind == "API" and c.op is Op.DELETE}
        for change in changes:
            record = change.desired if change.desired is not None else change.actual
            spec = (record or {}).get("spec") or {}
            if change.kind == "Policy" and spec.get("type") == "cors" and change.op in (Op.CREATE, Op.UPDATE, Op.DELETE):
                self._cors_owed[str(spec.get("api"))] = self._cors_owed.get(str(spec.get("api")), 0) + 1
        return None

    # ------------------------------------------------------------------ consumers
    async def _key_plans(self, plans: list[dict[str, Any]]) -> dict[str, list[tuple[str, str]]]:
        """API key id -> [(plan id, API name)] over the usage plans we own."""
        out: dict[str, list[tuple[str, str]]] = {}
        ours = [p for p in plans if m.owner_of(p.get("tags")) == self.owner and (p.get("tags") or {}).get(m.TAG_API)]
        keys = await gather_bounded([lambda p=p: self._items(f"/usageplans/{p['id']}/keys") for p in ours],  # type: ignore[misc]
                                    self.read_concurrency)
        for plan, plan_keys in zip(ours, keys, strict=True):
            for key in plan_keys:
                out.setdefault(str(key["id"]), []).append((str(plan["id"]), str(plan["tags"][m.TAG_API])))
        return out

    async def fetch_applications(self) -> list[dict[str, Any]]:
        """Our API keys; a hand-made key reads with the fingerprint of its value (read with includeValue,
        never kept) and the APIs of the plans adoption would take over."""
        keys = await self._items("/apikeys")
        plans = await self._plans()
        links = await self._key_plans(plans)
        foreign = [k for k in keys if m.owner_of(k.get("tags")) is None]
        in_plans: dict[str, list[tuple[str, str | None]]] = {}
        if foreign:
            names = {str(a["id"]): str(a.get("name")) for a in await self._items("/restapis")}
            for plan in plans:
                if m.owner_of(plan.get("tags")) is None:
                    api = m.adoptable_plan_api(plan, names, self.stage)
                    for key in await self._items(f"/usageplans/{plan['id']}/keys"):
                        in_plans.setdefault(str(key["id"]), []).append((str(plan.get("name")), api))
        records = []
        for key in keys:
            key_id = str(key.get("id"))
            ours = [api for _, api in links.get(key_id, [])]
            if m.owner_of(key.get("tags")) is not None:
                records.append(m.consumer_from_key(key, ours))
                continue
            full = await self.client.get_json(f"/apikeys/{key_id}", params={"includeValue": "true"}) or {}
            value = full.get("value")
            fingerprint = secret_fingerprint(str(value)) if value else "sha256:unreadable"
            joined = in_plans.get(key_id, [])
            records.append(m.foreign_consumer(key, fingerprint, ours + [api for _, api in joined if api],
                                              sorted(plan for plan, api in joined if not api)))
        return records

    async def provision_application(self, app_spec: dict[str, Any], auth_token: str | None = None) -> AdapterResult:
        return await self.guard(f"provision_application {app_spec.get('name')}", lambda: self._provision(app_spec))

    async def _provision(self, record: dict[str, Any]) -> AdapterResult:
        name, spec = str(record["name"]), dict(record["spec"])
        secret = api_key_of(record)
        fingerprint = secret_fingerprint(secret) if secret else (spec.get("credential") or {}).get("fingerprint")
        live, created = None, False
        if record.get("id"):
            live = await self.client.get_or_none(f"/apikeys/{record['id']}")
        if live is None:
            live = next((k for k in await self._items("/apikeys", {"name": name}) if k.get("name") == name), None)
        if live is not None and m.owner_of(live.get("tags")) != self.owner and not record.get("adopt"):
            raise ConflictError(f"API key {name!r} exists and is not owned by {self.owner!r}")
        plans = await self._plans()
        if live is not None and record.get("adopt") and m.owner_of(live.get("tags")) is None:
            # a hand-made key holding the declared value is taken over in place: its id and plans stay
            full = await self.client.get_json(f"/apikeys/{live['id']}", params={"includeValue": "true"}) or {}
            if full.get("value") and secret_fingerprint(str(full["value"])) == fingerprint:
                want = m.api_key_payload(name, spec, "", str(fingerprint), self.owner)["tags"]
                await self._tag("apikeys", str(live["id"]), want)
                live = {**live, "tags": {**(live.get("tags") or {}), **want}}
        if live is not None:
            tags = live.get("tags") or {}
            if (tags.get(m.TAG_FINGERPRINT) != fingerprint or (tags.get(m.TAG_EMAIL) or None) != (spec.get("email") or None)
                    or m.owner_of(tags) != self.owner):
                # A key's value and tags cannot be changed in place: replace the key.
                await self._delete_key(str(live["id"]))
                live = None
            elif (live.get("description") or None) != (spec.get("displayName") or None):
                op = {"op": "replace", "path": "/description", "value": spec.get("displayName") or ""}
                await self.client.request("PATCH", f"/apikeys/{live['id']}", json={"patchOperations": [op]})
        if live is None:
            if not secret:
                raise PermanentError(f"consumer {name!r}: the API key value is needed to create its AWS API key")
            if len(secret) < 20:
                raise PermanentError(f"consumer {name!r}: AWS API key values must be at least 20 characters")
            live = (await self.client.request("POST", "/apikeys", json=m.api_key_payload(
                name, spec, secret, str(fingerprint), self.owner))).json()
            created = True
        key_id = str(live["id"])
        current = {} if created else await self._plans_of_key(key_id)  # plan id -> api
        wanted: dict[str, str] = {}
        for api in spec.get("subscriptions") or []:
            plan = await self._api_plan(str(api), plans)
            if plan is None:
                raise PermanentError(f"consumer {name!r}: API {api!r} has no usage plan of ours on this gateway")
            wanted[str(plan["id"])] = str(api)
        for plan_id in sorted(set(wanted) - set(current)):
            await self.client.request("POST", f"/usageplans/{plan_id}/keys", json={"keyId": key_id, "keyType": "API_KEY"})
        for plan_id in sorted(set(current) - set(wanted)):
            await self.client.request("DELETE", f"/usageplans/{plan_id}/keys/{key_id}", ok=(404,))
        return AdapterResult(True, resource_id=key_id, data={"id": key_id})

    async def _plans_of_key(self, key_id: str) -> dict[str, str]:
        """Plan id -> API name, over our usage plans holding this key: one `GET /usageplans?keyId=`
        (GetUsagePlans filters by key: https://docs.aws.amazon.com/apigateway/latest/api/API_GetUsagePlans.html),
        not every plan's key list per consumer (N requests per key, N squared per apply)."""
        return {str(p["id"]): str(p["tags"][m.TAG_API]) for p in await self._items("/usageplans", {"keyId": key_id})
                if m.owner_of(p.get("tags")) == self.owner and (p.get("tags") or {}).get(m.TAG_API)}

    async def _delete_key(self, key_id: str) -> None:
        for plan_id in await self._plans_of_key(key_id):
            await self.client.request("DELETE", f"/usageplans/{plan_id}/keys/{key_id}", ok=(404,))
        await self.client.request("DELETE", f"/apikeys/{key_id}", ok=(404,))

    async def deprovision_application(self, app_id: str, auth_token: str | None = None) -> AdapterResult:
        async def delete(live: dict[str, Any]) -> None:
            await self._delete_key(app_id)

        return await self.delete_owned(f"API key {app_id}", app_id, read=lambda: self.client.get_or_none(f"/apikeys/{app_id}"),
                                       owner=lambda live: m.owner_of(live.get("tags")), delete=delete)

    # ------------------------------------------------------------------ reconciler hooks
    @staticmethod
    def desired_view(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
        if kind == "API":
            return m.desired_api_view(spec)
        return spec

    @staticmethod
    def folded_fields(kind: str) -> Mapping[str, str]:
        """tenant, version and the OpenAPI hash have no REST API field: our APIs keep them in tags, which a
        hand-made REST API lacks (adopting writes them)."""
        return {"tenant": "tenant", "version": "version", "openapiHash": "openapiHash"} if kind == "API" else {}

    def import_spec(self, kind: str, record: Mapping[str, Any]) -> ImportedSpec:
        """A hand-made object's notes go to the report; a hand-made REST API gets a placeholder tenant and
        version, both said in the report (AWS holds neither)."""
        spec = dict(record.get("spec") or {})
        notes = tuple(str(n) for n in spec.pop(m.IMPORT_NOTES, None) or ())
        if kind == "API" and record.get("owner") is None:
            imported = importing.api_spec({**spec, "tenant": IMPORT_TENANT, "version": IMPORT_VERSION})
            if imported.spec is None:
                return ImportedSpec(None, notes + imported.notes)
            notes = (f"tenant: AWS has none; written as {IMPORT_TENANT!r}, set the real one",
                     f"version: AWS has none; written as {IMPORT_VERSION!r}, set the real one", *notes)
            return ImportedSpec(imported.spec, notes + imported.notes)
        if kind == "Policy" and "type" not in spec:
            return ImportedSpec(None, notes or ("no policy this gateway can express",))
        imported = super().import_spec(kind, {**record, "spec": spec})
        return ImportedSpec(imported.spec, notes + imported.notes, imported.openapi, imported.extra)


__all__ = ["AwsApiGatewayAdapter", "GatewayError"]
