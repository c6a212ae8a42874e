"""Kong adapter: DB-less (one `POST /config` per apply) and database mode (per-entity upserts).

The mode comes from `GET /` (`configuration.database`). Reads list every entity (following every
page): ours by their tags, and those made by hand as records with owner None, so a plan can show
them as conflicts or adopt them (`--adopt`); adoption re-tags them in place. In DB-less mode a read
is `GET /status` (the configuration hash) then `GET /config` (the whole export, every kind's listing
comes from it), kept as the snapshot `apply_batch` merges every change into (`dbless.py`): one
`POST /config?flatten_errors=1` after one `GET /status` says the hash has not moved, and a 400 is
mapped back to the changes whose entities Kong rejected. In database mode `apply_batch` returns None
and the engine calls the per-resource methods (bounded concurrency, dependency order), which never
touch what they do not own. They write from the plan's snapshot (`live.py`: the listings the read
made, kept current by our writes' answers), create by deterministic id (`PUT /services/{uuid5}`: a
same-name object made since answers 409), and re-read with GETs only when Kong answers 404/409 to
such a write. Within one read every collection is listed once (`_list` memoises, until a write or
`connect`).
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import yaml

from reconciler.adapters.base import GatewayAdapter
from reconciler.adapters.http import GatewayHttp
from reconciler.adapters.kong import checks, dbless, importing
from reconciler.adapters.kong import mappers as m
from reconciler.adapters.kong.live import TABLE_OF_PATH, WRITE_STATUSES, HttpLookups, LiveIndex, Lookups, SnapshotLookups
from reconciler.model.changes import Change, ItemResult, Op, Status
from reconciler.model.checks import Problem
from reconciler.model.errors import CONFLICT, PERMANENT, TEMPORARY, ConflictError, GatewayError, PermanentError
from reconciler.model.imports import ImportedSpec
from reconciler.model.kinds import level_of
from reconciler.model.records import api_key_of, secret_fingerprint
from reconciler.model.results import AdapterResult

yaml_rs: Any
try:  # the Rust YAML parser the loader uses too; PyYAML stays the fallback
    yaml_rs = importlib.import_module("yaml_rs")
except ImportError:  # pragma: no cover - depends on the platform's wheels
    yaml_rs = None

RACE_ATTEMPTS = 5
"""Re-reads and re-merges allowed when another writer replaces the DB-less configuration meanwhile."""
PAGE_SIZE = 1000
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: 10x faster


def parse_export(text: str) -> Any:
    """`GET /config`'s YAML export: yaml-rs (~30x faster than PyYAML on a 1,000-service export;
    dates kept as strings), PyYAML when yaml-rs is missing or refuses the text."""
    if yaml_rs is not None:
        try:
            return yaml_rs.loads(text, parse_datetime=False)
        except Exception:  # noqa: BLE001 - PyYAML below either parses it or reports it
            pass
    return yaml.load(text, Loader=_LOADER)


@dataclass
class _Listing:
    """A whole collection as one read listed it: reused by the other kinds of the same read."""

    writes: int
    """The client's write count when listed: any write since makes the listing stale."""
    rows: list[dict[str, Any]]
    readers: set[str] = field(default_factory=set)
    """Kinds that used it: a kind listing again is a new read (drift check), which lists afresh."""


@dataclass
class _Export:
    """The DB-less configuration as one read saw it: every kind's listing, and the apply's merge base."""

    writes: int
    """The client's write count when read: any write since makes it stale."""
    hash: str | None
    """`configuration_hash` read just before the export: the apply compares it before its POST."""
    doc: dict[str, Any]
    readers: set[tuple[str, str]] = field(default_factory=set)
    """(kind, collection) pairs served: the same pair asked again is a new read."""


