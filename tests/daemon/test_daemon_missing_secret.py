"""In the daemon a missing consumer secret is an error, also for a drift check: never drift."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.adapters.stoa.emulator import StoaEmulator
from reconciler.daemon.modes import Trigger
from reconciler.daemon.runner import Daemon
from reconciler.daemon.settings import load_settings
from reconciler.daemon.state import Revision
from tests.daemon.conftest import ADMIN_TOKEN, MOBILE_KEY, manifests
from tests.daemon.test_daemon_unit import FakeSource, fetch_and_wait, write


async def test_a_drift_check_without_a_consumer_secret_fails_and_counts_no_drift(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOA_ADMIN_TOKEN", ADMIN_TOKEN)
    monkeypatch.setenv("MOBILE_APP_KEY", MOBILE_KEY)
    settings = load_settings(None, {"RECONCILER_GIT_URL": "https://git.example.com/gitops.git",
                                    "RECONCILER_CACHE_DIR": str(tmp_path / "cache")})
    with StoaEmulator(admin_token=ADMIN_TOKEN) as stoa:
        source = FakeSource()
        repo = write(tmp_path / "repo", manifests(["pets"], gateway_url=stoa.url, consumer=True))
        source.revisions = [Revision("a" * 40, repo)]
        daemon = Daemon(settings, source=source)
        try:
            assert [r.ok for r in await fetch_and_wait(daemon)] == [True]
            monkeypatch.delenv("MOBILE_APP_KEY")
            stoa.clear_log()
            run = await daemon.gateway_workers["stoa-dev"].trigger(Trigger.DRIFT)
            assert (run.mode, run.ok, run.drift) == ("detect", False, 0)
            assert "environment variable MOBILE_APP_KEY is not set" in (run.error or "")
            assert daemon.state.gateways["stoa-dev"].drift == 0
            assert stoa.requests == []  # refused before reading the gateway, as an apply would be
        finally:
            for worker in daemon.gateway_workers.values():
                worker.close()
