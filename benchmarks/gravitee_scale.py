"""Apply, then re-plan and re-apply, 500 APIs with two plans each against the Gravitee emulator.

Each API gets the adapter's two managed plans (`stoa-keyless`, `stoa-api-key`) carrying one
rate-limit policy flow. Prints wall time and the requests by method for: the first apply (fetch +
plan + apply_batch), the re-plan (fetch + plan: must be no changes), the re-apply (must send zero
writes), and one changed policy (one plan update pair + one deployment).

    .venv/bin/python benchmarks/gravitee_scale.py [--apis 500]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from typing import Any

from reconciler.adapters.gravitee.adapter import GraviteeAdapter
from reconciler.emulators.gravitee import GraviteeEmulator
from reconciler.engine.plan import PlanOptions, plan_gateway
from reconciler.model.changes import Change, Op
from reconciler.model.records import make_record

OWNER = "platform"


def desired(count: int, limit: int = 100) -> list[dict[str, Any]]:
    out = []
    for i in range(count):
        name = f"api-{i:04d}"
        out.append(make_record("API", name, {
            "tenant": "acme", "version": "1.0.0", "basePath": f"/{name}", "backend": f"https://{name}.example.com/",
            "methods": ["GET", "POST"], "openapi": None, "openapiHash": None}, owner=OWNER))
        out.append(make_record("Policy", f"{name}-rate", {
            "api": name, "type": "rate_limit",
            "config": {"requests": limit if i else limit + 1, "period": "minute"}}, owner=OWNER))
    return out


async def plan(adapter: GraviteeAdapter, records: list[dict[str, Any]]) -> list[Change]:
    live: list[dict[str, Any]] = []
    for kind in ("API", "Policy", "Consumer"):
        live += await adapter.fetch(kind)
    changes = plan_gateway("gravitee", records, live, PlanOptions(owner=OWNER), view=adapter.desired_view)
    return [c for c in changes if c.op is not Op.NOOP]


def counts(emulator: GraviteeEmulator) -> str:
    by_method = Counter(r.method for r in emulator.requests)
    return ", ".join(f"{m} {n}" for m, n in sorted(by_method.items())) + f" (total {sum(by_method.values())})"


async def main(count: int) -> None:
    records = desired(count)
    with GraviteeEmulator() as emulator:
        config = {"name": "gravitee", "base_url": emulator.url, "owner": OWNER,
                  "auth": {"username": "admin", "password": "admin"}, "timeout": 60.0}
        async with GraviteeAdapter(config) as adapter:
            steps: list[tuple[str, float, str, int]] = []

            async def step(label: str, records: list[dict[str, Any]], apply: bool) -> list[Change]:
                emulator.clear_log()
                started = time.perf_counter()
                changes = await plan(adapter, records)
                if apply and changes:
                    results = await adapter.apply_batch(changes)
                    assert results is not None and all(r.ok for r in results), [r for r in results or [] if not r.ok][:3]
                steps.append((label, time.perf_counter() - started, counts(emulator), len(changes)))
                return changes

            await step("first apply (plan + apply)", records, True)
            again = await step("re-plan", records, False)
            assert again == [], f"{len(again)} changes after apply"
            await step("second apply", records, True)
            assert not emulator.writes, "second apply wrote"
            changed = await step("one policy changed", desired(count, limit=99)[:2] + records[2:], True)
            assert len(changed) == 1, changed
            deployments = sum(1 for r in emulator.requests if r.path.endswith("/deployments"))
            env = emulator.env()
            print(f"Gravitee emulator, {count} APIs x {len({p['name'] for p in env.plans.values()})} plans "
                  f"({len(env.plans)} plans, {count} policies)")
            for label, seconds, summary, n in steps:
                print(f"  {label:28s} {seconds:7.2f} s  changes {n:5d}  requests: {summary}")
            print(f"  deployments for the changed policy: {deployments}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apis", type=int, default=500)
    asyncio.run(main(parser.parse_args().apis))
