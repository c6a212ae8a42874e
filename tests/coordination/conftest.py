"""A real etcd (the Debian `etcd-server` binary) on 127.0.0.1 free ports, one per test, and a timed proxy."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response

from tests.conftest import IN_CI, free_port
from tests.faults import FaultProxy, Faults

ETCD = shutil.which("etcd") or "/usr/bin/etcd"


class EtcdServer:
    """One single-member etcd cluster with its data in `data_dir`; `stop()` and `start()` again at will."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.client_port, self.peer_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.client_port}"
        self.log_path = data_dir.parent / "etcd.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        peer = f"http://127.0.0.1:{self.peer_port}"
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [ETCD, "--name", "test", "--data-dir", str(self.data_dir),
             "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--initial-cluster", f"test={peer}"],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"etcd exited {self.proc.returncode}:\n{self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).json().get("health") == "true":
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.05)
        raise AssertionError(f"etcd did not become healthy:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture
def etcd(tmp_path: Path) -> Iterator[EtcdServer]:
    if not Path(ETCD).is_file():
        if IN_CI:
            pytest.fail(f"{ETCD} is missing; CI must run the coordination tests (apt-get install -y etcd-server)")
        pytest.skip(f"{ETCD} is absent: install the Debian package etcd-server to run the coordination tests")
    server = EtcdServer(tmp_path / "etcd-data")
    server.start()
    yield server
    server.stop()


@dataclass(frozen=True)
class Write:
    method: str
    path: str
    start: float
    end: float


class TimedProxy(FaultProxy):
    """A FaultProxy (same delays) that records when each write entered and left it (monotonic clock)."""

    def __init__(self, upstream: str, delays: list[tuple[str, str, float]]) -> None:
        super().__init__(upstream, Faults(delays=delays))
        self.spans: list[Write] = []

    async def _forward(self, request: Request) -> Response:
        start = time.monotonic()
        try:
            return await super()._forward(request)
        finally:
            if request.method not in ("GET", "HEAD"):
                self.spans.append(Write(request.method, request.url.path, start, time.monotonic()))
