"""The daemon as a subprocess, paused and resumed with the CLI, notifying a local receiver."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from reconciler.adapters.stoa.emulator import StoaEmulator
from reconciler.cli import main
from tests.daemon.conftest import API_TOKEN, DaemonProcess, Origin, manifests, routes, wait_until
from tests.daemon.receiver import Receiver

pytestmark = pytest.mark.e2e


def test_paused_daemon_reports_drift_and_notifies_resume_heals(
        origin: Origin, stoa: StoaEmulator, admin: httpx.Client, start_daemon: Callable[..., DaemonProcess],
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    good = origin.push(manifests(["pets", "orders"]), "good")
    with Receiver([(503, {}), (200, {})]) as hook:
        daemon = start_daemon({"RECONCILER_GIT_URL": str(origin.bare), "RECONCILER_ENDPOINTS": f"stoa-dev={stoa.url}",
                               "RECONCILER_POLL_INTERVAL": "0", "RECONCILER_DRIFT_INTERVAL": "0.5",
                               "RECONCILER_DRIFT_MODE": "heal", "RECONCILER_POLL_JITTER": "0",
                               "RECONCILER_NOTIFY_WEBHOOK_URL": hook.url, "RECONCILER_NOTIFY_BACKOFF": "0.05"})
        wait_until(lambda: daemon.gateway().get("last_commit") == good)
        monkeypatch.setenv("RECONCILER_API_TOKEN", API_TOKEN)
        capsys.readouterr()
        assert main(["suspend", "--url", daemon.url, "--gateway", "stoa-dev"]) == 0
        assert "suspended stoa-dev; paused now: stoa-dev" in capsys.readouterr().out

        assert admin.delete("/admin/apis/platform.orders").status_code == 204
        found = wait_until(lambda: [b for b in hook.accepted if b["event"] == "drift_found"])[0]
        assert found["objects"] == [{"kind": "API", "name": "orders", "op": "create"}] and found["commit"] == good
        assert "not applied: gateway paused" in found["message"]
        assert routes(admin) == {"platform.pets"}  # the check that notified healed nothing
        with httpx.Client(base_url=daemon.url, headers={"Authorization": f"Bearer {API_TOKEN}"}) as client:
            status = client.get("/status").json()
        assert status["paused"]["gateways"].keys() == {"stoa-dev"} and "paused" in status["gateways"]["stoa-dev"]["hold"]

        assert main(["resume", "--url", daemon.url, "--gateway", "stoa-dev"]) == 0
        wait_until(lambda: routes(admin) == {"platform.pets", "platform.orders"})
        healed = wait_until(lambda: [b for b in hook.accepted if b["event"] == "drift_healed"])[0]
        assert healed["objects"] == found["objects"]
        assert hook.requests[0]["answer"] == (503, {})  # the first delivery failed and was retried
        assert daemon.terminate() == 0
    logs = daemon.logs()
    assert "s3cr3t-path-token" not in logs and "stoa-dev" in logs
    assert all(API_TOKEN not in str(r) for r in hook.requests)
