"""The reconcile loop with a fake source and fake runner functions: direct calls, no gateway, no timers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.daemon.http import build_app
from reconciler.daemon.runner import Daemon, looks_reset
from reconciler.daemon.settings import load_settings
from reconciler.daemon.source import SourceError
from reconciler.daemon.state import Revision
from reconciler.daemon.webhooks import github_signature
from reconciler.model.changes import Change, GatewayReport, ItemResult, Op, Status
from reconciler.runner import ApplyOutcome, GatewayPlan, RepoPlan, RunOptions
from tests.daemon.conftest import manifests


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


class FakeSource:
    kind = "git"
    location = "https://git.example.com/gitops.git"
    branch: str | None = "main"

    def __init__(self) -> None:
        self.revisions: list[Revision | Exception] = []
        self.fetches = 0
        self.pinned: set[Path] = set()

    async def fetch(self) -> Revision:
        self.fetches += 1
        item = self.revisions[min(self.fetches, len(self.revisions)) - 1]
        if isinstance(item, Exception):
            raise item
        return item

    async def watch(self, trigger: Callable[[str], object], stop: asyncio.Event) -> None:
        await stop.wait()


def change(op: Op, name: str = "pets", kind: str = "API") -> Change:
    live = None if op is Op.CREATE else {"kind": kind, "name": name, "id": f"platform.{name}", "spec": {}}
    return Change("stoa-dev", op, kind, name, desired={"kind": kind, "name": name, "spec": {}}, actual=live)


class FakeRunner:
    def __init__(self) -> None:
        self.changes: list[Change] = []
        self.plans: list[RunOptions] = []
        self.applies: list[RunOptions] = []
        self.block: asyncio.Event | None = None

    def _plan(self) -> RepoPlan:
        return RepoPlan({"stoa-dev": GatewayPlan("stoa-dev", "stoa", list(self.changes))})

    async def plan(self, path: Path, options: RunOptions) -> RepoPlan:
        self.plans.append(options)
        return self._plan()

    async def apply(self, path: Path, options: RunOptions) -> ApplyOutcome:
        self.applies.append(options)
        if self.block is not None:
            await self.block.wait()
        plan = self._plan()
        results = [ItemResult("stoa-dev", c.kind, c.name, c.op, Status.APPLIED) for c in plan.gateways["stoa-dev"].pending]
        self.changes = [Change("stoa-dev", Op.NOOP, c.kind, c.name) for c in self.changes if c.op is not Op.DELETE]
        return ApplyOutcome(plan, {"stoa-dev": GatewayReport("stoa-dev", results)})


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[tuple[Daemon, FakeSource, FakeRunner, Path]]:
    settings = load_settings(None, {"RECONCILER_GIT_URL": "https://git.example.com/gitops.git",
                                    "RECONCILER_CACHE_DIR": str(tmp_path / "cache"), "RECONCILER_API_TOKEN": "tok-123",
                                    "RECONCILER_WEBHOOK_SECRET": "hook-456"})
    source, runner = FakeSource(), FakeRunner()
    daemon = Daemon(settings, source=source, plan=runner.plan, apply=runner.apply)
    yield daemon, source, runner, tmp_path
    daemon.request_stop()
    await daemon._shutdown(None)


async def fetch_and_wait(daemon: Daemon, reason: str = "poll") -> list[Any]:
    futures = await daemon._source_run(frozenset({reason}))
    return list(await asyncio.gather(*futures))


async def test_new_commit_applies_then_invalid_commit_applies_nothing(rig: Any) -> None:
    daemon, source, runner, tmp = rig
    good = write(tmp / "good", manifests(["pets"]))
    bad = write(tmp / "bad", manifests(["pets"], invalid=True))
    source.revisions = [Revision("a" * 40, good), Revision("b" * 40, bad), Revision("b" * 40, bad)]
    runner.changes = [change(Op.CREATE)]
    runs = await fetch_and_wait(daemon)
    assert [r.ok for r in runs] == [True] and len(runner.applies) == 1
    assert runner.applies[0].gateways == frozenset({"stoa-dev"})
    gw = daemon.state.gateways["stoa-dev"]
    assert gw.last_commit == "a" * 40 and gw.type == "stoa" and gw.last_sync is not None

    assert await fetch_and_wait(daemon) == []
    assert len(runner.applies) == 1  # nothing applied for the invalid commit
    invalid = daemon.state.source.invalid
    assert invalid is not None and invalid.commit == "b" * 40
    assert any(e.file == "apis/broken.yaml" and e.line == 5 and "methods" in e.field for e in invalid.errors)
    code, body = daemon.health()
    assert code == 200 and body["status"] == "degraded" and body["source"]["good_commit"] == "a" * 40
    assert await fetch_and_wait(daemon) == []  # the same invalid head is reported once, not re-validated
    assert daemon.metrics.invalid_commits._value.get() == 1


async def test_no_good_revision_is_503_and_fetch_errors_are_sanitized(rig: Any) -> None:
    daemon, source, runner, tmp = rig
    source.revisions = [SourceError("cannot fetch https://user:hunter2@git.example.com/x.git: 401")]
    await fetch_and_wait(daemon)
    code, body = daemon.health()
    assert code == 503 and body["status"] == "failing"
    assert "hunter2" not in str(body) and runner.applies == []


async def test_detect_mode_reports_drift_and_resyncs_a_gateway_that_restarted_empty(rig: Any) -> None:
    daemon, source, runner, tmp = rig
    source.revisions = [Revision("a" * 40, write(tmp / "good", manifests(["pets", "orders"])))]
    runner.changes = [change(Op.CREATE, "pets"), change(Op.CREATE, "orders")]
    await fetch_and_wait(daemon)
    worker = daemon.gateway_workers["stoa-dev"]
    assert len(runner.applies) == 1

    runner.changes = [change(Op.NOOP, "pets"), change(Op.CREATE, "orders")]  # one object deleted out of band
    run = await worker.trigger("drift")
    assert run.mode == "detect" and run.drift == 1 and not run.reset and len(runner.applies) == 1
    assert daemon.state.gateways["stoa-dev"].drift == 1

    runner.changes = [change(Op.CREATE, "pets"), change(Op.CREATE, "orders")]  # everything gone: restarted empty
    run = await worker.trigger("drift")
    assert run.mode == "resync" and run.ok and len(runner.applies) == 2

    daemon.settings = daemon.settings.model_copy(update={"drift_mode": "heal"})
    runner.changes = [change(Op.NOOP, "pets"), change(Op.UPDATE, "orders")]
    run = await worker.trigger("drift")
    assert run.mode == "heal" and run.drift == 1 and len(runner.applies) == 3


async def test_triggers_for_one_gateway_run_one_at_a_time(rig: Any) -> None:
    daemon, source, runner, tmp = rig
    source.revisions = [Revision("a" * 40, write(tmp / "good", manifests(["pets"])))]
    runner.changes = [change(Op.CREATE)]
    runner.block = asyncio.Event()
    first = await daemon._source_run(frozenset({"poll"}))
    await asyncio.sleep(0.05)
    worker = daemon.gateway_workers["stoa-dev"]
    assert worker.running
    later = [worker.trigger("drift") for _ in range(4)] + [worker.trigger("sync")]
    runner.block.set()
    await asyncio.gather(*first, *later)
    assert len(runner.applies) == 2  # the first apply, then one coalesced follow-up (sync wins over drift)
    assert worker.runs == 2


def test_looks_reset_needs_every_change_to_be_a_create() -> None:
    assert looks_reset(GatewayPlan("g", "stoa", [change(Op.CREATE), change(Op.CREATE, "b")]))
    assert not looks_reset(GatewayPlan("g", "stoa", [change(Op.CREATE), change(Op.NOOP, "b")]))
    assert not looks_reset(GatewayPlan("g", "stoa", []))
    assert not looks_reset(GatewayPlan("g", "stoa", [change(Op.CREATE)], error="cannot read gateway"))


async def test_http_endpoints_guard_webhook_status_and_sync(rig: Any) -> None:
    daemon, source, runner, tmp = rig
    source.revisions = [Revision("a" * 40, write(tmp / "good", manifests(["pets"])))]
    runner.changes = [change(Op.CREATE)]
    transport = httpx.ASGITransport(app=build_app(daemon))
    daemon._spawn("source worker", daemon.source_worker.run())
    async with httpx.AsyncClient(transport=transport, base_url="http://daemon") as client:
        body = b'{"ref":"refs/heads/main"}'
        bad = await client.post("/webhook", content=body, headers={"X-Hub-Signature-256": github_signature("x", body)})
        assert bad.status_code == 401
        await asyncio.sleep(0.05)
        assert source.fetches == 0  # a rejected delivery never fetches
        assert (await client.get("/status")).status_code == 401
        assert (await client.get("/status", headers={"Authorization": "Bearer nope"})).status_code == 401
        synced = await client.post("/sync?wait=true", headers={"Authorization": "Bearer tok-123"})
        assert synced.status_code == 200, synced.text
        assert synced.json()["gateways"][0]["ok"] is True and synced.json()["commit"] == "a" * 40
        status = (await client.get("/status", headers={"Authorization": "Bearer tok-123"})).json()
        assert status["gateways"]["stoa-dev"]["last_plan"]["counts"] == {"create": 1}
        ok = await client.post("/webhook", content=body, headers={"X-Hub-Signature-256": github_signature("hook-456", body),
                                                                  "X-GitHub-Event": "push"})
        assert ok.status_code == 202
        metrics = (await client.get("/metrics")).text
        assert 'reconciler_changes_applied_total{gateway="stoa-dev",kind="API",op="create"} 1.0' in metrics
        assert 'reconciler_webhooks_total{provider="github",result="rejected"} 1.0' in metrics
        assert (await client.get("/health")).json()["gateways"][0]["last_commit"] == "a" * 40


async def test_force_push_back_to_the_good_commit_clears_the_invalid_report(rig: Any) -> None:
    daemon, source, runner, tmp = rig
    good = Revision("a" * 40, write(tmp / "good", manifests(["pets"])))
    source.revisions = [good, Revision("b" * 40, write(tmp / "bad", manifests(["pets"], invalid=True))), good]
    await fetch_and_wait(daemon)
    await fetch_and_wait(daemon)
    assert daemon.state.source.invalid is not None
    assert await fetch_and_wait(daemon) == []
    assert daemon.state.source.invalid is None and daemon.health()[1]["status"] == "ok"
    assert len(runner.applies) == 1


async def test_a_failed_apply_is_retried_by_the_next_check_not_reported_as_drift(rig: Any) -> None:
    daemon, source, runner, tmp = rig
    source.revisions = [Revision("a" * 40, write(tmp / "good", manifests(["pets"])))]
    runner.changes = [change(Op.CREATE)]
    real_apply = runner.apply

    async def failing(path: Path, options: RunOptions) -> ApplyOutcome:
        runner.applies.append(options)
        plan = runner._plan()
        return ApplyOutcome(plan, {"stoa-dev": GatewayReport("stoa-dev", error="connection refused")})

    daemon._apply = failing
    [run] = await fetch_and_wait(daemon)
    assert not run.ok and run.error == "connection refused"
    status = daemon.state.gateways["stoa-dev"]
    assert status.last_commit is None and status.last_attempted_commit == "a" * 40
    assert daemon.metrics.failures.labels("stoa-dev", "apply")._value.get() == 1
    daemon._apply = real_apply
    run = await daemon.gateway_workers["stoa-dev"].trigger("drift")
    assert run.mode == "retry" and run.ok and status.last_commit == "a" * 40 and status.drift == 0


async def test_shutdown_waits_for_the_running_apply_then_gives_up_after_the_timeout(tmp_path: Path) -> None:
    settings = load_settings(None, {"RECONCILER_GIT_URL": "https://git.example.com/x.git",
                                    "RECONCILER_CACHE_DIR": str(tmp_path / "cache"), "RECONCILER_SHUTDOWN_TIMEOUT": "0.3"})
    source, runner = FakeSource(), FakeRunner()
    source.revisions = [Revision("a" * 40, write(tmp_path / "good", manifests(["pets"])))]
    runner.changes = [change(Op.CREATE)]
    runner.block = asyncio.Event()
    daemon = Daemon(settings, source=source, plan=runner.plan, apply=runner.apply)
    daemon._spawn("source worker", daemon.source_worker.run())
    await daemon.trigger_fetch("start")
    await asyncio.sleep(0.05)
    assert daemon.gateway_workers["stoa-dev"].running
    asyncio.get_running_loop().call_later(0.1, runner.block.set)  # the apply finishes within the timeout
    assert await daemon._shutdown(None) == 0
    assert daemon.state.gateways["stoa-dev"].last_commit == "a" * 40

    stuck = Daemon(settings, source=source, plan=runner.plan, apply=runner.apply)
    runner.block = asyncio.Event()  # never released
    source.fetches = 0
    stuck._spawn("source worker", stuck.source_worker.run())
    await stuck.trigger_fetch("start")
    await asyncio.sleep(0.05)
    started = asyncio.get_running_loop().time()
    assert await stuck._shutdown(None) == 1
    assert asyncio.get_running_loop().time() - started < 2
