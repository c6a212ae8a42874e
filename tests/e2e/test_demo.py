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
