"""One lease, kept alive in the background, that knows locally when it may already be gone.

Fencing needs an answer before every write without a network call: the lease is certainly alive
until `sent + TTL` of the last keepalive etcd answered (etcd starts the new TTL when it receives
the request, later than we sent it), so `valid()` compares the monotonic clock with that deadline
minus a margin. A keepalive answered with TTL 0 (expired, revoked) marks the session lost at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from reconciler.coordination.etcd import Etcd, EtcdError

log = logging.getLogger("reconciler.coordination")


class Session:
    """A granted lease and its keepalive task; `lost` once it may have expired (never revived)."""

    def __init__(self, etcd: Etcd, lease: int, ttl: int, granted_at: float) -> None:
        self.etcd = etcd
        self.lease = lease
        self.ttl = ttl
        self._deadline = granted_at + ttl
        self._lost = False
        self.lost_reason: str | None = None
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, etcd: Etcd, ttl: int) -> Session:
        sent = time.monotonic()
        lease, granted = await etcd.grant(ttl)
        session = cls(etcd, lease, granted, sent)
        session._task = asyncio.create_task(session._keepalive(), name=f"lease {lease:x}")
        return session

    @property
    def margin(self) -> float:
        """Stop writing this long before the lease could expire (in-flight requests still land)."""
        return min(1.0, self.ttl / 4)

    def valid(self) -> bool:
        if not self._lost and time.monotonic() >= self._deadline - self.margin:
            self._mark_lost("no keepalive answered in time")
        return not self._lost

    @property
    def lost(self) -> bool:
        return not self.valid()

    def _mark_lost(self, reason: str) -> None:
        if not self._lost:
            self._lost, self.lost_reason = True, reason
            log.warning("lease %x lost: %s", self.lease, reason, extra={"lease": f"{self.lease:x}"})

    async def _keepalive(self) -> None:
        interval = max(0.2, self.ttl / 3)
        while self.valid():
            await asyncio.sleep(interval)
            sent = time.monotonic()
            try:
                ttl = await self.etcd.keepalive(self.lease)
            except EtcdError as exc:
                log.debug("keepalive failed: %s", exc)
                continue  # retried until the deadline passes; `valid()` then says lost
            if ttl <= 0:
                self._mark_lost("etcd says the lease expired")
                return
            self._deadline = max(self._deadline, sent + ttl)

    async def close(self) -> None:
        """Stop the keepalive and revoke the lease (its keys go with it); best effort when etcd is away."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        lost, self._lost, self.lost_reason = self._lost, True, self.lost_reason or "closed"
        if not lost:
            with contextlib.suppress(EtcdError):
                await self.etcd.revoke(self.lease)
