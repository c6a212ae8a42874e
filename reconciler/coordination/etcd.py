"""A small etcd v3 client over the JSON gateway (`/v3/...`) that etcd serves next to gRPC.

Why not a client library: the maintained Python etcd v3 clients (python-etcd3, etcd3-py,
aetcd) need gRPC and protobuf stubs and lag behind etcd releases; the seven calls we need are
plain JSON POSTs, and httpx is already the project's HTTP library. Keys and values are base64
in the gateway's JSON, int64 fields are strings; both are converted here and nowhere else.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx


class EtcdError(Exception):
    """etcd could not be reached or refused a request (the message names the call, never a value)."""


@dataclass(frozen=True)
class KeyValue:
    key: str
    value: str
    create_revision: int
    mod_revision: int
    lease: int


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _unb64(text: str | None) -> str:
    return base64.b64decode(text or "").decode(errors="replace")


def prefix_end(prefix: str) -> str:
    """The `range_end` that selects every key starting with `prefix` (the prefix with its last byte + 1)."""
    raw = bytearray(prefix.encode())
    for i in range(len(raw) - 1, -1, -1):
        if raw[i] < 0xFF:
            raw[i] += 1
            return base64.b64encode(bytes(raw[: i + 1])).decode()
    return base64.b64encode(b"\0").decode()


def _kv(raw: Mapping[str, Any]) -> KeyValue:
    return KeyValue(_unb64(raw.get("key")), _unb64(raw.get("value")), int(raw.get("create_revision", 0)),
                    int(raw.get("mod_revision", 0)), int(raw.get("lease", 0)))


@dataclass(frozen=True)
class TxnResult:
    succeeded: bool
    revision: int
    """The store's revision after the transaction (the create revision of a key it put)."""
    kvs: tuple[KeyValue, ...]
    """Keys read by the branch that ran (its range requests)."""


class Etcd:
    """One etcd endpoint (`http://host:2379`); every call is one short POST with a timeout."""

    def __init__(self, url: str, *, timeout: float = 2.0) -> None:
        self.url = url.rstrip("/")
        self._client = httpx.AsyncClient(base_url=self.url, timeout=timeout)

    async def close(self) -> None:
        await self._client.aclose()

    async def _call(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        try:
            response = await self._client.post(f"/v3/{path}", json=body)
        except httpx.HTTPError as exc:
            raise EtcdError(f"etcd {self.url}: {path}: {type(exc).__name__}: {exc}") from None
        try:
            data = response.json()
        except ValueError:
            raise EtcdError(f"etcd {self.url}: {path}: HTTP {response.status_code}, not JSON") from None
        if response.status_code != 200 or "error" in data:
            message = data.get("message") or data.get("error") or f"HTTP {response.status_code}"
            raise EtcdError(f"etcd {self.url}: {path}: {message}")
        return dict(data.get("result", data))

    # ------------------------------------------------------------------ kv
    async def range_prefix(self, prefix: str) -> list[KeyValue]:
        data = await self._call("kv/range", {"key": _b64(prefix), "range_end": prefix_end(prefix)})
        return [_kv(kv) for kv in data.get("kvs", [])]

    async def get(self, key: str) -> KeyValue | None:
        data = await self._call("kv/range", {"key": _b64(key)})
        kvs = data.get("kvs", [])
        return _kv(kvs[0]) if kvs else None

    async def put(self, key: str, value: str, *, lease: int = 0) -> int:
        body: dict[str, Any] = {"key": _b64(key), "value": _b64(value)}
        if lease:
            body["lease"] = str(lease)
        data = await self._call("kv/put", body)
        return int(data.get("header", {}).get("revision", 0))

    async def delete(self, key: str) -> int:
        data = await self._call("kv/deleterange", {"key": _b64(key)})
        return int(data.get("deleted", 0))

    async def create_if_absent(self, key: str, value: str, *, lease: int) -> TxnResult:
        """Put `key` only if it does not exist (create_revision == 0); otherwise read it back."""
        return await self._txn(
            [{"key": _b64(key), "target": "CREATE", "result": "EQUAL", "create_revision": "0"}],
            [{"request_put": {"key": _b64(key), "value": _b64(value), "lease": str(lease)}}],
            [{"request_range": {"key": _b64(key)}}])

    async def delete_if_created_at(self, key: str, create_revision: int) -> bool:
        """Delete `key` only if it is still the one created at `create_revision` (ours, not a successor's)."""
        result = await self._txn(
            [{"key": _b64(key), "target": "CREATE", "result": "EQUAL", "create_revision": str(create_revision)}],
            [{"request_delete_range": {"key": _b64(key)}}], [])
        return result.succeeded

    async def _txn(self, compare: list[dict[str, Any]], success: list[dict[str, Any]],
                   failure: list[dict[str, Any]]) -> TxnResult:
        data = await self._call("kv/txn", {"compare": compare, "success": success, "failure": failure})
        kvs = tuple(_kv(kv) for r in data.get("responses", []) for kv in r.get("response_range", {}).get("kvs", []))
        return TxnResult(bool(data.get("succeeded", False)), int(data.get("header", {}).get("revision", 0)), kvs)

    # ------------------------------------------------------------------ leases
    async def grant(self, ttl: int) -> tuple[int, int]:
        """A new lease: (id, granted TTL in seconds)."""
        data = await self._call("lease/grant", {"TTL": str(ttl)})
        return int(data["ID"]), int(data.get("TTL", ttl))

    async def keepalive(self, lease: int) -> int:
        """Renew the lease once; returns its new TTL (0: the lease is gone, expired or revoked)."""
        data = await self._call("lease/keepalive", {"ID": str(lease)})
        return int(data.get("TTL", 0))

    async def revoke(self, lease: int) -> None:
        """Drop the lease and every key bound to it (a lease already gone is fine)."""
        try:
            await self._call("lease/revoke", {"ID": str(lease)})
        except EtcdError as exc:
            if "lease not found" not in str(exc):
                raise
