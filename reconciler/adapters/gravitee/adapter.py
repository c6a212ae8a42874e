"""Gravitee APIM 4.x adapter: Management API v2 for APIs, plans and subscriptions, v1 for applications.

Why it looks like this:
- Gravitee has no standalone policies, so a Policy is a flow in the plans of its API. Every managed API
  gets two plans, `stoa-keyless` (KEY_LESS, open traffic) and `stoa-api-key` (API_KEY, what consumers
  subscribe to); both carry all the API's rate-limit flows, so they apply to every caller. CORS is not a
  flow: Gravitee 4.12 bundles no cors policy plugin (a `cors` step is 404 `plugin.notFound`); it is the
  HTTP listener's `cors` field, named by the label `stoa-cors:<policy>`.
  (With a published keyless plan, an API key identifies a caller but is not required: Gravitee routes
  a request without a key to the keyless plan.)
- The lifecycle is enforced by Gravitee, so `sync_api` runs it in order and only the steps needed:
  create or update -> plans (create / update flows) -> `_publish` STAGING plans -> `_start` when not
  STARTED -> `POST /deployments` only when the API is STARTED and NEED_REDEPLOY. Unchanged: zero writes.
  Before the first write, the policy plugins its flows use must be installed (`GET /plugins/policies`);
  an API created by a run that then fails is deleted again, so no half-made API outlives a failure.
- `apply_batch` groups the gateway's changes per API (the API change plus all its policy changes), so
  an API whose definition and several policies changed is written once per object and redeployed
  ONCE. Order: consumer deletes, API deletes, API groups, consumer upserts. Base paths are unique (one
  may not be a prefix of another): an API group taking a path another API of the batch leaves waits for
  it, and a cycle (a swap) parks one API at `/stoa-parked-<id>/` first (one PUT, not deployed;
  `adapters.unique`), which `batch_notes` puts in the plan.
- A failed deployment cannot hide: the API read-back carries `gatewayState` (`STARTED/DEPLOYED` is what
  `desired_view` asks for), so an API left NEED_REDEPLOY or STOPPED plans as an update, and the next
  apply deploys it.
- Ownership: labels `managed-by:stoa-reconciler` + `stoa-owner:<owner>` on APIs. CreateApiV4 has no
  labels, so a create is followed by a PUT (if that PUT fails the new API is deleted again); the create
  itself carries an inert flow `stoa-create:{owner, name}`, so an API whose run was killed (or lost the
  answer) before the PUT reads as ours, half-made (labels, plans and deployment missing = an update),
  and the next apply completes it instead of tripping on its path. v1
  applications have no labels: their description ends with a `[stoa:{...}]` marker (owner, manifest
  name, email, API key fingerprint). Objects without our owner are never updated or deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from reconciler.adapters import unique
from reconciler.adapters.base import GatewayAdapter, gather_bounded
from reconciler.adapters.gravitee import mappers as m
from reconciler.adapters.http import GatewayHttp
from reconciler.model.changes import Change, ItemResult, Op, Status
from reconciler.model.checks import Problem
from reconciler.model.errors import ConflictError, GatewayError, PermanentError, TemporaryError, sanitize
from reconciler.model.imports import ImportedSpec
from reconciler.model.records import api_key_of, make_record, secret_fingerprint
from reconciler.model.results import AdapterResult

T = TypeVar("T")
log = logging.getLogger("reconciler.adapters.gravitee")
PAGE_SIZE = 100
OPEN_PLAN_STATUSES = "STAGING,PUBLISHED,DEPRECATED"
ACTIVE_SUBSCRIPTIONS = "ACCEPTED,PENDING,PAUSED"
DEPLOYMENT_LABEL = "stoa-reconciler"
CUSTOM_KEYS_OFF = ("Gravitee refuses a declared API key here: the environment setting "
                   "plan.security.apikey.allowCustom.enabled is off (Gravitee's default; an admin turns it on under "
                   "Settings > API keys), so its subscriptions cannot carry the consumer's key")


class GraviteeAdapter(GatewayAdapter):
    gateway_type: ClassVar[str] = "gravitee"
    plan_names: ClassVar[tuple[str, ...]] = (m.API_KEY_PLAN, m.KEYLESS_PLAN)
    concurrency: ClassVar[int] = 8

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        org = str(self.options.get("organization") or "DEFAULT")
        env = str(self.options.get("environment") or "DEFAULT")
        self.v2 = f"/management/v2/organizations/{org}/environments/{env}"
        self.v1 = f"/management/organizations/{org}/environments/{env}"
        self.plugins = f"/management/v2/organizations/{org}/plugins"
        self._policy_plugins: set[str] | None = None
        """Installed policy plugin ids (GET /plugins/policies), read once per plan/apply cycle."""
        self._key_settings: dict[str, bool] | None = None
        """The environment's API-key settings (v1 GET .../settings, `plan.security`); {} when unreadable."""
        self._apis: list[dict[str, Any]] | None = None
        """Raw APIs of the last listing (reads of one plan/apply cycle share it)."""
        self._plans: dict[str, list[dict[str, Any]]] = {}
        """API id -> its open plans, filled by the same listing."""
        self._in_batch = False
        """Inside apply_batch the listing of the plan is reused; a lone contract call reads afresh."""

    # ------------------------------------------------------------------ plumbing
    def make_http(self, **kwargs: Any) -> GatewayHttp:
        auth = self.auth
        if auth.get("username") is not None:
            kwargs.setdefault("auth", (auth["username"], auth.get("password", "")))
        return super().make_http(**kwargs)

    def _forget(self) -> None:
        self._apis = None
        self._plans = {}
        self._policy_plugins = None
        self._key_settings = None

    def _fresh(self) -> None:
        """Called by every contract method: outside a batch, never act on an earlier listing."""
        if not self._in_batch:
            self._forget()

    async def _gather(self, calls: list[Callable[[], Awaitable[T]]]) -> list[T]:
        return await gather_bounded(calls, self.concurrency)

    async def _pages(self, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every item of a v2 list (`data` + `pagination.pageCount`)."""
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            body = await self.client.get_json(path, params={**(params or {}), "page": page, "perPage": PAGE_SIZE})
            data = (body or {}).get("data") or []
            out.extend(data)
            page_count = int(((body or {}).get("pagination") or {}).get("pageCount") or 0)
            if page >= page_count or not data:
                return out
            page += 1

    async def _v1_pages(self, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every item of a v1 page (`data` + `page.total_pages`)."""
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            body = await self.client.get_json(path, params={**(params or {}), "page": page, "size": PAGE_SIZE})
            data = (body or {}).get("data") or []
            out.extend(data)
            total = int(((body or {}).get("page") or {}).get("total_pages") or 0)
            if page >= total or not data:
                return out
            page += 1

    # ------------------------------------------------------------------ reads
    async def _list_apis(self) -> list[dict[str, Any]]:
        if self._apis is None:
            # deploymentState only comes with ?expands=deploymentState (ApisResource.getApis).
            apis = await self._pages(f"{self.v2}/apis", {"expands": "deploymentState"})
            self._apis = [a for a in apis if a.get("definitionVersion") == "V4"]
        return self._apis

    async def _list_plans(self, api_id: str, *, fresh: bool = False) -> list[dict[str, Any]]:
        if fresh or api_id not in self._plans:
            self._plans[api_id] = await self._pages(f"{self.v2}/apis/{api_id}/plans",
                                                    {"statuses": OPEN_PLAN_STATUSES})
        return self._plans[api_id]

    def _managed_plans(self, plans: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return m.role_plans(plans)

    async def _owned_api(self, name: str) -> dict[str, Any] | None:
        for api in await self._list_apis():
            if m.api_owner(api) == self.owner and m.api_name(api) == name:
                return api
        return None

    def _remember(self, api: dict[str, Any], plans: list[dict[str, Any]]) -> None:
        if self._apis is not None:
            self._apis = [a for a in self._apis if a.get("id") != api.get("id")] + [api]
        self._plans[str(api["id"])] = plans

    def _current_policies(self, managed: dict[str, dict[str, Any]], api: str) -> dict[str, dict[str, Any]]:
        """The policies of an API, read from its API-key plan (the keyless one when that is missing)."""
        for name in (m.API_KEY_PLAN, m.KEYLESS_PLAN):
            if name in managed:
                return m.plan_policies(managed[name], api)
        return {}

    # ------------------------------------------------------------------ lifecycle
    async def health_check(self) -> AdapterResult:
        async def run() -> AdapterResult:
            body = await self.client.get_json(self.v2)
            data = {"organization": (body or {}).get("organizationId"), "environment": (body or {}).get("id")}
            return AdapterResult(success=True, data=data)

        return await self.guard("health_check", run)

    async def connect(self) -> None:
        self._forget()
        await super().connect()

    # ------------------------------------------------------------------ APIs
    async def fetch_apis(self) -> list[dict[str, Any]]:
        self._forget()
        await self._installed_policies()  # for the plan's notes and the apply's checks
        apis = await self._list_apis()
        # Every API's plans: an API made in the console reads with the plans an adoption would take over.
        plans = await self._gather([lambda a=a: self._list_plans(str(a["id"])) for a in apis])  # type: ignore[misc]
        out = []
        for api, api_plans in zip(apis, plans, strict=True):
            record = m.api_from_gateway(api)
            published = self._managed_plans(api_plans)
            record["spec"]["plans"] = sorted(n for n, p in published.items() if p.get("status") == "PUBLISHED")
            if m.is_managed(api):
                record["spec"]["plans"] += m.duplicate_plans(api_plans)
            if not m.is_managed(api):
                record["spec"][m.IMPORT_NOTES] += m.unmanaged_plan_notes(api_plans, published, record["name"])
            out.append(record)
        return out

    async def sync_api(self, api_spec: dict[str, Any], tenant_id: str, auth_token: str | None = None) -> AdapterResult:
        self._fresh()
        async def run() -> AdapterResult:
            api_id = await self._converge(str(api_spec["name"]), api_spec, {}, adopt=bool(api_spec.get("adopt")))
            return AdapterResult(success=True, resource_id=api_id, data={"api_id": api_id})

        return await self.guard(f"sync_api {api_spec.get('name')}", run)

    async def _converge(self, name: str, record: dict[str, Any] | None, edits: dict[str, dict[str, Any] | None],
                        *, adopt: bool = False, live: dict[str, Any] | None = None) -> str:
        """Bring one API, its plans, policy flows and CORS to the desired state; deploy at most once.

        Everything it needs is checked before the first write (the policy plugins its flows use must be
        installed). An API created by this call is deleted again when a later step fails, so a failed
        apply never leaves a half-made API (stopped, without plans) for the next one to trip on.
        """
        if live is None and record is not None and record.get("id"):
            live = await self.client.get_or_none(f"{self.v2}/apis/{record['id']}")
        if live is None:
            live = await self._owned_api(name)
        if live is not None and m.api_owner(live) != self.owner and not adopt:
            raise ConflictError(f"API {name!r} ({live.get('id')}) is not owned by {self.owner!r}; not touched")
        if record is None and live is None:
            raise PermanentError(f"API {name!r} is not on the gateway (or not owned by {self.owner!r})")

        plans = [] if live is None else await self._list_plans(str(live["id"]), fresh=True)
        managed = self._managed_plans(plans)
        policies = self._current_policies(managed, name)
        cors_name, cors = m.api_cors(live) if live is not None else (None, None)
        live_cors = (cors_name, cors)
        for policy_name, spec in edits.items():
            policies.pop(policy_name, None)
            if policy_name == cors_name and (spec is None or spec["type"] != "cors"):
                cors_name, cors = None, None  # a removed (or retyped) CORS policy leaves the listener
            if spec is None:
                continue
            if spec["type"] == "cors":
                if cors_name is not None and cors_name != policy_name and edits.get(cors_name, spec) is not None:
                    raise PermanentError(f"API {name!r} has one CORS configuration (its HTTP listener's); policies "
                                         f"{cors_name!r} and {policy_name!r} both set it")
                cors_name, cors = policy_name, m.cors_from_policy(spec)
            else:
                policies[policy_name] = {"api": name, "type": spec["type"], "config": spec["config"]}

        adopting = live is not None and not m.is_managed(live)
        api_body = None
        if record is not None and (live is None or not m.api_content_equal(record, live, self.owner)):
            api_body = m.api_update_body(record, self.owner, live)
        if live is not None and (api_body is not None or (cors_name, cors) != live_cors):
            api_body = m.with_cors(api_body or m.api_keep_body(live), cors_name, cors)
        plan_bodies = [m.plan_create_body(n, policies) for n in self.plan_names]
        ours = m.api_create_body(record) if record is not None else {}
        await self._require_plugins(name, m.step_policies(ours, plan_bodies))

        if live is None:
            assert record is not None
            create = m.with_cors(m.api_create_body(record), None, cors)
            create.pop("labels", None)  # CreateApiV4 has no labels: set right after with a PUT
            create["flows"] = [*create["flows"], m.create_marker_flow(name, self.owner)]  # ours from the start
            created = (await self.client.request("POST", f"{self.v2}/apis", json=create)).json()
            self._plans[str(created["id"])] = []
            try:
                body = m.with_cors(m.api_update_body(record, self.owner, created), cors_name, cors)
                live = (await self.client.request("PUT", f"{self.v2}/apis/{created['id']}", json=body)).json()
                assert live is not None
                return await self._converge_plans(name, record, live, plans, managed, policies, wrote=True,
                                                  replaced=set(edits), adopting=False)
            except Exception as exc:
                # A refusal undoes the create (no stopped API without plans left for a manifest the gateway
                # refuses). A lost answer or an unreachable gateway keeps it: the create carried its marker
                # flow, so the next apply reads it as ours and resumes where this one stopped.
                if not isinstance(exc, TemporaryError):
                    await self._discard(str(created["id"]))
                raise
        wrote = False
        if api_body is not None:
            live = (await self.client.request("PUT", f"{self.v2}/apis/{live['id']}", json=api_body)).json()
            wrote = True
        assert live is not None
        return await self._converge_plans(name, record, live, plans, managed, policies, wrote=wrote,
                                          replaced=set(edits), adopting=adopting)

    async def _converge_plans(self, name: str, record: dict[str, Any] | None, live: dict[str, Any],
                              plans: list[dict[str, Any]], managed: dict[str, dict[str, Any]],
                              policies: dict[str, dict[str, Any]], *, wrote: bool, replaced: set[str],
                              adopting: bool) -> str:
        """Plans (create / update flows) -> `_publish` STAGING plans -> `_start` -> deploy when needed.
        Flows of a plan that are not ours are kept; of a plan being adopted, the console-made rate limits
        that are now declared policies (`replaced`) give way to their `stoa-policy:` flows."""
        api_id = str(live["id"])
        new_plans: list[dict[str, Any]] = []
        for plan_name in self.plan_names:
            plan = managed.get(plan_name)
            if plan is None:
                plan = (await self.client.request("POST", f"{self.v2}/apis/{api_id}/plans",
                                                  json=m.plan_create_body(plan_name, policies))).json()
                wrote = True
            elif not m.plan_in_sync(plan, policies, name, keep := m.kept_flows(plan, name, replaced,
                                                                                 managed=not adopting)):
                plan = (await self.client.request("PUT", f"{self.v2}/apis/{api_id}/plans/{plan['id']}",
                                                  json=m.plan_update_body(plan, policies, keep))).json()
                wrote = True
            if plan.get("status") == "STAGING":
                plan = (await self.client.request("POST", f"{self.v2}/apis/{api_id}/plans/{plan['id']}/_publish")).json()
                wrote = True
            new_plans.append(plan)
        kept = {str(p.get("id")) for p in new_plans}
        for plan in plans:
            if str(plan.get("name")) in m.PLAN_SECURITY and str(plan.get("id")) not in kept:
                # A duplicate of a managed plan (an interrupted run, a console copy): close it.
                await self.client.request("POST", f"{self.v2}/apis/{api_id}/plans/{plan['id']}/_close")
                wrote = True
        new_plans += [p for p in plans if str(p.get("name")) not in m.PLAN_SECURITY and str(p.get("id")) not in kept]

        if record is not None and live.get("state") != "STARTED":
            await self.client.request("POST", f"{self.v2}/apis/{api_id}/_start")
            wrote = True
        if wrote or live.get("deploymentState") == "NEED_REDEPLOY":
            current = (await self.client.get_json(f"{self.v2}/apis/{api_id}")) or {}
            if current.get("state") == "STARTED" and current.get("deploymentState") == "NEED_REDEPLOY":
                await self.client.request("POST", f"{self.v2}/apis/{api_id}/deployments",
                                          json={"deploymentLabel": DEPLOYMENT_LABEL})
                current = {**current, "deploymentState": "DEPLOYED"}
            live = current or live
        self._remember(live, new_plans)
        return api_id

    async def _discard(self, api_id: str) -> None:
        """Delete an API this run created (stopped first if it got started); best effort."""
        try:
            current = await self.client.get_or_none(f"{self.v2}/apis/{api_id}")
            if current is not None and current.get("state") == "STARTED":
                await self.client.request("POST", f"{self.v2}/apis/{api_id}/_stop")
            await self.client.request("DELETE", f"{self.v2}/apis/{api_id}", params={"closePlans": "true"}, ok=(404,))
        except GatewayError as exc:
            log.warning("%s could not delete the API %s it created: %s", self.name, api_id, exc.message)
        self._plans.pop(api_id, None)

    async def _installed_policies(self) -> set[str]:
        """Policy plugin ids of the installation (`GET /plugins/policies`), read once per cycle."""
        if self._policy_plugins is None:
            body = await self.client.get_json(f"{self.plugins}/policies") or []
            self._policy_plugins = {str(p.get("id")) for p in body if isinstance(p, dict)}
        return self._policy_plugins

    async def _api_key_settings(self) -> dict[str, bool]:
        """`plan.security.{customApiKey, customApiKeyReuse, sharedApiKey}.enabled` of the environment
        (PortalSettingsResource, v1 `GET /management/organizations/{org}/environments/{env}/settings`;
        Gravitee's defaults are all false: parameters/Key.java). {} when the user may not read them."""
        if self._key_settings is None:
            try:
                body = await self.client.get_json(f"{self.v1}/settings") or {}
            except GatewayError as exc:
                if exc.status not in (401, 403, 404):
                    raise
                log.info("%s cannot read the environment settings (%s): API-key rules unknown", self.name, exc.status)
                body = None
            security = ((body or {}).get("plan") or {}).get("security") or {} if isinstance(body, dict) else {}
            self._key_settings = {k: bool((security.get(k) or {}).get("enabled")) for k in
                                  ("customApiKey", "customApiKeyReuse", "sharedApiKey") if k in security}
        return self._key_settings

    async def _require_plugins(self, name: str, needed: set[str]) -> None:
        missing = sorted(needed - await self._installed_policies())
        if missing:
            raise PermanentError(f"API {name!r}: Gravitee has no {', '.join(missing)} policy plugin installed "
                                 "(GET /plugins/policies); nothing written")

    async def delete_api(self, api_id: str, auth_token: str | None = None) -> AdapterResult:
        self._fresh()

        async def delete(live: dict[str, Any]) -> None:
            if live.get("state") == "STARTED":
                await self.client.request("POST", f"{self.v2}/apis/{api_id}/_stop")
            await self.client.request("DELETE", f"{self.v2}/apis/{api_id}", params={"closePlans": "true"}, ok=(404,))
            if self._apis is not None:
                self._apis = [a for a in self._apis if a.get("id") != api_id]
            self._plans.pop(api_id, None)

        return await self.delete_owned(f"API {api_id}", api_id, read=lambda: self.client.get_or_none(f"{self.v2}/apis/{api_id}"),
                                       owner=m.api_owner, delete=delete)

    # ------------------------------------------------------------------ policies
    async def fetch_policies(self) -> list[dict[str, Any]]:
        """Our plan flows and listener CORS; of an API made in the console, its rate-limit flows and its
        listener's CORS too (named as `reconciler import` names them), so an adoption pairs them."""
        apis = await self._list_apis()
        plans = await self._gather([lambda a=a: self._list_plans(str(a["id"])) for a in apis])  # type: ignore[misc]
        out = []
        for api, api_plans in zip(apis, plans, strict=True):
            name = m.api_name(api)
            managed_api = m.is_managed(api)
            read = m.plan_policies if managed_api else m.unmanaged_plan_policies
            managed = self._managed_plans(api_plans)
            per_plan = [read(managed[p], name) if p in managed else None for p in self.plan_names]
            names = sorted({n for pol in per_plan if pol for n in pol})
            for policy_name in names:
                specs = [pol.get(policy_name) if pol is not None else None for pol in per_plan]
                spec = specs[0] or specs[1]
                assert spec is not None
                if any(s != spec for s in specs):
                    # The plans disagree (or one is missing): report nothing comparable, so it plans an update.
                    spec = {"api": name, "type": spec["type"], "config": {}}
                    if not managed_api:
                        holders = [str(managed[p].get("name")) for p, s in zip(self.plan_names, specs, strict=True)
                                   if p in managed and s is not None]
                        spec[m.NOT_IMPORTABLE] = (f"it is on plan(s) {', '.join(map(repr, holders))} only, or differs "
                                                  "between plans; a manifest policy applies to every plan of its API")
                out.append(make_record("Policy", policy_name, spec, id=m.policy_id(str(api["id"]), policy_name),
                                       owner=m.api_owner(api)))
            cors_name, cors = m.api_cors(api)
            if cors_name is None and not managed_api and cors is not None and cors["enabled"]:
                cors_name = f"{name}-cors"[:63].strip("-")
            if cors_name is not None and cors_name not in names:
                out.append(make_record("Policy", cors_name, m.policy_from_cors(cors, name),
                                       id=m.policy_id(str(api["id"]), cors_name), owner=m.api_owner(api)))
        return out

    async def upsert_policy(self, policy_spec: dict[str, Any], auth_token: str | None = None) -> AdapterResult:
        self._fresh()
        async def run() -> AdapterResult:
            name = str(policy_spec["name"])
            spec = policy_spec["spec"]
            api_id = await self._converge(str(spec["api"]), None, {name: spec})
            return AdapterResult(success=True, resource_id=m.policy_id(api_id, name))

        return await self.guard(f"upsert_policy {policy_spec.get('name')}", run)

    async def delete_policy(self, policy_id: str, auth_token: str | None = None) -> AdapterResult:
        self._fresh()
        async def run() -> AdapterResult:
            api_id, name = m.split_policy_id(policy_id)
            live = await self.client.get_or_none(f"{self.v2}/apis/{api_id}")
            if live is None:
                return AdapterResult(success=True, resource_id=policy_id, data={"already_absent": True})
            await self._converge(m.api_name(live), None, {name: None}, live=live)
            return AdapterResult(success=True, resource_id=policy_id)

        return await self.guard(f"delete_policy {policy_id}", run)

    # ------------------------------------------------------------------ consumers
    async def _list_apps(self) -> list[dict[str, Any]]:
        return await self._v1_pages(f"{self.v1}/applications/_paged")

    async def _app_subscriptions(self, app_id: str) -> list[dict[str, Any]]:
        return await self._v1_pages(f"{self.v1}/applications/{app_id}/subscriptions",
                                    {"status": ACTIVE_SUBSCRIPTIONS})

    async def _key_plans(self, *, every_api: bool = False) -> dict[str, tuple[str, str]]:
        """API-key plan id -> (API id, API name), for the APIs we own (`every_api`: all of them)."""
        apis = [a for a in await self._list_apis() if every_api or m.api_owner(a) == self.owner]
        plans = await self._gather([lambda a=a: self._list_plans(str(a["id"])) for a in apis])  # type: ignore[misc]
        out: dict[str, tuple[str, str]] = {}
        for api, api_plans in zip(apis, plans, strict=True):
            plan = self._managed_plans(api_plans).get(m.API_KEY_PLAN)
            if plan is not None:
                out[str(plan["id"])] = (str(api["id"]), m.api_name(api))
        return out

    async def fetch_applications(self) -> list[dict[str, Any]]:
        """Our applications with their subscriptions to our APIs. An application made in the console is read
        with its subscriptions to any API's API-key plan and the fingerprint of its live key (when one value
        is on all of them), so an adoption compares the declared key with the one that works."""
        await self._api_key_settings()  # for the plan's notes and the apply's checks
        apps = await self._list_apps()
        key_plans = await self._key_plans()
        every_plan = await self._key_plans(every_api=True)
        subs = await self._gather([lambda a=a: self._app_subscriptions(str(a["id"])) for a in apps])  # type: ignore[misc]
        out = []
        for app, app_subs in zip(apps, subs, strict=True):
            if m.app_marker(str(app.get("description") or "")) is not None:
                names = [key_plans[str(s.get("plan"))][1] for s in app_subs if str(s.get("plan")) in key_plans]
                out.append(m.app_from_gateway(app, names))
                continue
            mine = [s for s in app_subs if str(s.get("plan")) in every_plan]
            notes = [f"subscription to plan {s.get('plan')} of API {s.get('api')} is not to an API-key plan the "
                     "reconciler manages; kept on the gateway" for s in app_subs if s not in mine]
            keys = await self._key_values(mine, every_plan)
            out.append(m.app_from_gateway(app, [every_plan[str(s.get("plan"))][1] for s in mine], keys=keys,
                                          notes=notes))
        return out

    async def _key_values(self, subs: list[dict[str, Any]], key_plans: dict[str, tuple[str, str]]) -> list[str]:
        """The active API-key values of these subscriptions (compared and fingerprinted, never logged)."""
        paths = [f"{self.v2}/apis/{key_plans[str(s.get('plan'))][0]}/subscriptions/{s['id']}/api-keys" for s in subs]
        lists = await self._gather([lambda p=p: self._pages(p) for p in paths])  # type: ignore[misc]
        return sorted({str(k["key"]) for keys in lists for k in keys
                       if k.get("key") and not k.get("revoked") and not k.get("expired")})

    async def provision_application(self, app_spec: dict[str, Any], auth_token: str | None = None) -> AdapterResult:
        self._fresh()
        async def run() -> AdapterResult:
            app_id = await self._converge_consumer(app_spec, adopt=bool(app_spec.get("adopt")))
            return AdapterResult(success=True, resource_id=app_id, data={"application_id": app_id})

        return await self.guard(f"provision_application {app_spec.get('name')}", run)

    async def _live_app(self, app_id: str) -> dict[str, Any] | None:
        """An application by id; an ARCHIVED one (a deleted application, which Gravitee still finds:
        ApplicationServiceImpl.findById) is gone."""
        found = await self.client.get_or_none(f"{self.v1}/applications/{app_id}")
        return None if found is None or str(found.get("status", "ACTIVE")).upper() == "ARCHIVED" else found

    async def _find_app(self, record: dict[str, Any]) -> dict[str, Any] | None:
        if record.get("id"):
            found = await self._live_app(str(record["id"]))
            if found is not None:
                return found
        for app in await self._list_apps():
            marker = m.app_marker(str(app.get("description") or ""))
            if marker and marker.get("name") == record["name"] and marker.get("owner") == self.owner:
                return app
        return None

    async def _settle_created_app(self, record: dict[str, Any], created: dict[str, Any],
                                  key_plans: dict[str, tuple[str, str]]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Two runs of one repo creating one consumer at once make two applications of one marker (Gravitee
        does not refuse a second name). One search by name right after the create: the smallest id stays
        (every run picks the same one); a run whose own copy lost deletes it and carries on with the
        winner and its subscriptions. Returns (application, its subscriptions by API-key plan)."""
        hits = await self._v1_pages(f"{self.v1}/applications/_paged", {"query": str(created.get("name") or "")})
        same = [a for a in hits if (mk := m.app_marker(str(a.get("description") or ""))) is not None
                and mk.get("name") == record["name"] and mk.get("owner") == self.owner]
        winner = min([created, *same], key=lambda a: str(a.get("id")))
        if str(winner.get("id")) == str(created.get("id")):
            return created, {}
        await self.client.request("DELETE", f"{self.v1}/applications/{created['id']}", ok=(404,))
        subs = await self._app_subscriptions(str(winner["id"]))
        return winner, {str(s.get("plan")): s for s in subs if str(s.get("plan")) in key_plans}

    async def _converge_consumer(self, record: dict[str, Any], *, adopt: bool = False) -> str:
        """One application, its API-key subscriptions (one per subscribed API's `stoa-api-key` plan, all with
        the consumer's key) and its marker. Every subscription sends the declared key as `customApiKey`:
        Gravitee accepts one key value on the subscriptions of one application to different APIs (EXCLUSIVE
        mode, ApiKeyServiceImpl.isConflictingKeyForReference), but only with the environment setting
        `plan.security.apikey.allowCustom.enabled`; when it is off nothing is written for the consumer."""
        secret = api_key_of(record)
        spec = record["spec"]
        fingerprint = secret_fingerprint(secret) if secret else (spec.get("credential") or {}).get("fingerprint")
        app = await self._find_app(record)
        marker = m.app_marker(str((app or {}).get("description") or "")) if app else None
        if app is not None and (marker or {}).get("owner") != self.owner and not adopt:
            raise ConflictError(f"application {record['name']!r} ({app.get('id')}) is not owned by "
                                f"{self.owner!r}; not touched")
        body = m.app_body(record, self.owner, fingerprint,
                          m.app_text(str(app.get("description") or "")) if app is not None else None)
        live_subs = [] if app is None else await self._app_subscriptions(str(app["id"]))
        old_fingerprint = fingerprint if app is None else (marker or {}).get("fingerprint")

        key_plans = await self._key_plans()
        if app is not None and marker is None:
            # Adopting: the key that works now is the old one (Gravitee may refuse to be sent a key:
            # plan.security.apikey.allowCustom.enabled is off by default, so an equal key is not sent).
            values = await self._key_values([s for s in live_subs if str(s.get("plan")) in key_plans], key_plans)
            old_fingerprint = secret_fingerprint(values[0]) if len(values) == 1 else None
        wanted: dict[str, tuple[str, str]] = {}
        for api in sorted(set(spec.get("subscriptions") or [])):
            found = next(((pid, aid) for pid, (aid, n) in key_plans.items() if n == api), None)
            if found is None:
                raise PermanentError(f"consumer {record['name']!r}: API {api!r} has no published API-key plan "
                                     "on the gateway (or is not owned)")
            wanted[found[0]] = (found[1], api)
        have = {str(s.get("plan")): s for s in live_subs if str(s.get("plan")) in key_plans}
        rotate = secret is not None and fingerprint != old_fingerprint
        sends_key = secret is not None and (any(p not in have for p in wanted) or (rotate and bool(set(have) & set(wanted))))
        settings = await self._api_key_settings()
        if sends_key and settings.get("customApiKey") is False:
            raise PermanentError(f"consumer {record['name']!r}: {CUSTOM_KEYS_OFF}; nothing written for it")

        async def keyed(path: str, payload: dict[str, Any], api: str) -> None:
            """A request whose body carries the API key: no error message may echo it."""
            try:
                await self.client.request("POST", path, json=payload)
            except GatewayError as exc:
                scrubbed = sanitize(exc.message, secrets=(secret,) if secret else ())
                if "apiKey.existing" in str(exc.body) or "API Key already exists" in scrubbed:
                    reuse = settings.get("customApiKeyReuse")
                    scrubbed += (f" (consumer {record['name']!r}, API {api!r}: the key is held by another application, "
                                 "or was this application's on that API before (a closed subscription); Gravitee "
                                 "reuses it only with plan.security.apikey.allowCustomReuse.enabled"
                                 + (", which is off here" if reuse is False else "") + ")")
                raise type(exc)(scrubbed, status=exc.status) from None

        if app is None:
            created = (await self.client.request("POST", f"{self.v1}/applications", json=body)).json()
            app, have = await self._settle_created_app(record, created, key_plans)
        app_id = str(app["id"])
        for plan_id, sub in have.items():
            api_id, api_name = key_plans[plan_id]
            if plan_id not in wanted:
                await self.client.request("POST", f"{self.v2}/apis/{api_id}/subscriptions/{sub['id']}/_close")
            elif rotate and secret is not None:
                await self._rotate(f"{self.v2}/apis/{api_id}/subscriptions/{sub['id']}/api-keys", secret,
                                   keyed, api_name)
        for plan_id, (api_id, api_name) in wanted.items():
            if plan_id in have:
                continue
            payload: dict[str, Any] = {"applicationId": app_id, "planId": plan_id}
            if secret:
                payload["customApiKey"] = secret
            await keyed(f"{self.v2}/apis/{api_id}/subscriptions", payload, api_name)
        if not m.app_in_sync(app, body):
            # Last, so a failed key rotation or subscription is retried by the next apply.
            await self.client.request("PUT", f"{self.v1}/applications/{app_id}", json=body)
        return app_id

    async def _rotate(self, keys_path: str, secret: str,
                      keyed: Callable[[str, dict[str, Any], str], Awaitable[None]], api: str) -> None:
        """Make `secret` the one live key of a subscription. A key value this subscription had already is
        reactivated (`_reactivate`, or its expiry lifted): Gravitee refuses to create it again
        (ApiKeyServiceImpl.isConflictingKeyForReference). Otherwise `_renew` makes it. Then every other live key
        is revoked: Gravitee's renew only lets the old ones expire two hours later (expireApiKeys). The key
        values read here are compared, never logged nor returned."""
        keys = await self._pages(keys_path)
        current = next((k for k in keys if k.get("key") == secret), None)
        if current is None:
            await keyed(f"{keys_path}/_renew", {"customApiKey": secret}, api)
        elif current.get("revoked") or current.get("expired"):
            await self.client.request("POST", f"{keys_path}/{current['id']}/_reactivate")
        elif current.get("expireAt"):
            await self.client.request("PUT", f"{keys_path}/{current['id']}", json={})
        for key in keys:
            if key is not current and not key.get("revoked") and not key.get("expired"):
                await self.client.request("POST", f"{keys_path}/{key['id']}/_revoke")

    async def deprovision_application(self, app_id: str, auth_token: str | None = None) -> AdapterResult:
        self._fresh()

        async def delete(app: dict[str, Any]) -> None:
            # Deleting (archiving) an application closes its subscriptions and revokes its keys.
            await self.client.request("DELETE", f"{self.v1}/applications/{app_id}", ok=(404,))

        return await self.delete_owned(
            f"application {app_id}", app_id, read=lambda: self._live_app(app_id),
            owner=lambda app: (m.app_marker(str(app.get("description") or "")) or {}).get("owner"), delete=delete)

    # ------------------------------------------------------------------ reconciler hooks
    def plan_notes(self, kind: str, spec: dict[str, Any]) -> list[str]:
        """What Gravitee adds that the manifest does not spell (the plans, where CORS lives), and what the
        gateway read during this plan says it will refuse (a policy plugin that is not installed)."""
        notes: list[str] = []
        if kind == "API":
            notes.append("Gravitee: the API gets two published plans, stoa-keyless (KEY_LESS: callers without a key "
                         "are let in, under the API's policies) and stoa-api-key (API_KEY: what consumers subscribe "
                         "to)")
            flow = m.method_filter_flow(list(spec.get("methods") or m.ALL_METHODS))
            needed = m.step_policies({"flows": [flow] if flow else []}, [])
        elif kind == "Policy" and spec.get("type") == "cors":
            notes.append("Gravitee: CORS is the API's HTTP listener setting (listeners[].cors; 4.12 has no cors "
                         "policy plugin), so it applies to every plan and caller of the API")
            needed = set()
        elif kind == "Policy":
            needed = m.step_policies({}, [m.plan_create_body(m.API_KEY_PLAN, {"p": dict(spec)})])
        else:
            needed = set()
            credential = spec.get("credential") or {}
            if (kind == "Consumer" and credential.get("type") == "apiKey" and spec.get("subscriptions")
                    and (self._key_settings or {}).get("customApiKey") is False):
                notes.append(f"Gravitee: {CUSTOM_KEYS_OFF}; the apply will fail this consumer before writing it")
        if self._policy_plugins is not None and needed - self._policy_plugins:
            notes.append(f"Gravitee: no {', '.join(sorted(needed - self._policy_plugins))} policy plugin is installed "
                         "on this gateway (GET /plugins/policies): the apply will fail before writing this API")
        return notes

    @classmethod
    def check(cls, records: Sequence[Mapping[str, Any]], options: Mapping[str, Any]) -> list[Problem]:
        """Gravitee refuses, before any request:
        - two CORS policies on one API: its one CORS configuration is the HTTP listener's `cors` (definition
          model HttpListener.cors; 4.12.17 bundles no cors policy plugin, gravitee-apim-distribution/pom.xml);
        - two APIs whose base paths overlap (`/pets` and `/pets/v2`): VerifyApiPathDomainService refuses a
          path that is a prefix of another's (ApiPathExtractor.findConflictingPathError)."""
        problems: list[Problem] = []
        seen: dict[str, str] = {}
        paths: list[tuple[str, str]] = []
        for record in sorted(records, key=lambda r: str(r["name"])):
            spec = record.get("spec") or {}
            if record["kind"] == "API" and spec.get("basePath"):
                path = str(spec["basePath"]).rstrip("/") + "/"
                clash = next(((n, p) for n, p in paths if p.startswith(path) or path.startswith(p)), None)
                if clash is not None and clash[1] != path:  # equal paths: engine.conflicts says it already
                    problems.append(Problem("API", str(record["name"]), "spec.basePath",
                                            f"gravitee refuses a listener path that is a prefix of another API's "
                                            f"(ApiPathExtractor.findConflictingPathError): {path} and {clash[1]} "
                                            f"of API {clash[0]!r}", other=("API", clash[0])))
                paths.append((str(record["name"]), path))
            if record["kind"] != "Policy" or spec.get("type") != "cors":
                continue
            api = str(spec.get("api"))
            if api in seen:
                problems.append(Problem("Policy", str(record["name"]), "spec.type",
                                        f"gravitee keeps one CORS configuration per API (its HTTP listener's): API "
                                        f"{api!r} already has CORS policy {seen[api]!r}", other=("Policy", seen[api])))
            else:
                seen[api] = str(record["name"])
        return problems

    def import_spec(self, kind: str, record: Mapping[str, Any]) -> ImportedSpec:
        """The default inversion, plus what the read says of an object made in the console: why it cannot be
        declared (`notImportable`) or what its manifest leaves out (`importNotes`)."""
        spec = dict(record.get("spec") or {})
        notes = tuple(str(n) for n in spec.pop(m.IMPORT_NOTES, None) or ())
        why = spec.pop(m.NOT_IMPORTABLE, None)
        if why is not None:
            return ImportedSpec(None, (str(why), *notes))
        imported = super().import_spec(kind, {**record, "spec": spec})
        return ImportedSpec(imported.spec, notes + imported.notes, imported.openapi, imported.extra)

    @staticmethod
    def desired_view(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
        if kind == "API":
            view = m.desired_api_view(spec)
            view["plans"] = sorted(GraviteeAdapter.plan_names)
            return view
        if kind == "Consumer":
            return m.desired_consumer_view(spec)
        return spec

    async def apply_batch(self, changes: list[Change]) -> list[ItemResult] | None:
        """Group the work per API so each API is written once per object and deployed at most once."""
        self._in_batch = True
        try:
            return await self._apply_batch(changes)
        finally:
            self._in_batch = False
            self._forget()

    async def _apply_batch(self, changes: list[Change]) -> list[ItemResult]:
        results: dict[int, ItemResult] = {}
        groups: dict[str, _Group] = {}
        consumer_deletes: list[Change] = []
        consumer_upserts: list[Change] = []
        deletions: dict[str, tuple[Change, list[Change]]] = {
            str((c.actual or {}).get("id")): (c, []) for c in changes if c.kind == "API" and c.op is Op.DELETE}
        for change in changes:
            if change.kind == "API" and change.op is Op.DELETE:
                continue
            if change.kind == "API":
                groups.setdefault(change.name, _Group()).api = change
            elif change.kind == "Policy":
                old_api_id = m.split_policy_id(str(change.actual["id"]))[0] if change.actual else None
                if change.op is Op.DELETE and old_api_id in deletions:
                    deletions[str(old_api_id)][1].append(change)
                    continue
                record = change.desired or change.actual or {}
                target = str(record.get("spec", {}).get("api"))
                groups.setdefault(target, _Group()).policies.append(change)
                old_api = str((change.actual or {}).get("spec", {}).get("api"))
                if change.op is not Op.DELETE and change.actual and old_api != target:
                    # The policy moved to another API: take its flow out of the old API's plans too.
                    groups.setdefault(old_api, _Group()).removals.append(change.name)
            elif change.kind == "Consumer":
                (consumer_deletes if change.op is Op.DELETE else consumer_upserts).append(change)
            else:
                results[id(change)] = _item(change, self.not_supported())

        async def consumer(change: Change) -> None:
            if change.op is Op.DELETE:
                result = await self.deprovision_application(str((change.actual or {}).get("id")))
            else:
                desired = change.request()
                result = await self.guard(f"provision_application {change.name}",
                                          lambda: self._consumer_result(desired, change.adopt))
            results[id(change)] = _item(change, result)

        async def delete(api_change: Change, policies: list[Change]) -> None:
            result = await self.delete_api(str((api_change.actual or {}).get("id")))
            for change in (api_change, *policies):  # its plans (and their policy flows) are closed with it
                results[id(change)] = _item(change, result)

        await self._gather([lambda c=c: consumer(c) for c in consumer_deletes])  # type: ignore[misc]
        await self._gather([lambda d=d: delete(*d) for d in deletions.values()])  # type: ignore[misc]
        failed_apis: set[str] = set()
        current, wanted = _path_moves(changes)
        every = {n: wanted.get(n) for n in groups}  # groups without a move are written in the first step
        for step in unique.order_moves(current, every, unique.path_clash):
            names = [n for n in step.names if n in groups]
            if step.action == "park":
                failure = await self._park(groups[names[0]])
                if failure is None:
                    continue
                outcomes = [[(c, _item(c, failure)) for c in groups.pop(names[0]).changes()]]
            else:
                outcomes = await self._gather([lambda n=n: self._apply_group(n, groups[n]) for n in names])  # type: ignore[misc]
            for name, items in zip(names, outcomes, strict=True):
                for change, item in items:
                    results[id(change)] = item
                    if change.kind == "API" and item.status is not Status.APPLIED:
                        failed_apis.add(name)

        async def guarded_consumer(change: Change) -> None:
            missing = set((change.desired or {}).get("spec", {}).get("subscriptions") or []) & failed_apis
            if missing:
                results[id(change)] = ItemResult(change.gateway, change.kind, change.name, change.op,
                                                 Status.NOT_ATTEMPTED,
                                                 error=f"depends on API(s) that failed: {', '.join(sorted(missing))}")
                return
            await consumer(change)

        await self._gather([lambda c=c: guarded_consumer(c) for c in consumer_upserts])  # type: ignore[misc]
        return [results[id(c)] for c in changes]

    def batch_notes(self, changes: Sequence[Change]) -> dict[tuple[str, str], list[str]]:
        """A swap of base paths (or a cycle of moves) is applied through a parked step: say so."""
        current, wanted = _path_moves(changes)
        steps = unique.order_moves(current, wanted, unique.path_clash)
        notes: dict[tuple[str, str], list[str]] = {}
        for name in unique.parked(steps):
            takers = sorted(n for n, new in wanted.items()
                            if n != name and new is not None and unique.path_clash(new, str(current[name])))
            notes[("API", name)] = [f"Gravitee: basePath {current[name]} is taken by API(s) {', '.join(takers)} in "
                                    f"this apply, so {name!r} is first moved to a temporary path "
                                    f"({PARKED_PATH.format(id='<id>')}, not deployed), then to {wanted[name]}"]
        return notes

    async def _park(self, group: _Group) -> AdapterResult | None:
        """Move an API to a temporary path nobody else holds (one PUT, no deployment); None when done."""
        api_id = str(((group.api.actual if group.api else None) or {}).get("id"))

        async def run() -> AdapterResult:
            live = await self.client.get_json(f"{self.v2}/apis/{api_id}") or {}
            if m.api_owner(live) != self.owner:
                raise ConflictError(f"API {api_id} is not owned by {self.owner!r}; not touched")
            await self.client.request("PUT", f"{self.v2}/apis/{api_id}",
                                      json=m.with_path(m.api_keep_body(live), PARKED_PATH.format(id=api_id)))
            return AdapterResult(success=True, resource_id=api_id)

        result = await self.guard(f"park API {api_id} at a temporary path", run)
        return None if result.success else result

    async def _consumer_result(self, desired: dict[str, Any], adopt: bool) -> AdapterResult:
        app_id = await self._converge_consumer(desired, adopt=adopt)
        return AdapterResult(success=True, resource_id=app_id)

    async def _apply_group(self, name: str, group: _Group) -> list[tuple[Change, ItemResult]]:
        api_change = group.api
        edits: dict[str, dict[str, Any] | None] = {n: None for n in group.removals}
        for change in group.policies:
            edits[change.name] = None if change.op is Op.DELETE else dict((change.desired or {}).get("spec") or {})
        live_id = (api_change.actual or {}).get("id") if api_change else None
        if live_id is None:
            for change in group.policies:
                if change.actual and change.actual.get("id") and change.actual["spec"].get("api") == name:
                    live_id = m.split_policy_id(str(change.actual["id"]))[0]
                    break
        record = api_change.request() if api_change else None
        if record is not None and live_id:
            record["id"] = live_id
        adopt = bool(api_change and api_change.adopt)

        async def run() -> AdapterResult:
            live = await self.client.get_or_none(f"{self.v2}/apis/{live_id}") if live_id else None
            api_id = await self._converge(name, record, edits, adopt=adopt, live=live)
            return AdapterResult(success=True, resource_id=api_id)

        result = await self.guard(f"apply API {name}", run)
        out = []
        for change in ([api_change] if api_change else []) + group.policies:
            if change.kind == "Policy" and result.success:
                ok = AdapterResult(True, m.policy_id(str(result.resource_id), change.name))
                out.append((change, _item(change, ok)))
            else:
                out.append((change, _item(change, result)))
        return out


@dataclass
class _Group:
    """One API's share of a batch: its own change, its policies' changes, flows of policies that left it."""

    api: Change | None = None
    policies: list[Change] = field(default_factory=list)
    removals: list[str] = field(default_factory=list)

    def changes(self) -> list[Change]:
        return ([self.api] if self.api else []) + self.policies


PARKED_PATH = "/stoa-parked-{id}/"
"""Where an API waits during a swap of base paths: derived from its id, so no other API holds it."""


def _path_moves(changes: Sequence[Change]) -> tuple[dict[str, str | None], dict[str, str | None]]:
    """API name -> its live base path (None: a create), and -> its new one (None: unchanged)."""
    current: dict[str, str | None] = {}
    wanted: dict[str, str | None] = {}
    for change in changes:
        if change.kind != "API" or change.op not in (Op.CREATE, Op.UPDATE) or change.desired is None:
            continue
        new = str(change.desired["spec"].get("basePath") or "") or None
        old = str((change.actual or {}).get("spec", {}).get("basePath") or "") or None
        current[change.name] = old
        wanted[change.name] = None if new is None or (old is not None and new.rstrip("/") == old.rstrip("/")) else new
    return current, wanted


def _item(change: Change, result: AdapterResult) -> ItemResult:
    if result.success:
        return ItemResult(change.gateway, change.kind, change.name, change.op, Status.APPLIED,
                          resource_id=result.resource_id)
    # Batch results skip the executor's scrubbing: remove the consumer's own key here.
    secrets = tuple(str(v) for v in change.secrets.values())
    error = sanitize(result.error or "failed", secrets=secrets)
    return ItemResult(change.gateway, change.kind, change.name, change.op, Status.FAILED, error=error,
                      category=result.category)
