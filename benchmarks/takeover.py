"""Takeover time after `kill -9` of a daemon (issue #16, "Figures for the note"): median of N rounds.

The processes of `benchmarks/replicas.py` (its helpers are imported, not copied): one etcd, one STOA
emulator process per gateway, K daemons on a bare Git origin, all on 127.0.0.1.

    .venv/bin/python benchmarks/takeover.py [--gateways 9] [--apis 5] [--members 3] [--ttl 3] [--rounds 5]

Each round: wait until every gateway has exactly one owner, kill -9 the daemon owning the most, then
push a commit that changes every backend. The clock starts at the kill and stops when every gateway
of the dead daemon carries the new backend: its lease has to lapse (at most one TTL after its last
keepalive), a survivor has to see it gone (membership is re-read every TTL/3) and apply. The killed
daemon is then started again with the same member id and gets its share back before the next round.
The bound the issue sets is 2 x TTL.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from replicas import API_TOKEN, ETCD, Daemon, Emulator, Etcd, Origin, converged, expected_routes, repo_files, wait


def coordination(daemon: Daemon) -> dict[str, Any]:
    body = httpx.get(f"{daemon.url}/health", headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=5).json()
    return dict(body.get("coordination") or {})


def settled(daemons: list[Daemon], gateways: list[str]) -> dict[str, set[str]] | None:
    """member -> gateways, once every live member is ready, sees all the others, and shares are exact."""
    table: dict[str, set[str]] = {}
    for d in daemons:
        c = coordination(d)
        if not c.get("ready") or len(c.get("members", [])) != len(daemons) - 1:
            return None
        table[str(c["member"])] = set(c["owned"])
    union = set().union(*table.values())
    return table if union == set(gateways) and sum(len(s) for s in table.values()) == len(gateways) else None


def kill(daemon: Daemon) -> None:
    daemon.proc.kill()
    daemon.proc.wait()
    daemon.log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gateways", type=int, default=9)
    parser.add_argument("--apis", type=int, default=5, help="APIs per gateway")
    parser.add_argument("--members", type=int, default=3, help="daemons")
    parser.add_argument("--ttl", type=int, default=3, help="RECONCILER_MEMBER_TTL, seconds")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--poll-interval", type=float, default=0.5, help="daemons' Git poll interval, seconds")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds allowed for one wait")
    args = parser.parse_args()
    if not Path(ETCD).is_file():
        sys.exit(f"{ETCD} is missing: apt-get install -y etcd-server")
    gateways = [f"stoa-{i:02d}" for i in range(args.gateways)]
    print(f"{args.members} daemons, {args.gateways} gateways x {args.apis} APIs, member TTL {args.ttl}s, "
          f"poll {args.poll_interval}s, {args.rounds} rounds; {os.cpu_count()} cores, load average at start "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    times: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-takeover-") as tmpdir:
        tmp = Path(tmpdir)
        etcd = Etcd(tmp / "etcd-data")
        emulators = {gw: Emulator(tmp) for gw in gateways}
        daemons: list[Daemon] = []
        try:
            wait(lambda: all(e.ready() for e in emulators.values()), timeout=args.timeout, what="emulators up")
            origin = Origin(tmp)
            origin.push(repo_files(gateways, args.apis, "v0"), "base")
            settings = {"RECONCILER_GIT_URL": str(origin.bare), "RECONCILER_ETCD_URL": etcd.url,
                        "RECONCILER_ENDPOINTS": ",".join(f"{gw}={e.url}" for gw, e in emulators.items()),
                        "RECONCILER_POLL_INTERVAL": str(args.poll_interval), "RECONCILER_POLL_JITTER": "0"}
            daemons = [Daemon(tmp, f"d{i}", args.ttl, settings) for i in range(args.members)]
            wait(converged(emulators, expected_routes(args.apis, "v0"), set(gateways)), timeout=args.timeout,
                 interval=0.25, what="first convergence")
            for n in range(1, args.rounds + 1):
                table: dict[str, set[str]] = {}

                def shares() -> bool:
                    found = settled(daemons, gateways)
                    table.update(found or {})
                    return found is not None

                wait(shares, timeout=args.timeout, interval=0.1, what="one owner per gateway")
                victim_id = max(sorted(table), key=lambda m: len(table[m]))
                victim = next(d for d in daemons if d.log.name.endswith(f"daemon-{victim_id}.log"))
                lost = table[victim_id]
                kill(victim)
                killed = time.monotonic()
                origin.push(repo_files(gateways, args.apis, f"v{n}"), f"round {n}: every backend changes")
                wait(converged(emulators, expected_routes(args.apis, f"v{n}"), set(lost)), timeout=args.timeout,
                     interval=0.05, what=f"round {n}: takeover")
                took = time.monotonic() - killed
                times.append(took)
                verdict = "within" if took <= 2 * args.ttl else "OVER"
                print(f"round {n}: kill -9 {victim_id} ({len(lost)} gateways): taken over in {took:.2f}s "
                      f"({verdict} 2 x TTL = {2 * args.ttl}s)", flush=True)
                wait(converged(emulators, expected_routes(args.apis, f"v{n}"), set(gateways)), timeout=args.timeout,
                     interval=0.1, what=f"round {n}: the survivors' own gateways")
                daemons[daemons.index(victim)] = Daemon(tmp, victim_id, args.ttl, settings)
        finally:
            for d in daemons:
                d.stop()
            for e in emulators.values():
                e.stop()
            etcd.stop()
    if times:
        print(f"\ntakeover after kill -9, TTL {args.ttl}s, {len(times)} rounds: median {statistics.median(times):.2f}s, "
              f"min {min(times):.2f}s, max {max(times):.2f}s (bound 2 x TTL = {2 * args.ttl}s)")


if __name__ == "__main__":
    main()
