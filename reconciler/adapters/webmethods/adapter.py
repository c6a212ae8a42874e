"""webMethods API Gateway 10.15 adapter: all 16 contract methods, over `/rest/apigateway` (Basic auth).

Why it looks the way it does:
- APIs are imported as JSON (`type: openapi`, `apiDefinition`) and updated in place with
  `PUT /apis/{id}`, so the gateway id stays stable (STOA's adapter deleted and re-imported). The
  gateway only takes OpenAPI 3.0.x: 3.1 documents are converted structurally first
  (`openapi31.convert`) and what the conversion loses comes back in `AdapterResult.data["notes"]`.
- Deleting an API deactivates it first (the gateway refuses to delete an active API). A name or
  version change of an active API is refused too ("You cannot modify the name and version of an API
  while updating an active API"), so such an update runs deactivate -> update -> activate.
- A policy is a policy action (`POST /policyActions`) enforced by the API's policy
  (`GET /apis/{id}` -> `policies[0]` -> `PUT /policies/{id}`) in the stage `/policyStages` gives its
  template (`throttle` in `LMT`, `corsPolicy` in `responseProcessing`). `PUT /policies/{id}` replaces
  the whole list, so every read-modify-write of one API's policy holds that API's lock (two policies
  of one API are applied at once); a delete detaches the action first. What is enforced is read back:
  a policy record's live spec says `attached`, and an action no stage enforces is drift.
- Two runs of one owner at once (CI and a laptop, no lock): the policy PUT has no precondition,
  so after each write the policy and the action list are read back (2 GETs, on apply only) and
  settled (`settle`): of the owner's actions of one name for an API the smallest id stays and is
  enforced, the others are detached and deleted; one that does not settle in `SETTLE_ATTEMPTS`
  writes fails naming the concurrent writer. Applications, strategies and scopes made by both runs
  collapse the same way after a create (1 GET); an alias, an API or the configuration alias the
  other run created first (400/409 "already exists") is re-read and updated.
- Access: every managed API's policy gets one Identify & Authorize action (`evaluatePolicy` in `IAM`,
  identification type `apiKey`, as the vendor's API-application use case writes it), so only the
  applications registered to the API (the consumers subscribed to it) get through; the API's live
  spec carries `protection`. `options.protectApis: false` keeps the action with `allowAnonymous`
  (a throttle depends on an Identify & Authorize action), and the API is open again.
- API keys: webMethods generates each application's key (`accessTokens.apiAccessKey_credentials`,
  renewed only by `POST /applications/{id}/accessTokens`; `PUT /applications/{id}` cannot change
  it), and no documented field takes a key chosen by the client. A consumer's declared key therefore
  cannot be the key that works: `check` makes a consumer bound to a webMethods gateway a validation
  error, unless the gateway says `options.consumerKeys: gateway-generated`, in which case the
  application is created without the declared key, the plan says so, and clients use the key the
  gateway generated.
- Ownership is read back from the gateway (see `mappers`); nothing is updated or deleted unless it
  carries this owner's marker (or the engine asked to adopt it and passed its id).
- Reads: the vendor API has no list that carries an API's definition (`GET /apis` gives summaries)
  nor an application's APIs (`GET /applications` samples show `consumingAPIs` empty; the list is
  `GET /applications/{id}/apis`), so those per-object reads run `readConcurrency` (default 10) at a
  time, the applications' beside the APIs' (started by `fetch_apis`); policy stages are read 40
  policies per request, concurrently; policy actions and stages read by `fetch_apis` serve
  `fetch_policies` of the same read (memoised until a write or `connect`).
- Response envelopes follow the samples in the vendor's Swagger files, which differ from their
  declared schemas (`{"apiResponse": ...}`, `{"policyAction": ...}`, singular list keys, ...);
  readers accept both wrapped and bare objects where the samples disagree.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

from reconciler.adapters.base import GatewayAdapter
from reconciler.adapters.http import GatewayHttp
from reconciler.adapters.importing import env_var_of
from reconciler.adapters.webmethods import mappers, settle
from reconciler.adapters.webmethods.openapi31 import conversion_notes, is_31
from reconciler.model.checks import Problem
from reconciler.model.errors import ConflictError, GatewayError, PermanentError
from reconciler.model.imports import ImportedSpec
from reconciler.model.records import config_name, make_record
from reconciler.model.results import AdapterResult

API_BASE = "/rest/apigateway"
PAGE_SIZE = 100
READ_CONCURRENCY = 10
"""Per-object reads in flight at once (API details, application API lists): `options.readConcurrency`."""
STAGE_CHUNK = 40
SETTLE_ATTEMPTS = 3
"""Writes of one API's policy after a concurrent writer was seen before the change fails (`_settle`)."""
GENERATED_KEYS = "gateway-generated"
"""`options.consumerKeys` value: consumers get the key webMethods generates, not their declared one."""
ARCHIVE_SELECTION = ("apis", "aliases", "applications", "policies", "policyActions", "gatewayScopes")


def _unwrap(body: Any, key: str) -> Any:
    """`{"key": x}` -> x, a bare object stays as it is (the samples use both)."""
    if isinstance(body, dict) and key in body:
        return body[key]
    return body


def _flag(value: Any) -> bool:
    return str(value).lower() not in ("false", "0", "no", "off")


def _enforced(stages: list[dict[str, Any]], stage_key: str) -> list[str]:
    """Ids of the actions a policy enforces in one stage."""
    return [str(e.get("enforcementObjectId")) for stage in stages if stage.get("stageKey") == stage_key
            for e in stage.get("enforcements") or []]


def _items(body: Any, *keys: str) -> list[dict[str, Any]]:
    """The list of a list response, whichever of the documented keys carries it."""
    if isinstance(body, list):
        return [x for x in body if isinstance(x, dict)]
    if isinstance(body, dict):
        for key in keys:
            value = body.get(key)
            if isinstance(value, list):
                return [x for x in value if isinstance(x, dict)]
    return []


