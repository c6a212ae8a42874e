"""Side by side, per gateway type: requests and wall time of a first apply, an in-sync plan and one change.

Workload for each N: N APIs, each with a rate-limit policy, and N consumers, each with its own API key
subscribed to one API (3N objects), in a generated repo with one gateway. For every gateway type,
N and added latency, one fresh emulator (in a child process, on 127.0.0.1: `served.py`) and three runs through the
public runner API (`apply_repo` / `plan_repo` with `RunOptions.endpoints`), as `reconciler` runs them:

  first apply   apply_repo on the empty gateway (its read and plan included)
  in-sync plan  plan_repo right after; must plan no change
  one change    one policy's limit edited in the repo, then apply_repo (read + plan + the write)

Requests are counted at the emulator (its request log), or at the delaying proxy when one is in
front (`--latency 44`: every request waits 44 ms on a loopback proxy, a remote admin API) or when
the emulator keeps no log (moto). Times are wall clock of this process, which runs only the
reconciler (the emulator and the proxy share the child's process): compare rows of one run.

Run: `.venv/bin/python benchmarks/gateways.py [--n 100,1000] [--latency 0,44] [--gateways stoa,kong-db,...]`
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.served import Served  # noqa: E402
from reconciler.runner import RunOptions, apply_repo, plan_repo  # noqa: E402

GATEWAY = "bench"
OWNER = "bench"
TOKEN = "bench-admin-token-0123456789"
USER, PASSWORD = "bench-admin", "bench-password-0123456789"


@dataclass(frozen=True)
class Target:
    label: str
    gateway_type: str
    options: dict[str, str] = field(default_factory=dict)
    credentials: dict[str, str] = field(default_factory=dict)
    """Manifest credential field -> value (handed to the emulator and, as env variables, to the run)."""


TARGETS = {t.label: t for t in [
    Target("stoa", "stoa", {}, {"token": TOKEN}),
    Target("kong-db", "kong", {"mode": "postgres"}, {"token": TOKEN}),
    Target("kong-dbless", "kong", {"mode": "dbless"}, {"token": TOKEN}),
    Target("gravitee", "gravitee", {"organization": "DEFAULT", "environment": "DEFAULT"},
           {"username": USER, "password": PASSWORD}),
    Target("webmethods", "webmethods", {"consumerKeys": "gateway-generated"}, {"username": USER, "password": PASSWORD}),
    Target("apigee", "apigee", {"organization": "bench-org", "environment": "test"}, {"token": TOKEN}),
    Target("aws", "aws_apigateway", {"region": "us-east-1", "stage": "prod", "accountQuotas": "false",
                                      "requestsPerSecond": "10000", "deploymentIntervalSeconds": "0"}, {}),
]}
LABELS = {"stoa": "STOA", "kong-db": "Kong DB mode", "kong-dbless": "Kong DB-less", "gravitee": "Gravitee",
          "webmethods": "webMethods", "apigee": "Apigee", "aws": "AWS (moto)"}


# ------------------------------------------------------------------------------------ the repo
def _env_name(field_name: str) -> str:
    return f"BENCH_GW_{field_name.upper()}"


def policy_doc(i: int, requests: int) -> str:
    return (f"apiVersion: gostoa.dev/v1alpha1\nkind: Policy\nmetadata: {{name: api-{i}-rate}}\n"
            f"spec: {{api: api-{i}, type: rate_limit, rateLimit: {{requests: {requests}, period: minute}}}}\n")


def write_repo(root: Path, target: Target, n: int) -> None:
    (root / "reconciler.yaml").write_text(
        f"apiVersion: gostoa.dev/v1alpha1\nkind: ReconcilerSettings\nspec: {{owner: {OWNER}, maxDeletes: 10}}\n")
    creds = ", ".join(f"{f}: {{env: {_env_name(f)}}}" for f in target.credentials)
    options = ", ".join(f"{k}: {v}" for k, v in target.options.items())
    (root / "gateway.yaml").write_text(
        f"apiVersion: gostoa.dev/v1alpha1\nkind: GatewayInstance\nmetadata: {{name: {GATEWAY}}}\n"
        f"spec: {{displayName: bench, gatewayType: {target.gateway_type}, environment: bench,"
        f" baseUrl: 'http://127.0.0.1:1', credentials: {{{creds}}}, options: {{{options}}}}}\n")
    docs = []
    for i in range(n):
        docs.append(
            f"apiVersion: gostoa.dev/v1alpha1\nkind: API\nmetadata: {{name: api-{i}}}\n"
            f"spec: {{tenant: acme, version: '1.0.0', basePath: /svc-{i}, backend: 'https://b{i % 97}.example.com/v1',"
            f" methods: [GET, POST], gateways: [{GATEWAY}]}}\n---\n" + policy_doc(i, 100 + i % 10) +
            f"---\napiVersion: gostoa.dev/v1alpha1\nkind: Consumer\nmetadata: {{name: app-{i}}}\n"
            f"spec: {{credential: {{type: apiKey, secretRef: {{env: BENCH_KEY_{i}}}}}, subscriptions: [api-{i}]}}\n")
    (root / "objects.yaml").write_text("---\n".join(docs))


def change_one_policy(root: Path) -> None:
    """Edit api-0's rate limit in the repo: one Policy update, nothing else."""
    path = root / "objects.yaml"
    text = path.read_text()
    old = policy_doc(0, 100)
    assert old in text
    path.write_text(text.replace(old, policy_doc(0, 777), 1))


def run_env(target: Target, n: int, environment: dict[str, str]) -> dict[str, str]:
    env = {**os.environ, **{_env_name(f): v for f, v in target.credentials.items()}, **environment}
    env.update({f"BENCH_KEY_{i}": f"bench-key-{i:05d}-0123456789abcdef" for i in range(n)})
    return env


