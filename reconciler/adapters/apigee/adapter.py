"""Apigee X / hybrid adapter (management API `apigee.googleapis.com/v1`, OAuth2 bearer token).

APIs become generated proxy bundles (`bundle.py`), imported as a new revision only when the bundle's
content hash changes, then deployed to the gateway's environment with `override=true`, which makes
Apigee swap the previous revision out in the same call (zero-downtime); any other revision still
deployed there afterwards is undeployed explicitly. Policies and consumers: see `mappers.py`.
Options: `organization` (required), `environment` (default `test`), `developerEmail`, `verifyApiKey`,
`readConcurrency` (default 10).

Reads at the fewest requests the management API allows: one listing per collection per read (the
proxies with their labels and revisions, the environment's deployments, the expanded products, the
developers), memoised for the other kinds of the same read until a write or `connect`. No list carries a
bundle, so each deployed revision's ZIP is downloaded (`readConcurrency` at a time), once per process: a
revision is immutable once deployed (discovery: `apis.revisions.updateApiProxyRevision`), so what was
read of it, or what we imported and deployed as it, stands for as long as the proxy does (its
`metaData.createdAt` is in the key). A plan downloads a bundle only when the deployed revision is not the
one the last read saw or the last apply deployed (the revision our `stoa-rev` label records).
"""

from __future__ import annotations

import asyncio
import copy
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Mapping
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from reconciler.adapters import importing
from reconciler.adapters.apigee import mappers as m
from reconciler.adapters.apigee.bundle import build_bundle, bundle_hash, bundle_owner, read_bundle, read_foreign_bundle
from reconciler.adapters.base import GatewayAdapter
from reconciler.adapters.http import GatewayHttp
from reconciler.model.errors import ConflictError, GatewayError, PermanentError, sanitize
from reconciler.model.imports import ImportedSpec
from reconciler.model.records import api_key_of, secret_fingerprint
from reconciler.model.results import AdapterResult

_KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")

READ_CONCURRENCY = 10
"""Per-object reads in flight at once (bundle downloads, developers' app lists): `options.readConcurrency`."""

BUNDLE_CACHE_SIZE = 20_000
"""Deployed revisions whose parsed bundle a process keeps (a few KB each)."""

T = TypeVar("T")
_BundleKey = tuple[str, str, str, str, str, str]
"""(base URL, organization, proxy, proxy createdAt, revision, parser)."""


@dataclass(slots=True)
class _Listing:
    """A listing of one read, for the other kinds of the same read: valid while `http` has made no
    write since, and only once per kind (the same kind asking again is the next read)."""

    http: GatewayHttp
    writes: int
    kinds: set[str] = field(default_factory=set)
    value: Any = None


def _parse_ours(data: bytes) -> dict[str, Any] | None:
    try:
        return read_bundle(data)
    except ValueError:
        return None


def _parse_foreign(data: bytes) -> dict[str, Any] | None:
    try:
        return {**read_foreign_bundle(data), "foreign": True}
    except ValueError:
        return None


_PARSERS: dict[str, Callable[[bytes], Any]] = {"ours": _parse_ours, "foreign": _parse_foreign, "owner": bundle_owner}


