"""`reconciler demo` on the example repo: every gateway type's emulator (moto for AWS), then the daemon.

Run as a subprocess with its output redirected to pipes, as a user's `reconciler demo | less` or a
CI log is: no third-party access-log line, no colour codes.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, keep_only_gateway
from tests.installs import ACCESS_LOG, ANSI

GATEWAYS = ("stoa-dev", "kong-dev", "gravitee-dev", "webmethods-dev", "apigee-dev", "aws-dev")


def _demo(*args: str, code: str | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", code] if code else [sys.executable, "-m", "reconciler", "demo", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_demo_converges_on_every_gateway_then_the_daemon_follows_git_and_heals() -> None:
    done = _demo()
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    for gateway in GATEWAYS:
        assert f"Gateway {gateway}: " in out, f"{gateway} was not applied"
    assert "A second apply sent 0 write request(s)" in out
    assert "the emulators logged 0." in out
    assert "demo succeeded" in out
    # moto (werkzeug) logged one line per request here before; uvicorn's access log is off too
    assert not [line for line in (out + done.stderr).splitlines() if ACCESS_LOG.search(line)]
    assert not ANSI.search(out + done.stderr)
    assert done.stderr == ""

    # the last act: the pushed commit comes by webhook only (polling is off), the deleted route comes back
    assert "webhook answered 202 {'status': 'fetch queued'}" in out
    assert re.search(r"applied [\d.]+s after the webhook: route '[^']*daemon-demo' is on stoa-dev", out), out[-3000:]
    assert re.search(r"daemon \| drift on stoa-dev", out)
    assert re.search(r"drift found and healed [\d.]+s after the change: route '[^']*daemon-demo' is back", out)
    times = re.search(r"webhook -> applied ([\d.]+)s, change by hand -> healed ([\d.]+)s", out)
    assert times and float(times[1]) < 5 and float(times[2]) < 5, times
    total = re.search(r"The demo took ([\d.]+)s \(", out)
    assert total and float(total[1]) < 30, total


def test_demo_of_another_repo(tmp_path: Path) -> None:
    """`--repo`: a repo of one STOA gateway; the daemon act runs on it too (tenant taken from its APIs)."""
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "examples" / "repo", repo)
    keep_only_gateway(repo, "stoa-dev")
    done = _demo("--repo", str(repo))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Starting 1 emulated gateway(s)" in done.stdout and "Gateway stoa-dev: " in done.stdout
    assert "route 'platform.daemon-demo' is back" in done.stdout and "demo succeeded" in done.stdout
