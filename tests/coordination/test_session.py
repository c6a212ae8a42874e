"""The lease's keepalive survives an event loop held busy by CPU-bound planning (real etcd).

Planning thousands of APIs is pure code that holds the event loop for seconds; the keepalive runs
on a thread of its own, so the lease lives through it and `valid()` (a local check) stays True.
"""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest

from reconciler.coordination.etcd import Etcd
from reconciler.coordination.session import Session
from tests.coordination.conftest import EtcdServer

pytestmark = pytest.mark.e2e

TTL = 2


def time_to_live(url: str, lease: int) -> int:
    """etcd's own answer: the lease's remaining TTL in seconds (-1: it does not exist any more)."""
    body = httpx.post(f"{url}/v3/lease/timetolive", json={"ID": str(lease)}, timeout=5).json()
    return int(body.get("TTL", -1))


def test_the_lease_outlives_a_blocked_event_loop(etcd: EtcdServer) -> None:
    async def scenario() -> tuple[int, bool, str | None, int]:
        client = Etcd(etcd.url)
        session = await Session.open(client, TTL)
        try:
            time.sleep(2 * TTL + 0.5)  # a plan of 6,000 APIs: the loop runs nothing else meanwhile
            alive, valid, reason = time_to_live(etcd.url, session.lease), session.valid(), session.lost_reason
            await session.close()
            return alive, valid, reason, time_to_live(etcd.url, session.lease)
        finally:
            await client.close()

    alive, valid, reason, after_close = asyncio.run(scenario())
    assert alive > 0, f"the lease expired in etcd while the loop was busy (TTL {alive})"
    assert valid, f"the session says lost after a busy loop: {reason}"
    assert after_close == -1, "close() must revoke the lease"


def test_close_stops_the_keepalive_thread(etcd: EtcdServer) -> None:
    async def scenario() -> Session:
        client = Etcd(etcd.url)
        try:
            session = await Session.open(client, TTL)
            await session.close()
            return session
        finally:
            await client.close()

    before = {t.ident for t in threading.enumerate()}
    session = asyncio.run(scenario())
    assert not session.valid() and session.lost_reason == "closed"
    left = [t.name for t in threading.enumerate() if t.ident not in before]
    assert left == [], f"threads still running after close: {left}"


def test_a_lease_revoked_elsewhere_is_lost_at_once(etcd: EtcdServer) -> None:
    """The keepalive hears TTL 0 and marks the session lost well before the local deadline."""
    async def scenario() -> tuple[bool, str | None, float]:
        client = Etcd(etcd.url)
        session = await Session.open(client, 6)
        try:
            httpx.post(f"{etcd.url}/v3/lease/revoke", json={"ID": str(session.lease)}, timeout=5)
            started = time.monotonic()
            while session.valid() and time.monotonic() - started < 6:
                await asyncio.sleep(0.05)
            return session.valid(), session.lost_reason, time.monotonic() - started
        finally:
            await session.close()
            await client.close()

    valid, reason, took = asyncio.run(scenario())
    assert not valid and reason == "etcd says the lease expired"
    assert took < 3.5, f"noticed the revoke only after {took:.1f}s"