# ------------------------------------------------------------------------------------ one measurement
@dataclass
class Step:
    seconds: float
    requests: Counter[str]
    note: str = ""

    def requests_text(self) -> str:
        if not self.requests:
            return "0"
        order = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
        return " + ".join(f"{self.requests[m]:,} {m}" for m in sorted(self.requests, key=order.index))

    @property
    def total(self) -> int:
        return sum(self.requests.values())


@dataclass
class Row:
    target: str
    n: int
    latency_ms: int
    steps: dict[str, Step] = field(default_factory=dict)
    skipped: str | None = None


def _measure(served: Served, run: Callable[[], Any]) -> tuple[Step, Any]:
    served.clear()
    gc.collect()
    started = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - started
    return Step(seconds, served.counts()), result


def measure(target: Target, n: int, latency_ms: int) -> Row:
    row = Row(target.label, n, latency_ms)
    # moto keeps no request log of ours: a proxy (with no delay) counts its requests
    with Served(target.gateway_type, dict(target.credentials), dict(target.options), delay=latency_ms / 1000,
                proxied=target.gateway_type == "aws_apigateway") as served:
        if served.skipped:
            row.skipped = served.skipped
            return row
        for key, value in served.environment.items():  # botocore's default chain reads the process's own
            os.environ.setdefault(key, value)
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
            root = Path(tmp)
            write_repo(root, target, n)
            options = RunOptions(endpoints={GATEWAY: served.url}, env=run_env(target, n, served.environment),
                                 timeout=300)

            step, outcome = _measure(served, lambda: asyncio.run(apply_repo(root, options)))
            report = outcome.reports.get(GATEWAY)
            failed = [r for r in (report.results if report else []) if not r.ok]
            step.note = (f"{sum(r.ok for r in report.results)} applied, {len(failed)} failed" if report
                         else "; ".join(outcome.plan.errors + [g.error or "" for g in outcome.plan.gateways.values()]))
            row.steps["first apply"] = step

            step, plan = _measure(served, lambda: asyncio.run(plan_repo(root, options)))
            gplan = plan.gateways[GATEWAY]
            pending = [f"{c.op.value} {c.kind}/{c.name}" for c in gplan.changes if c.op.value != "no-op"]
            step.note = gplan.error or (f"NOT IN SYNC: {len(pending)} changes, e.g. {pending[:3]}" if pending else "in sync")
            row.steps["in-sync plan"] = step

            change_one_policy(root)
            step, outcome = _measure(served, lambda: asyncio.run(apply_repo(root, options)))
            gplan = outcome.plan.gateways[GATEWAY]
            pending = [f"{c.op.value} {c.kind}/{c.name}" for c in gplan.changes if c.op.value != "no-op"]
            report = outcome.reports.get(GATEWAY)
            step.note = gplan.error or f"{', '.join(pending[:3]) or 'nothing'}{'' if report and not report.failed else ' FAILED'}"
            row.steps["one change"] = step
    return row


# ------------------------------------------------------------------------------------ output
STEPS = ["first apply", "in-sync plan", "one change"]


def markdown(rows: list[Row]) -> str:
    lines = ["| gateway | N | latency | " + " | ".join(f"{s}: requests | {s}: time" for s in STEPS) + " |",
             "|---|---:|---:|" + "---|---:|" * len(STEPS)]
    for row in rows:
        head = f"| {LABELS[row.target]} | {row.n:,} | +{row.latency_ms} ms |"
        if row.skipped:
            lines.append(head + f" skipped: {row.skipped} |" + " |" * (2 * len(STEPS) - 1))
            continue
        cells = []
        for name in STEPS:
            step = row.steps.get(name)
            cells += [step.requests_text(), f"{step.seconds:.2f} s"] if step else ["-", "-"]
        lines.append(head + " " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", default="100,1000", help="objects per kind, comma-separated (default 100,1000)")
    parser.add_argument("--latency", default="0,44", help="ms added per request, comma-separated (default 0,44)")
    parser.add_argument("--gateways", default=",".join(TARGETS), help=f"comma-separated, of: {', '.join(TARGETS)}")
    args = parser.parse_args()
    sizes = [int(x) for x in args.n.split(",") if x]
    latencies = [int(x) for x in args.latency.split(",") if x]
    labels = [x.strip() for x in args.gateways.split(",") if x.strip()]
    unknown = [x for x in labels if x not in TARGETS]
    if unknown:
        parser.error(f"unknown gateway(s) {unknown}; known: {', '.join(TARGETS)}")

    rows: list[Row] = []
    print(f"calibration: a pure-Python loop of 10M additions takes {calibration():.2f} s on this machine now",
          flush=True)
    try:
        for n in sizes:
            for latency in latencies:
                for label in labels:
                    row = measure(TARGETS[label], n, latency)
                    rows.append(row)
                    if row.skipped:
                        print(f"{LABELS[label]:<13} N={n:<6,} +{latency} ms: skipped, {row.skipped}", flush=True)
                        continue
                    for name, step in row.steps.items():
                        print(f"{LABELS[label]:<13} N={n:<6,} +{latency:>2} ms  {name:<13} {step.seconds:7.2f} s  "
                              f"{step.total:>6,} requests ({step.requests_text()})  {step.note}", flush=True)
    except KeyboardInterrupt:
        print("\ninterrupted: the table holds the rows measured so far")
    print()
    print(markdown(rows))


def calibration() -> float:
    """Seconds of a fixed pure-Python loop: how loaded the machine is (compare runs by it)."""
    started = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
