"""Three daemon processes, one etcd, six STOA emulators: sharing, failover after kill -9, etcd lost."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.adapters.stoa.emulator import StoaEmulator
from tests.coordination.conftest import EtcdServer
from tests.daemon.conftest import ADMIN_TOKEN, API_TOKEN, DaemonProcess, Origin, start_daemon, wait_until

pytestmark = pytest.mark.e2e
__all__ = ["start_daemon"]  # the fixture, shared with the daemon tests

GATEWAYS = [f"stoa-{i}" for i in range(6)]
TTL = 3


def repo_files(apis: list[str]) -> dict[str, str]:
    files = {"reconciler.yaml": "apiVersion: gostoa.dev/v1alpha1\nkind: ReconcilerSettings\n"
                                "spec: {owner: platform, prune: true, maxDeletes: 50}\n"}
    for gw in GATEWAYS:
        files[f"gateways/{gw}.yaml"] = (
            "apiVersion: gostoa.dev/v1alpha1\nkind: GatewayInstance\n"
            f"metadata: {{name: {gw}}}\nspec: {{displayName: {gw}, gatewayType: stoa, environment: dev, baseUrl: 'http://127.0.0.1:9',"
            " credentials: {token: {env: STOA_ADMIN_TOKEN}}}\n")
        for api in apis:
            files[f"apis/{gw}-{api}.yaml"] = (
                "apiVersion: gostoa.dev/v1alpha1\nkind: API\n"
                f"metadata: {{name: {gw}-{api}}}\nspec:\n  tenant: acme\n  version: 1.0.0\n"
                f"  basePath: /{api}\n  backend: https://{api}.example.com\n  methods: [GET]\n  gateways: [{gw}]\n")
    return files


@pytest.fixture
def emulators() -> Iterator[dict[str, StoaEmulator]]:
    emus = {gw: StoaEmulator(admin_token=ADMIN_TOKEN) for gw in GATEWAYS}
    for emu in emus.values():
        emu.__enter__()
    yield emus
    for emu in emus.values():
        emu.__exit__(None, None, None)


def routes(emu: StoaEmulator) -> set[str]:
    with httpx.Client(base_url=emu.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=5) as c:
        return {r["id"] for r in c.get("/admin/apis").json()}


def status(d: DaemonProcess) -> dict[str, Any]:
    return dict(d.client.get("/status", headers={"Authorization": f"Bearer {API_TOKEN}"}).json())


def test_three_daemons_share_fail_over_and_stop_without_etcd(
        tmp_path: Path, etcd: EtcdServer, emulators: dict[str, StoaEmulator],
        start_daemon: Callable[..., DaemonProcess]) -> None:
    origin = Origin(tmp_path)
    origin.push(repo_files(["orders"]))
    endpoints = ",".join(f"{gw}={emu.url}" for gw, emu in emulators.items())
    daemons = [start_daemon({"RECONCILER_GIT_URL": str(origin.bare), "RECONCILER_ENDPOINTS": endpoints,
                             "RECONCILER_POLL_INTERVAL": "0.5", "RECONCILER_POLL_JITTER": "0",
                             "RECONCILER_ETCD_URL": etcd.url, "RECONCILER_MEMBER_ID": f"d{i}",
                             "RECONCILER_MEMBER_TTL": str(TTL), "RECONCILER_CACHE_DIR": str(tmp_path / f"cache{i}")})
               for i in range(3)]

    def owned() -> dict[str, set[str]]:
        out = {}
        for d in daemons:
            if d.proc.poll() is None:
                c = d.health()["coordination"]
                out[c["member"]] = set(c["owned"]) if c["ready"] and len(c["members"]) == live() - 1 else set()
        return out

    def live() -> int:
        return sum(d.proc.poll() is None for d in daemons)

    # every gateway has exactly one owner, and every member sees the other two
    def shared() -> dict[str, set[str]] | None:
        table = owned()
        union = set().union(*table.values())
        return table if union == set(GATEWAYS) and sum(len(s) for s in table.values()) == len(GATEWAYS) else None

    table = wait_until(shared, timeout=20)
    wait_until(lambda: all(routes(emulators[gw]) for gw in GATEWAYS), timeout=15)

    # a new commit: every gateway reconciled by exactly one daemon (its owner), the others skip it
    before = {d.url: status(d)["gateways"] for d in daemons}
    head = origin.push(repo_files(["orders", "billing"]), "add billing")
    wait_until(lambda: all(len(routes(emulators[gw])) == 2 for gw in GATEWAYS), timeout=15)
    by_member = {d.health()["coordination"]["member"]: d for d in daemons}
    for gw in GATEWAYS:
        reconciled = [m for m, d in by_member.items()
                      if status(d)["gateways"][gw]["reconciles"] > before[d.url][gw]["reconciles"]]
        owner = next(m for m, s in table.items() if gw in s)
        assert reconciled == [owner], f"{gw}: reconciled by {reconciled}, owner {owner}"
        assert wait_until(lambda: status(by_member[owner])["gateways"][gw]["last_commit"] == head)  # noqa: B023
        assert status(by_member[owner])["gateways"][gw]["owner"] == owner
    assert by_member["d0"].metric("reconciler_members") == 3

    # kill -9 the member with the most gateways; wipe them (restarted empty) and time the takeover
    victim_id = max(table, key=lambda m: len(table[m]))
    victim, lost = by_member[victim_id], table[victim_id]
    assert lost
    victim.kill()
    killed = time.monotonic()
    for gw in lost:
        emulators[gw].restart()
    wait_until(lambda: all(len(routes(emulators[gw])) == 2 for gw in lost), timeout=4 * TTL, interval=0.05)
    takeover = time.monotonic() - killed
    print(f"\ntakeover after kill -9 of {victim_id} ({len(lost)} gateways): {takeover:.2f}s (member TTL {TTL}s)")
    assert takeover <= 2 * TTL, f"takeover took {takeover:.2f}s, more than 2 x TTL ({TTL}s)"
    survivors = [d for d in daemons if d is not victim]
    after = wait_until(shared, timeout=10)
    assert victim_id not in after and set().union(*after.values()) == set(GATEWAYS)

    # etcd gone: the leases lapse, nothing is applied any more, /health says degraded (still 200)
    etcd.stop()
    for d in survivors:
        wait_until(lambda: d.client.get("/health").status_code == 200  # noqa: B023
                   and d.health()["status"] == "degraded"  # noqa: B023
                   and not d.health()["coordination"]["ready"], timeout=3 * TTL)  # noqa: B023
        body = d.health()
        assert body["coordination"]["owned"] == []
        assert any("holds no lease" in p for p in body["problems"])
    for emu in emulators.values():
        emu.clear_log()
    new_head = origin.push(repo_files(["orders", "billing", "search"]), "add search")
    wait_until(lambda: all(d.health()["source"]["good_commit"] == new_head for d in survivors), timeout=10)
    time.sleep(1.0)
    assert all(emu.writes == [] for emu in emulators.values()), "a daemon without a lease wrote to a gateway"
