"""Daemon figures: push → converged latency (webhook, and polling only) and RSS over 1,000 reconciles.

Everything runs on 127.0.0.1: a bare Git origin pushed to with the git CLI, the STOA emulator
in-process, and `python -m reconciler daemon` as a subprocess (as in production).

    .venv/bin/python benchmarks/daemon_latency.py [--pushes 10] [--poll-interval 2] [--reconciles 1000]

"Converged" means the new API is present on the emulator (checked every 2 ms in its memory).
The clock starts when `git push` returns.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from reconciler.adapters.stoa.emulator import StoaEmulator

TOKEN = "bench-admin-token"
WEBHOOK = "bench-webhook-secret"
API_TOKEN = "bench-api-token"
GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.invalid",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.invalid"}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True, text=True).stdout.strip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def api_doc(name: str) -> str:
    return ("apiVersion: gostoa.dev/v1alpha1\nkind: API\n"
            f"metadata: {{name: {name}}}\n"
            f"spec: {{tenant: acme, version: '1', basePath: /{name}, backend: 'https://{name}.example.com',"
            " methods: [GET], gateways: [stoa-dev]}\n")


def init_repo(root: Path) -> tuple[Path, Path]:
    bare, work = root / "origin.git", root / "work"
    git(root, "init", "-q", "--bare", "-b", "main", str(bare))
    git(root, "init", "-q", "-b", "main", str(work))
    git(work, "remote", "add", "origin", str(bare))
    (work / "apis").mkdir()
    (work / "reconciler.yaml").write_text("apiVersion: gostoa.dev/v1alpha1\nkind: ReconcilerSettings\n"
                                          "spec: {owner: platform, prune: true, maxDeletes: 1000}\n")
    (work / "gateway.yaml").write_text("apiVersion: gostoa.dev/v1alpha1\nkind: GatewayInstance\n"
                                       "metadata: {name: stoa-dev}\nspec: {displayName: STOA, gatewayType: stoa, "
                                       "environment: dev, baseUrl: 'http://127.0.0.1:9', "
                                       "credentials: {token: {env: STOA_ADMIN_TOKEN}}}\n")
    (work / "apis" / "base.yaml").write_text(api_doc("base"))
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "base")
    git(work, "push", "-q", "origin", "main")
    return bare, work


def push_api(work: Path, name: str) -> None:
    (work / "apis" / f"{name}.yaml").write_text(api_doc(name))
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", f"add {name}")
    git(work, "push", "-q", "origin", "main")


class Daemon:
    def __init__(self, tmp: Path, bare: Path, emulator: StoaEmulator, **settings: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("RECONCILER_")}
        env.update({"RECONCILER_GIT_URL": str(bare), "RECONCILER_PORT": str(self.port),
                    "RECONCILER_CACHE_DIR": str(tmp / f"cache-{self.port}"),
                    "RECONCILER_ENDPOINTS": f"stoa-dev={emulator.url}", "RECONCILER_DRIFT_INTERVAL": "0",
                    "RECONCILER_HEARTBEAT_INTERVAL": "0", "RECONCILER_WEBHOOK_SECRET": WEBHOOK,
                    "RECONCILER_API_TOKEN": API_TOKEN, "STOA_ADMIN_TOKEN": TOKEN, "LOG_LEVEL": "WARNING", **settings})
        self.proc = subprocess.Popen([sys.executable, "-m", "reconciler", "daemon"], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.client = httpx.Client(base_url=self.url, timeout=30)
        wait(lambda: self._alive())

    def _alive(self) -> bool:
        try:
            return self.client.get("/livez").status_code == 200
        except httpx.HTTPError:
            return False

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def webhook(self) -> None:
        body = b'{"ref":"refs/heads/main"}'
        sig = "sha256=" + hmac.new(WEBHOOK.encode(), body, hashlib.sha256).hexdigest()
        r = self.client.post("/webhook", content=body, headers={"X-Hub-Signature-256": sig, "X-GitHub-Event": "push"})
        r.raise_for_status()

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        self.client.close()


def wait(predicate: Callable[[], bool], timeout: float = 60.0, interval: float = 0.002) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("not converged")
        time.sleep(interval)


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return {"n": len(samples), "median_ms": round(statistics.median(samples) * 1000, 1),
            "p95_ms": round(p95 * 1000, 1), "min_ms": round(ordered[0] * 1000, 1), "max_ms": round(ordered[-1] * 1000, 1)}


def converge(emulator: StoaEmulator, name: str) -> Callable[[], bool]:
    return lambda: f"platform.{name}" in emulator.apis


def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmpdir, StoaEmulator(admin_token=TOKEN) as emulator:
        tmp = Path(tmpdir)
        bare, work = init_repo(tmp)
        assert isinstance(emulator, StoaEmulator)

        daemon = Daemon(tmp, bare, emulator, RECONCILER_POLL_INTERVAL="0")
        wait(converge(emulator, "base"))
        samples = []
        for i in range(args.pushes):
            push_api(work, f"hook{i}")
            t0 = time.perf_counter()
            daemon.webhook()
            wait(converge(emulator, f"hook{i}"))
            samples.append(time.perf_counter() - t0)
        results["push_to_converged_webhook"] = summary(samples)

        # 1,000 reconciles through POST /sync?wait=true (fetch + plan + apply, nothing to change)
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        rss = {"start_kib": daemon.rss_kib()}
        t0 = time.perf_counter()
        for i in range(1, args.reconciles + 1):
            r = daemon.client.post("/sync", params={"wait": "true"}, headers=headers)
            if r.status_code != 200:
                raise RuntimeError(f"sync {i}: {r.status_code} {r.text[:200]}")
            if i == min(100, args.reconciles):
                rss["after_100_kib"] = daemon.rss_kib()
        elapsed = time.perf_counter() - t0
        rss[f"after_{args.reconciles}_kib"] = daemon.rss_kib()
        rss["growth_100_to_end_kib"] = rss[f"after_{args.reconciles}_kib"] - rss["after_100_kib"]
        rss["reconcile_ms_mean"] = round(elapsed / args.reconciles * 1000, 2)
        results["rss"] = rss
        daemon.stop()

        daemon = Daemon(tmp, bare, emulator, RECONCILER_POLL_INTERVAL=str(args.poll_interval),
                        RECONCILER_POLL_JITTER="0.1")
        wait(converge(emulator, f"hook{args.pushes - 1}"))
        samples = []
        for i in range(args.poll_pushes):
            push_api(work, f"poll{i}")
            t0 = time.perf_counter()
            wait(converge(emulator, f"poll{i}"))
            samples.append(time.perf_counter() - t0)
        results["push_to_converged_polling"] = {"poll_interval_s": args.poll_interval, "jitter": 0.1,
                                                **summary(samples)}
        daemon.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pushes", type=int, default=10)
    parser.add_argument("--poll-interval", type=float, default=2.0)
    parser.add_argument("--poll-pushes", type=int, default=6)
    parser.add_argument("--reconciles", type=int, default=1000)
    print(json.dumps(run(parser.parse_args()), indent=2))


if __name__ == "__main__":
    main()
