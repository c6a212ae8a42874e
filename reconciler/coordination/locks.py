"""Per-gateway write locks on etcd, bound to a session's lease, and the fencing stop signal.

A lock is the key `<prefix>/locks/<gateway>`, created in a transaction only if absent
(create_revision == 0) and attached to the holder's lease: a holder that dies (kill -9, lost
network) loses it when the lease expires, nobody has to clean up. Every apply takes it, the
daemon's and `reconciler apply`'s alike, so two writers never touch one gateway at once; the stop
signal handed to the executor turns set when the lease may be gone, so a writer that lost its
lock starts no new write.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from reconciler.coordination.connection import Connection
from reconciler.coordination.errors import CoordinationError, LockTimeout
from reconciler.coordination.etcd import Etcd, EtcdError, EtcdUnreachable, KeyValue
from reconciler.coordination.session import Session

log = logging.getLogger("reconciler.coordination")

POLL = 0.2
"""Seconds between attempts while waiting for a lock."""


class StopLike(Protocol):
    def is_set(self) -> bool: ...


@dataclass(frozen=True)
class LockInfo:
    """Who holds a gateway's lock, read back from etcd (the JSON value of the key)."""

    gateway: str
    holder: str
    since: float
    """Unix time the lock was taken."""

    def age(self, now: float | None = None) -> float:
        return max(0.0, (time.time() if now is None else now) - self.since)

    def as_json(self, now: float | None = None) -> dict[str, Any]:
        return {"holder": self.holder, "since": self.since, "age": round(self.age(now), 3)}


def lock_key(prefix: str, gateway: str) -> str:
    return f"{prefix.rstrip('/')}/locks/{gateway}"


def parse_lock(prefix: str, kv: KeyValue) -> LockInfo:
    gateway = kv.key[len(lock_key(prefix, "")):]
    try:
        value = json.loads(kv.value)
        return LockInfo(gateway, str(value.get("holder", "?")), float(value.get("since", 0.0)))
    except (ValueError, AttributeError):
        return LockInfo(gateway, "?", 0.0)


def default_holder() -> str:
    """`reconciler apply` on a laptop or in CI: host and process, enough to find it."""
    return f"apply@{socket.gethostname()}:{os.getpid()}"


class FencedStop:
    """The executor's stop signal: set when the outer stop is (SIGTERM) or the lease may be lost."""

    def __init__(self, session: Session, outer: StopLike | None) -> None:
        self.session = session
        self.outer = outer

    def is_set(self) -> bool:
        return (self.outer is not None and self.outer.is_set()) or not self.session.valid()


class Locks:
    """Take and release gateway locks with one session (one holder)."""

    def __init__(self, session: Session, prefix: str, holder: str, *, timeout: float = 60.0,
                 on_wait: Callable[[LockInfo], None] | None = None) -> None:
        self.session = session
        self.prefix = prefix.rstrip("/")
        self.holder = holder
        self.timeout = timeout
        self.on_wait = on_wait
        self.held: dict[str, LockInfo] = {}
        """Locks this holder has now (gateway -> info): what /status shows without a network call."""

    async def _take(self, gateway: str, deadline: float) -> int:
        key = lock_key(self.prefix, gateway)
        told = False
        while True:
            if not self.session.valid():
                raise CoordinationError(f"cannot lock gateway {gateway}: the lease was lost "
                                        f"({self.session.lost_reason})")
            since = time.time()
            value = json.dumps({"holder": self.holder, "since": since})
            try:
                result = await self.session.etcd.create_if_absent(key, value, lease=self.session.lease)
            except EtcdUnreachable as exc:
                # a timeout is often our own busy event loop (planning), not etcd: retry until the deadline
                if time.monotonic() >= deadline:
                    raise CoordinationError(f"cannot lock gateway {gateway}: {exc}") from None
                log.debug("lock of %s: %s; retrying", gateway, exc)
                await asyncio.sleep(min(POLL, max(0.0, deadline - time.monotonic())))
                continue
            except EtcdError as exc:
                raise CoordinationError(f"cannot lock gateway {gateway}: {exc}") from None
            if result.succeeded:
                self.held[gateway] = LockInfo(gateway, self.holder, since)
                return result.revision
            if result.kvs and result.kvs[0].lease == self.session.lease:
                # an earlier attempt of ours landed, only its answer was lost: the lock is ours already
                self.held[gateway] = parse_lock(self.prefix, result.kvs[0])
                return result.kvs[0].create_revision
            current = parse_lock(self.prefix, result.kvs[0]) if result.kvs else LockInfo(gateway, "?", since)
            if time.monotonic() >= deadline:
                waited = "" if self.timeout <= 0 else f" after waiting {self.timeout:g}s"
                raise LockTimeout(f"gateway {gateway} is locked by {current.holder} (for {current.age():.1f}s)"
                                  f"{waited}; nothing was applied. Retry later, or wait longer with --lock-timeout")
            if not told and self.on_wait is not None:
                self.on_wait(current)
                told = True
            await asyncio.sleep(min(POLL, max(0.0, deadline - time.monotonic())))

    async def _release(self, gateway: str, revision: int) -> None:
        self.held.pop(gateway, None)
        if not self.session.valid():
            return  # the lease is gone or going: its keys go with it
        try:
            await self.session.etcd.delete_if_created_at(lock_key(self.prefix, gateway), revision)
        except EtcdError as exc:
            log.warning("could not release the lock of %s (it expires with the lease): %s", gateway, exc)

    @contextlib.asynccontextmanager
    async def hold(self, gateways: frozenset[str], stop: StopLike | None) -> AsyncIterator[FencedStop]:
        """Hold the locks of `gateways` (taken in name order: two runs never deadlock) for a block."""
        deadline = time.monotonic() + max(0.0, self.timeout)
        taken: list[tuple[str, int]] = []
        try:
            for gateway in sorted(gateways):
                taken.append((gateway, await self._take(gateway, deadline)))
            yield FencedStop(self.session, stop)
        finally:
            for gateway, revision in reversed(taken):
                await self._release(gateway, revision)


async def read_locks(etcd: Etcd, prefix: str) -> Mapping[str, LockInfo]:
    """Every gateway lock held now, by anyone (for /status and /metrics)."""
    kvs = await etcd.range_prefix(lock_key(prefix, ""))
    return {info.gateway: info for info in (parse_lock(prefix, kv) for kv in kvs)}


@contextlib.asynccontextmanager
async def apply_locks(connection: Connection | str, *, prefix: str, ttl: int, timeout: float,
                      holder: str | None = None,
                      on_wait: Callable[[LockInfo], None] | None = None) -> AsyncIterator[Locks]:
    """A lease of its own and the locks of one `reconciler apply` run; the lease is revoked at the end."""
    etcd = Etcd(connection)
    try:
        try:
            session = await Session.open(etcd, ttl)
        except EtcdUnreachable as exc:
            raise CoordinationError(f"cannot reach etcd (RECONCILER_ETCD_URL): {exc}") from None
        except EtcdError as exc:
            raise CoordinationError(f"etcd refused a lease for this run: {exc}") from None
        try:
            yield Locks(session, prefix, holder or default_holder(), timeout=timeout, on_wait=on_wait)
        finally:
            await session.close()
    finally:
        await etcd.close()
