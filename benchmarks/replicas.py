"""Reconcile throughput with 1, 2, 3 daemons sharing gateways over etcd (issue #16, "Figures for the note").

Everything runs on 127.0.0.1 as separate processes, as in production: one etcd (`/usr/bin/etcd`,
Debian etcd-server), one STOA emulator per gateway (`python -m reconciler emulate stoa`), and K
daemons (`python -m reconciler daemon`) following a bare Git origin made with the git CLI.

    .venv/bin/python benchmarks/replicas.py [--gateways 30] [--apis 200] [--members 1,2,3] [--ttl 3]

At full size, TTL 3 converges since the keepalive runs on its own thread (it used to lapse while
planning 6,000 APIs held the daemon's event loop; see the README).

For each K: fresh emulators, a fresh etcd prefix and fresh caches; the clock starts when the K daemons
are spawned and stops when every emulator holds all its routes ("first convergence": start-up, clone,
membership and the creates). Then a commit changes every API's backend; the clock starts when `git
push` returns and stops when every route carries the new backend ("change wave": poll, plan, updates).
CPU is user + system time of the daemon processes (and their waited-for children, such as git), read
from /proc; the emulators' CPU is shown too, since they share the same 2 cores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

ETCD = shutil.which("etcd") or "/usr/bin/etcd"
ADMIN_TOKEN = "bench-admin-token"
API_TOKEN = "bench-api-token"
TICK = os.sysconf("SC_CLK_TCK")
GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.invalid",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.invalid"}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True, text=True).stdout.strip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait(predicate: Callable[[], bool], timeout: float, interval: float = 0.05, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not met within {timeout:.0f}s")
        time.sleep(interval)


def cpu_seconds(pid: int) -> float:
    """utime + stime + cutime + cstime of one process (fields 14-17 of /proc/PID/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return sum(int(x) for x in fields[11:15]) / TICK


class Etcd:
    """A single-member etcd with its data in `data_dir` (the flags of tests/coordination/conftest.py)."""

    def __init__(self, data_dir: Path) -> None:
        client, peer = free_port(), free_port()
        self.url, peer_url = f"http://127.0.0.1:{client}", f"http://127.0.0.1:{peer}"
        log = (data_dir.parent / "etcd.log").open("ab")
        self.proc = subprocess.Popen(
            [ETCD, "--name", "bench", "--data-dir", str(data_dir),
             "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
             "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
             "--initial-cluster", f"bench={peer_url}"],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait(lambda: self.proc.poll() is None and httpx.get(f"{self.url}/health", timeout=1).json()["health"] == "true",
             timeout=15, what="etcd healthy")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


class Emulator:
    """`python -m reconciler emulate stoa` as its own process, and a client of its admin API."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "STOA_ADMIN_TOKEN": ADMIN_TOKEN}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "emulate", "stoa", "--port", str(self.port),
             "--token-env", "STOA_ADMIN_TOKEN"],
            env=env, stdout=subprocess.DEVNULL, stderr=(log_dir / f"emulator-{self.port}.log").open("wb"))
        self.client = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30)

    def ready(self) -> bool:
        return self.proc.poll() is None and self.client.get("/admin/health").status_code == 200

    def backends(self) -> dict[str, str]:
        return {r["id"]: r["backend_url"] for r in self.client.get("/admin/apis").json()}

    def stop(self) -> None:
        self.client.close()
        self.proc.terminate()
        self.proc.wait(timeout=10)


def repo_files(gateways: list[str], apis: int, backend: str) -> dict[str, str]:
    """The desired state: one STOA GatewayInstance per gateway, `apis` APIs on each (as test_replicas.py)."""
    files = {"reconciler.yaml": "apiVersion: gostoa.dev/v1alpha1\nkind: ReconcilerSettings\n"
                                f"spec: {{owner: platform, prune: true, maxDeletes: {apis}}}\n"}
    for gw in gateways:
        files[f"gateways/{gw}.yaml"] = (
            "apiVersion: gostoa.dev/v1alpha1\nkind: GatewayInstance\n"
            f"metadata: {{name: {gw}}}\nspec: {{displayName: {gw}, gatewayType: stoa, environment: dev, "
            "baseUrl: 'http://127.0.0.1:9', credentials: {token: {env: STOA_ADMIN_TOKEN}}}\n")
        for i in range(apis):
            name = f"{gw}-api{i}"
            files[f"apis/{gw}/{name}.yaml"] = (
                "apiVersion: gostoa.dev/v1alpha1\nkind: API\n"
                f"metadata: {{name: {name}}}\nspec:\n  tenant: acme\n  version: 1.0.0\n"
                f"  basePath: /api{i}\n  backend: https://api{i}.{backend}.example.com/v1\n  methods: [GET]\n"
                f"  gateways: [{gw}]\n")
    return files


class Origin:
    """A bare repository and a working clone that pushes to it with the git CLI."""

    def __init__(self, root: Path) -> None:
        self.bare, self.work = root / "origin.git", root / "work"
        git(root, "init", "-q", "--bare", "-b", "main", str(self.bare))
        git(root, "init", "-q", "-b", "main", str(self.work))
        git(self.work, "remote", "add", "origin", str(self.bare))

    def push(self, files: dict[str, str], message: str) -> None:
        for rel, text in files.items():
            target = self.work / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "-m", message)
        git(self.work, "push", "-q", "origin", "main")


class Daemon:
    """`python -m reconciler daemon` coordinated on etcd; its logs go to a file."""

    def __init__(self, tmp: Path, member: str, ttl: int, settings: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("RECONCILER_")}
        env.update({"RECONCILER_PORT": str(self.port), "RECONCILER_MEMBER_ID": member,
                    "RECONCILER_CACHE_DIR": str(tmp / f"cache-{member}"), "RECONCILER_MEMBER_TTL": str(ttl),
                    "RECONCILER_HEARTBEAT_INTERVAL": "0", "RECONCILER_DRIFT_INTERVAL": "0",
                    "RECONCILER_API_TOKEN": API_TOKEN, "STOA_ADMIN_TOKEN": ADMIN_TOKEN, "LOG_LEVEL": "WARNING",
                    **settings})
        self.log = (tmp / f"daemon-{member}.log").open("wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "reconciler", "daemon"], env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    def owned(self) -> int:
        coordination = httpx.get(f"{self.url}/health", headers={"Authorization": f"Bearer {API_TOKEN}"},
                                 timeout=5).json().get("coordination") or {}
        return len(coordination.get("owned", []))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def converged(emulators: dict[str, Emulator], expected: Callable[[str], dict[str, str]],
              pending: set[str]) -> Callable[[], bool]:
    """A predicate that re-reads only the gateways not yet converged (fewer reads, less shared CPU)."""
    def check() -> bool:
        for gw in sorted(pending):
            if emulators[gw].backends() == expected(gw):
                pending.discard(gw)
        return not pending
    return check


def expected_routes(apis: int, backend: str) -> Callable[[str], dict[str, str]]:
    return lambda gw: {f"platform.{gw}-api{i}": f"https://api{i}.{backend}.example.com/v1" for i in range(apis)}


@dataclass(frozen=True)
class Row:
    """The figures of one K."""

    k: int
    first_s: float
    wave_s: float
    cpu_first_s: float
    cpu_wave_s: float
    emu_cpu_s: float
    owned: list[int]
    load: float


def run_k(k: int, tmp: Path, etcd: Etcd, origin: Origin, gateways: list[str], args: argparse.Namespace,
          wave: int) -> Row:
    run_dir = tmp / f"k{k}"
    run_dir.mkdir()
    emulators = {gw: Emulator(run_dir) for gw in gateways}
    daemons: list[Daemon] = []
    try:
        wait(lambda: all(e.ready() for e in emulators.values()), timeout=120, what="emulators up")
        endpoints = ",".join(f"{gw}={e.url}" for gw, e in emulators.items())
        settings = {"RECONCILER_GIT_URL": str(origin.bare), "RECONCILER_ENDPOINTS": endpoints,
                    "RECONCILER_ETCD_URL": etcd.url, "RECONCILER_ETCD_PREFIX": f"/bench-k{k}",
                    "RECONCILER_POLL_INTERVAL": str(args.poll_interval), "RECONCILER_POLL_JITTER": "0"}
        emu_cpu0 = sum(cpu_seconds(e.proc.pid) for e in emulators.values())
        t0 = time.monotonic()
        daemons = [Daemon(run_dir, f"d{i}", args.ttl, settings) for i in range(k)]
        wait(converged(emulators, expected_routes(args.apis, f"v{wave}"), set(gateways)),
             timeout=args.timeout, interval=0.25, what=f"K={k} first convergence")
        first = time.monotonic() - t0
        cpu_first = sum(d.cpu() for d in daemons)
        owned = [d.owned() for d in daemons]
        print(f"K={k} first convergence: {first:.1f}s, daemon CPU {cpu_first:.1f}s, owned {owned}", flush=True)

        origin.push(repo_files(gateways, args.apis, f"v{wave + 1}"), f"K={k}: every backend changes")
        t1 = time.monotonic()
        wait(converged(emulators, expected_routes(args.apis, f"v{wave + 1}"), set(gateways)),
             timeout=args.timeout, interval=0.25, what=f"K={k} change wave")
        change = time.monotonic() - t1
        cpu_total = sum(d.cpu() for d in daemons)
        emu_cpu = sum(cpu_seconds(e.proc.pid) for e in emulators.values()) - emu_cpu0
    except TimeoutError:
        for d in daemons:
            d.log.flush()
            print(f"--- {d.log.name} (last lines)\n" + Path(d.log.name).read_text()[-3000:], file=sys.stderr)
        some = next(iter(emulators.values()))
        print(f"--- {some.url} holds {len(some.backends())} routes, e.g. {list(some.backends().items())[:2]}",
              file=sys.stderr)
        raise
    else:
        return Row(k, first, change, cpu_first, cpu_total - cpu_first, emu_cpu, owned, os.getloadavg()[0])
    finally:
        for d in daemons:
            d.stop()
        for e in emulators.values():
            e.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gateways", type=int, default=30)
    parser.add_argument("--apis", type=int, default=200, help="APIs per gateway")
    parser.add_argument("--members", default="1,2,3", help="comma-separated daemon counts")
    parser.add_argument("--poll-interval", type=float, default=1.0, help="daemons' Git poll interval, seconds")
    parser.add_argument("--ttl", type=int, default=3, help="RECONCILER_MEMBER_TTL of the daemons, seconds")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds allowed for one convergence")
    args = parser.parse_args()
    if not Path(ETCD).is_file():
        sys.exit(f"{ETCD} is missing: apt-get install -y etcd-server")
    members = [int(x) for x in args.members.split(",") if x.strip()]
    gateways = [f"stoa-{i:02d}" for i in range(args.gateways)]
    total = args.gateways * args.apis
    print(f"{args.gateways} gateways x {args.apis} APIs = {total} APIs; daemons {members}; member TTL {args.ttl}s; "
          f"poll {args.poll_interval}s; {os.cpu_count()} cores; load average at start "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-replicas-") as tmpdir:
        tmp = Path(tmpdir)
        etcd = Etcd(tmp / "etcd-data")
        try:
            origin = Origin(tmp)
            wave = 0
            origin.push(repo_files(gateways, args.apis, f"v{wave}"), "base")
            for k in members:
                rows.append(run_k(k, tmp, etcd, origin, gateways, args, wave))
                wave += 1
                r = rows[-1]
                print(f"K={k} done: first {r.first_s:.1f}s, wave {r.wave_s:.1f}s, owned {r.owned}, "
                      f"load {r.load:.2f}", flush=True)
        finally:
            etcd.stop()

    print()
    print("| K | first convergence s | APIs/s | change wave s | APIs/s | daemon CPU s (first + wave) "
          "| emulator CPU s | gateways per daemon | load avg (1 min) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r.k} | {r.first_s:.1f} | {total / r.first_s:.0f} | {r.wave_s:.1f} | "
              f"{total / r.wave_s:.0f} | {r.cpu_first_s:.1f} + {r.cpu_wave_s:.1f} | {r.emu_cpu_s:.1f} | "
              f"{'/'.join(str(n) for n in r.owned)} | {r.load:.2f} |")
    base = rows[0]
    for r in rows[1:]:
        print(f"K={r.k}: speed-up vs K={base.k}: first {base.first_s / r.first_s:.2f}x, "
              f"wave {base.wave_s / r.wave_s:.2f}x")


if __name__ == "__main__":
    main()
