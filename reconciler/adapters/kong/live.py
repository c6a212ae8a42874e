"""What a database-mode write needs to know of the live entities, from the plan's read or by GETs.

An apply writes from the snapshot its plan read (the listings of `fetch_*`: every entity, ours and
an operator's), kept current by the responses of our own writes: no GET before a PUT. Where the
snapshot lacks a collection (a contract method called without a read), `HttpLookups` asks Kong, as
does the adapter when a write from the snapshot meets a 404 or a 409 (the gateway moved since).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

from reconciler.adapters.http import GatewayHttp

TABLE_OF_PATH = {"/services": "services", "/routes": "routes", "/plugins": "plugins", "/consumers": "consumers",
                 "/key-auths": "keyauth_credentials", "/acls": "acls"}
"""Collections listed by a read, and the table their entities belong to."""
WRITE_STATUSES = (404, 409)
"""Answers to a write from the snapshot that mean "the gateway changed since the plan read it"."""


class Lookups(Protocol):
    """The live entities a write consults (each method is one GET for `HttpLookups`)."""

    async def service(self, ref: str) -> dict[str, Any] | None: ...
    async def route(self, ref: str) -> dict[str, Any] | None: ...
    async def service_routes(self, sid: str) -> list[dict[str, Any]]: ...
    async def service_plugins(self, sid: str) -> list[dict[str, Any]]: ...
    async def plugin(self, pid: str) -> dict[str, Any] | None: ...
    async def consumer(self, ref: str) -> dict[str, Any] | None: ...
    async def consumer_keys(self, cid: str) -> list[dict[str, Any]]: ...
    async def consumer_acls(self, cid: str) -> list[dict[str, Any]]: ...


class LiveIndex:
    """Kong's entities by table as last read, indexed by id, endpoint key (name, username) and parent."""

    KEYS = {"services": "name", "routes": "name", "consumers": "username"}
    PARENTS = {"routes": "service", "plugins": "service", "keyauth_credentials": "consumer", "acls": "consumer"}

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, dict[str, Any]]] = {}
        self._by_key: dict[str, dict[str, str]] = {}
        self._by_parent: dict[str, dict[str, dict[str, None]]] = {}

    def has(self, *tables: str) -> bool:
        return all(t in self.rows for t in tables)

    def load(self, table: str, entities: Iterable[dict[str, Any]]) -> None:
        """A fresh listing of a whole collection replaces what was known of that table."""
        self.rows[table], self._by_key[table], self._by_parent[table] = {}, {}, {}
        for entity in entities:
            self.put(table, entity)

    def put(self, table: str, entity: dict[str, Any]) -> None:
        """An entity Kong returned for our write (or listed): replaces its previous version."""
        if table not in self.rows or not entity.get("id"):
            return
        eid = str(entity["id"])
        self.drop(table, eid)
        self.rows[table][eid] = entity
        key = self.KEYS.get(table)
        if key and entity.get(key) is not None:
            self._by_key[table][str(entity[key])] = eid
        parent = self._parent(table, entity)
        if parent is not None:
            self._by_parent[table].setdefault(parent, {})[eid] = None

    def drop(self, table: str, eid: str) -> None:
        old = self.rows.get(table, {}).pop(eid, None)
        if old is None:
            return
        key = self.KEYS.get(table)
        if key and self._by_key[table].get(str(old.get(key))) == eid:
            del self._by_key[table][str(old[key])]
        parent = self._parent(table, old)
        if parent is not None:
            self._by_parent[table].get(parent, {}).pop(eid, None)
        if table == "services":  # Kong cascades a service's plugins (routes must be gone first)
            for pid in list(self._by_parent.get("plugins", {}).get(eid, {})):
                self.drop("plugins", pid)
        if table == "consumers":
            for child in ("keyauth_credentials", "acls", "plugins"):
                for cid in [i for i, e in self.rows.get(child, {}).items() if self._ref(e, "consumer") == eid]:
                    self.drop(child, cid)

    def get(self, table: str, ref: str) -> dict[str, Any] | None:
        rows = self.rows.get(table, {})
        if ref in rows:
            return rows[ref]
        eid = self._by_key.get(table, {}).get(ref)
        return rows.get(eid) if eid is not None else None

    def children(self, table: str, parent: str) -> list[dict[str, Any]]:
        rows = self.rows.get(table, {})
        return [rows[i] for i in self._by_parent.get(table, {}).get(parent, {})]

    def _parent(self, table: str, entity: dict[str, Any]) -> str | None:
        field = self.PARENTS.get(table)
        return self._ref(entity, field) if field else None

    @staticmethod
    def _ref(entity: dict[str, Any], field: str) -> str | None:
        ref = entity.get(field)
        return str(ref["id"]) if isinstance(ref, dict) and ref.get("id") else None


