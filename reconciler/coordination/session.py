"""One lease, kept alive by a thread of its own, that knows locally when it may already be gone.

Fencing needs an answer before every write without a network call: the lease is certainly alive
until `sent + TTL` of the last keepalive etcd answered (etcd starts the new TTL when it receives
the request, later than we sent it), so `valid()` compares the monotonic clock with that deadline
minus a margin. A keepalive answered with TTL 0 (expired, revoked) marks the session lost at once.

Why a thread and not an asyncio task: planning thousands of APIs is CPU-bound pure code that holds
the event loop for seconds; a keepalive task on that loop then sends nothing and the lease lapses
(seen at 30 gateways x 200 APIs with TTL 3). The thread has a synchronous client of its own; the
deadline and the lost flag are shared with the loop under a lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time

from reconciler.coordination.etcd import BlockingEtcd, Etcd, EtcdError

log = logging.getLogger("reconciler.coordination")


class Session:
    """A granted lease and its keepalive thread; `lost` once it may have expired (never revived)."""

    def __init__(self, etcd: Etcd, lease: int, ttl: int, granted_at: float) -> None:
        self.etcd = etcd
        self.lease = lease
        self.ttl = ttl
        self._state = threading.Lock()
        self._deadline = granted_at + ttl
        self._lost = False
        self.lost_reason: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    async def open(cls, etcd: Etcd, ttl: int) -> Session:
        sent = time.monotonic()
        lease, granted = await etcd.grant(ttl)
        session = cls(etcd, lease, granted, sent)
        # one keepalive may take up to an interval: the next one is then still in time
        client = etcd.blocking(timeout=max(0.5, session.interval))
        session._thread = threading.Thread(target=session._keepalive, args=(client,), name=f"lease {lease:x}",
                                           daemon=True)
        session._thread.start()
        return session

    @property
    def margin(self) -> float:
        """Stop writing this long before the lease could expire (in-flight requests still land)."""
        return min(1.0, self.ttl / 4)

    @property
    def interval(self) -> float:
        """Seconds between keepalives: three chances per TTL."""
        return max(0.2, self.ttl / 3)

    def valid(self) -> bool:
        """Local and network-free: the lease is certainly alive (safe from any thread)."""
        with self._state:
            if not self._lost and time.monotonic() >= self._deadline - self.margin:
                self._mark_lost("no keepalive answered in time")
            return not self._lost

    @property
    def lost(self) -> bool:
        return not self.valid()

    def _mark_lost(self, reason: str) -> None:
        """Called with `_state` held."""
        if not self._lost:
            self._lost, self.lost_reason = True, reason
            if reason != "closed":
                log.warning("lease %x lost: %s", self.lease, reason, extra={"lease": f"{self.lease:x}"})

    def _keepalive(self, client: BlockingEtcd) -> None:
        """The thread: renew every `interval` until closed or lost; failures are retried until the deadline."""
        try:
            while not self._stop.wait(self.interval) and self.valid():
                sent = time.monotonic()
                try:
                    ttl = client.keepalive(self.lease)
                except EtcdError as exc:
                    log.debug("keepalive failed: %s", exc)
                    continue  # retried until the deadline passes; `valid()` then says lost
                with self._state:
                    if ttl <= 0:
                        self._mark_lost("etcd says the lease expired")
                        return
                    self._deadline = max(self._deadline, sent + ttl)
        finally:
            client.close()

    async def close(self) -> None:
        """Stop the keepalive and revoke the lease (its keys go with it); best effort when etcd is away."""
        self._stop.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)  # at most one keepalive's timeout
        with self._state:
            lost = self._lost
            self._mark_lost("closed")
        if not lost:
            with contextlib.suppress(EtcdError):
                await self.etcd.revoke(self.lease)