class ApigeeAdapter(GatewayAdapter):
    gateway_type: ClassVar[str] = "apigee"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        if not self._config.get("base_url"):
            self._config["base_url"] = "https://apigee.googleapis.com"
        self.org = str(self.options.get("organization", ""))
        self.env = str(self.options.get("environment", "test"))
        self.developer = str(self.options.get("developerEmail") or f"{self.owner}@stoa-reconciler.invalid").lower()
        self.verify_api_key = bool(self.options.get("verifyApiKey", True))
        # The engine runs a level's changes concurrently: one bundle writer per proxy, one developer creator.
        self._proxy_locks: dict[str, asyncio.Lock] = {}
        self._developer_lock = asyncio.Lock()
        self.read_concurrency = max(1, int(self.options.get("readConcurrency", READ_CONCURRENCY)))
        self._listings: dict[str, _Listing] = {}

    _bundles: ClassVar[OrderedDict[_BundleKey, Any]] = OrderedDict()
    """Parsed bundles of deployed (so immutable) revisions, shared by the adapters of one process."""

    @classmethod
    def forget_bundles(cls) -> None:
        """As in a new process: every deployed bundle is downloaded again."""
        cls._bundles.clear()

    async def connect(self) -> None:
        self._listings.clear()  # a new session lists afresh
        await super().connect()

    async def _once_per_read(self, collection: str, kind: str, read: Callable[[], Awaitable[T]]) -> T:
        """One listing of `collection` per read of the kinds, until a write or `connect`."""
        http = self.client
        memo = self._listings.get(collection)
        if memo is not None and memo.http is http and memo.writes == http.writes and kind not in memo.kinds:
            memo.kinds.add(kind)
            return copy.deepcopy(memo.value)  # type: ignore[no-any-return]
        writes = http.writes  # a write during the read makes it stale
        value = await read()
        self._listings[collection] = _Listing(http, writes, {kind}, value)
        return copy.deepcopy(value)

    def _bundle_key(self, name: str, created: str, revision: str, parse: str) -> _BundleKey | None:
        return (self.client.base_url, self.org, name, created, revision, parse) if created and revision else None

    def _keep_bundle(self, key: _BundleKey | None, value: Any) -> None:
        if key is None:
            return
        self._bundles[key] = value
        self._bundles.move_to_end(key)
        while len(self._bundles) > BUNDLE_CACHE_SIZE:
            self._bundles.popitem(last=False)

    async def _revision_bundle(self, name: str, revision: str, parse: str, *, created: str = "",
                               deployed: bool = False, limit: asyncio.Semaphore | None = None) -> Any:
        """A revision's bundle, parsed by `parse` (`ours`, `foreign`, `owner`); downloaded unless it is a
        deployed revision of this proxy (`created`: its `metaData.createdAt`) the process already knows."""
        key = self._bundle_key(name, created, revision, parse) if deployed else None
        if key is not None and key in self._bundles:
            self._bundles.move_to_end(key)
            return copy.deepcopy(self._bundles[key])
        gate: AbstractAsyncContextManager[Any] = limit if limit is not None else nullcontext()
        async with gate:
            data = (await self.client.request("GET", f"{self._o}/apis/{name}/revisions/{revision}",
                                              params={"format": "bundle"})).content
        value = _PARSERS[parse](data)
        self._keep_bundle(key, value)
        return copy.deepcopy(value)

    def _lock(self, api: str) -> asyncio.Lock:
        return self._proxy_locks.setdefault(api, asyncio.Lock())

    def make_http(self, **kwargs: Any) -> GatewayHttp:
        token = self.auth.get("token")
        if token:
            kwargs.setdefault("headers", {"Authorization": f"Bearer {token}"})
        return super().make_http(**kwargs)

    @property
    def _o(self) -> str:
        if not self.org:
            raise PermanentError("apigee: options.organization is required")
        if not self.auth.get("token"):
            raise PermanentError("apigee: an OAuth2 access token (credentials.token) is required")
        return f"/v1/organizations/{self.org}"

    # ------------------------------------------------------------------ lifecycle
    async def health_check(self) -> AdapterResult:
        async def run() -> AdapterResult:
            env = await self.client.get_json(f"{self._o}/environments/{self.env}")
            return AdapterResult(True, data={"status": "ok", "environment": (env or {}).get("name", self.env)})
        return await self.guard("health_check", run)

    # ------------------------------------------------------------------ APIs
    async def _deployed(self) -> dict[str, list[str]]:
        body = await self.client.get_json(f"{self._o}/environments/{self.env}/deployments") or {}
        out: dict[str, list[str]] = {}
        for dep in body.get("deployments") or []:
            out.setdefault(str(dep.get("apiProxy")), []).append(str(dep.get("revision")))
        return out

    async def _owned_bundles(self, kind: str) -> list[tuple[str, dict[str, str], dict[str, Any] | None, bool]]:
        """(proxy name, labels, deployed bundle spec or None, deployed?) for every proxy of the org; the
        bundle spec of a hand-made proxy is what `read_foreign_bundle` finds in it (`foreign` set)."""
        return await self._once_per_read("bundles", kind, self._read_bundles)

    async def _read_bundles(self) -> list[tuple[str, dict[str, str], dict[str, Any] | None, bool]]:
        listing, deployed = await asyncio.gather(
            self.client.get_json(f"{self._o}/apis", params={"includeRevisions": "true", "includeMetaData": "true"}),
            self._deployed())
        limit = asyncio.Semaphore(self.read_concurrency)

        async def one(item: Mapping[str, Any]) -> tuple[str, dict[str, str], dict[str, Any] | None, bool]:
            name = str(item.get("name"))
            labels = dict(item.get("labels") or {})
            revs = deployed.get(name) or []
            if m.owner_of(labels) is None and await self._built_by_us(name, item, revs, limit):
                # ours, unlabelled (an apply cut after the import): reads as drift and is healed
                return name, m.proxy_labels({}, self.owner, "", ""), None, True
            bundle_spec = None
            if len(revs) == 1:
                bundle_spec = await self._revision_bundle(
                    name, revs[0], "ours" if m.owner_of(labels) is not None else "foreign",
                    created=_created(item), deployed=True, limit=limit)
            return name, labels, bundle_spec, bool(revs)

        return list(await asyncio.gather(*(one(item) for item in (listing or {}).get("proxies") or [])))

    async def fetch_apis(self) -> list[dict[str, Any]]:
        """Our proxies, each with what makes it whole: the deployed bundle, and its API product
        (`spec.product`). An apply cut between the deployment and the product, or a product deleted by
        hand, is drift the next apply heals, not an API in sync whose policies and consumers fail.
        A hand-made proxy reads as its bundle declares it (owner None: adoption, import)."""
        all_products = {str(p.get("name")): p for p in await self._products("API")}
        products = {n for n, p in all_products.items() if m.owner_of(m.attrs_dict(p.get("attributes"))) == self.owner}
        records = []
        for name, labels, bundle_spec, deployed in await self._owned_bundles("API"):
            if m.owner_of(labels) is None:
                foreign = bundle_spec if (bundle_spec or {}).get("foreign") else None
                product = all_products.get(name)
                if product is not None and m.owner_of(m.attrs_dict(product.get("attributes"))) is not None:
                    product = None
                records.append(m.foreign_api_record(name, foreign, product, self.env,
                                                    verify_api_key=self.verify_api_key))
                continue
            spec = None
            if bundle_spec is not None:
                spec = {k: v for k, v in bundle_spec.items() if k != "cors"}
            elif deployed:
                spec = {"basePath": None}  # the deployed revision is not one we generated: drift
            record = m.api_record(name, labels, spec)
            record["spec"]["product"] = m.PRODUCT_PRESENT if name in products else "missing"
            records.append(record)
        return records

    async def sync_api(self, api_spec: dict[str, Any], tenant_id: str, auth_token: str | None = None) -> AdapterResult:
        async def run() -> AdapterResult:
            async with self._lock(str(api_spec["name"])):
                return await self._sync_api(api_spec)
        return await self.guard(f"sync_api {api_spec.get('name')}", run)

    async def _built_by_us(self, name: str, proxy: Mapping[str, Any], deployed: Collection[str] = (),
                           limit: asyncio.Semaphore | None = None) -> bool:
        """An unlabelled proxy whose newest revision is a bundle we generated for this owner."""
        revisions = sorted((str(r) for r in proxy.get("revision") or []), key=lambda r: (len(r), r))
        if not revisions:
            return False
        owner = await self._revision_bundle(name, revisions[-1], "owner", created=_created(proxy),
                                            deployed=revisions[-1] in deployed, limit=limit)
        return bool(owner == self.owner)

    async def _proxy(self, name: str, *, adopt: bool) -> dict[str, Any] | None:
        proxy: dict[str, Any] | None = await self.client.get_or_none(f"{self._o}/apis/{name}")
        if proxy is not None and m.owner_of(proxy.get("labels")) is None and not adopt \
                and await self._built_by_us(name, proxy):
            adopt = True  # our own import, left unlabelled by an interrupted apply
        if proxy is not None and m.owner_of(proxy.get("labels")) != self.owner and not adopt:
            raise ConflictError(f"API proxy {name!r} exists and is not owned by {self.owner!r}")
        return proxy

    async def _live_cors(self, name: str, proxy: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, dict[str, Any]]]:
        """(bundle spec, its cors policies) of one of our proxies: the deployed revision, else the last
        revision we published (its number is in our labels), so an out-of-band undeploy loses nothing."""
        body = await self.client.get_json(f"{self._o}/environments/{self.env}/apis/{name}/deployments") or {}
        revs = [str(d.get("revision")) for d in body.get("deployments") or []]
        ours = str((proxy.get("labels") or {}).get(m.REV) or "")
        if not revs and ours in [str(r) for r in proxy.get("revision") or []]:
            revs = [ours]
        spec = None
        if len(revs) == 1:
            spec = await self._revision_bundle(name, revs[0], "ours", created=_created(proxy),
                                               deployed=bool(body.get("deployments")))
        return spec, dict((spec or {}).get("cors") or {})

    async def _sync_api(self, record: dict[str, Any]) -> AdapterResult:
        name, spec = str(record["name"]), dict(record["spec"])
        proxy = await self._proxy(name, adopt=bool(record.get("adopt")))
        cors: dict[str, dict[str, Any]] = {}
        if proxy is not None and m.owner_of(proxy.get("labels")) == self.owner:
            _, cors = await self._live_cors(name, proxy)  # cors policies live in the bundle: keep them
        revision = await self._publish(name, spec, cors, proxy)
        await self._ensure_product(name, adopt=bool(record.get("adopt")))
        return AdapterResult(True, resource_id=name, data={"id": name, "revision": revision})

    async def _publish(self, name: str, spec: dict[str, Any], cors: dict[str, dict[str, Any]],
                       proxy: dict[str, Any] | None) -> str:
        """Import the bundle as a new revision unless its content is already a revision; deploy it."""
        data = build_bundle(name, spec, verify_api_key=self.verify_api_key, cors=cors, owner=self.owner)
        digest = bundle_hash(data)
        labels: dict[str, str] = dict((proxy or {}).get("labels") or {})
        revisions = [str(r) for r in (proxy or {}).get("revision") or []]
        if labels.get(m.HASH) == digest and labels.get(m.REV) in revisions:
            revision = labels[m.REV]
        else:
            created = await self.client.request(
                "POST", f"{self._o}/apis", params={"name": name, "action": "import"},
                files={"file": (f"{name}.zip", data, "application/octet-stream")})
            revision = str(created.json()["revision"])
        want_labels = m.proxy_labels(labels, self.owner, digest, revision)
        born = _created(proxy or {})
        if want_labels != labels:
            patched = await self.client.request("PATCH", f"{self._o}/apis/{name}", params={"updateMask": "labels"},
                                                json={"labels": want_labels})
            born = _created(patched.json() or {})
        await self._deploy(name, revision)
        # deployed, so immutable: the next read of this revision needs no download
        self._keep_bundle(self._bundle_key(name, born, revision, "ours"), read_bundle(data))
        return revision

    async def _deploy(self, name: str, revision: str) -> None:
        path = f"{self._o}/environments/{self.env}/apis/{name}"
        body = await self.client.get_json(f"{path}/deployments") or {}
        live = [str(d.get("revision")) for d in body.get("deployments") or []]
        if revision not in live:
            await self.client.request("POST", f"{path}/revisions/{revision}/deployments",
                                      params={"override": "true"} if live else None)
            body = await self.client.get_json(f"{path}/deployments") or {}
            live = [str(d.get("revision")) for d in body.get("deployments") or []]
        for old in live:
            if old != revision:
                await self.client.request("DELETE", f"{path}/revisions/{old}/deployments")

    async def _ensure_product(self, api: str, *, adopt: bool = False) -> None:
        """The API's product: created, or (adopting) a hand-made one named after the API taken over with
        its quota, display name and attributes kept."""
        live = await self.client.get_or_none(f"{self._o}/apiproducts/{api}")
        if live is None:
            await self.client.request("POST", f"{self._o}/apiproducts", json=m.product_body(api, self.env, self.owner))
            return
        if adopt and m.owner_of(m.attrs_dict(live.get("attributes"))) is None:
            await self.client.request("PUT", f"{self._o}/apiproducts/{api}",
                                      json=m.product_body(api, self.env, self.owner, live))
            return
        if m.owner_of(m.attrs_dict(live.get("attributes"))) != self.owner:
            raise ConflictError(f"API product {api!r} exists and is not owned by {self.owner!r}")
        if not m.product_is_current(live, api, self.env, self.owner):
            await self.client.request("PUT", f"{self._o}/apiproducts/{api}",
                                      json=m.product_body(api, self.env, self.owner, live))

    async def delete_api(self, api_id: str, auth_token: str | None = None) -> AdapterResult:
        async def delete(proxy: dict[str, Any]) -> None:
            path = f"{self._o}/environments/{self.env}/apis/{api_id}"
            body = await self.client.get_json(f"{path}/deployments") or {}
            for dep in body.get("deployments") or []:
                await self.client.request("DELETE", f"{path}/revisions/{dep['revision']}/deployments")
            product = await self.client.get_or_none(f"{self._o}/apiproducts/{api_id}")
            if product is not None and m.owner_of(m.attrs_dict(product.get("attributes"))) == self.owner:
                await self.client.request("DELETE", f"{self._o}/apiproducts/{api_id}", ok=(404,))
            await self.client.request("DELETE", f"{self._o}/apis/{api_id}", ok=(404,))

        return await self.delete_owned(f"API proxy {api_id!r}", api_id,
                                       read=lambda: self.client.get_or_none(f"{self._o}/apis/{api_id}"),
                                       owner=lambda proxy: m.owner_of(proxy.get("labels")), delete=delete)

    # ------------------------------------------------------------------ policies (API products)
    async def _products(self, kind: str) -> list[dict[str, Any]]:
        """Every API product, expanded (listed once per read)."""
        return await self._once_per_read("products", kind, self._list_products)

    async def _list_products(self) -> list[dict[str, Any]]:
        """Every API product, expanded, following `startKey` paging (the start key is inclusive)."""
        out: list[dict[str, Any]] = []
        start: str | None = None
        size = 1000
        while True:
            params: dict[str, Any] = {"expand": "true", "count": size}
            if start:
                params["startKey"] = start
            raw = list((await self.client.get_json(f"{self._o}/apiproducts", params=params) or {}).get("apiProduct") or [])
            page = raw[1:] if start and raw and raw[0].get("name") == start else raw
            out.extend(page)
            if len(raw) < size or not page:
                return out
            start = str(raw[-1].get("name"))

    async def fetch_policies(self) -> list[dict[str, Any]]:
        """Quotas of our API products and CORS policies of our bundles; a hand-made product's quota and a
        hand-made bundle's CORS policies read as unowned Policies (named `<product>-quota`, `<api>-<policy>`)."""
        records = []
        for product in await self._products("Policy"):
            foreign = m.owner_of(m.attrs_dict(product.get("attributes"))) is None
            record = m.policy_from_foreign_product(product, self.env) if foreign else m.policy_from_product(product)
            if record is not None:
                records.append(record)
        for name, labels, bundle_spec, _ in await self._owned_bundles("Policy"):
            foreign = bool((bundle_spec or {}).get("foreign"))
            for policy, config in sorted(((bundle_spec or {}).get("cors") or {}).items()):
                records.append(m.cors_record(name, m.foreign_cors_name(name, policy) if foreign else policy,
                                             config, m.owner_of(labels)))
        return records

    async def upsert_policy(self, policy_spec: dict[str, Any], auth_token: str | None = None) -> AdapterResult:
        """Write the policy where its spec says; then retire its previous place when it moved (another
        API's product or bundle, another type): otherwise the old product keeps the quota and the plan
        alternates between a duplicate and a move forever."""
        return await self.retire_moved(policy_spec.get("id"), await self._write_policy(policy_spec))

    async def _write_policy(self, policy_spec: dict[str, Any]) -> AdapterResult:
        spec = policy_spec.get("spec") or {}
        if spec.get("type") == "cors":
            return await self.guard(f"upsert_policy {policy_spec.get('name')}",
                                    lambda: self._set_cors(str(spec["api"]), str(policy_spec["name"]), dict(spec["config"])))
        if spec.get("type") != "rate_limit":
            return AdapterResult(False, error=f"{spec.get('type')} policies: Not supported by {self.gateway_type}",
                                 category="unsupported")

        async def run() -> AdapterResult:
            api = str(spec["api"])
            live = await self.client.get_or_none(f"{self._o}/apiproducts/{api}")
            if live is None or m.owner_of(m.attrs_dict(live.get("attributes"))) != self.owner:
                raise PermanentError(f"API {api!r} has no API product of ours on this gateway (apply the API first)")
            body = m.product_body(api, self.env, self.owner, live, policy=(str(policy_spec["name"]), dict(spec["config"])))
            await self.client.request("PUT", f"{self._o}/apiproducts/{api}", json=body)
            rid = f"{api}:{policy_spec['name']}"
            return AdapterResult(True, resource_id=rid, data={"id": rid})
        return await self.guard(f"upsert_policy {policy_spec.get('name')}", run)

    async def _set_cors(self, api: str, policy: str, config: dict[str, Any] | None) -> AdapterResult:
        """Add, replace (config) or remove (None) a CORS policy in the API's bundle: a new revision."""
        async with self._lock(api):
            return await self._set_cors_locked(api, policy, config)

    async def _set_cors_locked(self, api: str, policy: str, config: dict[str, Any] | None) -> AdapterResult:
        rid = m.cors_id(api, policy)
        proxy = await self.client.get_or_none(f"{self._o}/apis/{api}")
        if proxy is None or m.owner_of(proxy.get("labels")) != self.owner:
            if config is None:
                return AdapterResult(True, resource_id=rid, data={"deleted": False})
            raise PermanentError(f"API {api!r} has no proxy of ours on this gateway (apply the API first)")
        spec, cors = await self._live_cors(api, proxy)
        if spec is None:
            raise PermanentError(f"API {api!r}: its deployed revision is not one we generated; apply the API first")
        if config is None:
            if policy not in cors:
                return AdapterResult(True, resource_id=rid, data={"deleted": False})
            cors.pop(policy)
        else:
            cors[policy] = config
        revision = await self._publish(api, {k: v for k, v in spec.items() if k != "cors"}, cors, proxy)
        return AdapterResult(True, resource_id=rid, data={"id": rid, "revision": revision})

    async def delete_policy(self, policy_id: str, auth_token: str | None = None) -> AdapterResult:
        cors = m.parse_cors_id(policy_id)
        if cors is not None:
            return await self.guard(f"delete_policy {policy_id}", lambda: self._set_cors(cors[0], cors[1], None))

        async def run() -> AdapterResult:
            api, _, name = policy_id.partition(":")
            live = await self.client.get_or_none(f"{self._o}/apiproducts/{api}")
            attrs = m.attrs_dict((live or {}).get("attributes"))
            if live is None or attrs.get(m.POLICY) != name:
                return AdapterResult(True, resource_id=policy_id, data={"deleted": False})
            if m.owner_of(attrs) != self.owner:
                raise ConflictError(f"API product {api!r} is not owned by {self.owner!r}")
            body = m.product_body(api, self.env, self.owner, live, keep_policy=False)
            await self.client.request("PUT", f"{self._o}/apiproducts/{api}", json=body)
            return AdapterResult(True, resource_id=policy_id, data={"deleted": True})
        return await self.guard(f"delete_policy {policy_id}", run)

    # ------------------------------------------------------------------ consumers (developer apps)
    async def fetch_applications(self) -> list[dict[str, Any]]:
        """Every developer's apps: ours (our developer's, or adopted under their own developer, id
        `<email>/<app>`) and hand-made ones, read as unowned consumers."""
        developers = (await self.client.get_json(f"{self._o}/developers", params={"count": 1000}) or {}).get("developer")
        limit = asyncio.Semaphore(self.read_concurrency)

        async def apps_of(email: str) -> list[tuple[str, dict[str, Any]]]:
            async with limit:
                body = await self.client.get_or_none(f"{self._o}/developers/{email}/apps", params={"expand": "true"})
            return [(email, app) for app in (body or {}).get("app") or []]

        emails = sorted({str(d.get("email")).lower() for d in developers or []} | {self.developer})
        apps = [pair for pairs in await asyncio.gather(*(apps_of(e) for e in emails)) for pair in pairs]
        if not apps:
            return []
        product_api, foreign_api = {}, {}
        for product in await self._products("Consumer"):
            attrs = m.attrs_dict(product.get("attributes"))
            if m.owner_of(attrs) == self.owner and attrs.get(m.API):
                product_api[str(product["name"])] = attrs[m.API]
            elif m.owner_of(attrs) is None and m.product_fits(product, str(product.get("name")), self.env):
                foreign_api[str(product["name"])] = str(product["name"])
        records = []
        for email, app in apps:
            if m.owner_of(m.attrs_dict(app.get("attributes"))) is None:
                records.append(m.foreign_consumer(app, email, {**foreign_api, **product_api}))
                continue
            record = m.consumer_from_app(app, product_api)
            if email != self.developer:
                record["id"] = m.app_id(email, str(app.get("name", "")))
            records.append(record)
        return records

    async def provision_application(self, app_spec: dict[str, Any], auth_token: str | None = None) -> AdapterResult:
        key = str(api_key_of(app_spec) or "")

        async def run() -> AdapterResult:
            try:
                return await self._provision(app_spec, key)
            except GatewayError as exc:  # the key is part of Apigee's key URLs: scrub it from messages
                raise type(exc)(sanitize(exc.message, secrets=(key,)), status=exc.status) from None
        return await self.guard(f"provision_application {app_spec.get('name')}", run)

    async def _provision(self, record: dict[str, Any], key: str) -> AdapterResult:
        name, spec = str(record["name"]), dict(record["spec"])
        email, _ = m.parse_app_id(str(record.get("id") or ""), self.developer)  # adopted apps stay with their developer
        developer = f"{self._o}/developers/{email}"
        if email == self.developer:
            async with self._developer_lock:
                if await self.client.get_or_none(developer) is None:
                    await self.client.request("POST", f"{self._o}/developers", ok=(409,),
                                              json=m.developer_body(self.developer, self.owner))
        app = await self.client.get_or_none(f"{developer}/apps/{name}")
        want_attrs = m.app_attributes(spec, self.owner)
        if app is None:
            app = (await self.client.request("POST", f"{developer}/apps", json={
                "name": name, "attributes": m.attrs_list(want_attrs), "apiProducts": []})).json()
        else:
            have = m.attrs_dict(app.get("attributes"))
            if m.owner_of(have) != self.owner and not record.get("id"):
                raise ConflictError(f"developer app {name!r} exists and is not owned by {self.owner!r}")
            if have != want_attrs:
                app = (await self.client.request("PUT", f"{developer}/apps/{name}", json={
                    "name": name, "attributes": m.attrs_list(want_attrs), "apiProducts": app.get("apiProducts") or [],
                    "callbackUrl": app.get("callbackUrl") or ""})).json()
        creds = list(app.get("credentials") or [])
        wanted_fp = (spec.get("credential") or {}).get("fingerprint")
        mine = next((c for c in creds if key and c.get("consumerKey") == key), None)
        if mine is None and not key:
            mine = next((c for c in creds if secret_fingerprint(str(c.get("consumerKey"))) == wanted_fp), None)
        keys = f"{developer}/apps/{name}/keys"
        for cred in creds:
            if cred is not mine:
                await self.client.request("DELETE", f"{keys}/{cred['consumerKey']}", ok=(404,))
        if mine is None:
            if not key:
                raise PermanentError(f"consumer {name!r}: the API key value is needed to create its Apigee key")
            if not set(key) <= _KEY_CHARS:
                raise PermanentError(f"consumer {name!r}: Apigee consumer keys may only hold letters, digits, '_' and '-'")
            mine = (await self.client.request("POST", keys, json={
                "consumerKey": key, "consumerSecret": secrets.token_urlsafe(32)})).json()
        consumer_key = str(mine["consumerKey"])
        wanted = {str(api) for api in spec.get("subscriptions") or []}
        for api in sorted(wanted):
            product = await self.client.get_or_none(f"{self._o}/apiproducts/{api}")
            if product is None or m.owner_of(m.attrs_dict(product.get("attributes"))) != self.owner:
                raise PermanentError(f"consumer {name!r}: API {api!r} has no API product of ours on this gateway")
        have = {str(p.get("apiproduct")): str(p.get("status", "approved")) for p in mine.get("apiProducts") or []}
        missing = sorted(a for a in wanted if a not in have)
        if missing:
            await self.client.request("POST", f"{keys}/{consumer_key}", json={
                "apiProducts": missing, "attributes": mine.get("attributes") or []})
        for product_name, status in sorted(have.items()):
            if product_name in wanted and status != "approved":
                await self.client.request("POST", f"{keys}/{consumer_key}/apiproducts/{product_name}",
                                          params={"action": "approve"})
            elif product_name not in wanted and await self._ours(product_name):  # a hand-made product's approval stays
                await self.client.request("DELETE", f"{keys}/{consumer_key}/apiproducts/{product_name}", ok=(404,))
        return AdapterResult(True, resource_id=name, data={"id": name})

    async def _ours(self, product: str) -> bool:
        live = await self.client.get_or_none(f"{self._o}/apiproducts/{product}")
        return live is not None and m.owner_of(m.attrs_dict(live.get("attributes"))) == self.owner

    async def deprovision_application(self, app_id: str, auth_token: str | None = None) -> AdapterResult:
        email, app_name = m.parse_app_id(app_id, self.developer)
        path = f"{self._o}/developers/{email}/apps/{app_name}"

        async def delete(app: dict[str, Any]) -> None:
            await self.client.request("DELETE", path, ok=(404,))

        return await self.delete_owned(f"developer app {app_id!r}", app_id, read=lambda: self.client.get_or_none(path),
                                       owner=lambda app: m.owner_of(m.attrs_dict(app.get("attributes"))),
                                       delete=delete)

    # ------------------------------------------------------------------ reconciler hooks
    def plan_notes(self, kind: str, spec: dict[str, Any]) -> list[str]:
        """What the Apigee mapping changes in meaning: a per-second limit becomes a per-minute quota."""
        config = spec.get("config") or {}
        if kind == "Policy" and spec.get("type") == "rate_limit" and config.get("period") == "second":
            quota = m.quota_for(int(config.get("requests") or 0), "second")
            return [f"Apigee: {config.get('requests')} requests/second is enforced as an API product quota of "
                    f"{quota['quota']} per minute (a burst within a minute is not cut; no SpikeArrest policy)"]
        return []

    @staticmethod
    def folded_fields(kind: str) -> Mapping[str, str]:
        """tenant and version have no Apigee field: our bundles keep them in `stoa.properties`, which a
        hand-made bundle lacks (adopting writes them there)."""
        return {"tenant": "tenant", "version": "version"} if kind == "API" else {}

    def import_spec(self, kind: str, record: Mapping[str, Any]) -> ImportedSpec:
        """A hand-made object's notes (what adoption would drop or change) go to the report; a hand-made
        proxy gets the organization as tenant and a placeholder version, both said in the report."""
        spec = dict(record.get("spec") or {})
        notes = tuple(str(n) for n in spec.pop(m.IMPORT_NOTES, None) or ())
        if kind == "API" and record.get("owner") is None:
            tenant = m.import_tenant(self.org)
            imported = importing.api_spec({**spec, "tenant": tenant, "version": m.IMPORT_VERSION})
            if imported.spec is None:
                return ImportedSpec(None, notes + imported.notes)
            notes = (f"tenant: Apigee has none; written as the organization ({tenant!r})",
                     f"version: Apigee has none; written as {m.IMPORT_VERSION!r}, set the real one", *notes)
            return ImportedSpec(imported.spec, notes + imported.notes)
        if kind == "Policy" and "type" not in spec:
            return ImportedSpec(None, notes or ("no policy this gateway can express",))
        imported = super().import_spec(kind, {**record, "spec": spec})
        return ImportedSpec(imported.spec, notes + imported.notes, imported.openapi, imported.extra)

    @staticmethod
    def desired_view(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
        if kind == "API":
            return {**m.desired_api_view(spec), "product": m.PRODUCT_PRESENT}
        return spec


def _created(proxy: Mapping[str, Any]) -> str:
    """The proxy's creation time: with the revision, what names one immutable deployed bundle."""
    return str((proxy.get("metaData") or {}).get("createdAt") or "")