class HttpLookups:
    """Every lookup as a GET (what a write without a snapshot, or after a conflict, does)."""

    def __init__(self, client: GatewayHttp, list_all: Callable[[str], Awaitable[list[dict[str, Any]]]]) -> None:
        self.client = client
        self.list_all = list_all

    async def service(self, ref: str) -> dict[str, Any] | None:
        return await self.client.get_or_none(f"/services/{ref}")

    async def route(self, ref: str) -> dict[str, Any] | None:
        return await self.client.get_or_none(f"/routes/{ref}")

    async def service_routes(self, sid: str) -> list[dict[str, Any]]:
        return list(await self.list_all(f"/services/{sid}/routes"))

    async def service_plugins(self, sid: str) -> list[dict[str, Any]]:
        return list(await self.list_all(f"/services/{sid}/plugins"))

    async def plugin(self, pid: str) -> dict[str, Any] | None:
        return await self.client.get_or_none(f"/plugins/{pid}")

    async def consumer(self, ref: str) -> dict[str, Any] | None:
        return await self.client.get_or_none(f"/consumers/{ref}")

    async def consumer_keys(self, cid: str) -> list[dict[str, Any]]:
        return list(await self.list_all(f"/consumers/{cid}/key-auth"))

    async def consumer_acls(self, cid: str) -> list[dict[str, Any]]:
        return list(await self.list_all(f"/consumers/{cid}/acls"))


class SnapshotLookups:
    """The plan's snapshot where it holds the table, else a GET."""

    def __init__(self, index: LiveIndex, http: HttpLookups) -> None:
        self.index = index
        self.http = http

    async def service(self, ref: str) -> dict[str, Any] | None:
        return self.index.get("services", ref) if self.index.has("services") else await self.http.service(ref)

    async def route(self, ref: str) -> dict[str, Any] | None:
        return self.index.get("routes", ref) if self.index.has("routes") else await self.http.route(ref)

    async def service_routes(self, sid: str) -> list[dict[str, Any]]:
        if self.index.has("routes"):
            return self.index.children("routes", sid)
        return await self.http.service_routes(sid)

    async def service_plugins(self, sid: str) -> list[dict[str, Any]]:
        if self.index.has("plugins"):
            return self.index.children("plugins", sid)
        return await self.http.service_plugins(sid)

    async def plugin(self, pid: str) -> dict[str, Any] | None:
        return self.index.get("plugins", pid) if self.index.has("plugins") else await self.http.plugin(pid)

    async def consumer(self, ref: str) -> dict[str, Any] | None:
        return self.index.get("consumers", ref) if self.index.has("consumers") else await self.http.consumer(ref)

    async def consumer_keys(self, cid: str) -> list[dict[str, Any]]:
        if self.index.has("keyauth_credentials"):
            return self.index.children("keyauth_credentials", cid)
        return await self.http.consumer_keys(cid)

    async def consumer_acls(self, cid: str) -> list[dict[str, Any]]:
        if self.index.has("acls"):
            return self.index.children("acls", cid)
        return await self.http.consumer_acls(cid)
