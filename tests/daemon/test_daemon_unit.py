"""The reconcile loop with a fake source and fake runner functions: direct calls, no gateway, no timers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

import reconciler.manifests.loader as loader
from reconciler.adapters.stoa.emulator import StoaEmulator
from reconciler.daemon.http import build_app
from reconciler.daemon.modes import Trigger
from reconciler.daemon.runner import Daemon, looks_reset
from reconciler.daemon.settings import load_settings
from reconciler.daemon.source import SourceError
from reconciler.daemon.state import PreparedRevision, Revision
from reconciler.daemon.webhooks import github_signature
from reconciler.model.changes import Change, GatewayReport, ItemResult, Op, Status
from reconciler.runner import ApplyOutcome, GatewayPlan, LoadedRepo, RepoPlan, RunOptions
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

    async def plan(self, repo: LoadedRepo, options: RunOptions) -> RepoPlan:
        self.plans.append(options)
        return self._plan()

    async def apply(self, repo: LoadedRepo, options: RunOptions) -> ApplyOutcome:
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


async def fetch_and_wait(daemon: Daemon, reason: Trigger = Trigger.POLL) -> list[Any]:
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
    run = await worker.trigger(Trigger.DRIFT)
    assert run.mode == "detect" and run.drift == 1 and not run.reset and len(runner.applies) == 1
    assert daemon.state.gateways["stoa-dev"].drift == 1

    runner.changes = [change(Op.CREATE, "pets"), change(Op.CREATE, "orders")]  # everything gone: restarted empty
    run = await worker.trigger(Trigger.DRIFT)
    assert run.mode == "resync" and run.ok and len(runner.applies) == 2

    daemon.settings = daemon.settings.model_copy(update={"drift_mode": "heal"})
    runner.changes = [change(Op.NOOP, "pets"), change(Op.UPDATE, "orders")]
    run = await worker.trigger(Trigger.DRIFT)
    assert run.mode == "heal" and run.drift == 1 and len(runner.applies) == 3


async def test_triggers_for_one_gateway_run_one_at_a_time(rig: Any) -> None:
    daemon, source, runner, tmp = rig
    source.revisions = [Revision("a" * 40, write(tmp / "good", manifests(["pets"])))]
    runner.changes = [change(Op.CREATE)]
    runner.block = asyncio.Event()
    first = await daemon._source_run(frozenset({Trigger.POLL}))
    await asyncio.sleep(0.05)
    worker = daemon.gateway_workers["stoa-dev"]
    assert worker.running
    later = [worker.trigger(Trigger.DRIFT) for _ in range(4)] + [worker.trigger(Trigger.SYNC)]
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
        assert (await client.get("/health", headers={"Authorization": "Bearer tok-123"})).json()["gateways"][0][
            "last_commit"] == "a" * 40
        assert (await client.get("/health")).json() == {"status": "ok"}  # no token: the status only


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

    async def failing(repo: LoadedRepo, options: RunOptions) -> ApplyOutcome:
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
    run = await daemon.gateway_workers["stoa-dev"].trigger(Trigger.DRIFT)
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
    await daemon.trigger_fetch(Trigger.START)
    await asyncio.sleep(0.05)
    assert daemon.gateway_workers["stoa-dev"].running
    asyncio.get_running_loop().call_later(0.1, runner.block.set)  # the apply finishes within the timeout
    assert await daemon._shutdown(None) == 0
    assert daemon.state.gateways["stoa-dev"].last_commit == "a" * 40

    stuck = Daemon(settings, source=source, plan=runner.plan, apply=runner.apply)
    runner.block = asyncio.Event()  # never released
    source.fetches = 0
    stuck._spawn("source worker", stuck.source_worker.run())
    await stuck.trigger_fetch(Trigger.START)
    await asyncio.sleep(0.05)
    started = asyncio.get_running_loop().time()
    assert await stuck._shutdown(None) == 1
    assert asyncio.get_running_loop().time() - started < 2


def two_gateways(a_url: str, b_url: str, apis: list[str]) -> dict[str, str]:
    """A repo with gateways `gw-a` and `gw-b` (tokens from GW_A_TOKEN / GW_B_TOKEN), every API on both."""
    files = {"reconciler.yaml": "apiVersion: gostoa.dev/v1alpha1\nkind: ReconcilerSettings\nspec: {owner: platform}\n"}
    for gw, url in (("a", a_url), ("b", b_url)):
        files[f"gateways/{gw}.yaml"] = (
            f"apiVersion: gostoa.dev/v1alpha1\nkind: GatewayInstance\nmetadata: {{name: gw-{gw}}}\n"
            f"spec: {{displayName: {gw}, gatewayType: stoa, environment: dev, baseUrl: '{url}',"
            f" credentials: {{token: {{env: GW_{gw.upper()}_TOKEN}}}}}}\n")
    for name in apis:
        files[f"apis/{name}.yaml"] = (
            f"apiVersion: gostoa.dev/v1alpha1\nkind: API\nmetadata: {{name: {name}}}\n"
            f"spec: {{tenant: acme, version: '1', basePath: /{name}, backend: 'https://{name}.example.com',"
            f" methods: [GET], gateways: [gw-a, gw-b]}}\n")
    return files


async def test_a_commit_is_loaded_once_for_every_gateway_run_and_heartbeat(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[str] = []
    real_parse = loader.parse_tree

    def counting_parse(*args: Any, **kwargs: Any) -> Any:  # every `load`, whatever name it was imported under
        loads.append("load")
        return real_parse(*args, **kwargs)

    monkeypatch.setattr(loader, "parse_tree", counting_parse)
    monkeypatch.setenv("GW_A_TOKEN", "token-a")
    monkeypatch.setenv("GW_B_TOKEN", "token-b")
    settings = load_settings(None, {"RECONCILER_GIT_URL": "https://git.example.com/gitops.git",
                                    "RECONCILER_CACHE_DIR": str(tmp_path / "cache")})
    with StoaEmulator(admin_token="token-a") as a, StoaEmulator(admin_token="token-b") as b:
        source = FakeSource()
        one = write(tmp_path / "one", two_gateways(a.url, b.url, ["pets"]))
        two = write(tmp_path / "two", two_gateways(a.url, b.url, ["pets", "orders"]))
        source.revisions = [Revision("a" * 40, one), Revision("b" * 40, two)]
        daemon = Daemon(settings, source=source)  # the real runner
        try:
            runs = await fetch_and_wait(daemon)
            assert [(r.gateway, r.mode, r.ok) for r in runs] == [("gw-a", "apply", True), ("gw-b", "apply", True)]
            assert set(a.apis) == set(b.apis) == {"platform.pets"}
            assert len(loads) == 1  # validated once; both gateway applies used that load
            good = daemon.state.source.good
            assert isinstance(good, PreparedRevision) and dict(good.gateways) == {"gw-a": "stoa", "gw-b": "stoa"}

            await daemon.heartbeat()
            assert [daemon.state.gateways[n].healthy for n in ("gw-a", "gw-b")] == [True, True]
            drift = await asyncio.gather(*(w.trigger(Trigger.DRIFT) for w in daemon.gateway_workers.values()))
            assert [(r.mode, r.ok, r.drift) for r in drift] == [("detect", True, 0)] * 2
            assert len(loads) == 1  # heartbeats and drift checks reuse the prepared revision

            # secrets are not part of it: a token removed from the environment fails the next run at once
            monkeypatch.delenv("GW_B_TOKEN")
            failed = await daemon.gateway_workers["gw-b"].trigger(Trigger.DRIFT)
            assert not failed.ok and "GW_B_TOKEN is not set" in (failed.error or "")
            await daemon.heartbeat()
            gw_b = daemon.state.gateways["gw-b"]
            assert gw_b.healthy is False and "GW_B_TOKEN is not set" in (gw_b.health_error or "")
            assert len(loads) == 1

            monkeypatch.setenv("GW_B_TOKEN", "token-b")
            runs = await fetch_and_wait(daemon)  # a new commit is loaded again, once
            assert [(r.mode, r.ok) for r in runs] == [("apply", True)] * 2
            assert set(a.apis) == set(b.apis) == {"platform.pets", "platform.orders"}
            assert len(loads) == 2
            assert daemon.state.source.good is not None and daemon.state.source.good.commit == "b" * 40
        finally:
            daemon.request_stop()
            await daemon._shutdown(None)
