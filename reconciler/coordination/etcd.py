"""A small etcd v3 client over the JSON gateway (`/v3/...`) that etcd serves next to gRPC.

Why not a client library: the maintained Python etcd v3 clients (python-etcd3, etcd3-py,
aetcd) need gRPC and protobuf stubs and lag behind etcd releases; the seven calls we need are
plain JSON POSTs, and httpx is already the project's HTTP library. Keys and values are base64
in the gateway's JSON, int64 fields are strings; both are converted here and nowhere else.

Auth: with a user set, `auth/authenticate` gives a token sent as `Authorization` on every call; a
call refused for its token (expired, or the auth store changed) re-authenticates once and is
retried. The token is shared with `BlockingEtcd`, the keepalive thread's client. Neither the
password nor the token ever enters a message.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from reconciler.coordination.connection import Connection, tls_hint


class EtcdError(Exception):
    """etcd could not be reached or refused a request (the message names the call, never a value)."""


class EtcdUnreachable(EtcdError):
    """No answer: connection refused, timeout, or TLS failed (the message says which setting to check)."""


class EtcdAuthError(EtcdError):
    """etcd refused the user name or password."""


STALE_TOKEN = ("invalid auth token", "auth token is expired", "revision of auth store is old", "user name is empty")
"""etcd's refusals that a fresh token cures (`etcdserver: ...` messages)."""


