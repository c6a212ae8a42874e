"""Pause (spec.suspend, `suspend`/`resume`), sync windows and notifications in the reconcile loop.

The daemon runs in-process with the fake source and runner of `test_daemon_unit` (direct calls, no
timers); notifications go over HTTP to a real local receiver; the CLI part uses STOA emulators.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.adapters.stoa.emulator import StoaEmulator
from reconciler.daemon.http import build_app
from reconciler.daemon.modes import Trigger
from reconciler.daemon.runner import Daemon
from reconciler.daemon.settings import load_settings
from reconciler.daemon.state import Revision
from reconciler.model.changes import GatewayReport, ItemResult, Op, Status
from reconciler.runner import ApplyOutcome, LoadedRepo, RunOptions
from tests.conftest import run_cli
from tests.daemon.conftest import manifests
from tests.daemon.receiver import Receiver
from tests.daemon.test_daemon_unit import FakeRunner, FakeSource, change, fetch_and_wait, two_gateways, write

TOKEN = "tok-123-api-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
A, B, C = "a" * 40, "b" * 40, "c" * 40

Rig = tuple[Daemon, FakeSource, FakeRunner, Path]


def suspended(files: dict[str, str]) -> dict[str, str]:
    gw = files["gateways/stoa.yaml"]
    return {**files, "gateways/stoa.yaml": gw.replace("environment: dev,", "environment: dev, suspend: true,")}


async def wait_for(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"condition not met within {timeout}s")


def make_rig(tmp: Path, **env: str) -> Rig:
    settings = load_settings(None, {"RECONCILER_GIT_URL": "https://git.example.com/gitops.git",
                                    "RECONCILER_CACHE_DIR": str(tmp / "cache"), "RECONCILER_API_TOKEN": TOKEN, **env})
    source, runner = FakeSource(), FakeRunner()
    return Daemon(settings, source=source, plan=runner.plan, apply=runner.apply), source, runner, tmp


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    daemon, *rest = parts = make_rig(tmp_path)
    yield parts
    daemon.request_stop()
    await daemon._shutdown(None)


async def test_suspend_and_resume_through_the_api_hold_applies_but_not_drift_detection(rig: Rig) -> None:
    daemon, source, runner, tmp = rig
    one, two = write(tmp / "one", manifests(["pets"])), write(tmp / "two", manifests(["pets", "orders"]))
    source.revisions = [Revision(A, one), Revision(B, two)]
    runner.changes = [change(Op.CREATE, "pets")]
    await fetch_and_wait(daemon)
    assert len(runner.applies) == 1
    worker = daemon.gateway_workers["stoa-dev"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(daemon)), base_url="http://d") as client:
        assert (await client.post("/suspend")).status_code == 401  # behind the token, like /sync
        unknown = await client.post("/suspend?gateway=nope", headers=AUTH)
        assert unknown.status_code == 404 and "unknown gateway 'nope'" in unknown.json()["error"]
        paused = await client.post("/suspend?gateway=stoa-dev", headers=AUTH)
        assert paused.status_code == 200 and list(paused.json()["paused"]["gateways"]) == ["stoa-dev"]
        assert "reconciler suspend --gateway stoa-dev" in paused.json()["holds"]["stoa-dev"]

        runner.changes = [change(Op.NOOP, "pets"), change(Op.CREATE, "orders")]
        [run] = await fetch_and_wait(daemon)  # a new commit while paused: planned, not applied
        assert run.mode == "detect" and run.ok and run.drift == 1 and run.held is not None
        assert len(runner.applies) == 1
        [synced] = await fetch_and_wait(daemon, Trigger.SYNC)  # a manual sync does not override a pause either
        assert synced.as_json()["held"] and len(runner.applies) == 1
        runner.changes = [change(Op.UPDATE, "pets"), change(Op.CREATE, "orders")]
        daemon.settings = daemon.settings.model_copy(update={"drift_mode": "heal"})
        run = await worker.trigger(Trigger.DRIFT)
        assert run.mode == "detect" and run.drift == 2 and len(runner.applies) == 1  # heal mode heals nothing
        status = (await client.get("/status", headers=AUTH)).json()
        gw = status["gateways"]["stoa-dev"]
        assert gw["drift"] == 2 and "paused" in gw["hold"] and gw["last_commit"] == A
        assert status["paused"]["gateways"].keys() == {"stoa-dev"} and status["paused"]["all"] is False
        from reconciler.daemon.commands import render_status

        table = render_status(status)
        assert "HOLD" in table and "paused" in table.split("stoa-dev", 1)[1].splitlines()[0]

        resumed = await client.post("/resume?gateway=stoa-dev", headers=AUTH)
        assert resumed.status_code == 200 and resumed.json()["paused"]["gateways"] == {}
        await wait_for(lambda: daemon.state.gateways["stoa-dev"].last_commit == B)  # resume reconciles at once
        assert len(runner.applies) == 2 and daemon.state.gateways["stoa-dev"].hold is None

        await client.post("/suspend", headers=AUTH)  # the whole daemon, kept across a restart
    again, *_ = make_rig(tmp)
    assert again.pauses.everything is not None
    assert again.pauses.reason("stoa-dev") == "the daemon is paused (reconciler suspend)"
    again.resume(None)
    assert make_rig(tmp)[0].pauses.reason("stoa-dev") is None


async def test_spec_suspend_in_git_holds_every_apply_until_the_commit_that_lifts_it(rig: Rig) -> None:
    daemon, source, runner, tmp = rig
    held = write(tmp / "held", suspended(manifests(["pets"])))
    lifted = write(tmp / "lifted", manifests(["pets"]))
    source.revisions = [Revision(A, held), Revision(A, held), Revision(B, lifted)]
    runner.changes = [change(Op.CREATE, "pets")]
    [run] = await fetch_and_wait(daemon)
    assert run.mode == "detect" and run.held == "suspended in Git (spec.suspend: true)" and runner.applies == []
    assert not run.reset or daemon.state.gateways["stoa-dev"].last_commit is None  # no re-sync while suspended
    [run] = await fetch_and_wait(daemon, Trigger.SYNC)
    assert run.held and runner.applies == []
    daemon.resume(None)  # a runtime resume does not lift what Git says
    await asyncio.sleep(0)
    run = await daemon.gateway_workers["stoa-dev"].trigger(Trigger.DRIFT)
    assert run.held and runner.applies == []
    [run] = await fetch_and_wait(daemon)
    assert run.mode == "apply" and run.held is None and len(runner.applies) == 1


async def test_a_deny_window_holds_the_daemon_a_manual_sync_passes_with_manualsync(tmp_path: Path) -> None:
    windows = '[{"kind": "deny", "schedule": "0 22 * * *", "duration": "8h", "gateways": ["stoa-*"]}]'
    daemon, source, runner, tmp = make_rig(tmp_path, RECONCILER_SYNC_WINDOWS=windows)
    daemon.clock = lambda: datetime(2024, 1, 1, 23, 0, tzinfo=UTC)
    try:
        source.revisions = [Revision(A, write(tmp / "one", manifests(["pets"])))]
        runner.changes = [change(Op.CREATE, "pets")]
        [run] = await fetch_and_wait(daemon)
        assert run.mode == "detect" and runner.applies == [] and run.drift == 1
        assert run.held is not None and "deny window '0 22 * * *'" in run.held and "2024-01-02T06:00:00" in run.held
        assert "stoa-dev" in daemon._window_timers  # re-checked when the window closes
        [run] = await fetch_and_wait(daemon, Trigger.SYNC)
        assert run.held and runner.applies == []  # manualSync is false

        daemon.settings = daemon.settings.model_copy(update={"sync_windows": tuple(
            w.model_copy(update={"manualSync": True}) for w in daemon.settings.sync_windows)})
        [run] = await fetch_and_wait(daemon, Trigger.SYNC)
        assert run.mode == "apply" and run.held is None and len(runner.applies) == 1
        daemon.clock = lambda: datetime(2024, 1, 2, 6, 0, tzinfo=UTC)  # the window has closed
        runner.changes = [change(Op.UPDATE, "pets")]
        daemon.settings = daemon.settings.model_copy(update={"drift_mode": "heal"})
        run = await daemon.gateway_workers["stoa-dev"].trigger(Trigger.DRIFT)
        assert run.mode == "heal" and len(runner.applies) == 2
    finally:
        daemon.request_stop()
        await daemon._shutdown(None)


async def test_the_daemon_notifies_on_changes_of_state_with_retries_and_no_secret(tmp_path: Path) -> None:
    with Receiver([(503, {}), "drop", (200, {})]) as hook, Receiver([(429, {"Retry-After": "0"}), (200, {})]) as slack:
        daemon, source, runner, tmp = make_rig(tmp_path, RECONCILER_NOTIFY_WEBHOOK_URL=hook.url,
                                               RECONCILER_NOTIFY_SLACK_URL=slack.url, RECONCILER_NOTIFY_BACKOFF="0.02")
        daemon.notifier.start()
        try:
            good = write(tmp / "good", manifests(["pets", "orders"]))
            source.revisions = [Revision(A, good), Revision(B, write(tmp / "bad", manifests(["pets"], invalid=True))),
                                Revision(C, good)]
            runner.changes = [change(Op.CREATE, "pets"), change(Op.CREATE, "orders")]
            await fetch_and_wait(daemon)  # applied: sync_succeeded is not among the default events
            worker = daemon.gateway_workers["stoa-dev"]
            runner.changes = [change(Op.NOOP, "pets"), change(Op.UPDATE, "orders", "Policy")]
            for _ in range(3):  # three checks see the same drift: one notification
                assert (await worker.trigger(Trigger.DRIFT)).drift == 1
            runner.changes = [change(Op.NOOP, "pets"), change(Op.NOOP, "orders", "Policy")]
            await worker.trigger(Trigger.DRIFT)  # fixed by hand: healed

            async def failing(repo: LoadedRepo, options: RunOptions) -> ApplyOutcome:
                plan = runner._plan()
                return ApplyOutcome(plan, {"stoa-dev": GatewayReport("stoa-dev", [ItemResult(
                    "stoa-dev", "API", "pets", Op.UPDATE, Status.FAILED,
                    error=f"HTTP 401: token {TOKEN} refused")])})

            daemon._apply = failing
            runner.changes = [change(Op.UPDATE, "pets")]
            for _ in range(2):
                assert not (await worker.trigger(Trigger.SYNC)).ok
            await fetch_and_wait(daemon)  # the invalid commit B
            await wait_for(lambda: len(hook.accepted) == 4 and len(slack.accepted) == 4)
            assert await daemon.notifier.drain(10)
        finally:
            daemon.request_stop()
            await daemon._shutdown(None)
    events = [b["event"] for b in hook.accepted]
    assert events == ["drift_found", "drift_healed", "apply_failed", "invalid_commit"]
    found, healed, failed, invalid = hook.accepted
    assert found["gateway"] == "stoa-dev" and found["commit"] == A
    assert found["objects"] == [{"kind": "Policy", "name": "orders", "op": "update"}]
    assert healed["objects"] == found["objects"] and "in sync" in healed["message"]
    assert failed["objects"] == [{"kind": "API", "name": "pets", "op": "update"}]
    assert "HTTP 401" in failed["message"] and TOKEN not in failed["message"]
    assert invalid["gateway"] is None and invalid["commit"] == B and "apis/broken.yaml:5" in invalid["message"]
    assert datetime.fromisoformat(found["time"]).tzinfo is not None
    assert [r["answer"] for r in hook.requests[:3]] == [(503, {}), "drop", (200, {})]  # the first one was retried
    texts = [m["text"] for m in slack.accepted]
    assert texts[0].startswith("Drift found on stoa-dev") and texts[2].startswith("Apply failed on stoa-dev")
    assert all(TOKEN not in str(r) for r in hook.requests + slack.requests)


def test_cli_apply_skips_a_suspended_gateway_unless_gateway_names_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GW_A_TOKEN", "token-a")
    monkeypatch.setenv("GW_B_TOKEN", "token-b")
    with StoaEmulator(admin_token="token-a") as a, StoaEmulator(admin_token="token-b") as b:
        files = two_gateways(a.url, b.url, ["pets"])
        files["gateways/b.yaml"] = files["gateways/b.yaml"].replace("environment: dev,", "environment: dev, suspend: true,")
        repo = write(tmp_path / "repo", files)
        assert run_cli("apply", repo, {}) == 0
        out = capsys.readouterr().out
        assert "Skipped gateway gw-b: suspended (spec.suspend: true); pass --gateway gw-b" in out
        assert set(a.apis) == {"platform.pets"} and b.apis == {}
        assert run_cli("plan", repo, {}, "--detailed-exitcode") == 0  # plan shows what apply would do: nothing
        assert "Skipped gateway gw-b" in capsys.readouterr().out
        assert run_cli("apply", repo, {}, "--gateway", "gw-b") == 0  # named: the deliberate override
        assert set(b.apis) == {"platform.pets"}
