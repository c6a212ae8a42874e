"""`reconciler demo` on the embedded examples/repo: every gateway type's emulator (moto for AWS)."""

from __future__ import annotations

import pytest

from reconciler.cli import main


def test_demo_converges_on_every_gateway(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    for gateway in ("stoa-dev", "kong-dev", "gravitee-dev", "webmethods-dev", "apigee-dev", "aws-dev"):
        assert f"Gateway {gateway}: " in out, f"{gateway} was not applied"
    assert "A second apply sent 0 write request(s)" in out
    assert "the emulators logged 0." in out
    assert "demo succeeded" in out


def test_demo_without_moto_runs_the_other_five_and_says_so() -> None:
    """moto is the `demo` extra: without it the demo skips AWS in one line and still succeeds."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['moto'] = None; sys.modules['moto.server'] = None\n"
            "from reconciler.cli import main; sys.exit(main(['demo']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "aws-dev: skipped, its emulator needs moto (pip install 'stoa-reconciler[demo]')" in done.stdout
    assert "Gateway aws-dev: " not in done.stdout and "Gateway kong-dev: " in done.stdout
    assert "demo succeeded" in done.stdout
