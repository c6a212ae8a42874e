"""Fixtures of the daemon tests: a bare Git origin, a manifest writer, and the daemon as a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.adapters.stoa.emulator import StoaEmulator
from tests.conftest import free_port, git

ADMIN_TOKEN = "daemon-test-admin-token"
MOBILE_KEY = "mobile-key-0123456789abcdef"
WEBHOOK_SECRET = "webhook-secret-for-tests"
API_TOKEN = "api-token-for-tests-0123"


def manifests(apis: list[str], *, gateway_url: str = "http://127.0.0.1:9", invalid: bool = False,
              consumer: bool = False) -> dict[str, str]:
    """Files of a small STOA repo: one API (and a rate-limit policy) per name."""
    files = {
        "reconciler.yaml": "apiVersion: gostoa.dev/v1alpha1\nkind: ReconcilerSettings\n"
                           "spec: {owner: platform, prune: true, maxDeletes: 50}\n",
        "gateways/stoa.yaml": "apiVersion: gostoa.dev/v1alpha1\nkind: GatewayInstance\n"
                              "metadata: {name: stoa-dev, labels: {env: dev}}\n"
                              f"spec: {{displayName: STOA dev, gatewayType: stoa, environment: dev, baseUrl: '{gateway_url}',\n"
                              "       credentials: {token: {env: STOA_ADMIN_TOKEN}}}\n",
    }
    for name in apis:
        files[f"apis/{name}.yaml"] = (
            "apiVersion: gostoa.dev/v1alpha1\nkind: API\n"
            f"metadata: {{name: {name}}}\n"
            "spec:\n  tenant: acme\n  version: 1.0.0\n"
            f"  basePath: /{name}\n  backend: https://{name}.example.com/v1\n"
            "  methods: [GET, POST]\n  gateways: [stoa-dev]\n"
            "---\napiVersion: gostoa.dev/v1alpha1\nkind: Policy\n"
            f"metadata: {{name: {name}-rate}}\n"
            f"spec: {{api: {name}, type: rate_limit, rateLimit: {{requests: 100, period: minute}}}}\n")
    if consumer and apis:
        files["consumers/mobile.yaml"] = (
            "apiVersion: gostoa.dev/v1alpha1\nkind: Consumer\nmetadata: {name: mobile-app}\n"
            f"spec: {{displayName: Mobile app, credential: {{type: apiKey, secretRef: {{env: MOBILE_APP_KEY}}}}, "
            f"subscriptions: [{apis[0]}]}}\n")
    if invalid:
        # line 5: a method that does not exist
        files["apis/broken.yaml"] = ("apiVersion: gostoa.dev/v1alpha1\nkind: API\nmetadata: {name: broken}\n"
                                     "spec:\n  methods: [GET, FETCH]\n  tenant: acme\n  version: '1'\n"
                                     "  basePath: /broken\n  backend: https://broken.example.com\n  gateways: [stoa-dev]\n")
    return files


class Origin:
    """A bare repository (`srv/origin.git`) and a working clone that pushes to it with the git CLI."""

    def __init__(self, root: Path) -> None:
        self.srv = root / "srv"
        self.bare = self.srv / "origin.git"
        self.work = root / "work"
        self.srv.mkdir()
        git(root, "init", "-q", "--bare", "-b", "main", str(self.bare))
        git(root, "init", "-q", "-b", "main", str(self.work))
        git(self.work, "remote", "add", "origin", str(self.bare))

    def push(self, files: dict[str, str], message: str = "update", *, replace: bool = True, force: bool = False) -> str:
        if replace:
            for path in sorted(self.work.rglob("*"), reverse=True):
                if ".git" in path.relative_to(self.work).parts:
                    continue
                if path.is_file():
                    path.unlink()
        for rel, text in files.items():
            target = self.work / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "--allow-empty", "-m", message)
        git(self.work, "push", "-q", *(["--force"] if force else []), "origin", "main")
        return git(self.work, "rev-parse", "HEAD")


@pytest.fixture
def origin(tmp_path: Path) -> Origin:
    return Origin(tmp_path)


@pytest.fixture
def stoa() -> Iterator[StoaEmulator]:
    with StoaEmulator(admin_token=ADMIN_TOKEN) as emu:
        yield emu  # type: ignore[misc]


def wait_until(predicate: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except (httpx.HTTPError, ValueError, KeyError):
            last = None
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")


class DaemonProcess:
    """`python -m reconciler daemon` with RECONCILER_* settings; JSON logs go to a file."""

    def __init__(self, tmp: Path, settings: dict[str, str], *, config: dict[str, Any] | None = None,
                 flags: list[str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / f"daemon-{self.port}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("RECONCILER_")}
        env.update({"RECONCILER_PORT": str(self.port), "RECONCILER_CACHE_DIR": str(tmp / "cache"),
                    "RECONCILER_HEARTBEAT_INTERVAL": "0", "RECONCILER_DRIFT_INTERVAL": "0",
                    "STOA_ADMIN_TOKEN": ADMIN_TOKEN, "MOBILE_APP_KEY": MOBILE_KEY, "LOG_LEVEL": "DEBUG",
                    "RECONCILER_API_TOKEN": API_TOKEN, "RECONCILER_WEBHOOK_SECRET": WEBHOOK_SECRET})
        env.update(settings)
        args = [sys.executable, "-m", "reconciler", "daemon"]
        if config is not None:
            cfg = tmp / f"daemon-{self.port}.yaml"
            cfg.write_text(json.dumps(config))
            args += ["--config", str(cfg)]
        args += flags or []
        self.log_file = self.log_path.open("wb")
        self.proc = subprocess.Popen(args, env=env, stdout=self.log_file, stderr=subprocess.STDOUT)
        self.client = httpx.Client(base_url=self.url, timeout=10)
        wait_until(lambda: self.proc.poll() is not None or self.client.get("/livez").status_code == 200, timeout=20)
        if self.proc.poll() is not None:
            raise AssertionError(f"daemon exited {self.proc.returncode}:\n{self.logs()}")

    def health(self) -> dict[str, Any]:
        """The detailed `/health` (with the API token; without it, the status only)."""
        return dict(self.client.get("/health", headers={"Authorization": f"Bearer {API_TOKEN}"}).json())

    def gateway(self, name: str = "stoa-dev") -> dict[str, Any]:
        for g in self.health()["gateways"]:
            if g["name"] == name:
                return dict(g)
        return {}

    def metric(self, name: str, **labels: str) -> float | None:
        text = self.client.get("/metrics").text
        for line in text.splitlines():
            if line.startswith(name) and all(f'{k}="{v}"' in line for k, v in labels.items()):
                head = line.split(" ")[0]
                if head == name or head.startswith(name + "{"):
                    return float(line.rsplit(" ", 1)[1])
        return None

    def logs(self) -> str:
        if not self.log_file.closed:
            self.log_file.flush()
        return self.log_path.read_text(errors="replace")

    def log_records(self) -> list[dict[str, Any]]:
        out = []
        for line in self.logs().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def terminate(self, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.client.close()
            self.log_file.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.client.close()
        self.log_file.close()


@pytest.fixture
def start_daemon(tmp_path: Path) -> Iterator[Callable[..., DaemonProcess]]:
    started: list[DaemonProcess] = []

    def start(settings: dict[str, str], **kwargs: Any) -> DaemonProcess:
        proc = DaemonProcess(tmp_path, settings, **kwargs)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()


@pytest.fixture
def admin(stoa: StoaEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stoa.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=5) as client:
        yield client


def routes(client: httpx.Client) -> set[str]:
    return {r["id"] for r in client.get("/admin/apis").json()}


def policies(client: httpx.Client) -> set[str]:
    return {p["id"] for p in client.get("/admin/policies").json()}
