"""Scale curve on one STOA gateway: in-sync plan time and peak RSS for N APIs + N policies + N consumers.

For each N: a generated repo (`plan_scale.write_repo`), a STOA emulator in its own process
(`reconciler emulate stoa`: its memory and CPU are not the reconciler's), a first apply, then the
in-sync plan in a fresh process, as `reconciler plan` runs it. Printed per N: the plan's time inside
`asyncio.run(plan_repo(...))` split into load / prepare / read / diff, the whole process's wall time
(imports and exit included), and its peak RSS (VmHWM). Target of issue #17: 90,000 objects (N = 30,000)
under 5 s and 400 MB.

Run: `.venv/bin/python benchmarks/scale_curve.py [--n 1000,3000,10000,30000] [--profile DIR]`
(`--profile` also writes a cProfile of the largest N's plan to DIR/plan-N.prof).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from plan_scale import TOKEN, free_port, write_repo  # noqa: E402

from reconciler.runner import RunOptions, apply_repo  # noqa: E402

#: The in-sync plan, in a fresh process: phases timed by wrapping the runner's own steps.
PROBE = r"""
import asyncio, cProfile, json, sys, time
from pathlib import Path
import reconciler.runner as runner
from reconciler.runner import RunOptions, plan_repo

phases = {}
def timed(name, fn):
    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            phases[name] = phases.get(name, 0.0) + time.perf_counter() - t
    return wrapper
def timed_async(name, fn):
    async def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            return await fn(*args, **kwargs)
        finally:
            phases[name] = phases.get(name, 0.0) + time.perf_counter() - t
    return wrapper
runner._load = timed("load", runner._load)
runner._prepare = timed("prepare", runner._prepare)
runner.read_live = timed_async("read", runner.read_live)
runner.plan_gateway = timed("diff", runner.plan_gateway)
root, url, profile = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
profiler = cProfile.Profile() if profile else None
t, cpu = time.perf_counter(), time.process_time()
if profiler: profiler.enable()
plan = asyncio.run(plan_repo(root, RunOptions(endpoints={"stoa-bench": url})))
if profiler:
    profiler.disable()
    profiler.dump_stats(profile)
total, cpu = time.perf_counter() - t, time.process_time() - cpu
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM")][0].split()[1]
changes = sum(c.op.value != "no-op" for g in plan.gateways.values() for c in g.changes)
errors = [g.error for g in plan.gateways.values() if g.error] + plan.errors
print(json.dumps({"plan": total, "cpu": cpu, "phases": phases, "changes": changes, "errors": errors, "rss_mb": int(hwm) / 1024}))
"""


#: A STOA emulator process pre-filled with what the adapter's first apply writes: every payload goes
#: through the emulator's own upsert handlers (its checks included), only the HTTP round trips are
#: skipped. The in-sync plan that follows proves the seed right: any difference would be a change.
SEEDED = r"""
import json, os, sys
from pathlib import Path
from reconciler.adapters.stoa import mappers
from reconciler.adapters.stoa.emulator import StoaEmulator
from reconciler.engine.canonical import desired_records
from reconciler.manifests.loader import load
root, port, owner, key = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], os.environ["BENCH_KEY"]
state = load(root)
records = desired_records(state, {"env:BENCH_KEY": key})["stoa-bench"]
emulator = StoaEmulator(os.environ["EMU_TOKEN"])
for record in records:
    if record["kind"] == "API":
        assert emulator._upsert_api(None, json.dumps(mappers.api_to_gateway(record, owner)).encode()).status_code == 201
    elif record["kind"] == "Policy":
        assert emulator._upsert_policy(None, json.dumps(mappers.policy_to_gateway(record, owner)).encode()).status_code == 201
    else:
        for credential in mappers.credentials_to_gateway(record, owner, key):
            assert emulator._upsert_credential(None, json.dumps(credential).encode()).status_code == 201