class WebMethodsAdapter(GatewayAdapter):
    gateway_type: ClassVar[str] = "webmethods"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        base = str(self._config.get("base_url", "")).rstrip("/")
        if base.endswith(API_BASE):
            base = base[: -len(API_BASE)]
        self._config["base_url"] = base
        self._api_ids: dict[str, str] = {}
        """name -> id of the APIs this owner has on the gateway (filled by fetch_apis and sync_api)."""
        self._api_names: dict[str, str] = {}
        """id -> name of every API seen."""
        self._policy_ids: dict[str, str] = {}
        """API id -> the id of its policy (`policies[0]`), for this owner's APIs."""
        self._all_policy_ids: dict[str, str] = {}
        """API id -> the id of its policy, for every API (what enforces an action made in the console)."""
        self._apis_loaded = False
        self._memo: dict[str, tuple[int, Any]] = {}
        """What one read fetched for the next kind of the same read: key -> (write count then, value)."""
        self.read_concurrency = max(1, int(self.options.get("readConcurrency", READ_CONCURRENCY)))
        self._locks: dict[str, asyncio.Lock] = {}
        self._leaving: set[str] = set()
        """Ids of the policy actions this run is deleting: `_settle` never enforces them again."""
        """API id -> the lock every read-modify-write of that API's policy holds."""
        self.protect_apis = _flag(self.options.get("protectApis", True))

    async def _guard_record(self, what: str, record: dict[str, Any],
                            call: Callable[[], Awaitable[AdapterResult]]) -> AdapterResult:
        """`guard` that also scrubs the record's resolved secrets (a gateway may echo a payload in errors)."""
        self.scrubber.add(*(v for v in (record.get("secret") or {}).values() if isinstance(v, str)))
        return await self.guard(what, call)

    async def connect(self) -> None:
        # A new run must not trust ids cached by an earlier one.
        self._api_ids.clear()
        self._api_names.clear()
        self._policy_ids.clear()
        self._apis_loaded = False
        self._forget()
        await super().connect()

    async def disconnect(self) -> None:
        self._forget()
        await super().disconnect()

    def _forget(self) -> None:
        for _, value in self._memo.values():
            if isinstance(value, asyncio.Task):
                value.cancel()
        self._memo.clear()

    def _remember(self, key: str, value: Any) -> None:
        self._memo[key] = (self.client.writes, value)

    def _recall(self, key: str) -> Any:
        """A memoised read, once (the next read of the kind asks the gateway), if nothing was written since."""
        writes, value = self._memo.pop(key, (None, None))
        if writes is not None and writes != self.client.writes and isinstance(value, asyncio.Task):
            value.cancel()
        return value if writes == self.client.writes else None

    def make_http(self, **kwargs: Any) -> GatewayHttp:
        auth = self.auth
        kwargs.setdefault("auth", (auth.get("username") or "Administrator", auth.get("password") or "manage"))
        kwargs.setdefault("headers", {"Accept": "application/json"})
        return super().make_http(**kwargs)

    # ------------------------------------------------------------------ HTTP helpers
    async def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return await self.client.get_json(API_BASE + path, params=params)

    async def _send(self, method: str, path: str, body: Any = None, *, params: dict[str, Any] | None = None,
                    ok: tuple[int, ...] = ()) -> Any:
        response = await self.client.request(method, API_BASE + path, json=body, params=params, ok=ok)
        if response.status_code == 404 and 404 in ok:
            return None
        return response.json() if response.content else None

    def _check_owned(self, owner: str | None, what: str) -> None:
        if owner != self.owner:
            shown = owner or "nobody"
            raise ConflictError(f"{what} is owned by {shown}, not {self.owner}: left untouched")

    # ------------------------------------------------------------------ lifecycle
    async def health_check(self) -> AdapterResult:
        async def call() -> AdapterResult:
            body = await self._get("/health/all")
            status = str((body or {}).get("status", "unknown"))
            info = await self.client.get_or_none(API_BASE + "/is/serverinfo")
            data = {"status": status, "health": body, "serverInfo": info}
            if status not in ("green", "yellow"):
                return AdapterResult(success=False, data=data, error=f"gateway health is {status}",
                                     category="temporary")
            return AdapterResult(success=True, data=data)

        return await self.guard("health_check", call)

    # ------------------------------------------------------------------ APIs
    async def _api_summaries(self) -> list[dict[str, Any]]:
        """Every API summary, page by page (`from`/`size`): a short page ends the list."""
        summaries: list[dict[str, Any]] = []
        start = 0
        while True:
            body = await self._get("/apis", params={"from": start, "size": PAGE_SIZE})
            page = _items(body, "apiResponse")
            for entry in page:
                inner = entry.get("api")
                summaries.append(inner if isinstance(inner, dict) else entry)
            if len(page) < PAGE_SIZE:
                return summaries
            start += PAGE_SIZE

    async def fetch_apis(self) -> list[dict[str, Any]]:
        """Every API; starts the applications' per-object reads too, which `fetch_applications` of the
        same read collects (they would otherwise wait for these to end)."""
        if "Consumer" in self.supported_kinds:
            self._memo.pop("applications", None)
            task = asyncio.ensure_future(self._read_applications())
            task.add_done_callback(lambda t: t.cancelled() or t.exception())  # retrieved even if unused
            self._remember("applications", task)
        return await self._read_apis()

    async def _read_apis(self) -> list[dict[str, Any]]:
        ids = [str(s["id"]) for s in await self._api_summaries() if s.get("id")]
        # The list holds no definition (so no tags): read each API, a few at a time.
        limit = asyncio.Semaphore(self.read_concurrency)

        async def detail(api_id: str) -> Any:
            async with limit:
                return await self.client.get_or_none(API_BASE + f"/apis/{api_id}")

        details = await asyncio.gather(*(detail(i) for i in ids))
        records: list[dict[str, Any]] = []
        unowned: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        self._api_ids.clear()
        self._policy_ids.clear()
        self._all_policy_ids.clear()
        for api_id, found in zip(ids, details, strict=True):
            if found is None:  # deleted between the list and the read
                continue
            api = _unwrap(_unwrap(found, "apiResponse"), "api")
            record = mappers.api_from_gateway(api)
            self._api_names[api_id] = record["name"]
            if api.get("policies"):
                self._all_policy_ids[api_id] = str(api["policies"][0])
            if record["owner"] is None:
                unowned[api_id] = (record, api)
            if record["owner"] == self.owner:
                self._api_ids[record["name"]] = api_id
                if api.get("policies"):
                    self._policy_ids[api_id] = str(api["policies"][0])
            records.append(record)
        self._apis_loaded = True
        # What guards each of our APIs, read back from its policy (an Identify & Authorize action
        # removed by hand, or an apply cut before it, is drift).
        stages, listed = await asyncio.gather(self._policy_stages(list(self._all_policy_ids.values())),
                                              self._policy_actions())
        self._remember("stages", stages)
        self._remember("actions", listed)
        actions = {str(a.get("id")): a for a in listed}
        for api_id, (record, api) in unowned.items():
            # Made in the console: read as `reconciler import` declares it (what guards it included).
            enforced = _enforced(stages.get(self._all_policy_ids.get(api_id, ""), []), "IAM")
            identify = [actions[i] for i in enforced if actions.get(i, {}).get("templateKey") == mappers.IAM_TEMPLATE]
            record["spec"] = mappers.unmanaged_api(record["spec"], api, identify)
        for record in records:
            owned_id = self._api_ids.get(record["name"])
            if record["owner"] != self.owner or owned_id is None:
                continue
            enforced = _enforced(stages.get(self._policy_ids.get(owned_id, ""), []), "IAM")
            identify = [actions[i] for i in enforced
                        if actions.get(i, {}).get("templateKey") == mappers.IAM_TEMPLATE]
            record["spec"]["protection"] = mappers.protection_of(identify, record["name"], self.owner)
        return records

    async def _policy_actions(self) -> list[dict[str, Any]]:
        return _items(await self._get("/policyActions"), "policyAction", "policyActions")

    async def _policy_stages(self, policy_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """policy id -> its `policyEnforcements`, a few ids per `GET /policies?policyIds=` call."""
        out: dict[str, list[dict[str, Any]]] = {}
        limit = asyncio.Semaphore(self.read_concurrency)

        async def chunk(ids: list[str]) -> Any:
            async with limit:
                return await self._get("/policies", params={"policyIds": ",".join(ids)})

        bodies = await asyncio.gather(*(chunk(policy_ids[i:i + STAGE_CHUNK])
                                        for i in range(0, len(policy_ids), STAGE_CHUNK)))
        for body in bodies:
            for policy in _items(body, "policy", "policies"):
                out[str(policy.get("id"))] = list(policy.get("policyEnforcements") or [])
        return out

    async def _api_id(self, name: str) -> str:
        if name not in self._api_ids and not self._apis_loaded:
            await self._read_apis()
        try:
            return self._api_ids[name]
        except KeyError:
            raise PermanentError(f"API {name!r} of owner {self.owner} is not on this gateway") from None

    async def sync_api(self, api_spec: dict[str, Any], tenant_id: str, auth_token: str | None = None) -> AdapterResult:
        async def call() -> AdapterResult:
            record = api_spec
            name = str(record["name"])
            api_id = record.get("id")
            if api_id is None:
                if not self._apis_loaded:
                    await self._read_apis()
                api_id = self._api_ids.get(name)
            body, notes = mappers.api_payload(record, self.owner)
            response = None
            if not api_id:
                try:
                    response = await self._send("POST", "/apis", body)
                except ConflictError:
                    # Made by another run of this owner since our read (same name and version): update it.
                    await self._read_apis()
                    api_id = self._api_ids.get(name)
                    if api_id is None:
                        raise
            if api_id:
                current = await self._api_detail(str(api_id))
                if current is not None and current.get("isActive") and (
                        current.get("apiName"), current.get("apiVersion")) != (body["apiName"], body["apiVersion"]):
                    # webMethods refuses a new name or version on an active API.
                    await self._send("PUT", f"/apis/{api_id}/deactivate")
                response = await self._send("PUT", f"/apis/{api_id}", body)
            api = _unwrap(_unwrap(response, "apiResponse"), "api") or {}
            api_id = str(api.get("id") or api_id or "")
            if not api_id:
                raise PermanentError(f"POST /apis for {name!r} returned no id")
            self._api_ids[name] = api_id
            self._api_names[api_id] = name
            if api.get("policies"):
                self._policy_ids[api_id] = str(api["policies"][0])
            # Identify & Authorize before activation: an active API with a throttle must have it.
            await self._ensure_identify(api_id, name)
            if not api.get("isActive"):
                try:
                    await self._send("PUT", f"/apis/{api_id}/activate")
                except PermanentError as error:  # 400 "already in activated state": by another run meanwhile
                    now = await self._api_detail(api_id) if error.status == 400 else None
                    if now is None or not now.get("isActive"):
                        raise
            return AdapterResult(success=True, resource_id=api_id, data={"notes": notes})

        return await self.guard(f"sync_api {api_spec.get('name')}", call)

    async def _api_detail(self, api_id: str) -> dict[str, Any] | None:
        found = await self.client.get_or_none(API_BASE + f"/apis/{api_id}")
        if found is None:
            return None
        api = _unwrap(_unwrap(found, "apiResponse"), "api")
        return api if isinstance(api, dict) else None

    async def delete_api(self, api_id: str, auth_token: str | None = None) -> AdapterResult:
        async def call() -> AdapterResult:
            api = await self._api_detail(api_id)
            if api is None:
                return AdapterResult(success=True, resource_id=api_id)
            record = mappers.api_from_gateway(api)
            self._check_owned(record["owner"], f"API {record['name']}")
            if api.get("isActive"):
                await self._send("PUT", f"/apis/{api_id}/deactivate")
            await self._send("DELETE", f"/apis/{api_id}", params={"forceDelete": "false"}, ok=(404,))
            self._api_ids.pop(record["name"], None)
            self._policy_ids.pop(api_id, None)
            # The API's policy went with it; its Identify & Authorize action is ours to remove.
            for action in await self._identify_actions(record["name"]):
                await self._send("DELETE", f"/policyActions/{action['id']}", ok=(404,))
            return AdapterResult(success=True, resource_id=api_id)

        return await self.guard(f"delete_api {api_id}", call)

    # ------------------------------------------------------------------ policies
    def _lock(self, api_id: str) -> asyncio.Lock:
        return self._locks.setdefault(api_id, asyncio.Lock())

    async def fetch_policies(self) -> list[dict[str, Any]]:
        if not self._apis_loaded:
            await self._read_apis()
        wanted = sorted(set(self._policy_ids.values()) | set(self._all_policy_ids.values()))
        actions, stages = self._recall("actions"), self._recall("stages")
        if actions is None or stages is None or not set(wanted) <= set(stages):
            actions, stages = await asyncio.gather(self._policy_actions(), self._policy_stages(wanted))
        records = []
        # By id: of two actions of one name, the plan keeps the one `settle` keeps (the smallest id).
        for action in sorted(actions, key=lambda a: str(a.get("id"))):
            if mappers.unmark(((action.get("descriptions") or [{}])[0]).get("value"))[1] is None:
                record = self._unmanaged_policy(action, stages)
                if record is not None:
                    records.append(record)
                continue
            template = str(action.get("templateKey"))
            _, _, api_name = mappers.unmark(((action.get("descriptions") or [{}])[0]).get("value"))
            api_id = self._api_ids.get(str(api_name))
            enforced = _enforced(stages.get(self._policy_ids.get(api_id or "", ""), []),
                                 mappers.POLICY_STAGES.get(template, ""))
            record = mappers.policy_from_gateway(action, attached=str(action.get("id")) in enforced)
            if record is not None:
                records.append(record)
        return records

    def _unmanaged_policy(self, action: dict[str, Any], stages: dict[str, list[dict[str, Any]]]) -> dict[str, Any] | None:
        """A throttle or CORS action made in the console, bound to the API whose policy enforces it."""
        template = str(action.get("templateKey"))
        action_id = str(action.get("id"))
        record = mappers.policy_from_gateway(action)
        if record is None:
            return None
        api_name, attached = None, False
        for api_id, policy_id in self._all_policy_ids.items():
            for stage in stages.get(policy_id, []):
                if any(str(e.get("enforcementObjectId")) == action_id for e in stage.get("enforcements") or []):
                    api_name = self._api_names.get(api_id)
                    attached = attached or stage.get("stageKey") == mappers.POLICY_STAGES.get(template)
        record["spec"]["attached"] = attached
        return mappers.unmanaged_policy(record, action, api_name)

    async def _edit_policy(self, api_id: str, edit: Callable[[list[dict[str, Any]]], list[dict[str, Any]] | None],
                           *, required: bool) -> dict[settle.Group, Mapping[str, Any]]:
        """Read the API's policy, apply `edit` to its stages (None: nothing to change), PUT it back,
        then settle it (`_settle`); under the API's lock, so two edits of one run never overwrite each
        other. Returns the actions that stay, per group (empty when nothing was written)."""
        async with self._lock(api_id):
            policy_id = self._policy_ids.get(api_id)
            if policy_id is None:
                api = await self._api_detail(api_id)
                if api is None or not api.get("policies"):
                    if required:
                        raise PermanentError(f"API {api_id} is not on the gateway or has no policy")
                    return {}
                policy_id = self._policy_ids[api_id] = str(api["policies"][0])
            found = await self.client.get_or_none(API_BASE + f"/policies/{policy_id}")
            if found is None:
                if required:
                    raise PermanentError(f"policy {policy_id} of API {api_id} is not on the gateway")
                return {}
            policy = _unwrap(found, "policy")
            stages = edit(copy.deepcopy(list(policy.get("policyEnforcements") or [])))
            if stages is None:
                return {}
            policy["policyEnforcements"] = settle.normalized(stages)
            try:
                await self._send("PUT", f"/policies/{policy_id}", {"policy": policy})
            except PermanentError as error:
                # What we read may name an action another run deleted since (a duplicate it collapsed,
                # maybe ours): settle from a fresh read, which fails in turn if the policy cannot settle.
                if error.status not in (400, 500) or self._api_names.get(api_id) is None:
                    raise
            return await self._settle(api_id, policy_id)

    async def _settle(self, api_id: str, policy_id: str) -> dict[settle.Group, Mapping[str, Any]]:
        """Read the policy and the actions back after a write (2 GETs): another run of this owner may
        have overwritten it (the PUT replaces the whole list) or made its own action of one of our
        names. Until they settle (`settle.settled`), write the settled stages and read again; then
        delete the detached duplicates. A policy that does not settle in `SETTLE_ATTEMPTS` writes is
        a failure that names the concurrent writer. The last write to a policy is always followed by
        such a read-back, so whichever run writes last leaves it settled."""
        api_name = self._api_names.get(api_id)
        if api_name is None:
            return {}
        seen = ""
        for attempt in range(SETTLE_ATTEMPTS + 1):
            found, actions = await asyncio.gather(self.client.get_or_none(API_BASE + f"/policies/{policy_id}"),
                                                  self._policy_actions())
            if found is None:  # the API (and its policy) went away meanwhile
                return {}
            policy = _unwrap(found, "policy")
            current = settle.normalized(policy.get("policyEnforcements") or [])
            kept, losers = settle.survivors(actions, self.owner, api_name, frozenset(self._leaving))
            wanted = settle.settled(current, kept, [*losers, *self._leaving],
                                    {str(a.get("id")): str(a.get("templateKey")) for a in actions})
            last = attempt == SETTLE_ATTEMPTS
            try:
                if wanted == current:
                    for loser in losers:  # detached: the gateway lets them go (a 400 if re-attached meanwhile)
                        await self._send("DELETE", f"/policyActions/{loser}", ok=(404,))
                    return kept
                if last:
                    break
                policy["policyEnforcements"] = wanted
                await self._send("PUT", f"/policies/{policy_id}", {"policy": policy})
            except PermanentError as error:
                # An action in the list was deleted, or a duplicate re-attached, by the other writer: read again.
                if error.status not in (400, 500):
                    raise
                seen = f" (last answer: {error.message})"
                if last:
                    break
        raise ConflictError(f"the policy of API {api_name} was changed by a concurrent writer: it did not "
                            f"settle after {SETTLE_ATTEMPTS} writes (another apply of owner {self.owner} "
                            f"running at the same time?){seen}")

    async def _attach(self, api_id: str, action_id: str, template: str, *, replace: frozenset[str] = frozenset(),
                      required: bool = True) -> dict[settle.Group, Mapping[str, Any]]:
        """Enforce an action in its template's stage (and nowhere else); `replace`: action ids that
        must leave that stage (another Identify & Authorize action: an API takes one)."""
        stage_key = mappers.POLICY_STAGES[template]

        def edit(stages: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
            where = [(s.get("stageKey"), str(e.get("enforcementObjectId")))
                     for s in stages for e in s.get("enforcements") or []]
            if (stage_key, action_id) in where and not any(a in replace or (k != stage_key and a == action_id)
                                                           for k, a in where):
                return None
            for stage in stages:
                stage["enforcements"] = [e for e in stage.get("enforcements") or []
                                         if str(e.get("enforcementObjectId")) not in replace | {action_id}]
            for stage in stages:
                if stage.get("stageKey") == stage_key:
                    stage["enforcements"].append({"enforcementObjectId": action_id})
                    break
            else:
                stages.append({"stageKey": stage_key, "enforcements": [{"enforcementObjectId": action_id}]})
            return stages

        return await self._edit_policy(api_id, edit, required=required)

    @contextlib.contextmanager
    def _taking_away(self, action_id: str) -> Iterator[None]:
        """While an action is detached to be deleted (or moved), `_settle` does not enforce it again."""
        self._leaving.add(action_id)
        try:
            yield
        finally:
            self._leaving.discard(action_id)

    async def _detach(self, api_id: str, action_id: str) -> None:
        def edit(stages: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
            if not any(str(e.get("enforcementObjectId")) == action_id
                       for s in stages for e in s.get("enforcements") or []):
                return None
            for stage in stages:
                stage["enforcements"] = [e for e in stage.get("enforcements") or []
                                         if str(e.get("enforcementObjectId")) != action_id]
            return stages

        await self._edit_policy(api_id, edit, required=False)

    def _mine(self, actions: list[dict[str, Any]], api_name: str) -> list[dict[str, Any]]:
        """This owner's Identify & Authorize actions made for one API (normally one)."""
        out = []
        for action in actions:
            _, owner, marked = mappers.unmark(((action.get("descriptions") or [{}])[0]).get("value"))
            if action.get("templateKey") == mappers.IAM_TEMPLATE and (owner, marked) == (self.owner, api_name):
                out.append(action)
        return sorted(out, key=lambda a: str(a.get("id")))  # the first is the one `settle` keeps

    async def _identify_actions(self, api_name: str) -> list[dict[str, Any]]:
        return self._mine(await self._policy_actions(), api_name)

    async def _ensure_identify(self, api_id: str, api_name: str) -> None:
        """One Identify & Authorize action of ours, as `identify_payload` writes it, in the API's IAM
        stage; any other Identify & Authorize action leaves that stage (an API takes one)."""
        body = mappers.identify_payload(api_name, self.owner, anonymous=not self.protect_apis)
        actions = await self._policy_actions()
        mine = self._mine(actions, api_name)
        if mine:
            action_id = str(mine[0]["id"])
            if mine[0].get("parameters") != body["policyAction"]["parameters"]:
                await self._send("PUT", f"/policyActions/{action_id}", body)
        else:
            created = _unwrap(await self._send("POST", "/policyActions", body), "policyAction") or {}
            if not created.get("id"):
                raise PermanentError(f"POST /policyActions (Identify & Authorize of {api_name!r}) returned no id")
            action_id = str(created["id"])
        others = {str(a.get("id")) for a in actions
                  if a.get("templateKey") == mappers.IAM_TEMPLATE and str(a.get("id")) != action_id}
        kept = await self._attach(api_id, action_id, mappers.IAM_TEMPLATE, replace=frozenset(others))
        await self._adopt_survivor(kept.get((mappers.IAM_TEMPLATE, mappers.IAM_NAME)), action_id, body)

    async def _adopt_survivor(self, survivor: Mapping[str, Any] | None, action_id: str, body: dict[str, Any]) -> str:
        """The id of the action that stays for ours; when another run's won (`settle`), it takes our
        parameters (the last writer's, as for any update)."""
        if survivor is None or str(survivor.get("id")) == action_id:
            return action_id
        kept_id = str(survivor.get("id"))
        if survivor.get("parameters") != body["policyAction"]["parameters"]:
            await self._send("PUT", f"/policyActions/{kept_id}", body)
        return kept_id

    async def upsert_policy(self, policy_spec: dict[str, Any], auth_token: str | None = None) -> AdapterResult:
        async def call() -> AdapterResult:
            record = policy_spec
            api_name = str(record["spec"]["api"])
            api_id = await self._api_id(api_name)
            body = mappers.policy_payload(record, self.owner)
            template = body["policyAction"]["templateKey"]
            action_id = record.get("id")
            if action_id:
                old = await self.client.get_or_none(API_BASE + f"/policyActions/{action_id}")
                previous = mappers.policy_from_gateway(_unwrap(old, "policyAction")) if old else None
                if previous is not None and previous["spec"]["api"] not in (None, api_name):
                    old_id = self._api_ids.get(str(previous["spec"]["api"]))
                    if old_id:
                        with self._taking_away(str(action_id)):  # still marked for the old API
                            await self._detach(old_id, str(action_id))
                await self._send("PUT", f"/policyActions/{action_id}", body)
            else:
                created = _unwrap(await self._send("POST", "/policyActions", body), "policyAction") or {}
                action_id = created.get("id")
                if not action_id:
                    raise PermanentError(f"POST /policyActions for {record['name']!r} returned no id")
            kept = await self._attach(api_id, str(action_id), template)
            action_id = await self._adopt_survivor(kept.get((template, str(record["name"]))), str(action_id), body)
            return AdapterResult(success=True, resource_id=action_id)

        return await self.guard(f"upsert_policy {policy_spec.get('name')}", call)

    async def delete_policy(self, policy_id: str, auth_token: str | None = None) -> AdapterResult:
        async def call() -> AdapterResult:
            found = await self.client.get_or_none(API_BASE + f"/policyActions/{policy_id}")
            if found is None:
                return AdapterResult(success=True, resource_id=policy_id)
            action = _unwrap(found, "policyAction")
            _, owner, _ = mappers.unmark(((action.get("descriptions") or [{}])[0]).get("value"))
            self._check_owned(owner, f"policy action {policy_id}")
            # The gateway refuses to delete an action a policy still enforces: detach it from every
            # policy of ours that does (its API's, or an earlier API's after a move).
            if not self._apis_loaded:
                await self._read_apis()
            by_policy = {p: a for a, p in self._policy_ids.items()}
            with self._taking_away(policy_id):
                for pid, stages in (await self._policy_stages(list(by_policy))).items():
                    if any(str(e.get("enforcementObjectId")) == policy_id
                           for s in stages for e in s.get("enforcements") or []):
                        await self._detach(by_policy[pid], policy_id)
                await self._send("DELETE", f"/policyActions/{policy_id}", ok=(404,))
            return AdapterResult(success=True, resource_id=policy_id)

        return await self.guard(f"delete_policy {policy_id}", call)

    async def _collapse(self, path: str, created: str, copies: list[str], body: Any) -> str:
        """After a create, this owner's objects of that name (`copies`, read after it, smallest id
        first): another run may have made its own at the same time. The smallest id stays, the others
        are deleted (by whichever run sees them: the last to create sees every copy), and when the one
        that stays is not ours it gets our body (the last writer's, as for any update)."""
        for other in copies[1:]:
            await self._send("DELETE", f"{path}/{other}", ok=(404,))
        if copies and copies[0] != created:
            await self._send("PUT", f"{path}/{copies[0]}", body)
            return copies[0]
        return created

    # ------------------------------------------------------------------ applications
    async def _applications(self) -> list[dict[str, Any]]:
        return _items(await self._get("/applications"), "applications", "application")

    async def _read_applications(self) -> list[tuple[dict[str, Any], list[str]]]:
        """Every application with the ids of its APIs (one made in the console reads with them, so an
        adoption pairs it), `readConcurrency` API lists at a time."""
        limit = asyncio.Semaphore(self.read_concurrency)

        async def linked(app: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
            async with limit:
                body = await self.client.get_or_none(API_BASE + f"/applications/{app.get('id')}/apis")
            ids = (body or {}).get("apiIDs") or [] if isinstance(body, dict) else []
            return app, [str(i) for i in ids]

        return list(await asyncio.gather(*(linked(app) for app in await self._applications())))

    async def fetch_applications(self) -> list[dict[str, Any]]:
        task = self._recall("applications")
        if not self._apis_loaded:
            await self._read_apis()
        apps = await task if task is not None else await self._read_applications()
        records = []
        for app, ids in apps:
            _, owner, _ = mappers.unmark(app.get("description"))
            names = [self._api_names.get(i, i) for i in ids]
            record = mappers.application_from_gateway(app, names)
            records.append(record if owner is not None else mappers.unmanaged_application(record, app))
        return records

    def _owned_apps(self, apps: list[dict[str, Any]], name: str) -> list[str]:
        """Ids of this owner's applications of one name, smallest first (the one a collapse keeps)."""
        return sorted(str(a.get("id")) for a in apps
                      if a.get("name") == name and mappers.unmark(a.get("description"))[1] == self.owner)

    async def provision_application(self, app_spec: dict[str, Any], auth_token: str | None = None) -> AdapterResult:
        """Idempotent by owner marker and name. Another run of this owner may create the same
        application at once: after a create the list is read again (1 GET), the application with the
        smallest id stays and the others are deleted, by whichever run sees them (the last to create
        sees every copy); an application deleted under us that way is looked up again."""
        async def call() -> AdapterResult:
            record = app_spec
            name = str(record["name"])
            app_id = record.get("id")
            body = mappers.application_payload(record, self.owner)
            api_ids = [await self._api_id(str(n)) for n in sorted(record["spec"].get("subscriptions") or [])]
            for attempt in range(SETTLE_ATTEMPTS):
                if app_id is None:
                    app_id = next(iter(self._owned_apps(await self._applications(), name)), None)
                existed = bool(app_id)
                try:
                    if app_id:
                        await self._send("PUT", f"/applications/{app_id}", body)
                    else:
                        created = _unwrap(await self._send("POST", "/applications", body), "application") or {}
                        app_id = created.get("id")
                        if not app_id:
                            raise PermanentError(f"POST /applications for {name!r} returned no id")
                        kept = await self._collapse("/applications", str(app_id),
                                                    self._owned_apps(await self._applications(), name), body)
                        existed, app_id = kept != str(app_id), kept
                    if api_ids or existed:  # the list replaces the old one, so an emptied list is sent too
                        await self._send("PUT", f"/applications/{app_id}/apis", {"apiIDs": api_ids})
                    return AdapterResult(success=True, resource_id=str(app_id))
                except PermanentError as error:
                    if error.status != 404 or attempt == SETTLE_ATTEMPTS - 1:
                        raise
                    app_id = None  # deleted meanwhile (a concurrent run's collapse): look it up again
            raise AssertionError("unreachable")

        return await self._guard_record(f"provision_application {app_spec.get('name')}", app_spec, call)

    async def deprovision_application(self, app_id: str, auth_token: str | None = None) -> AdapterResult:
        async def call() -> AdapterResult:
            found = await self.client.get_or_none(API_BASE + f"/applications/{app_id}")
            if found is None:
                return AdapterResult(success=True, resource_id=app_id)
            # The sample of GET /applications/{id} lists the application under `applications`.
            listed = _items(found, "applications")
            app = listed[0] if listed else _unwrap(found, "application")
            self._check_owned(mappers.unmark(app.get("description"))[1], f"application {app.get('name')}")
            await self._send("DELETE", f"/applications/{app_id}", ok=(404,))
            return AdapterResult(success=True, resource_id=app_id)

        return await self.guard(f"deprovision_application {app_id}", call)

    # ------------------------------------------------------------------ aliases and auth servers
    async def _aliases(self) -> list[dict[str, Any]]:
        return _items(await self._get("/alias"), "alias", "aliases")

    @staticmethod
    def _named(kind: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Objects made in the console that webMethods refers to by a name no manifest can take: say why."""
        for record in records:
            why = mappers.named_by(kind, str(record["name"])) if record["owner"] is None else None
            if why is not None:
                record["spec"][mappers.NOT_IMPORTABLE] = why
        return records

    async def fetch_auth_servers(self) -> list[dict[str, Any]]:
        return self._named("auth server", [mappers.auth_server_from_gateway(a) for a in await self._aliases()
                                           if a.get("type") == "authServerAlias"])

    async def fetch_aliases(self) -> list[dict[str, Any]]:
        return self._named("alias", [mappers.alias_from_gateway(a) for a in await self._aliases()
                                     if a.get("type") in ("endpoint", "simple")
                                     and not str(a.get("name", "")).startswith(mappers.CONFIG_ALIAS_PREFIX)])

    async def _upsert_alias_body(self, record: dict[str, Any], body: dict[str, Any]) -> AdapterResult:
        alias_id = record.get("id")
        if alias_id is None:
            for alias in await self._aliases():
                if alias.get("name") == record["name"]:
                    self._check_owned(mappers.unmark(alias.get("description"))[1], f"alias {record['name']}")
                    alias_id = alias.get("id")
        if not alias_id:
            try:
                created = _unwrap(await self._send("POST", "/alias", body), "alias") or {}
                if not created.get("id"):
                    raise PermanentError(f"POST /alias for {record['name']!r} returned no id")
                return AdapterResult(success=True, resource_id=str(created["id"]))
            except PermanentError as error:
                # 400 "an alias with the given name already exists" (names are unique): made by another
                # run of this owner since the look-up? Then that one is updated.
                if error.status != 400:
                    raise
                alias_id = next((a.get("id") for a in await self._aliases() if a.get("name") == record["name"]
                                 and mappers.unmark(a.get("description"))[1] == self.owner), None)
                if not alias_id:
                    raise
        await self._send("PUT", f"/alias/{alias_id}", body)
        return AdapterResult(success=True, resource_id=str(alias_id))

    async def upsert_auth_server(self, auth_spec: dict[str, Any], auth_token: str | None = None) -> AdapterResult:
        async def call() -> AdapterResult:
            secret = (auth_spec.get("secret") or {}).get("clientSecret")
            body = mappers.auth_server_payload(auth_spec, self.owner, secret)
            return await self._upsert_alias_body(auth_spec, body)

        return await self._guard_record(f"upsert_auth_server {auth_spec.get('name')}", auth_spec, call)

    async def upsert_alias(self, alias_spec: dict[str, Any], auth_token: str | None = None) -> AdapterResult:
        async def call() -> AdapterResult:
            return await self._upsert_alias_body(alias_spec, mappers.alias_payload(alias_spec, self.owner))

        return await self.guard(f"upsert_alias {alias_spec.get('name')}", call)

    async def _delete_alias(self, alias_id: str) -> AdapterResult:
        found = await self.client.get_or_none(API_BASE + f"/alias/{alias_id}")
        if found is None:
            return AdapterResult(success=True, resource_id=alias_id)
        alias = _unwrap(found, "alias")
        self._check_owned(mappers.unmark(alias.get("description"))[1], f"alias {alias.get('name')}")
        await self._send("DELETE", f"/alias/{alias_id}", ok=(404,))
        return AdapterResult(success=True, resource_id=alias_id)

    async def delete_auth_server(self, alias_id: str, auth_token: str | None = None) -> AdapterResult:
        return await self.guard(f"delete_auth_server {alias_id}", lambda: self._delete_alias(alias_id))

    async def delete_alias(self, alias_id: str, auth_token: str | None = None) -> AdapterResult:
        return await self.guard(f"delete_alias {alias_id}", lambda: self._delete_alias(alias_id))

    # ------------------------------------------------------------------ strategies
    async def fetch_strategies(self) -> list[dict[str, Any]]:
        body = await self._get("/strategies")
        return self._named("strategy", [mappers.strategy_from_gateway(s) for s in _items(body, "strategies", "strategy")])

    async def upsert_strategy(self, strategy_spec: dict[str, Any], auth_token: str | None = None) -> AdapterResult:
        async def call() -> AdapterResult:
            record = strategy_spec
            body = mappers.strategy_payload(record, self.owner)
            strategy_id = record.get("id")
            if strategy_id is None:
                for live in await self.fetch_strategies():
                    if live["name"] == record["name"]:
                        self._check_owned(live["owner"], f"strategy {record['name']}")
                        strategy_id = live["id"]
            if strategy_id:
                await self._send("PUT", f"/strategies/{strategy_id}", body)
            else:
                created = _unwrap(await self._send("POST", "/strategies", body), "strategy") or {}
                strategy_id = created.get("id")
                if not strategy_id:
                    raise PermanentError(f"POST /strategies for {record['name']!r} returned no id")
                copies = sorted(str(s["id"]) for s in await self.fetch_strategies()
                                if s["name"] == record["name"] and s["owner"] == self.owner)
                strategy_id = await self._collapse("/strategies", str(strategy_id), copies, body)
            return AdapterResult(success=True, resource_id=str(strategy_id))

        return await self.guard(f"upsert_strategy {strategy_spec.get('name')}", call)

    async def delete_strategy(self, strategy_id: str, auth_token: str | None = None) -> AdapterResult:
        async def call() -> AdapterResult:
            found = await self.client.get_or_none(API_BASE + f"/strategies/{strategy_id}")
            if found is None:
                return AdapterResult(success=True, resource_id=strategy_id)
            record = mappers.strategy_from_gateway(_unwrap(found, "strategy"))
            self._check_owned(record["owner"], f"strategy {record['name']}")
            await self._send("DELETE", f"/strategies/{strategy_id}", ok=(404,))
            return AdapterResult(success=True, resource_id=strategy_id)

        return await self.guard(f"delete_strategy {strategy_id}", call)

    # ------------------------------------------------------------------ scopes
    async def fetch_scopes(self) -> list[dict[str, Any]]:
        if not self._apis_loaded:
            await self._read_apis()
        body = await self._get("/scopes")
        return self._named("scope", [mappers.scope_from_gateway(s, self._api_names) for s in _items(body, "scopes", "scope")])

    async def upsert_scope(self, scope_spec: dict[str, Any], auth_token: str | None = None) -> AdapterResult:
        async def call() -> AdapterResult:
            record = scope_spec
            api_ids = [await self._api_id(str(n)) for n in sorted(record["spec"].get("apis") or [])]
            body = mappers.scope_payload(record, self.owner, api_ids)
            scope_id = record.get("id")
            if scope_id is None:
                for live in _items(await self._get("/scopes"), "scopes", "scope"):
                    if live.get("scopeName") == record["name"]:
                        self._check_owned(mappers.unmark(live.get("scopeDescription"))[1], f"scope {record['name']}")
                        scope_id = live.get("id")
            if scope_id:
                await self._send("PUT", f"/scopes/{scope_id}", body)
            else:
                created = _unwrap(await self._send("POST", "/scopes", body), "scope") or {}
                scope_id = created.get("id")
                if not scope_id:
                    raise PermanentError(f"POST /scopes for {record['name']!r} returned no id")
                copies = sorted(str(s.get("id")) for s in _items(await self._get("/scopes"), "scopes", "scope")
                                if s.get("scopeName") == record["name"]
                                and mappers.unmark(s.get("scopeDescription"))[1] == self.owner)
                scope_id = await self._collapse("/scopes", str(scope_id), copies, body)
            return AdapterResult(success=True, resource_id=str(scope_id))

        return await self.guard(f"upsert_scope {scope_spec.get('name')}", call)

    async def delete_scope(self, scope_id: str, auth_token: str | None = None) -> AdapterResult:
        async def call() -> AdapterResult:
            found = await self.client.get_or_none(API_BASE + f"/scopes/{scope_id}")
            if found is None:
                return AdapterResult(success=True, resource_id=scope_id)
            scope = _unwrap(found, "scope")
            self._check_owned(mappers.unmark(scope.get("scopeDescription"))[1], f"scope {scope.get('scopeName')}")
            await self._send("DELETE", f"/scopes/{scope_id}", ok=(404,))
            return AdapterResult(success=True, resource_id=scope_id)

        return await self.guard(f"delete_scope {scope_id}", call)

    # ------------------------------------------------------------------ configuration
    async def _config_owners(self) -> tuple[dict[str, str], dict[str, Any] | None]:
        """key -> owner from every owner's configuration alias, and this owner's alias (or None)."""
        owners: dict[str, str] = {}
        mine = None
        for alias in await self._aliases():
            name = str(alias.get("name", ""))
            if alias.get("type") != "simple" or not name.startswith(mappers.CONFIG_ALIAS_PREFIX):
                continue
            owner = mappers.unmark(alias.get("description"))[1]
            if owner is None:
                continue
            if owner == self.owner:
                mine = alias
            for key in str(alias.get("value") or "").split(","):
                if key:
                    owners[key] = owner
        return owners, mine

    async def fetch_configs(self) -> list[dict[str, Any]]:
        owners, _ = await self._config_owners()
        records = []
        for key, owner in sorted(owners.items()):
            value = await self.client.get_or_none(API_BASE + f"/configurations/{key}")
            if value is None:
                continue
            records.append(make_record("GatewayConfig", config_name(key), {"key": key, "value": value},
                                       id=key, owner=owner))
        return records

    async def _set_config_keys(self, add: str | None = None, remove: str | None = None) -> None:
        try:
            await self._write_config_keys(add, remove)
        except PermanentError as error:
            if error.status != 400:
                raise
            # 400 "an alias with the given name already exists": another run of ours made it since our read.
            await self._write_config_keys(add, remove)

    async def _write_config_keys(self, add: str | None, remove: str | None) -> None:
        owners, mine = await self._config_owners()
        keys = sorted(k for k, o in owners.items() if o == self.owner)
        wanted = sorted((set(keys) | ({add} if add else set())) - ({remove} if remove else set()))
        if wanted == keys and mine is not None:
            return
        if mine is None and not wanted:
            return
        if add and owners.get(add, self.owner) != self.owner:
            raise ConflictError(f"configuration {add} is managed by {owners[add]}, not {self.owner}")
        body = {"name": mappers.config_alias_name(self.owner), "type": "simple",
                "description": mappers.mark("Configuration keys managed by stoa-reconciler", self.owner),
                "value": ",".join(wanted)}
        if mine is None:
            await self._send("POST", "/alias", body)
        elif wanted:
            await self._send("PUT", f"/alias/{mine['id']}", body)
        else:
            await self._send("DELETE", f"/alias/{mine['id']}", ok=(404,))

    async def apply_config(self, config_spec: dict[str, Any], auth_token: str | None = None) -> AdapterResult:
        async def call() -> AdapterResult:
            spec = config_spec["spec"]
            key = str(spec["key"])
            owners, _ = await self._config_owners()
            if owners.get(key, self.owner) != self.owner:
                raise ConflictError(f"configuration {key} is managed by {owners[key]}, not {self.owner}")
            await self._send("PUT", f"/configurations/{key}", spec["value"])
            await self._set_config_keys(add=key)
            return AdapterResult(success=True, resource_id=key)

        return await self.guard(f"apply_config {config_spec.get('name')}", call)

    async def release_config(self, key: str, auth_token: str | None = None) -> AdapterResult:
        """Stop managing a configuration key; the gateway keeps its current values (no reset exists)."""
        async def call() -> AdapterResult:
            await self._set_config_keys(remove=key)
            return AdapterResult(success=True, resource_id=key)

        return await self.guard(f"release_config {key}", call)

    # ------------------------------------------------------------------ archive
    async def export_archive(self, auth_token: str | None = None) -> AdapterResult:
        async def call() -> AdapterResult:
            params = {key: "*" for key in ARCHIVE_SELECTION}
            params["include-applications"] = "true"
            response = await self.client.request("GET", API_BASE + "/archive", params=params,
                                                 headers={"Accept": "application/zip, application/octet-stream"})
            content = response.content
            if not content.startswith(b"PK"):
                raise GatewayError("GET /archive did not return a ZIP archive")
            return AdapterResult(success=True, data={"content": content, "media_type": "application/zip"})

        return await self.guard("export_archive", call)

    # ------------------------------------------------------------------ reconciler hooks
    @classmethod
    def check(cls, records: Sequence[Mapping[str, Any]], options: Mapping[str, Any]) -> list[Problem]:
        """webMethods generates every application's API key (`accessTokens.apiAccessKey_credentials`,
        in every application sample of APIGatewayApplication.json; `PUT /applications/{id}` cannot
        change access tokens, only `POST /applications/{id}/accessTokens` renews them) and no
        documented field takes a key chosen by the client: a consumer's declared key would never be
        the one that works. So a consumer bound to a webMethods gateway is an error, unless the
        gateway accepts gateway-made keys (`options.consumerKeys: gateway-generated`)."""
        if str(options.get("consumerKeys", "")) == GENERATED_KEYS:
            return []
        return [Problem("Consumer", str(r["name"]), "spec.credential",
                        "webmethods generates each application's API key itself (accessTokens.apiAccessKey, "
                        "renewed by POST /applications/{id}/accessTokens) and cannot be given this consumer's "
                        f"declared key: set options.consumerKeys: {GENERATED_KEYS} on the gateway to let it "
                        "generate the key (clients then use the key the gateway shows), or subscribe the consumer "
                        "to no API on this gateway")
                for r in sorted(records, key=lambda r: str(r["name"])) if r["kind"] == "Consumer"]

    def plan_notes(self, kind: str, spec: dict[str, Any]) -> list[str]:
        """Notes for the plan of a create/update (pure): what the OpenAPI 3.1 -> 3.0.3 conversion loses,
        the Identify & Authorize action an API gets, and that a consumer's key is the gateway's."""
        if kind == "Consumer":
            return ["webMethods generates this application's API key: the declared key is not sent, clients use "
                    "the key the gateway shows (GET /applications/{id}, accessTokens)"]
        if kind != "API":
            return []
        notes = [("the API's policy gets an Identify & Authorize action (API key, registered applications): only "
                  "subscribed consumers' keys reach it (option protectApis: false lets anonymous calls in)")
                 if self.protect_apis else
                 "the API's policy gets an Identify & Authorize action that allows anonymous calls (protectApis: false)"]
        document = spec.get("openapi")
        if isinstance(document, dict) and is_31(document):
            lost = conversion_notes(document)
            head = f"OpenAPI {document.get('openapi')} is converted to 3.0.3 for webMethods"
            notes += [head + (f"; {len(lost)} loss(es):" if lost else " without loss")] + lost
        return notes

    @staticmethod
    def folded_fields(kind: str) -> Mapping[str, str]:
        """The OpenAPI document is compared by its hash, kept as the tag `stoa:hash=` (an API made in
        the console has none: an adoption writes it)."""
        return {"openapi": "openapiHash"} if kind == "API" else {}

    def import_spec(self, kind: str, record: Mapping[str, Any]) -> ImportedSpec:
        """The default inversion, plus what the read says of an object made in the console; an API's
        stored document is saved beside it, a consumer's key is the gateway's (a secretRef not sent)."""
        spec = dict(record.get("spec") or {})
        notes = tuple(str(n) for n in spec.pop(mappers.IMPORT_NOTES, None) or ())
        why = spec.pop(mappers.NOT_IMPORTABLE, None)
        openapi = spec.pop(mappers.IMPORT_OPENAPI, None)
        if why is not None:
            return ImportedSpec(None, (str(why), *notes))
        if kind == "Consumer" and str(self.options.get("consumerKeys", "")) != GENERATED_KEYS:
            return ImportedSpec(None, (f"webMethods generates application keys: set options.consumerKeys: "
                                       f"{GENERATED_KEYS} on the gateway to declare its applications", *notes))
        if kind == "Consumer":
            spec["credential"] = {"type": "apiKey"}  # the gateway's key: only a reference is written
        imported = super().import_spec(kind, {**record, "spec": spec})
        out = dict(imported.spec) if imported.spec is not None else None
        if out is not None and kind == "AuthServer" and out.get("clientId"):
            variable = env_var_of(str(record.get("name")), "CLIENT_SECRET")
            out["clientSecret"] = {"env": variable}
            notes += (f"clientSecret: webMethods never returns it; set {variable} before an apply",)
        if out is not None and kind in ("AuthServer", "Alias", "Strategy", "Scope"):
            out = {k: v for k, v in out.items() if v is not None}
        if kind == "API" and isinstance(openapi, dict):
            return ImportedSpec(out, notes + imported.notes, openapi)
        return ImportedSpec(out, notes + imported.notes, imported.openapi, imported.extra)

    def desired_view(self, kind: str, spec: dict[str, Any]) -> dict[str, Any]:  # type: ignore[override]
        if kind == "API":
            return {**mappers.api_desired_view(spec),
                    "protection": mappers.PROTECTED if self.protect_apis else mappers.ANONYMOUS}
        if kind == "Policy":
            return {**spec, "attached": True}  # an action no stage enforces does nothing
        if kind == "Consumer":
            # The key is the gateway's (see `check`): there is no declared key to compare.
            return {k: v for k, v in spec.items() if k != "credential"} | {
                "subscriptions": sorted(spec.get("subscriptions") or [])}
        if kind == "Scope":
            return {**spec, "apis": sorted(spec.get("apis") or [])}
        if kind == "AuthServer":
            # The gateway never returns the client secret: it cannot be compared.
            return {k: v for k, v in spec.items() if k != "clientSecret"}
        return spec
