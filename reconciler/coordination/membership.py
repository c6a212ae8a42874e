"""A daemon's place among its peers: its member key, the live members, the gateways it owns.

Two kinds behind one face (`owned`, `describe`): `Membership` on etcd (a member key bound to the
daemon's lease, the live members re-read every TTL/3, locks for every apply) and `StaticShards`
(a StatefulSet without etcd: shard = the pod's ordinal, total = `RECONCILER_SHARDS`, no locks, no
failover). Both hand gateways out with the same rendezvous function.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any, Protocol

from reconciler.coordination.connection import Connection
from reconciler.coordination.errors import CoordinationError
from reconciler.coordination.etcd import Etcd, EtcdError
from reconciler.coordination.locks import FencedStop, LockInfo, Locks, StopLike, read_locks
from reconciler.coordination.rendezvous import owned_by, owner, shard_members
from reconciler.coordination.session import Session

log = logging.getLogger("reconciler.coordination")


class Coordination(Protocol):
    member: str

    @property
    def ready(self) -> bool: ...

    def owned(self, gateways: Iterable[str]) -> frozenset[str]: ...

    def owner_of(self, gateway: str) -> str | None: ...

    def describe(self, gateways: Iterable[str]) -> dict[str, Any]: ...


class StaticShards:
    """Shard `index` of `total`: a fixed share of the gateways, whoever else is running."""

    def __init__(self, index: int, total: int) -> None:
        if not 0 <= index < total:
            raise ValueError(f"shard {index} is outside 0..{total - 1}")
        self.member, self.total = str(index), total
        self.members = shard_members(total)

    @property
    def ready(self) -> bool:
        return True

    def owned(self, gateways: Iterable[str]) -> frozenset[str]:
        return owned_by(self.member, gateways, self.members)

    def owner_of(self, gateway: str) -> str | None:
        return owner(gateway, self.members)

    def describe(self, gateways: Iterable[str]) -> dict[str, Any]:
        return {"mode": "static", "member": self.member, "shards": self.total,
                "members": [m for m in self.members if m != self.member], "owned": sorted(self.owned(gateways))}


class Membership:
    """Membership on etcd: join (a member key under a fresh lease), keep the member list, lock applies."""

    def __init__(self, connection: Connection | str, *, prefix: str, member: str, ttl: int,
                 lock_timeout: float) -> None:
        # generous: a busy event loop (planning) makes short timeouts fire spuriously; the lease is checked locally
        self.etcd = Etcd(connection, timeout=max(2.0, float(ttl)))
        self.prefix = prefix.rstrip("/")
        self.member = member
        self.ttl = ttl
        self.lock_timeout = lock_timeout
        self.session: Session | None = None
        self.members: tuple[str, ...] = ()
        """Every live member, this one included, as last read."""
        self.locks: Mapping[str, LockInfo] = {}
        """Every gateway lock held now (by any daemon or apply), as last read."""
        self.error: str | None = None
        self._locks: Locks | None = None
        self.joined_at: float | None = None

    @property
    def member_prefix(self) -> str:
        return f"{self.prefix}/members/"

    @property
    def ready(self) -> bool:
        """A member with a live lease and a fresh member list: only then does it own anything."""
        return self.session is not None and self.session.valid() and self.member in self.members

    def owned(self, gateways: Iterable[str]) -> frozenset[str]:
        return owned_by(self.member, gateways, self.members) if self.ready else frozenset()

    def owner_of(self, gateway: str) -> str | None:
        return owner(gateway, self.members)

    def held(self) -> Mapping[str, LockInfo]:
        return dict(self._locks.held) if self._locks is not None else {}

    def describe(self, gateways: Iterable[str]) -> dict[str, Any]:
        now = time.time()
        return {"mode": "etcd", "member": self.member, "ready": self.ready, "error": self.error,
                "lease": None if self.session is None else f"{self.session.lease:x}",
                "members": [m for m in self.members if m != self.member], "owned": sorted(self.owned(gateways)),
                "locks": {g: i.as_json(now) for g, i in sorted(self.locks.items())}}

    # ------------------------------------------------------------------ the write guard (RunOptions.guard)
    @contextlib.asynccontextmanager
    async def hold(self, gateways: frozenset[str], stop: StopLike | None) -> AsyncIterator[FencedStop]:
        locks = self._locks
        if locks is None or not self.ready:
            raise CoordinationError(f"member {self.member} holds no lease ({self.error or 'not joined yet'}); "
                                    "nothing applied")
        async with locks.hold(gateways, stop) as fenced:
            yield fenced

    # ------------------------------------------------------------------ the loop
    async def _join(self) -> None:
        session = await Session.open(self.etcd, self.ttl)
        key = self.member_prefix + self.member
        value = json.dumps({"member": self.member, "since": time.time()})
        result = await self.etcd.create_if_absent(key, value, lease=session.lease)
        if not result.succeeded:
            await session.close()
            raise CoordinationError(f"member id {self.member!r} is in use by another live daemon "
                                    "(set RECONCILER_MEMBER_ID); retrying")
        self.session, self.joined_at = session, time.time()
        self._locks = Locks(session, self.prefix, self.member, timeout=self.lock_timeout)
        log.info("joined as member %s (lease %x, TTL %ss)", self.member, session.lease, session.ttl,
                 extra={"member": self.member})

    async def refresh(self) -> None:
        if self.session is None or not self.session.valid():
            if self.session is not None:
                log.warning("member %s lost its lease (%s): applying nothing until it re-joins",
                            self.member, self.session.lost_reason, extra={"member": self.member})
                old = self.session.lease
                await self.session.close()
                self.session, self._locks, self.members = None, None, ()
                with contextlib.suppress(EtcdError):  # etcd back after an outage restores leases: drop ours now
                    await self.etcd.revoke(old)
            await self._join()
        kvs = await self.etcd.range_prefix(self.member_prefix)
        self.members = tuple(sorted(kv.key[len(self.member_prefix):] for kv in kvs))
        self.locks = await read_locks(self.etcd, self.prefix)
        self.error = None

    async def run(self, stop: asyncio.Event, on_refresh: Callable[[], None]) -> None:
        """Until `stop`: keep the membership fresh and call `on_refresh` after every look (ownership may move)."""
        interval = max(0.2, self.ttl / 3)
        while not stop.is_set():
            try:
                await self.refresh()
            except (EtcdError, CoordinationError) as exc:
                if self.error != str(exc):
                    log.warning("coordination: %s", exc, extra={"member": self.member})
                self.error = str(exc)
                if self.session is not None and not self.session.valid():
                    self.members = ()
            on_refresh()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    async def close(self) -> None:
        """Leave at once (revoke the lease): the others take the gateways over without waiting for the TTL."""
        if self.session is not None:
            await self.session.close()
            self.session, self._locks = None, None
        self.members = ()
        await self.etcd.close()