del state, records
emulator.serve_forever(port)
"""


def start_emulator(env: dict[str, str], seed: Path | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """A STOA emulator in its own process; with `seed`, pre-filled with that repo (see SEEDED)."""
    port = free_port()
    command = ([sys.executable, "-c", SEEDED, str(seed), str(port), "bench"] if seed is not None else
               [sys.executable, "-m", "reconciler", "emulate", "stoa", "--port", str(port), "--token-env", "EMU_TOKEN"])
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while True:
        try:
            httpx.get(f"{url}/admin/health", headers={"Authorization": f"Bearer {TOKEN}"})
            return process, url
        except httpx.TransportError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.1)


def point(n: int, profile_dir: Path | None, seed: str) -> dict[str, object]:
    env = {**os.environ, "EMU_TOKEN": TOKEN, "BENCH_TOKEN": TOKEN, "BENCH_KEY": "bench-api-key-0123456789"}
    os.environ.update(env)
    with tempfile.TemporaryDirectory(prefix="scale-") as tmp:
        root = Path(tmp)
        write_repo(root, n)
        started = time.perf_counter()
        emulator, url = start_emulator(env, root if seed == "direct" else None)
        try:
            options = RunOptions(endpoints={"stoa-bench": url}, concurrency=16, timeout=120)
            for _ in range(3 if seed == "apply" else 0):  # a loaded machine may drop a connection: apply again
                outcome = asyncio.run(apply_repo(root, options))
                if not outcome.failed:
                    break
            t_apply = time.perf_counter() - started
            profile = str(profile_dir / f"plan-{n}.prof") if profile_dir else ""
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-c", PROBE, str(root), url, profile],
                                  capture_output=True, text=True, env=env)
            wall = time.perf_counter() - started
            if done.returncode != 0:
                raise RuntimeError(done.stderr[-2000:])
            result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
            result.update(n=n, objects=3 * n, apply=t_apply, process=wall)
            return result
        finally:
            emulator.terminate()
            emulator.wait(timeout=20)


def main() -> None:
    started = time.perf_counter()
    sum(range(10_000_000))
    print(f"calibration: sum(range(10M)) takes {time.perf_counter() - started:.2f} s on this machine now", flush=True)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", default="1000,3000,10000,30000", help="APIs (each with a policy and a consumer)")
    parser.add_argument("--profile", type=Path, default=None, help="write a cProfile of the largest N's plan here")
    parser.add_argument("--seed", choices=("direct", "apply"), default="direct",
                        help="fill the emulator in its own process (direct, fast) or by a first apply over HTTP")
    args = parser.parse_args()
    sizes = [int(x) for x in args.n.split(",") if x]
    rows = []
    for n in sizes:
        row = point(n, args.profile if args.profile and n == max(sizes) else None, args.seed)
        rows.append(row)
        phases = row["phases"]
        assert isinstance(phases, dict)
        print(f"N={n:>6,} ({3 * n:>6,} objects): in-sync plan {row['plan']:6.2f} s, CPU {row['cpu']:6.2f} s "
              f"(load {phases.get('load', 0):.2f}, prepare {phases.get('prepare', 0):.2f}, "
              f"read {phases.get('read', 0):.2f}, diff {phases.get('diff', 0):.2f}), "
              f"process {row['process']:6.2f} s, peak RSS {row['rss_mb']:5.0f} MB, "
              f"changes {row['changes']}, errors {row['errors'] or 'none'} (emulator filled in {row['apply']:.1f} s)",
              flush=True)
    print("\n| objects (APIs + policies + consumers) | in-sync plan | CPU | of which load / read / diff "
          "| process wall | peak RSS |")
    print("|---:|---:|---:|---|---:|---:|")
    for row in rows:
        p = row["phases"]
        assert isinstance(p, dict)
        print(f"| {row['objects']:,} | {row['plan']:.2f} s | {row['cpu']:.2f} s | {p.get('load', 0):.2f} / "
              f"{p.get('read', 0):.2f} / {p.get('diff', 0):.2f} s | {row['process']:.2f} s | {row['rss_mb']:.0f} MB |")


if __name__ == "__main__":
    main()
