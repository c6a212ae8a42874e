"""Apigee read benchmark: requests and time of an in-sync plan, locally and with latency added.

Run: `.venv/bin/python benchmarks/apigee_reads.py [--n 500] [--latency 0.044] [--code DIR]`

Starts the Apigee emulator on 127.0.0.1, applies N APIs, N rate-limit policies and N consumers with
their own keys, then plans again (nothing to change): as is and with `--latency` seconds added before
every request (a remote management API; the delay is in the client's transport, so concurrent requests
wait concurrently, as over a network). Each plan runs twice: "cold", as the first plan of a new process
(no bundle read before), and "warm", as a daemon's next plan (bundles of revisions already read are
not downloaded again). `--code DIR` imports the reconciler from another checkout, to compare versions.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

_parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
_parser.add_argument("--n", type=int, default=500)
_parser.add_argument("--latency", type=float, default=0.044)
_parser.add_argument("--code", type=Path, default=Path(__file__).resolve().parents[1])
ARGS = _parser.parse_args()
sys.path.insert(0, str(ARGS.code))
sys.path.insert(1, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402
from workload import Delayed, read_plan_apply, records  # noqa: E402

from reconciler.adapters.apigee.adapter import ApigeeAdapter  # noqa: E402
from reconciler.emulators.apigee import ApigeeEmulator  # noqa: E402

OWNER = "bench"
TOKEN = "ya29.bench-token"



def adapter(url: str, transport: httpx.AsyncBaseTransport | None = None) -> ApigeeAdapter:
    return ApigeeAdapter({"name": "apigee-bench", "gateway_type": "apigee", "base_url": url, "owner": OWNER,
                          "auth": {"token": TOKEN}, "options": {"organization": "bench-org", "environment": "test"},
                          "timeout": 120.0, "transport": transport})


def forget_bundles() -> None:
    """As in a new process: no bundle read before (a no-op on code without the revision cache)."""
    forget = getattr(ApigeeAdapter, "forget_bundles", None)
    if forget is not None:
        forget()


async def plan(url: str, desired: list[dict[str, Any]], secrets: dict[tuple[str, str], dict[str, str]], *,
               latency: float = 0.0, apply: bool = False) -> tuple[float, Counter[str], int]:
    started = time.perf_counter()
    async with adapter(url, Delayed(latency) if latency else None) as a:
        counts, pending = await read_plan_apply(a, desired, OWNER, apply=apply, secrets=secrets)
    return time.perf_counter() - started, counts, pending


async def main() -> None:
    desired, secrets = records(ARGS.n, OWNER)
    with ApigeeEmulator(token=TOKEN) as emulator:
        seconds, counts, pending = await plan(emulator.url, desired, secrets, apply=True)
        print(f"code: {Path(sys.modules['reconciler'].__file__ or '').parents[1]}; N = {ARGS.n} APIs + policies + "
              f"consumers; first apply {seconds:.1f} s ({pending} changes), requests: {sum(counts.values())} "
              f"({', '.join(f'{m} {n}' for m, n in sorted(counts.items()))})")
        for latency in (0.0, ARGS.latency):
            for cache in ("cold", "warm"):
                if cache == "cold":
                    forget_bundles()
                seconds, counts, pending = await plan(emulator.url, desired, secrets, latency=latency)
                print(f"in-sync plan, {cache}, +{latency * 1000:3.0f} ms per request: {seconds:6.2f} s  "
                      f"changes {pending}  requests: {sum(counts.values())} "
                      f"({', '.join(f'{m} {n}' for m, n in sorted(counts.items()))})")


if __name__ == "__main__":
    asyncio.run(main())