class KongAdapter(GatewayAdapter):
    gateway_type: ClassVar[str] = "kong"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self._mode: str | None = None
        self._version: str | None = None
        self._listings: dict[str, _Listing] = {}
        self._export: _Export | None = None
        self._index = LiveIndex()
        self.protect_apis = str(self.options.get("protectApis", True)).lower() not in ("false", "0", "no")

    # ------------------------------------------------------------------ plumbing
    def make_http(self, **kwargs: Any) -> GatewayHttp:
        token = self.auth.get("token")
        if token:
            kwargs.setdefault("headers", {"Kong-Admin-Token": token})
        return super().make_http(**kwargs)

    async def mode(self) -> str:
        """`dbless` or `database`, from `GET /` (cached for the adapter's lifetime)."""
        if self._mode is None:
            info = await self.client.get_json("/")
            database = str(((info or {}).get("configuration") or {}).get("database", "off"))
            self._mode = "dbless" if database == "off" else "database"
            self._version = str((info or {}).get("version", ""))
        return self._mode

    async def connect(self) -> None:
        """A new session reads afresh: no memoised listing, no snapshot."""
        self._listings.clear()
        self._export = None
        self._index = LiveIndex()
        await super().connect()

    async def _list(self, path: str, *, tags: str | None = None, reader: str | None = None) -> list[dict[str, Any]]:
        """Every page of a collection (`next` until null), optionally filtered by tags server-side.

        A whole top-level collection read for kind `reader` is memoised: another kind of the same read
        gets it without a request, unless a write happened since; and it becomes the snapshot writes
        consult. DB-less: whole collections come from the read's export (`_read_export`)."""
        whole = tags is None and path in TABLE_OF_PATH
        if whole and await self.mode() == "dbless":
            export = await self._read_export((reader, path) if reader is not None else None)
            return dbless.admin_rows(export.doc, TABLE_OF_PATH[path])
        if whole and reader is not None:
            hit = self._listings.get(path)
            if hit is not None and hit.writes == self.client.writes and reader not in hit.readers:
                hit.readers.add(reader)
                return hit.rows
        writes = self.client.writes
        rows = await self._pages(path, tags)
        if whole:
            self._listings[path] = _Listing(writes, rows, {reader} if reader else set())
            self._index.load(TABLE_OF_PATH[path], rows)
        return rows

    async def _read_export(self, reader: tuple[str, str] | None = None) -> _Export:
        """The configuration hash, then the export it (or a newer one) belongs to. Shared by the kinds
        of one read like `_list`'s listings; a kind reading again, or any write since, reads afresh.
        The hash is read first: a writer landing in between makes the apply re-read, never miss it."""
        hit = self._export
        if hit is not None and hit.writes == self.client.writes and (reader is None or reader not in hit.readers):
            if reader is not None:
                hit.readers.add(reader)
            return hit
        writes = self.client.writes
        config_hash = await self._config_hash()
        body = await self.client.get_json("/config")
        doc = parse_export((body or {}).get("config") or "") or {}
        self._export = _Export(writes, config_hash, doc, {reader} if reader else set())
        return self._export

    async def _pages(self, path: str, tags: str | None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"size": PAGE_SIZE}
        if tags:
            params["tags"] = tags
        out: list[dict[str, Any]] = []
        while True:
            page = await self.client.get_json(path, params=params)
            out.extend(page.get("data") or [])
            offset = page.get("offset")
            if not page.get("next") or not offset:
                return out
            params = {**params, "offset": offset}

    # ------------------------------------------------------------------ lifecycle
    async def health_check(self) -> AdapterResult:
        async def run() -> AdapterResult:
            mode = await self.mode()
            status = await self.client.get_json("/status")
            return AdapterResult(success=True, data={
                "mode": mode, "version": self._version,
                "database_reachable": ((status or {}).get("database") or {}).get("reachable"),
                "connections_active": ((status or {}).get("server") or {}).get("connections_active"),
                "configuration_hash": (status or {}).get("configuration_hash"),
            })
        return await self.guard("health_check", run)

    # ------------------------------------------------------------------ reads
    async def fetch_apis(self) -> list[dict[str, Any]]:
        """Every service: ours by their tags, an operator's (untagged) with owner None, so that a plan
        sees a same-name object to adopt or to report as a conflict."""
        services = await self._list("/services", reader="API")
        routes = await self._list("/routes", reader="API")
        unowned = {str(s["id"]) for s in services if m.unmanaged(s)}
        by_service: dict[str, dict[str, Any]] = {}
        unowned_routes: dict[str, list[dict[str, Any]]] = {}
        for route in routes:
            sid = str((route.get("service") or {}).get("id"))
            if sid in unowned and m.unmanaged(route):
                unowned_routes.setdefault(sid, []).append(route)
            elif m.tag_value(route.get("tags"), m.KIND) == "API":
                if sid not in by_service or route.get("name") == m.tag_value(route.get("tags"), m.NAME):
                    by_service[sid] = route
        for sid, found in unowned_routes.items():
            by_service[sid] = found[0]
        plugins: dict[str, list[dict[str, Any]]] = {}
        for plugin in await self._list("/plugins", reader="API"):
            sid = str((plugin.get("service") or {}).get("id"))
            if m.tag_value(plugin.get("tags"), m.KIND) == "API" or (
                    sid in unowned and m.unmanaged(plugin) and plugin.get("name") in m.AUTH_PLUGINS
                    and not plugin.get("route") and not plugin.get("consumer")):
                plugins.setdefault(sid, []).append(plugin)
        return [m.api_from_kong(s, by_service.get(str(s["id"])), plugins.get(str(s["id"]), []),
                                unowned_routes.get(str(s["id"])))
                for s in services if m.tag_value(s.get("tags"), m.KIND) == "API" or str(s["id"]) in unowned]

    async def fetch_policies(self) -> list[dict[str, Any]]:
        plugins = await self._list("/plugins", reader="Policy")
        names = {str(s["id"]): str(s.get("name")) for s in await self._list("/services", reader="Policy")}
        out = []
        for plugin in plugins:
            sid = (plugin.get("service") or {}).get("id")
            record = m.plugin_to_policy(plugin, names.get(str(sid)) if sid else None)
            if record is not None:
                out.append(record)
        return out

    async def fetch_applications(self) -> list[dict[str, Any]]:
        consumers = await self._list("/consumers", reader="Consumer")
        keyauths = await self._list("/key-auths", reader="Consumer")
        acls = await self._list("/acls", reader="Consumer")
        unowned = [c for c in consumers if m.unmanaged(c)]
        apis = frozenset(str(s.get("name")) for s in await self._list("/services", reader="Consumer")) \
            if unowned else None
        by_consumer_keys: dict[str, list[dict[str, Any]]] = {}
        by_consumer_acls: dict[str, list[dict[str, Any]]] = {}
        for cred in keyauths:
            by_consumer_keys.setdefault(str((cred.get("consumer") or {}).get("id")), []).append(cred)
        for acl in acls:
            by_consumer_acls.setdefault(str((acl.get("consumer") or {}).get("id")), []).append(acl)
        return [m.consumer_from_kong(c, by_consumer_keys.get(str(c["id"]), []), by_consumer_acls.get(str(c["id"]), []),
                                     apis)
                for c in consumers if m.tag_value(c.get("tags"), m.KIND) == "Consumer" or m.unmanaged(c)]

    def import_spec(self, kind: str, record: Mapping[str, Any]) -> ImportedSpec:
        return importing.import_spec(kind, record, protect_apis=self.protect_apis)

    @staticmethod
    def folded_fields(kind: str) -> Mapping[str, str]:
        """Tenant and version live only in the service's `stoa-*` tags: a service made by hand has
        none, and an adoption writes them like the ownership marker (a note, not a field change)."""
        return {"tenant": "tenant", "version": "version"} if kind == "API" else {}

    def desired_view(self, kind: str, spec: dict[str, Any]) -> dict[str, Any]:  # type: ignore[override]
        """The mappers' view, plus the auth plugins a protected service must have (read back as drift)."""
        view = m.desired_view(kind, spec)
        if kind == "API" and self.protect_apis:
            view["protection"] = m.PROTECTED
        return view

    def plan_notes(self, kind: str, spec: dict[str, Any]) -> list[str]:
        """Side effects the manifest does not spell: the auth plugins every protected service gets."""
        if kind == "API" and self.protect_apis:
            return ["Kong: the service also gets a key-auth and an acl plugin (group = API name): only "
                    "subscribed consumers' keys reach it (option protectApis: false to opt out)"]
        return []

    @classmethod
    def check(cls, records: Sequence[Mapping[str, Any]], options: Mapping[str, Any]) -> list[Problem]:
        return checks.check(records, options)

    # ------------------------------------------------------------------ DB-less batch
    async def apply_batch(self, changes: list[Change]) -> list[ItemResult] | None:
        """DB-less: merge every change into the live configuration and `POST /config` it at once.

        `POST /config` replaces the whole configuration, so a second writer (another team's
        reconciler, a CI job next to the daemon) can erase what the other just wrote. Optimistic
        concurrency: the configuration hash (`GET /status`) must not have moved since the read whose
        export is merged (the plan's, when nothing was written since), and after the POST every entity
        we own must be in the running configuration; otherwise re-read, re-merge and try again
        (bounded). After a plan in the same session one change costs `GET /status`, the POST and one
        more `GET /status`: the body is sent as text, whose md5 Kong keeps as the new hash, so an
        unmoved hash proves nobody replaced it since (only a moved one re-reads the export)."""
        if await self.mode() != "dbless":
            return None
        self.scrubber.add(*(v for c in changes for v in c.secrets.values()))  # also when called directly
        for _ in range(RACE_ATTEMPTS):
            base = await self._read_export()
            cfg, results, ids = self._merge(base.doc, changes)
            if len(results) == len(changes):  # every change failed to merge: nothing to send
                return [results[(c.kind, c.name)] for c in changes]
            if await self._config_hash() != base.hash:
                self._export = None
                continue  # another writer posted since the read
            text = json.dumps(dbless.to_document(cfg), separators=(",", ":"))
            response = await self.client.request("POST", "/config", params={"flatten_errors": "1"},
                                                 json={"config": text}, ok=(400,))
            self._export = None
            if response.status_code == 400:
                return self._rejected(changes, cfg, response.json(), results)
            if await self._ours_survived(cfg, text):
                self._export = None
                return [results.get((c.kind, c.name)) or self._item(c, Status.APPLIED, resource_id=ids.get((c.kind, c.name)))
                        for c in changes]
        self._export = None
        return [self._item(c, Status.FAILED, f"Kong DB-less: another writer replaced the configuration {RACE_ATTEMPTS} "
                           "times during this apply; run apply again", TEMPORARY) for c in changes]

    async def _config_hash(self) -> str | None:
        body = await self.client.get_json("/status")
        return None if body is None else body.get("configuration_hash")

    def _merge(self, export: dict[str, Any], changes: list[Change]) -> tuple[
            dbless.Config, dict[tuple[str, str], ItemResult], dict[tuple[str, str], str | None]]:
        """Every change into a copy of the export (the export itself is left as read)."""
        cfg = dbless.Config.from_export(export)
        results: dict[tuple[str, str], ItemResult] = {}
        ids: dict[tuple[str, str], str | None] = {}
        for change in sorted(changes, key=_merge_order):
            try:
                ids[(change.kind, change.name)] = dbless.apply_change(cfg, change, self.owner,
                                                                      protect_apis=self.protect_apis)
            except dbless.MergeError as exc:
                results[(change.kind, change.name)] = self._item(change, Status.FAILED, str(exc), exc.category)
            except (KeyError, ValueError, TypeError) as exc:
                results[(change.kind, change.name)] = self._item(change, Status.FAILED, f"invalid record: {exc}",
                                                                 PERMANENT)
        return cfg, results, ids

    def _owned_ids(self, cfg: dbless.Config) -> set[tuple[str, str]]:
        return {(table, str(eid)) for table, rows in cfg.tables.items() for eid, entity in rows.items()
                if isinstance(entity, dict) and m.owner_of(entity) == self.owner}

    async def _ours_survived(self, posted: dbless.Config, text: str) -> bool:
        """After the POST: is everything we own in what Kong now runs (no writer replaced it since)?
        Kong's hash of a text body is its md5 (declarative/init.lua): the same hash means ours runs;
        another one (a writer since, or the all-zeros hash of an empty configuration) reads it back."""
        if await self._config_hash() == hashlib.md5(text.encode()).hexdigest():  # noqa: S324 - Kong's hash, not security
            return True
        live = dbless.Config.from_export((await self._read_export()).doc)  # the next attempt's base
        return self._owned_ids(posted) <= self._owned_ids(live)

    def _item(self, change: Change, status: Status, error: str | None = None, category: str | None = None,
              resource_id: str | None = None) -> ItemResult:
        if error is not None:
            error = self.scrubber(error)
        return ItemResult(change.gateway, change.kind, change.name, change.op, status, error=error, category=category,
                          resource_id=resource_id)

    def _rejected(self, changes: list[Change], cfg: dbless.Config, body: Any,
                  results: dict[tuple[str, str], ItemResult]) -> list[ItemResult]:
        """Map Kong's 400 back to the changes whose entities were rejected: `flattened_errors` by entity
        id (ours always carry one) or ownership tags, then what Kong could not flatten and left in
        `fields` (errors keyed by a name or an id, or by a position in a nested list) by that key, or
        by the change whose credential the message quotes. Messages are scrubbed by `_item`."""
        blamed: dict[tuple[str, str], list[str]] = {}
        unplaced: list[str] = []
        flattened = (body or {}).get("flattened_errors")
        for error in flattened if isinstance(flattened, list) else []:
            entity = error.get("entity") or {}
            key = cfg.touched.get(str(error.get("entity_id") or entity.get("id")))
            if key is None:
                tags = error.get("entity_tags") or entity.get("tags") or []
                kind, name = m.tag_value(tags, m.KIND), m.tag_value(tags, m.NAME)
                if kind and name and m.tag_value(tags, m.OWNER) == self.owner:
                    key = (kind, name)
            messages = [(f"{e['field']}: " if e.get("field") else "") + str(e.get("message"))
                        for e in error.get("errors") or []]
            text = f"{error.get('entity_type')} {error.get('entity_name') or ''}".strip() + ": " + "; ".join(messages)
            if key is None:
                unplaced.append(text)
            else:
                blamed.setdefault(key, []).append(text)
        for table, keyed_by, message in dbless.unflattened((body or {}).get("fields")):
            entity = cfg.find_keyed(table, keyed_by) if keyed_by is not None else None
            key = cfg.touched.get(str(entity.get("id"))) if entity is not None else None
            if key is None:
                key = next(((c.kind, c.name) for c in changes
                            if any(str(v) and str(v) in message for v in c.secrets.values() if v)), None)
            text = f"{table}: {message}"
            if key is None:
                unplaced.append(text)
            else:
                blamed.setdefault(key, []).append(text)
        if not blamed and not unplaced:
            unplaced.append(str((body or {}).get("message") or "declarative config rejected"))
        out = []
        for change in changes:
            key = (change.kind, change.name)
            if key in results:
                out.append(results[key])
            elif key in blamed:
                out.append(self._item(change, Status.FAILED, "Kong rejected the configuration: " + " | ".join(
                    blamed[key]), PERMANENT))
            elif unplaced and not blamed:
                out.append(self._item(change, Status.FAILED, "Kong rejected the configuration: " + " | ".join(
                    unplaced)[:1000], PERMANENT))
            else:
                out.append(self._item(change, Status.NOT_ATTEMPTED,
                                      "not applied: Kong rejected the whole configuration because of other "
                                      "resources", PERMANENT))
        return out

    # ------------------------------------------------------------------ per-resource helpers
    async def _dbless_single(self, change: Change) -> AdapterResult:
        results = await self.apply_batch([change])
        assert results is not None
        item = results[0]
        if item.status is Status.APPLIED:
            return AdapterResult(success=True, resource_id=item.resource_id)
        return AdapterResult(success=False, error=item.error, category=item.category)

    def _check_owner(self, entity: dict[str, Any] | None, what: str, *, adopt: bool = False) -> None:
        """An unowned entity is a conflict, unless the change adopts it (`--adopt`, said by the Change)."""
        if entity is not None and m.owner_of(entity) != self.owner and not adopt:
            raise ConflictError(f"{what} exists and is not owned by '{self.owner}'")

    async def _from_snapshot(self, write: Callable[[Lookups], Awaitable[AdapterResult]],
                             statuses: tuple[int, ...] = WRITE_STATUSES) -> AdapterResult:
        """Write from what the plan read; when Kong answers that it changed since (404, 409), read the
        objects concerned with GETs and write once more, as a write without a snapshot does."""
        http = HttpLookups(self.client, self._list)
        if not self._index.rows:
            return await write(http)
        try:
            return await write(SnapshotLookups(self._index, http))
        except GatewayError as exc:
            if exc.status not in statuses:
                raise
        return await write(http)

    async def _send(self, method: str, path: str, table: str, body: dict[str, Any]) -> dict[str, Any]:
        """A PUT/PATCH whose answer (the entity as Kong stored it) updates the snapshot."""
        saved: dict[str, Any] = (await self.client.request(method, path, json=body)).json()
        self._index.put(table, saved)
        return saved

    async def _remove(self, path: str, table: str, eid: str) -> None:
        await self.client.request("DELETE", path)
        self._index.drop(table, eid)

    # ------------------------------------------------------------------ APIs
    async def sync_api(self, api_spec: dict[str, Any], tenant_id: str, auth_token: str | None = None) -> AdapterResult:
        async def run() -> AdapterResult:
            if await self.mode() == "dbless":
                return await self._dbless_single(_change("API", api_spec))
            return await self._from_snapshot(lambda look: self._sync_api(api_spec, look))
        return await self.guard(f"sync_api {api_spec.get('name')}", run)

    async def _sync_api(self, api_spec: dict[str, Any], look: Lookups) -> AdapterResult:
        name = str(api_spec["name"])
        adopt = bool(api_spec.get("adopt"))
        service = await look.service(name)
        self._check_owner(service, f"service '{name}'", adopt=adopt)
        ours = m.api_to_service(api_spec, self.owner)
        ours["tags"] = m.merge_tags((service or {}).get("tags"), ours["tags"])
        if service is None:  # by a deterministic id: a same-name service made meanwhile answers 409
            saved = await self._send("PUT", f"/services/{m.entity_id(self.owner, 'API', name)}", "services", ours)
        else:
            saved = await self._send("PATCH", f"/services/{service['id']}", "services", ours)
        sid = str(saved["id"])
        route = await look.route(name)
        if route is None and service is not None:  # an operator's route keeps its own name
            route = m.service_route(await look.service_routes(sid), self.owner, adopt)
        self._check_owner(route, f"route '{name}'", adopt=adopt)
        route_body = {**m.api_to_route(api_spec, self.owner), "service": {"id": sid}}
        route_body["tags"] = m.merge_tags((route or {}).get("tags"), route_body["tags"])
        if route is None:
            await self._send("PUT", f"/routes/{m.entity_id(self.owner, 'API', name, 'route')}", "routes", route_body)
        else:
            route_body["name"] = route.get("name") or name
            await self._send("PATCH", f"/routes/{route['id']}", "routes", route_body)
        if self.protect_apis:
            live = await look.service_plugins(sid) if service is not None else []
            for plugin in m.api_auth_plugins(name, self.owner):
                existing = m.service_plugin(live, str(plugin["name"]))
                self._check_owner(existing, f"{plugin['name']} plugin of service '{name}'", adopt=adopt)
                body = {k: v for k, v in plugin.items() if k != "id"}
                body["tags"] = m.merge_tags((existing or {}).get("tags"), body["tags"])
                pid = existing["id"] if existing else plugin["id"]
                await self._send("PUT", f"/services/{sid}/plugins/{pid}", "plugins", body)
        return AdapterResult(success=True, resource_id=sid, data={"name": name})

    async def delete_api(self, api_id: str, auth_token: str | None = None) -> AdapterResult:
        async def run() -> AdapterResult:
            if await self.mode() == "dbless":
                return await self._dbless_single(_delete_change("API", api_id))
            # 400: Kong refuses to delete a service a route made since the read still uses
            return await self._from_snapshot(lambda look: self._delete_api(api_id, look), (400, *WRITE_STATUSES))
        return await self.guard(f"delete_api {api_id}", run)

    async def _delete_api(self, api_id: str, look: Lookups) -> AdapterResult:
        service = await look.service(api_id)
        if service is None:
            return AdapterResult(success=True, resource_id=api_id)
        if m.owner_of(service) != self.owner:
            raise ConflictError(f"service '{service.get('name')}' is not owned by '{self.owner}'; not deleted")
        sid = str(service["id"])
        routes = await look.service_routes(sid)
        plugins = await look.service_plugins(sid)
        for entity, what in [(r, "route") for r in routes] + [(p, "plugin") for p in plugins]:
            if m.owner_of(entity) != self.owner:
                raise ConflictError(f"{what} '{entity.get('name') or entity.get('id')}' (not ours) uses service "
                                    f"'{service.get('name')}'; not deleted")
        for route in list(routes):
            await self._remove(f"/routes/{route['id']}", "routes", str(route["id"]))
        await self._remove(f"/services/{sid}", "services", sid)
        return AdapterResult(success=True, resource_id=api_id)

    # ------------------------------------------------------------------ policies
    async def upsert_policy(self, policy_spec: dict[str, Any], auth_token: str | None = None) -> AdapterResult:
        async def run() -> AdapterResult:
            if await self.mode() == "dbless":
                return await self._dbless_single(_change("Policy", policy_spec))
            return await self._from_snapshot(lambda look: self._upsert_policy(policy_spec, look))
        return await self.guard(f"upsert_policy {policy_spec.get('name')}", run)

    async def _upsert_policy(self, policy_spec: dict[str, Any], look: Lookups) -> AdapterResult:
        api = str(policy_spec["spec"]["api"])
        service = await look.service(api)
        if service is None or m.owner_of(service) != self.owner:
            raise PermanentError(f"API '{api}' of policy '{policy_spec['name']}' is not on this gateway")
        pid = policy_spec.get("id") or m.entity_id(self.owner, "Policy", str(policy_spec["name"]))
        existing = await look.plugin(pid)
        self._check_owner(existing, f"plugin of policy '{policy_spec['name']}'", adopt=bool(policy_spec.get("adopt")))
        body = m.policy_to_plugin(policy_spec, self.owner)
        body["tags"] = m.merge_tags((existing or {}).get("tags"), body["tags"])
        if (existing or {}).get("instance_name"):  # a PUT replaces the plugin: keep the operator's name
            body["instance_name"] = existing["instance_name"]  # type: ignore[index]
        saved = await self._send("PUT", f"/services/{service['id']}/plugins/{pid}", "plugins", body)
        return AdapterResult(success=True, resource_id=str(saved.get("id", pid)))

    async def delete_policy(self, policy_id: str, auth_token: str | None = None) -> AdapterResult:
        async def delete(plugin: dict[str, Any]) -> None:
            await self._remove(f"/plugins/{policy_id}", "plugins", policy_id)

        async def run() -> AdapterResult:
            if await self.mode() == "dbless":
                return await self._dbless_single(_delete_change("Policy", policy_id))
            look = self._lookups()
            return await self.delete_owned(f"plugin {policy_id}", policy_id, read=lambda: look.plugin(policy_id),
                                           owner=m.owner_of, delete=delete)
        return await self.guard(f"delete_policy {policy_id}", run)

    def _lookups(self) -> Lookups:
        http = HttpLookups(self.client, self._list)
        return SnapshotLookups(self._index, http) if self._index.rows else http

    # ------------------------------------------------------------------ consumers
    async def provision_application(self, app_spec: dict[str, Any], auth_token: str | None = None) -> AdapterResult:
        async def run() -> AdapterResult:
            if await self.mode() == "dbless":
                return await self._dbless_single(_change("Consumer", app_spec))
            return await self._from_snapshot(lambda look: self._provision(app_spec, look))
        return await self.guard(f"provision_application {app_spec.get('name')}", run)

    async def _provision(self, app_spec: dict[str, Any], look: Lookups) -> AdapterResult:
        name = str(app_spec["name"])
        consumer = await look.consumer(name)
        self._check_owner(consumer, f"consumer '{name}'", adopt=bool(app_spec.get("adopt")))
        body = m.consumer_to_kong(app_spec, self.owner)
        body["tags"] = m.merge_tags((consumer or {}).get("tags"), body["tags"])
        if consumer is None:  # by a deterministic id: a same-name consumer made meanwhile answers 409
            consumer = await self._send("PUT", f"/consumers/{m.entity_id(self.owner, 'Consumer', name)}",
                                        "consumers", body)
        elif body["tags"] != consumer.get("tags"):
            consumer = await self._send("PATCH", f"/consumers/{consumer['id']}", "consumers", body)
        cid = str(consumer["id"])
        secret = api_key_of(app_spec)
        adopt = bool(app_spec.get("adopt"))
        keys = await look.consumer_keys(cid)
        mine = [k for k in keys if m.owner_of(k) == self.owner]
        if secret:
            if not mine and adopt:  # take over the operator's credential holding this key
                mine = m.adoptable_keys(keys, secret)[:1]
            if (not mine or m.credential_fingerprint(mine[0]) != secret_fingerprint(secret)
                    or m.owner_of(mine[0]) != self.owner):
                kid = mine[0]["id"] if mine else m.entity_id(self.owner, "Consumer", name, "key-auth")
                body = m.keyauth_to_kong(app_spec, self.owner, secret)
                body["tags"] = m.merge_tags(mine[0].get("tags") if mine else None, body["tags"])
                await self._send("PUT", f"/consumers/{cid}/key-auth/{kid}", "keyauth_credentials", body)
            for extra in mine[1:]:
                await self._remove(f"/consumers/{cid}/key-auth/{extra['id']}", "keyauth_credentials", str(extra["id"]))
        wanted = set(app_spec["spec"].get("subscriptions") or [])
        for acl in list(await look.consumer_acls(cid)):
            if m.owner_of(acl) != self.owner:
                if adopt and m.unmanaged(acl) and acl.get("group") in wanted:  # re-tag the operator's group
                    group = str(acl.get("group"))
                    acl_body = {"group": group, "tags": m.merge_tags(acl.get("tags"), m.acl_to_kong(
                        name, group, self.owner)["tags"])}
                    await self._send("PUT", f"/consumers/{cid}/acls/{acl['id']}", "acls", acl_body)
                    wanted.discard(group)
                continue
            if acl.get("group") in wanted:
                wanted.discard(str(acl.get("group")))
            else:
                await self._remove(f"/consumers/{cid}/acls/{acl['id']}", "acls", str(acl["id"]))
        for group in sorted(wanted):
            acl_body = m.acl_to_kong(name, group, self.owner)
            await self._send("PUT", f"/consumers/{cid}/acls/{acl_body.pop('id')}", "acls", acl_body)
        return AdapterResult(success=True, resource_id=cid)

    async def deprovision_application(self, app_id: str, auth_token: str | None = None) -> AdapterResult:
        async def delete(consumer: dict[str, Any]) -> None:
            await self._remove(f"/consumers/{consumer['id']}", "consumers", str(consumer["id"]))

        async def run() -> AdapterResult:
            if await self.mode() == "dbless":
                return await self._dbless_single(_delete_change("Consumer", app_id))
            look = self._lookups()
            return await self.delete_owned(f"consumer {app_id}", app_id, read=lambda: look.consumer(app_id),
                                           owner=m.owner_of, delete=delete)
        return await self.guard(f"deprovision_application {app_id}", run)


def _merge_order(change: Change) -> tuple[int, int]:
    """Upserts by dependency level (APIs first), then deletes in reverse (consumers first)."""
    level = level_of(change.kind)
    return (1, -level) if change.op is Op.DELETE else (0, level)


def _change(kind: str, record: dict[str, Any]) -> Change:
    return Change(gateway="", op=Op.UPDATE if record.get("id") else Op.CREATE, kind=kind, name=str(record["name"]),
                  desired=record)


def _delete_change(kind: str, gid: str) -> Change:
    return Change(gateway="", op=Op.DELETE, kind=kind, name=gid, actual={"id": gid})


__all__ = ["KongAdapter", "GatewayError", "CONFLICT"]
