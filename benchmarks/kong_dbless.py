"""Kong DB-less benchmark: one POST /config per apply vs the read-merge-POST-per-resource pattern.

Run: `.venv/bin/python benchmarks/kong_dbless.py [--apis 1000] [--full]`

Starts its own Kong emulator (DB-less) on 127.0.0.1, seeded with objects the reconciler does not
own, then:

1. batch: fetch -> plan -> apply through the adapter (what `reconciler apply` does) for N APIs, each
   with a rate-limit policy and a consumer subscribed to it; prints requests by method and time, and
   checks that a second apply sends no write;
2. per-resource (the pattern STOA's Kong adapter uses): for each resource, GET /config (read
   everything), merge that one change, POST the full config. Measured in full at a small scale
   (`--small`, default 50 APIs) for an exact side-by-side ratio, and at N either in full (`--full`,
   slow) or by timing real steps at 10 evenly spaced config sizes and summing the interpolation
   (labelled "estimated");
3. steady state, as a pull request changes it: an in-sync plan (fresh adapter: read + plan, no
   change), then one changed policy (fresh adapter: read + plan + apply, as `reconciler apply` does),
   each with its requests by method and time; the one change should cost the in-sync plan plus the
   POST (and the two small `GET /status` probes of the optimistic concurrency check).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import yaml_rs

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import workload  # noqa: E402  (benchmarks/workload.py: the shared workload)

from reconciler.adapters.kong.adapter import KongAdapter  # noqa: E402
from reconciler.emulators.kong import KongEmulator  # noqa: E402
from reconciler.engine.plan import PlanOptions, plan_gateway  # noqa: E402
from reconciler.executor.apply import apply_gateway  # noqa: E402
from reconciler.model.changes import Change, Op  # noqa: E402
from reconciler.model.records import make_record  # noqa: E402

OWNER = "bench"
SEED: dict[str, Any] = {
    "_format_version": "3.0",
    "upstreams": [{"name": "legacy-upstream", "targets": [{"target": "10.0.0.1:8080"}]}],
    "certificates": [{"id": "0a5a3bd2-8a8f-4c37-9a6c-3c2c1b7f0e11", "cert": "-----BEGIN CERTIFICATE-----\nX\n",
                      "key": "-----BEGIN PRIVATE KEY-----\nX\n", "snis": [{"name": "legacy.example.com"}]}],
    "services": [{"name": "legacy", "url": "http://legacy.internal:8080",
                  "routes": [{"name": "legacy", "paths": ["/legacy"]}]}],
    "plugins": [{"name": "prometheus", "config": {}}],
}


def records(n: int) -> tuple[list[dict[str, Any]], dict[tuple[str, str], dict[str, str]]]:
    return workload.records(n, OWNER)


def adapter(url: str) -> KongAdapter:
    return KongAdapter({"name": "kong-bench", "gateway_type": "kong", "base_url": url, "owner": OWNER,
                        "options": {}, "timeout": 120.0})


async def batch_apply(url: str, desired: list[dict[str, Any]],
                      secrets: dict[tuple[str, str], dict[str, str]]) -> tuple[float, Counter[str], int, int]:
    """fetch + plan + apply, as the runner does. Returns (seconds, requests by method, changes, writes)."""
    started = time.perf_counter()
    async with adapter(url) as a:
        actual = []
        for kind in ("API", "Policy", "Consumer"):
            actual.extend(await a.fetch(kind))
        changes = plan_gateway(a.name, desired, actual, PlanOptions(owner=OWNER), view=a.desired_view)
        report = await apply_gateway(a, changes, secrets=secrets)
        assert a.http is not None
        counts = Counter(a.http.counts)
    if report.failed:
        raise SystemExit(f"batch apply failed: {report.results[:3]}")
    pending = [c for c in changes if c.op is not Op.NOOP]
    return time.perf_counter() - started, counts, len(pending), report.writes


async def steady_state(url: str, desired: list[dict[str, Any]],
                       secrets: dict[tuple[str, str], dict[str, str]]) -> None:
    """In-sync plan, then one changed policy applied (read + plan + apply in one adapter)."""
    started = time.perf_counter()
    async with adapter(url) as a:
        actual = [r for kind in ("API", "Policy", "Consumer") for r in await a.fetch(kind)]
        changes = plan_gateway(a.name, desired, actual, PlanOptions(owner=OWNER), view=a.desired_view)
        assert a.http is not None
        counts = Counter(a.http.counts)
    in_sync = time.perf_counter() - started
    pending = [c for c in changes if c.op is not Op.NOOP]
    print(f"in-sync plan:       {in_sync:8.2f} s   requests: {fmt(counts)}   changes: {len(pending)}")
    changed = [dict(r) for r in desired]
    i = next(j for j, r in enumerate(changed) if r["kind"] == "Policy")
    spec = dict(changed[i]["spec"])
    spec["config"] = {**spec["config"], "requests": int(spec["config"]["requests"]) + 1}
    changed[i] = make_record("Policy", changed[i]["name"], spec, owner=OWNER)
    started = time.perf_counter()
    async with adapter(url) as a:
        actual = [r for kind in ("API", "Policy", "Consumer") for r in await a.fetch(kind)]
        changes = plan_gateway(a.name, changed, actual, PlanOptions(owner=OWNER), view=a.desired_view)
        planned = time.perf_counter()
        report = await apply_gateway(a, changes, secrets=secrets)
        assert a.http is not None
        counts = Counter(a.http.counts)
    done = time.perf_counter()
    pending = [c for c in changes if c.op is not Op.NOOP]
    if report.failed or len(pending) != 1:
        raise SystemExit(f"one-change apply: {len(pending)} changes, {report.results[:3]}")
    print(f"one change:         {done - started:8.2f} s   requests: {fmt(counts)}   "
          f"(read + plan {planned - started:.2f} s, apply {done - planned:.2f} s; "
          f"{(done - started) / in_sync:.2f}x the in-sync plan)")
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:  # the gateway's own share
        exported = yaml_rs.loads((await client.get("/config")).json()["config"], parse_datetime=False)
        text = json.dumps(exported, separators=(",", ":"))  # as the adapter sends it: JSON text
        posted = time.perf_counter()
        answer = await client.post("/config", json={"config": text})
        post = time.perf_counter() - posted
    assert answer.status_code == 201, answer.text[:200]
    print(f"the POST alone:     {post:8.2f} s   (the emulator loading the same configuration, as the adapter sends it); "
          f"in-sync plan + POST = {in_sync + post:.2f} s vs one change {done - started:.2f} s")


async def per_resource_step(a: KongAdapter, record: dict[str, Any], secret: dict[str, str] | None) -> None:
    """One resource the per-resource way: read the whole config, merge one change, POST it all."""
    desired = {**record, "secret": secret} if secret else record
    results = await a.apply_batch([Change(a.name, Op.CREATE, record["kind"], record["name"], desired=desired)])
    if not results or not results[0].ok:
        raise SystemExit(f"per-resource step failed: {results}")


async def per_resource_full(url: str, desired: list[dict[str, Any]],
                            secrets: dict[tuple[str, str], dict[str, str]]) -> tuple[float, Counter[str]]:
    started = time.perf_counter()
    async with adapter(url) as a:
        for record in _ordered(desired):
            await per_resource_step(a, record, secrets.get((record["kind"], record["name"])))
        assert a.http is not None
        counts = Counter(a.http.counts)
    return time.perf_counter() - started, counts


def _ordered(desired: list[dict[str, Any]]) -> list[dict[str, Any]]:
    level = {"API": 0, "Policy": 1, "Consumer": 2}
    return sorted(desired, key=lambda r: level[r["kind"]])


async def per_resource_sampled(emulator: KongEmulator, desired: list[dict[str, Any]],
                               secrets: dict[tuple[str, str], dict[str, str]], samples: int = 10) -> float:
    """Time real per-resource steps at evenly spaced config sizes; sum the linear interpolation."""
    ordered = _ordered(desired)
    total = len(ordered)
    points: list[tuple[int, float]] = []
    for s in range(samples):
        i = min(total - 1, s * total // (samples - 1)) if samples > 1 else 0
        emulator.load_config(SEED)
        if i:
            async with adapter(emulator.url) as a:  # state before step i, built in one batch (not timed)
                changes = [Change(a.name, Op.CREATE, r["kind"], r["name"],
                                  desired={**r, "secret": secrets.get((r["kind"], r["name"]))}
                                  if r["kind"] == "Consumer" else r) for r in ordered[:i]]
                await a.apply_batch(changes)
        async with adapter(emulator.url) as a:
            await a.mode()
            started = time.perf_counter()
            await per_resource_step(a, ordered[i], secrets.get((ordered[i]["kind"], ordered[i]["name"])))
            points.append((i, time.perf_counter() - started))
    estimate = 0.0
    for (i0, t0), (i1, t1) in zip(points, points[1:], strict=False):
        estimate += (t0 + t1) / 2 * (i1 - i0)
    return estimate + points[-1][1]


def fmt(counts: Counter[str]) -> str:
    return ", ".join(f"{m} {n}" for m, n in sorted(counts.items())) + f" (total {sum(counts.values())})"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apis", type=int, default=1000)
    parser.add_argument("--small", type=int, default=50, help="scale of the exact side-by-side run")
    parser.add_argument("--full", action="store_true", help="run the per-resource pattern in full at --apis")
    parser.add_argument("--no-per-resource", action="store_true", help="skip the per-resource comparison")
    args = parser.parse_args()

    with KongEmulator(mode="dbless") as emulator:
        print(f"Kong emulator (DB-less) on {emulator.url}; seeded with unowned upstream/certificate/service/plugin")
        for n in (args.small, args.apis):
            desired, secrets = records(n)
            emulator.load_config(SEED)
            emulator.clear_log()
            seconds, counts, nchanges, writes = await batch_apply(emulator.url, desired, secrets)
            posts = sum(1 for r in emulator.requests if r.method == "POST" and r.path == "/config")
            print(f"\n== {n} APIs x (API + rate-limit policy + consumer) = {nchanges} resources")
            print(f"batch apply:        {seconds:8.2f} s   requests: {fmt(counts)}   POST /config: {posts}")
            emulator.clear_log()
            again, counts2, nchanges2, writes2 = await batch_apply(emulator.url, desired, secrets)
            print(f"second apply:       {again:8.2f} s   requests: {fmt(counts2)}   changes: {nchanges2}, "
                  f"writes: {writes2}")
            await steady_state(emulator.url, desired, secrets)
            if args.no_per_resource:
                continue

            emulator.load_config(SEED)
            if n == args.small or args.full:
                per, per_counts = await per_resource_full(emulator.url, desired, secrets)
                label = "measured"
            else:
                per = await per_resource_sampled(emulator, desired, secrets)
                per_counts = Counter({"GET": 1 + nchanges, "POST": nchanges})  # GET / once, then GET+POST /config per resource
                label = "estimated from 10 timed steps"
            print(f"per-resource:       {per:8.2f} s   requests: {fmt(per_counts)}   ({label})")
            print(f"ratio per-resource / batch: {per / seconds:,.1f}x   "
                  f"(POSTs: {per_counts.get('POST', 0)} vs {counts.get('POST', 0)})")


if __name__ == "__main__":
    asyncio.run(main())
