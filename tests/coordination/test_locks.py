"""The per-gateway write lock, with real `reconciler apply` processes, a real etcd and the STOA emulator.

Two proxies in front of one emulator slow every write down, one proxy per process, so each records
when its process wrote: without the lock the two applies overlap; with it they never interleave.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.requests import Request
from starlette.responses import Response

from reconciler.adapters.stoa.emulator import StoaEmulator
from reconciler.coordination.errors import LockTimeout
from reconciler.coordination.etcd import Etcd
from reconciler.coordination.locks import Locks, read_locks
from reconciler.coordination.session import Session
from tests.coordination.conftest import EtcdServer, TimedProxy, Write
from tests.daemon.conftest import ADMIN_TOKEN, manifests
from tests.faults import FaultProxy, Faults, _dropped

pytestmark = pytest.mark.e2e

SLOW_WRITES = [("POST", "/admin/.*", 0.4), ("DELETE", "/admin/.*", 0.4)]


def write_repo(root: Path, apis: list[str]) -> Path:
    for rel, text in manifests(apis).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def start_apply(repo: Path, endpoint: str, etcd_url: str | None, *extra: str,
                settings: dict[str, str] | None = None) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECONCILER_")}
    env["STOA_ADMIN_TOKEN"] = ADMIN_TOKEN
    if etcd_url is not None:
        env["RECONCILER_ETCD_URL"] = etcd_url
    env.update(settings or {})
    return subprocess.Popen([sys.executable, "-m", "reconciler", "apply", str(repo), "--auto-approve",
                             "--endpoint", f"stoa-dev={endpoint}", *extra],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def span(writes: list[Write]) -> tuple[float, float]:
    return min(w.start for w in writes), max(w.end for w in writes)


@pytest.fixture
def two_writers(tmp_path: Path) -> Iterator[tuple[StoaEmulator, TimedProxy, TimedProxy, Path, Path]]:
    with StoaEmulator(admin_token=ADMIN_TOKEN) as emu:
        with TimedProxy(emu.url, SLOW_WRITES) as a, TimedProxy(emu.url, SLOW_WRITES) as b:
            # different desired states (prune on): whichever runs second has writes of its own to do
            yield (emu, a, b, write_repo(tmp_path / "one", ["alpha", "beta", "gamma"]),  # type: ignore[misc]
                   write_repo(tmp_path / "two", ["delta", "epsilon", "zeta"]))


def run_both(a: TimedProxy, b: TimedProxy, one: Path, two: Path, etcd_url: str | None) -> None:
    first = start_apply(one, a.url, etcd_url)
    second = start_apply(two, b.url, etcd_url)
    for proc in (first, second):
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, f"apply exited {proc.returncode}:\n{out}\n{err}"


def test_without_the_lock_two_applies_do_overlap(two_writers: tuple[StoaEmulator, TimedProxy, TimedProxy, Path, Path]
                                                 ) -> None:
    """The control: the setup really makes two writers collide when nothing coordinates them."""
    _, a, b, one, two = two_writers
    run_both(a, b, one, two, None)
    (a0, a1), (b0, b1) = span(a.spans), span(b.spans)
    assert a0 < b1 and b0 < a1, "the control run did not overlap: the lock test would prove nothing"


def test_with_the_lock_two_applies_never_interleave(
        etcd: EtcdServer, two_writers: tuple[StoaEmulator, TimedProxy, TimedProxy, Path, Path]) -> None:
    emu, a, b, one, two = two_writers
    run_both(a, b, one, two, etcd.url)
    assert a.spans and b.spans, "both applies must have written (the second one after the first)"
    (a0, a1), (b0, b1) = span(a.spans), span(b.spans)
    assert a1 <= b0 or b1 <= a0, f"writes interleaved: A {a0:.3f}-{a1:.3f}, B {b0:.3f}-{b1:.3f}"
    # the lock was released with the lease: nothing is left behind in etcd
    assert asyncio.run(_locks(etcd.url)) == {}


async def _locks(url: str) -> dict[str, str]:
    client = Etcd(url)
    try:
        return {g: i.holder for g, i in (await read_locks(client, "/stoa-reconciler")).items()}
    finally:
        await client.close()


def test_lock_timeout_zero_fails_fast_with_the_holder_named(etcd: EtcdServer, tmp_path: Path) -> None:
    repo = write_repo(tmp_path / "repo", ["alpha"])

    async def hold_and_try() -> tuple[subprocess.CompletedProcess[str], float]:
        client = Etcd(etcd.url)
        session = await Session.open(client, 10)
        locks = Locks(session, "/stoa-reconciler", "daemon-x", timeout=0)
        try:
            async with locks.hold(frozenset({"stoa-dev"}), None):
                started = time.monotonic()
                env = {k: v for k, v in os.environ.items() if not k.startswith("RECONCILER_")}
                env.update({"STOA_ADMIN_TOKEN": ADMIN_TOKEN, "RECONCILER_ETCD_URL": etcd.url})
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "reconciler", "apply", str(repo), "--auto-approve", "--lock-timeout", "0",
                    "--endpoint", "stoa-dev=http://127.0.0.1:9", env=env,
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
                out, err = await proc.communicate()
                elapsed = time.monotonic() - started
                # a second holder in-process is refused the same way
                other = Locks(await Session.open(client, 10), "/stoa-reconciler", "someone", timeout=0)
                with pytest.raises(LockTimeout, match="locked by daemon-x"):
                    async with other.hold(frozenset({"stoa-dev"}), None):
                        pass
                await other.session.close()
                return subprocess.CompletedProcess([], proc.returncode or 0, out.decode(), err.decode()), elapsed
        finally:
            await session.close()
            await client.close()

    done, elapsed = asyncio.run(hold_and_try())
    assert done.returncode == 1
    assert "error: gateway stoa-dev is locked by daemon-x" in done.stderr
    assert "nothing was applied" in done.stderr and "--lock-timeout" in done.stderr
    assert done.stdout == ""  # refused before anything was planned or printed
    assert elapsed < 5, f"--lock-timeout 0 took {elapsed:.1f}s"


def test_unreachable_etcd_is_a_clear_error(tmp_path: Path) -> None:
    from tests.conftest import free_port

    repo = write_repo(tmp_path / "repo", ["alpha"])
    proc = start_apply(repo, "http://127.0.0.1:9", f"http://127.0.0.1:{free_port()}")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1 and out == ""
    assert "error: cannot reach etcd (RECONCILER_ETCD_URL)" in err


class DropFirstTxnAnswer(FaultProxy):
    """Forwards everything to etcd, but cuts the connection after the first transaction, before its answer."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream, Faults())
        self.dropped = 0

    async def _forward(self, request: Request) -> Response:
        response = await super()._forward(request)
        if request.url.path == "/v3/kv/txn" and not self.dropped:
            self.dropped += 1
            return _dropped()
        return response


def test_a_lock_whose_answer_was_lost_is_retried_and_recognised_as_ours(etcd: EtcdServer) -> None:
    """The create landed in etcd, its answer did not: the retry finds our own key (our lease) and holds it."""
    async def scenario(url: str) -> tuple[dict[str, str], dict[str, str]]:
        client = Etcd(url)
        session = await Session.open(client, 10)
        try:
            async with Locks(session, "/stoa-reconciler", "daemon-a", timeout=5).hold(frozenset({"gw"}), None):
                during = await _locks(etcd.url)
            return during, await _locks(etcd.url)
        finally:
            await session.close()
            await client.close()

    with DropFirstTxnAnswer(etcd.url) as proxy:
        started = time.monotonic()
        during, after = asyncio.run(scenario(proxy.url))
        took = time.monotonic() - started
    assert proxy.dropped == 1, "the fault was not injected: the test proves nothing"
    assert during == {"gw": "daemon-a"} and after == {}
    assert took < 4, f"the lock was not recognised as ours at once ({took:.1f}s: waited for itself?)"
