"""Scale figures for the foundation: 10,000 APIs + 10,000 policies + 10,000 consumers.

Prints:
- engine time (no I/O): canonical desired records + pairing + diff + ordering of an in-sync state;
- the same for a state where every policy changed (10,000 field diffs);
- apply time of everything to a STOA emulator (run as a separate process: `reconciler emulate stoa`);
- full in-sync plan time against that emulator (load, validate, read back 30,000 objects, diff);
- peak RSS of this process (the emulator's memory is not counted).
Targets: engine < 1 s, in-sync plan < 5 s, peak RSS < 300 MB.

Run: `.venv/bin/python benchmarks/plan_scale.py [N]` (N defaults to 10000).
"""

from __future__ import annotations

import asyncio
import copy
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from reconciler.engine.canonical import desired_records
from reconciler.engine.plan import PlanOptions, plan_gateway
from reconciler.manifests.loader import load
from reconciler.runner import RunOptions, apply_repo, paused_gc

TOKEN = "bench-token"


def write_repo(root: Path, n: int) -> None:
    (root / "reconciler.yaml").write_text(
        "apiVersion: gostoa.dev/v1alpha1\nkind: ReconcilerSettings\nspec: {owner: bench, maxDeletes: 10}\n")
    (root / "gateway.yaml").write_text(
        "apiVersion: gostoa.dev/v1alpha1\nkind: GatewayInstance\nmetadata: {name: stoa-bench}\n"
        "spec: {displayName: bench, gatewayType: stoa, environment: bench, baseUrl: 'http://127.0.0.1:1',"
        " credentials: {token: {env: BENCH_TOKEN}}}\n")
    docs = []
    for i in range(n):
        docs.append(
            f"apiVersion: gostoa.dev/v1alpha1\nkind: API\nmetadata: {{name: api-{i}}}\n"
            f"spec: {{tenant: t{i % 50}, version: '1.{i % 7}', basePath: /svc/{i}, backend: 'https://b{i % 97}.example.com/v1',"
            f" methods: [GET, POST], gateways: [stoa-bench]}}\n"
            f"---\napiVersion: gostoa.dev/v1alpha1\nkind: Policy\nmetadata: {{name: rl-{i}}}\n"
            f"spec: {{api: api-{i}, type: rate_limit, rateLimit: {{requests: {100 + i % 10}, period: minute}}}}\n"
            f"---\napiVersion: gostoa.dev/v1alpha1\nkind: Consumer\nmetadata: {{name: app-{i}}}\n"
            f"spec: {{credential: {{secretRef: {{env: BENCH_KEY}}}}, subscriptions: [api-{i}]}}\n")
    chunk = 1000
    for start in range(0, n, chunk):
        (root / f"objects-{start // chunk:03d}.yaml").write_text("---\n".join(docs[start:start + chunk]))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    os.environ["BENCH_TOKEN"] = TOKEN
    os.environ["BENCH_KEY"] = "bench-api-key-0123456789"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_repo(root, n)
        print(f"objects: {n} APIs + {n} policies + {n} consumers (one STOA gateway)")

        t0 = time.perf_counter()
        state = load(root)
        t_load = time.perf_counter() - t0
        print(f"load + validate YAML:             {t_load:7.2f} s")

        desired = desired_records(state, {"env:BENCH_KEY": os.environ["BENCH_KEY"]})["stoa-bench"]
        live = []
        for record in desired:
            copied = copy.deepcopy(record)
            copied["id"] = f"bench.{record['name']}"
            copied["spec"] = {**copied["spec"], "createdAt": "2026-11-25T00:00:00Z"}  # a server-filled field
            live.append(copied)
        def engine() -> list[Any]:
            desired = desired_records(state, {"env:BENCH_KEY": os.environ["BENCH_KEY"]})["stoa-bench"]
            return plan_gateway("stoa-bench", desired, live, PlanOptions(owner="bench"))

        t0 = time.perf_counter()
        changes = engine()
        t_raw = time.perf_counter() - t0
        with paused_gc():  # as the runner calls it
            t0 = time.perf_counter()
            changes = engine()
            t_engine = time.perf_counter() - t0
        assert all(c.op.value == "no-op" for c in changes), "in-sync state must plan as no-op"
        print(f"engine, in sync (no I/O):         {t_engine:7.2f} s   target < 1 s   ({len(changes)} objects; "
              f"{t_raw:.2f} s with the cyclic GC running)")

        for record in live:
            if record["kind"] == "Policy":
                record["spec"]["config"]["requests"] += 1
        with paused_gc():
            t0 = time.perf_counter()
            changes = engine()
            t_drift = time.perf_counter() - t0
        print(f"engine, {n} updates (no I/O):  {t_drift:7.2f} s   ({sum(c.op.value == 'update' for c in changes)} updates)")

        port = free_port()
        env = {**os.environ, "EMU_TOKEN": TOKEN}
        emulator = subprocess.Popen([sys.executable, "-m", "reconciler", "emulate", "stoa", "--port", str(port),
                                     "--token-env", "EMU_TOKEN"], env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    httpx.get(f"http://127.0.0.1:{port}/admin/health", headers={"Authorization": f"Bearer {TOKEN}"})
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            options = RunOptions(endpoints={"stoa-bench": f"http://127.0.0.1:{port}"}, concurrency=16)
            t0 = time.perf_counter()
            outcome = asyncio.run(apply_repo(root, options))
            t_apply = time.perf_counter() - t0
            report = outcome.reports["stoa-bench"]
            print(f"first apply to the emulator:      {t_apply:7.2f} s   ({report.writes} write requests, "
                  f"{sum(1 for r in report.results if r.ok)} objects applied, failed: {report.failed})")

            # The in-sync plan runs in a fresh process, as `reconciler plan` would: its time and peak RSS
            # are the reconciler's alone (VmHWM: ru_maxrss would carry this process's peak across exec).
            probe = (
                "import asyncio, sys, time; from pathlib import Path;"
                "from reconciler.runner import RunOptions, plan_repo;"
                "t = time.perf_counter();"
                "p = asyncio.run(plan_repo(Path(sys.argv[1]), RunOptions(endpoints={'stoa-bench': sys.argv[2]})));"
                "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1];"
                "print(time.perf_counter() - t, p.has_changes, int(hwm) / 1024)"
            )
            done = subprocess.run([sys.executable, "-c", probe, str(root), options.endpoints["stoa-bench"]],
                                  capture_output=True, text=True, check=True, env=env)
            t_plan, changed, plan_rss = done.stdout.split()
            print(f"full plan, in sync (HTTP):        {float(t_plan):7.2f} s   target < 5 s   (changes: {changed})")
            print(f"peak RSS of that plan process:    {float(plan_rss):7.0f} MB  target < 300 MB")
        finally:
            emulator.terminate()
            emulator.wait(timeout=10)
        print(f"peak RSS of this benchmark:       {rss_mb():7.0f} MB  (two copies of the state, apply included)")


if __name__ == "__main__":
    main()
