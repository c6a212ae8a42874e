"""Kong database-mode benchmark: requests and time of a first apply, an in-sync plan and one change.

Run: `.venv/bin/python benchmarks/kong_database.py [--apis 1000] [--code DIR] [--protect]`

Starts its own Kong emulator (database mode) on 127.0.0.1, in a process of its own (one process
would make client and server take turns on the GIL), and, for N APIs each with a rate-limit
policy and a consumer holding a key subscribed to it (the workload of issue #17), runs fetch ->
plan -> apply as the runner does. `--code DIR` imports the reconciler from another checkout (e.g.
`/work/main`), so that two versions can be compared in one session, interleaved on one machine.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
_parser.add_argument("--apis", type=int, default=1000)
_parser.add_argument("--code", type=Path, default=Path(__file__).resolve().parents[1],
                     help="checkout whose `reconciler` package is measured")
_parser.add_argument("--protect", action="store_true", help="keep protectApis on (key-auth + acl per service)")
ARGS = _parser.parse_known_args()[0]
sys.path.insert(0, str(ARGS.code))
import workload  # noqa: E402  (benchmarks/workload.py: the shared workload)

from reconciler.adapters.kong.adapter import KongAdapter  # noqa: E402

OWNER = "bench"


def records(n: int) -> tuple[list[dict[str, Any]], dict[tuple[str, str], dict[str, str]]]:
    return workload.records(n, OWNER)


def adapter(url: str) -> KongAdapter:
    return KongAdapter({"name": "kong-bench", "gateway_type": "kong", "base_url": url, "owner": OWNER,
                        "options": {"protectApis": ARGS.protect}, "timeout": 120.0})


async def run(url: str, desired: list[dict[str, Any]], secrets: dict[tuple[str, str], dict[str, str]], *,
              apply: bool) -> tuple[float, float, Counter[str], int]:
    """fetch + plan (+ apply). Returns (seconds, CPU seconds, requests by method, pending changes)."""
    started, cpu = time.perf_counter(), time.process_time()
    async with adapter(url) as a:
        counts, pending = await workload.read_plan_apply(a, desired, OWNER, apply=apply, secrets=secrets)
    return time.perf_counter() - started, time.process_time() - cpu, counts, pending


@contextmanager
def emulator() -> Iterator[str]:
    """`reconciler emulate kong --mode postgres` of this checkout, on a free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, "-m", "reconciler", "emulate", "kong", "--mode", "postgres",
                             "--port", str(port)], cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(url + "/", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def fmt(counts: Counter[str]) -> str:
    return ", ".join(f"{m} {n}" for m, n in sorted(counts.items()))


async def main() -> None:
    n = ARGS.apis
    desired, secrets = records(n)
    with emulator() as url:
        code = Path(sys.modules["reconciler"].__file__ or "").parents[1]
        print(f"code: {code}; N = {n} (API + rate-limit policy + consumer with a key subscribed to it)")
        for label, apply, edit in (("first apply", True, False), ("in-sync plan", False, False),
                                   ("one change", True, True)):
            if edit:
                policy = next(r for r in desired if r["kind"] == "Policy")
                policy["spec"] = {**policy["spec"], "config": {"requests": 7, "period": "minute"}}
            seconds, cpu, counts, pending = await run(url, desired, secrets, apply=apply)
            print(f"{label:13s} {seconds:7.2f} s  cpu {cpu:6.2f} s  changes {pending:5d}  requests: {fmt(counts)}")
        _, _, counts, pending = await run(url, desired, secrets, apply=False)
        if pending:
            raise SystemExit(f"not converged: {pending} changes remain")


if __name__ == "__main__":
    asyncio.run(main())
