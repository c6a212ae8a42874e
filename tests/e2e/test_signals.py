"""SIGTERM / Ctrl-C during an apply: no new write starts, in-flight requests finish, the report of what
was written is printed, the exit code is 1, and the next apply converges (then writes nothing)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.adapters.stoa.emulator import StoaEmulator
from tests.faults import FaultProxy, Faults

TOKEN = "signal-admin-token"
KEYS = {"MOBILE_APP_API_KEY": "mk-0123456789-secret", "PARTNER_PORTAL_API_KEY": "pk-9876543210-secret"}
CLI = str(Path(sys.executable).parent / "reconciler")


@pytest.fixture
def stoa() -> Iterator[StoaEmulator]:
    with StoaEmulator(admin_token=TOKEN) as emulator:
        yield emulator  # type: ignore[misc]


def _env() -> dict[str, str]:
    return {**os.environ, "STOA_ADMIN_TOKEN": TOKEN, **KEYS}


def _apply(repo: Path, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, "apply", str(repo), "--gateway", "stoa-dev", "--endpoint", f"stoa-dev={url}",
                           "--auto-approve", "--no-color", *extra], env=_env(), capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_new_writes_reports_and_the_next_apply_converges(
        stoa: StoaEmulator, stoa_example_repo: Path, sig: signal.Signals) -> None:
    slow = Faults(delays=[("POST", r"/admin/.*", 0.4)])  # every write takes 0.4 s: the signal lands mid-apply
    with FaultProxy(stoa.url, slow) as proxy:
        proc = subprocess.Popen([CLI, "apply", str(stoa_example_repo), "--gateway", "stoa-dev", "--endpoint",
                                 f"stoa-dev={proxy.url}", "--auto-approve", "--no-color"],
                                env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while not stoa.writes and time.monotonic() < deadline:
            time.sleep(0.02)
        assert stoa.writes, "the apply never started writing"
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, (out, err)
    assert f"{sig.name}: starting no new writes" in err and f"Interrupted by {sig.name}" in err
    assert "applied" in out and "not_attempted" in out and "interrupted: not started" in out
    written = len(stoa.writes)
    assert 0 < written < 8  # a full apply of stoa-dev writes 8 times
    stoa.clear_log()
    assert _apply(stoa_example_repo, stoa.url).returncode == 0
    assert stoa.writes, "the next apply finishes the work"
    stoa.clear_log()
    again = _apply(stoa_example_repo, stoa.url)
    assert again.returncode == 0 and stoa.writes == []