class _Token:
    """The current auth token, read and replaced by the event loop and the keepalive thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value: str | None = None

    def get(self) -> str | None:
        with self._lock:
            return self._value

    def set(self, value: str | None) -> None:
        with self._lock:
            self._value = value

    def drop(self, used: str | None) -> None:
        """Forget the token a call was refused with (not a newer one another thread got meanwhile)."""
        with self._lock:
            if self._value == used:
                self._value = None


def _chain(exc: BaseException) -> list[str]:
    """The distinct messages of an exception and its causes, outermost first (httpx's own is often empty)."""
    texts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = str(current)
        if text and text not in texts:
            texts.append(text)
        current = current.__cause__ or current.__context__
    return texts


class _Wire:
    """What both clients share: the connection, the token, and how requests and answers look."""

    def __init__(self, target: Connection | str, token: _Token | None = None) -> None:
        self.connection = target if isinstance(target, Connection) else Connection(target)
        self.url = self.connection.url
        self._token = token or _Token()

    def _headers(self, token: str | None) -> dict[str, str]:
        return {"Authorization": token} if token else {}

    def _scrub(self, text: str) -> str:
        for secret in (self.connection.password, self._token.get()):
            if secret:
                text = text.replace(secret, "***")
        return text

    def _unreachable(self, path: str, exc: Exception) -> EtcdUnreachable:
        texts = _chain(exc)
        detail = f"{type(exc).__name__}: {texts[-1] if texts else ''}".rstrip(": ")
        hint = tls_hint(" ".join(texts))
        if not hint and self.connection.tls and isinstance(exc, httpx.ReadError | httpx.WriteError | ConnectionError |
                                                           httpx.RemoteProtocolError):
            # etcd drops a TLS client it refuses; asyncio often reports only a broken pipe
            hint = tls_hint("certificate required" if self.connection.cert_file is None else "tls")
        return EtcdUnreachable(self._scrub(f"etcd {self.url}: {path}: {detail}" + (f" ({hint})" if hint else "")))

    def _answer(self, path: str, response: httpx.Response) -> tuple[dict[str, Any], str | None]:
        """(result, None), or ({}, etcd's error message)."""
        try:
            data = response.json()
        except ValueError:
            text = response.text.strip()[:200]
            if "CommonName of client" in text:
                text += (" (etcd's JSON gateway refuses a client certificate with a CommonName while auth is on: "
                         "issue RECONCILER_ETCD_CERT without a CN, e.g. subject O=stoa-reconciler, and "
                         "authenticate with RECONCILER_ETCD_USER)")
            raise EtcdError(self._scrub(f"etcd {self.url}: {path}: HTTP {response.status_code}"
                                        f"{': ' + text if text else ', not JSON'}")) from None
        if response.status_code != 200 or "error" in data:
            return {}, str(data.get("message") or data.get("error") or f"HTTP {response.status_code}")
        return dict(data.get("result", data)), None

    def _stale(self, message: str) -> bool:
        return self.connection.user is not None and any(s in message for s in STALE_TOKEN)

    def _auth_body(self) -> dict[str, str]:
        return {"name": self.connection.user or "", "password": self.connection.password or ""}

    def _auth_result(self, response: httpx.Response) -> str:
        """The token ('' when etcd has auth off: nothing to send, and no need to ask again)."""
        data, error = self._answer("auth/authenticate", response)
        if error is not None:
            if "authentication is not enabled" in error:
                return ""
            raise EtcdAuthError(self._scrub(
                f"etcd {self.url}: auth/authenticate as user {self.connection.user!r}: {error.removeprefix('etcdserver: ')}"
                " (check RECONCILER_ETCD_USER and RECONCILER_ETCD_PASSWORD)"))
        return str(data.get("token") or "")

    def _failed(self, path: str, message: str) -> EtcdError:
        hint = ""
        if any(s in message for s in ("user name is empty", "permission denied", "invalid auth token")):
            hint = (" (etcd has auth on: set RECONCILER_ETCD_USER and RECONCILER_ETCD_PASSWORD)"
                    if self.connection.user is None else
                    f" (check the roles of etcd user {self.connection.user!r} on this prefix)")
        return EtcdError(self._scrub(f"etcd {self.url}: {path}: {message}{hint}"))


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


class Etcd(_Wire):
    """One etcd endpoint (`http://host:2379`, or https with `Connection`); every call is one short POST."""

    def __init__(self, target: Connection | str, *, timeout: float = 2.0) -> None:
        super().__init__(target)
        self.timeout = timeout
        self._verify = self.connection.ssl_context()
        self._client = httpx.AsyncClient(base_url=self.url, timeout=timeout, verify=self._verify)

    def blocking(self, *, timeout: float | None = None) -> BlockingEtcd:
        """A synchronous client on the same connection and token (for a thread of its own)."""
        return BlockingEtcd(self.connection, self._verify, self._token, self.timeout if timeout is None else timeout)

    async def close(self) -> None:
        await self._client.aclose()

    async def _authenticate(self) -> str:
        try:
            response = await self._client.post("/v3/auth/authenticate", json=self._auth_body())
        except (httpx.HTTPError, OSError) as exc:
            raise self._unreachable("auth/authenticate", exc) from None
        token = self._auth_result(response)
        self._token.set(token)
        return token

    async def _call(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        for attempt in (1, 2):
            token = self._token.get()
            if token is None and self.connection.user is not None:
                token = await self._authenticate()
            try:
                response = await self._client.post(f"/v3/{path}", json=body, headers=self._headers(token))
            except (httpx.HTTPError, OSError) as exc:  # ssl.SSLError is an OSError httpx does not always wrap
                raise self._unreachable(path, exc) from None
            data, error = self._answer(path, response)
            if error is None:
                return data
            if attempt == 1 and self._stale(error):
                self._token.drop(token)
                continue
            raise self._failed(path, error)
        raise AssertionError("unreachable")

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


class BlockingEtcd(_Wire):
    """The keepalive thread's client: synchronous, so it never waits for a busy event loop."""

    def __init__(self, connection: Connection, verify: Any, token: _Token, timeout: float) -> None:
        super().__init__(connection, token)
        self._client = httpx.Client(base_url=self.url, timeout=timeout, verify=verify)

    def close(self) -> None:
        self._client.close()

    def _call(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        for attempt in (1, 2):
            token = self._token.get()
            if token is None and self.connection.user is not None:
                try:
                    response = self._client.post("/v3/auth/authenticate", json=self._auth_body())
                except (httpx.HTTPError, OSError) as exc:
                    raise self._unreachable("auth/authenticate", exc) from None
                token = self._auth_result(response)
                self._token.set(token)
            try:
                response = self._client.post(f"/v3/{path}", json=body, headers=self._headers(token))
            except (httpx.HTTPError, OSError) as exc:  # ssl.SSLError is an OSError httpx does not always wrap
                raise self._unreachable(path, exc) from None
            data, error = self._answer(path, response)
            if error is None:
                return data
            if attempt == 1 and self._stale(error):
                self._token.drop(token)
                continue
            raise self._failed(path, error)
        raise AssertionError("unreachable")

    def keepalive(self, lease: int) -> int:
        """Renew the lease once; returns its new TTL (0: the lease is gone, expired or revoked)."""
        data = self._call("lease/keepalive", {"ID": str(lease)})
        return int(data.get("TTL", 0))
