"""The daemon: a supervisor of named asyncio tasks around the same plan/apply the CLI uses.

    triggers                       workers (one at a time each)                  runner
    poll / rescan timer ─┐
    watchfiles events ───┼──▶ source worker: fetch → load + validate ──fan out──▶ gateway worker "a" ─▶ apply_state / plan_state
    POST /webhook, /sync ┘                                            └────────▶ gateway worker "b" ─▶ …
    drift timer ────────────────────────────────────────────────────────────────▶ every gateway worker ("drift")
    heartbeat timer ─▶ health_check of every gateway (a gateway back from down → "drift" check)

A commit is read and validated once, by the source worker (in a thread): the resulting
`PreparedRevision` is what every gateway worker and heartbeat of that commit uses, so N gateways
cost one load per commit, not N + 1 plus one per heartbeat and drift check. Secrets are not in
it: each plan/apply resolves them again (environment and secret files change without a commit).

Shape borrowed from kopf's reactor: `run()` builds the shared state once and starts named tasks; a
task that dies unexpectedly is recorded and makes `/health` fail. From flux: every reconcile ends
with status and metrics (try/finally), `last_commit` moves only after a successful apply, and a
commit that fails validation leaves the gateways on the last good commit.

Signals: SIGTERM/SIGINT stop accepting triggers, let the running applies finish (bounded by
`shutdown_timeout`), then exit; SIGHUP reloads the settings file and environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import uvicorn

from reconciler.coordination.errors import CoordinationError
from reconciler.coordination.membership import Coordination, Membership, StaticShards
from reconciler.daemon.logs import configure_logging
from reconciler.daemon.metrics import Metrics
from reconciler.daemon.modes import Failure, Mode, Trigger
from reconciler.daemon.notify import Alerts, Event, Notification, Notifier, ObjectRef, receivers_from
from reconciler.daemon.pause import PauseBook
from reconciler.daemon.scheduler import CoalescingWorker, Schedules
from reconciler.daemon.settings import DaemonSettings, SettingsError, load_settings
from reconciler.daemon.source import Source, SourceError, make_source
from reconciler.daemon.state import DaemonState, InvalidCommit, PreparedRevision, Revision, SourceStatus, ValidationIssue
from reconciler.daemon.windows import window_state
from reconciler.manifests.loader import ValidationFailed, load
from reconciler.model.changes import Change, GatewayReport, Op, Status
from reconciler.model.errors import sanitize
from reconciler.model.scrub import Scrubber
from reconciler.runner import (
    ApplyOutcome,
    GatewayPlan,
    LoadedRepo,
    RepoPlan,
    RunOptions,
    apply_state,
    loaded,
    plan_state,
    state_adapters,
)

log = logging.getLogger("reconciler.daemon")

try:
    from importlib.metadata import version as _dist_version

    VERSION = _dist_version("stoa-reconciler")
except Exception:  # noqa: BLE001 - running from a source tree without metadata
    VERSION = "0.0.0"

PlanFn = Callable[[LoadedRepo, RunOptions], Awaitable[RepoPlan]]
ApplyFn = Callable[[LoadedRepo, RunOptions], Awaitable[ApplyOutcome]]

APPLY_REASONS = frozenset({Trigger.COMMIT, Trigger.SYNC})
"""Triggers that apply the desired state whatever the drift mode."""


@dataclass
class GatewayRun:
    """The result of one gateway reconcile (returned to `/sync?wait=true`)."""

    gateway: str
    mode: Mode
    commit: str | None
    ok: bool
    counts: dict[str, int] = field(default_factory=dict)
    drift: int = 0
    error: str | None = None
    reset: bool = False
    """A detect run found the gateway empty of our objects (restarted empty)."""
    objects: list[str] = field(default_factory=list)
    """`op Kind/name` of every object this run changed (an apply) or would change (a detect run)."""
    refs: tuple[ObjectRef, ...] = ()
    """What the plan found pending, or (a failed apply) the changes that failed: for notifications."""
    held: str | None = None
    """Why nothing was applied (suspended, paused, a sync window), when something would have been."""

    def as_json(self) -> dict[str, Any]:
        return {"gateway": self.gateway, "mode": self.mode, "commit": self.commit, "ok": self.ok,
                "counts": self.counts, "drift": self.drift, "error": self.error, "objects": self.objects,
                "held": self.held}


def _consume(fut: asyncio.Future[Any]) -> None:
    """Mark a future's exception as retrieved (fan-out futures nobody may await)."""
    if not fut.cancelled():
        fut.exception()


def looks_reset(plan: GatewayPlan) -> bool:
    """True when the gateway holds none of our objects but should hold some: restarted empty (or wiped)."""
    return bool(plan.changes) and plan.error is None and all(c.op is Op.CREATE for c in plan.changes)


MAX_LISTED = 20
"""Objects named in one log message; the JSON `objects` field always has them all."""


def describe(change: Change) -> str:
    """`update API/pets (backend, methods)`: what a log line says of one change (names only, no values)."""
    fields = f" ({', '.join(d.path for d in change.diffs)})" if change.op is Op.UPDATE and change.diffs else ""
    return f"{change.op} {change.kind}/{change.name}{fields}"


def listed(items: list[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    return shown + (f" and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else "")


def changed_objects(plan: GatewayPlan, report: GatewayReport | None) -> list[str]:
    """What a run changed: the changes that were applied, or (no apply) the plan's pending ones."""
    if report is None:
        return [describe(c) for c in plan.pending]
    applied = {(r.kind, r.name) for r in report.results if r.status is Status.APPLIED and r.op is not Op.NOOP}
    return [describe(c) for c in plan.pending if (c.kind, c.name) in applied]


def plan_summary(plan: GatewayPlan, commit: str, mode: Mode) -> dict[str, Any]:
    """The JSON of `/status` for one gateway: op counts and the pending changes (names only, no values)."""
    counts: dict[str, int] = {}
    for change in plan.changes:
        counts[str(change.op)] = counts.get(str(change.op), 0) + 1
    return {
        "commit": commit, "mode": mode, "at": time.time(), "error": plan.error, "fingerprint": plan.fingerprint,
        "counts": counts,
        "pending": [{"op": str(c.op), "kind": c.kind, "name": c.name,
                     "fields": [d.path for d in c.diffs] if c.op is Op.UPDATE else []} for c in plan.pending],
    }


def prepare_revision(settings: DaemonSettings, rev: Revision) -> tuple[list[ValidationIssue], PreparedRevision | None]:
    """Load and validate a revision: the only load of this commit (its runs and heartbeats reuse it).

    Also what `daemon --check` runs on the revision it fetched."""
    try:
        desired = load(rev.path, display_root=settings.subpath or ".")
    except ValidationFailed as exc:
        return [ValidationIssue(e.file, e.line, e.field, strip_root(e.message, rev.path)) for e in exc.errors], None
    gateways = {name: gw.spec.gatewayType.value for name, gw in desired.gateways.items()}
    if settings.gateways:
        unknown = sorted(set(settings.gateways) - set(gateways))
        if unknown:
            return [ValidationIssue(settings.subpath or ".", None, "RECONCILER_GATEWAYS",
                                    f"unknown gateway {n!r}") for n in unknown], None
        gateways = {n: t for n, t in gateways.items() if n in settings.gateways}
    # the runner's own messages (a missing secret) name files under the snapshot directory, as when it
    # loaded the path itself; `strip_root` shortens them. The validation issues above keep the sub-path.
    state = dataclasses.replace(desired, display_root=str(rev.path))
    return [], PreparedRevision(rev, loaded(state, rev.path), MappingProxyType(gateways))


def strip_root(text: str, root: Path) -> str:
    """Show repository-relative paths, not the snapshot directory in the cache."""
    return text.replace(str(root).rstrip("/") + "/", "").replace(str(root), ".")


class Daemon:
    """One daemon instance: state, metrics, source, workers, timers and the HTTP server."""

    def __init__(self, settings: DaemonSettings, *, config_file: Path | None = None, flags: Mapping[str, str] | None = None,
                 source: Source | None = None, plan: PlanFn = plan_state, apply: ApplyFn = apply_state) -> None:
        self.settings = settings
        self.config_file = config_file
        self.flags = dict(flags or {})
        """Command-line flags: they keep their precedence when SIGHUP re-reads the file and environment."""
        self.source: Source = source if source is not None else make_source(settings)
        self.state = DaemonState(SourceStatus(self.source.kind, self.source.location, self.source.branch))
        self.metrics = Metrics()
        self._plan = plan
        self._apply = apply
        self.source_worker: CoalescingWorker[list[asyncio.Future[GatewayRun]]] = \
            CoalescingWorker("source", self._source_run)
        self.gateway_workers: dict[str, CoalescingWorker[GatewayRun]] = {}
        self.schedules = Schedules()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stop = asyncio.Event()
        self._coordination_stop = asyncio.Event()
        self._watch_stop = asyncio.Event()
        self.server: uvicorn.Server | None = None
        self.coordination: Coordination | None = make_coordination(settings)
        self._owned: frozenset[str] = frozenset()
        """Gateways this member owned at the last look (all of them without coordination)."""
        self.pauses = PauseBook.load(settings.cache_dir / "paused.json")
        self.alerts = Alerts()
        self.notifier = make_notifier(settings, Scrubber(self.secrets))
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        """Sync windows read it (tests set a fixed time)."""
        self._window_timers: dict[str, asyncio.TimerHandle] = {}

    # ------------------------------------------------------------------ coordination
    @property
    def membership(self) -> Membership | None:
        return self.coordination if isinstance(self.coordination, Membership) else None

    def owns(self, gateway: str) -> bool:
        return self.coordination is None or gateway in self.coordination.owned([gateway])

    def _known_gateways(self) -> list[str]:
        rev = self.state.source.good
        return sorted(rev.gateways) if rev is not None else sorted(self.gateway_workers)

    def _ownership_changed(self) -> None:
        """After every look at the members: apply the gateways just taken over, log the ones handed on."""
        if self.coordination is None:
            return
        gateways = self._known_gateways()
        owned = self.coordination.owned(gateways)
        metrics = self.metrics.coordinated()
        metrics.owned_gateways.set(len(owned))
        membership = self.membership
        if membership is not None:
            metrics.members.set(len(membership.members))
            metrics.lock_age.clear()
            for name, info in membership.locks.items():
                metrics.lock_age.labels(name, info.holder).set(info.age())
        if owned == self._owned:
            return
        gained, lost = owned - self._owned, self._owned - owned
        self._owned = owned
        for name in sorted(lost):
            log.info("gateway %s is no longer ours (owner: %s)", name, self.coordination.owner_of(name) or "nobody",
                     extra={"gateway": name})
        for name in sorted(gained):
            log.info("gateway %s is ours now; reconciling it", name, extra={"gateway": name})
            worker = self.gateway_workers.get(name)
            if worker is not None:
                worker.trigger(Trigger.COMMIT).add_done_callback(_consume)

    # ------------------------------------------------------------------ options
    def run_options(self, gateway: str | None = None) -> RunOptions:
        s = self.settings
        names = frozenset({gateway}) if gateway is not None else (frozenset(s.gateways) if s.gateways else None)
        return RunOptions(gateways=names, endpoints=dict(s.endpoints), adopt=s.adopt, max_deletes=s.max_deletes,
                          prune=s.prune, require_secrets=True, guard=self.membership)

    @property
    def secrets(self) -> tuple[str, ...]:
        s = self.settings
        return tuple(x.get_secret_value() for x in (s.git_token, s.git_ssh_key_passphrase, s.webhook_secret, s.api_token,
                                                   s.notify_webhook_url, s.notify_slack_url, s.etcd_password)
                     if x is not None and x.get_secret_value())

    # ------------------------------------------------------------------ triggers
    def trigger_fetch(self, reason: Trigger) -> asyncio.Future[list[asyncio.Future[GatewayRun]]]:
        return self.source_worker.trigger(reason)

    def trigger_drift(self) -> None:
        for worker in list(self.gateway_workers.values()):
            worker.trigger(Trigger.DRIFT)

    async def sync(self, *, wait: bool, timeout: float = 120.0) -> dict[str, Any]:
        """Force a fetch and a reconcile of every gateway (even if the commit did not change)."""
        fut = self.trigger_fetch(Trigger.SYNC)
        if not wait:
            return {"accepted": True}
        async with asyncio.timeout(timeout):
            runs = await fut
            results = await asyncio.gather(*runs, return_exceptions=True)
        out = [r.as_json() if isinstance(r, GatewayRun) else {"ok": False, "error": str(r)} for r in results]
        src = self.state.source
        return {"commit": src.good.commit if src.good else None, "head": src.head,
                "invalid": src.invalid is not None, "fetch_error": src.last_fetch_error, "gateways": out}

    # ------------------------------------------------------------------ source: fetch → validate → fan out
    def _validate(self, rev: Revision) -> tuple[list[ValidationIssue], PreparedRevision | None]:
        return prepare_revision(self.settings, rev)

    async def _source_run(self, reasons: frozenset[Trigger]) -> list[asyncio.Future[GatewayRun]]:
        src = self.state.source
        forced = Trigger.SYNC in reasons
        src.fetches += 1
        try:
            rev = await self.source.fetch()
        except SourceError as exc:
            src.last_fetch_error = sanitize(str(exc), secrets=self.secrets)
            self.metrics.source_fetches.labels("error").inc()
            log.error("fetch failed: %s", src.last_fetch_error, extra={"trigger": ",".join(sorted(reasons))})
            return self._fan_out(Trigger.SYNC) if forced and src.good is not None else []
        src.last_fetch, src.last_fetch_error = time.time(), None
        self.metrics.source_fetches.labels("ok").inc()
        changed = rev.commit != src.head
        src.head = rev.commit
        if src.good is not None and rev.commit == src.good.commit and not forced:
            src.invalid = None  # e.g. the invalid commit was reverted by a force-push
            return []
        if src.invalid is not None and src.invalid.commit == rev.commit and not forced:
            return []
        if changed:
            log.info("new revision %s", rev.commit, extra={"commit": rev.commit, "trigger": ",".join(sorted(reasons))})
        issues, prepared = await asyncio.to_thread(self._validate, rev)
        if prepared is None:
            if src.invalid is None or src.invalid.commit != rev.commit:
                self.metrics.invalid_commits.inc()
                for issue in issues:
                    log.error("commit %s is invalid; nothing applied: %s:%s: %s: %s", rev.commit[:12], issue.file,
                              issue.line or "", issue.field, issue.message,
                              extra={"commit": rev.commit, "file": issue.file, "line": issue.line})
                self._notify_invalid(rev.commit, issues)
            src.invalid = InvalidCommit(rev.commit, issues)
            return self._fan_out(Trigger.SYNC) if forced and src.good is not None else []
        src.invalid = None
        src.good = prepared
        self.alerts.valid(rev.commit)
        self.source.pinned = {rev.path}
        self._ensure_gateways(prepared.gateways)
        if self.coordination is not None:
            self._owned = self.coordination.owned(prepared.gateways)
        return self._fan_out(Trigger.SYNC if forced else Trigger.COMMIT)

    def _fan_out(self, reason: Trigger) -> list[asyncio.Future[GatewayRun]]:
        out = []
        for worker in list(self.gateway_workers.values()):
            fut = worker.trigger(reason)
            fut.add_done_callback(_consume)
            out.append(fut)
        return out

    def _ensure_gateways(self, gateways: Mapping[str, str]) -> None:
        for name, gateway_type in gateways.items():
            self.state.gateway(name).type = gateway_type
            if name not in self.gateway_workers:
                worker: CoalescingWorker[GatewayRun] = CoalescingWorker(
                    f"gateway:{name}", functools.partial(self._gateway_run, name))
                self.gateway_workers[name] = worker
                self._spawn(f"gateway:{name}", worker.run())
        for name in list(self.gateway_workers):
            if name not in gateways:
                log.info("gateway %s is no longer in the desired state", name, extra={"gateway": name})
                self.gateway_workers.pop(name).close()
                self.state.gateways.pop(name, None)
                self.alerts.forget(name)

    # ------------------------------------------------------------------ one gateway
    async def _gateway_run(self, name: str, reasons: frozenset[Trigger]) -> GatewayRun:
        rev = self.state.source.good
        if rev is None:
            return GatewayRun(name, Mode.SKIP, None, False, error="no valid revision yet")
        if not self.owns(name):
            owner = self.coordination.owner_of(name) if self.coordination is not None else None
            return GatewayRun(name, Mode.SKIP, rev.commit, True, error=None if owner else "no live member owns it")
        status = self.state.gateway(name)
        heal = self.settings.drift_mode == "heal"
        if reasons & APPLY_REASONS:
            mode = Mode.APPLY
        elif status.last_commit != rev.commit:
            mode = Mode.RETRY  # the current commit was never applied here (gateway down, failed item): not drift
        else:
            mode = Mode.HEAL if heal else Mode.DETECT
        held = self.hold(name, rev, manual=Trigger.SYNC in reasons)
        status.hold = held
        if held is not None and mode is not Mode.DETECT:
            log.info("not applying to %s (%s): %s; checking for drift only", name, mode, held,
                     extra={"gateway": name, "commit": rev.commit, "mode": mode})
            mode = Mode.DETECT
        run = await self._reconcile(name, rev, mode)
        run.held = held
        if mode is Mode.DETECT and run.ok and run.reset and held is None:
            log.warning("gateway %s holds none of its %d desired objects (restarted empty?); re-syncing", name, run.drift,
                        extra={"gateway": name, "commit": rev.commit})
            run = await self._reconcile(name, rev, Mode.RESYNC)
        self._notify_run(name, rev, run.mode, run)
        return run

    # ------------------------------------------------------------------ pause, sync windows, notifications
    def hold(self, name: str, rev: PreparedRevision, *, manual: bool = False) -> str | None:
        """Why the daemon must not apply to `name` now (None: it may). Drift checks run regardless."""
        gateway = rev.repo.state.gateways.get(name)
        if gateway is not None and gateway.spec.suspend:
            return "suspended in Git (spec.suspend: true)"
        paused = self.pauses.reason(name)
        if paused is not None:
            return paused
        verdict = window_state(self.settings.sync_windows, self.clock(), name, manual=manual)
        if verdict.allowed:
            return None
        if verdict.until is not None:
            self._recheck_at(name, verdict.until)
        return f"sync window: {verdict.reason}"

    def _recheck_at(self, name: str, when: datetime) -> None:
        """When a window that held `name` closes (or an allow window opens), check it again: what the
        window held back (a new commit, healing) is applied then, not at the next drift interval."""
        old = self._window_timers.pop(name, None)
        if old is not None:
            old.cancel()
        worker = self.gateway_workers.get(name)
        if worker is None:
            return
        delay = max(1.0, (when - self.clock()).total_seconds() + 1.0)
        self._window_timers[name] = asyncio.get_running_loop().call_later(
            delay, lambda: worker.trigger(Trigger.DRIFT).add_done_callback(_consume))

    def suspend(self, gateway: str | None) -> dict[str, Any]:
        """`POST /suspend`: the whole daemon or one gateway; the running apply finishes, no new one starts."""
        self._known(gateway)
        self.pauses.suspend(gateway)
        log.warning("paused %s: drift is still detected, nothing is applied until `reconciler resume`",
                    f"gateway {gateway}" if gateway else "the daemon", extra={"gateway": gateway or ""})
        return self.pause_json()

    def resume(self, gateway: str | None) -> dict[str, Any]:
        """`POST /resume`: lift the pause and reconcile the gateways it held (apply, or heal in heal mode)."""
        self._known(gateway)
        self.pauses.resume(gateway)
        log.info("resumed %s", f"gateway {gateway}" if gateway else "the daemon", extra={"gateway": gateway or ""})
        for name, worker in list(self.gateway_workers.items()):
            if gateway is None or name == gateway:
                worker.trigger(Trigger.DRIFT).add_done_callback(_consume)
        return self.pause_json()

    def _known(self, gateway: str | None) -> None:
        if gateway is not None and self.state.source.good is not None and gateway not in self.gateway_workers:
            raise LookupError(f"unknown gateway {gateway!r} (known: {', '.join(sorted(self.gateway_workers)) or 'none'})")

    def pause_json(self) -> dict[str, Any]:
        rev = self.state.source.good
        holds = {name: self.hold(name, rev) for name in sorted(self.gateway_workers)} if rev is not None else {}
        return {"paused": self.pauses.as_json(), "holds": {n: h for n, h in holds.items() if h is not None}}

    def _notify_invalid(self, commit: str, issues: list[ValidationIssue]) -> None:
        where = [f"{i.file}:{i.line or ''} {i.field}: {i.message}" for i in issues[:3]]
        more = f" (and {len(issues) - 3} more)" if len(issues) > 3 else ""
        self.notifier.send(self.alerts.invalid(
            commit, f"commit {commit[:12]} is invalid; nothing applied, the gateways stay on the last good commit: "
                    + "; ".join(where) + more))

    def _notify_run(self, name: str, rev: PreparedRevision, mode: Mode, run: GatewayRun) -> None:
        """Turn a reconcile into notifications, on change of state only (see `notify.Alerts`)."""
        if not run.ok:
            if mode is Mode.DETECT:
                return  # a drift check that could not read the gateway: the heartbeat and /health report it
            self.notifier.send(self.alerts.failed(name, rev.commit, run.error or "failed", run.refs))
            return
        if mode is Mode.DETECT:
            applied = self.state.gateway(name).last_commit == rev.commit
            note = (f"not applied: {run.held}" if run.held else "") if applied else \
                f"commit not applied yet{': ' + run.held if run.held else ''}"
            self.notifier.send(self.alerts.drift(name, rev.commit, run.refs, note=note))
        elif mode in (Mode.HEAL, Mode.RESYNC):
            self.notifier.send(self.alerts.drift(name, rev.commit, run.refs, healed=True))
        else:
            notes = self.alerts.drift(name, rev.commit, ())
            changed = sum(v for k, v in run.counts.items() if k != str(Op.NOOP))
            if changed:
                notes.append(Notification(Event.SYNC_SUCCEEDED, name, rev.commit,
                                          f"applied {rev.commit[:12]} to {name}: {changed} change(s)", run.refs))
            self.notifier.send(notes)

    async def _reconcile(self, name: str, rev: PreparedRevision, mode: Mode) -> GatewayRun:
        status = self.state.gateway(name)
        options = self.run_options(name)
        started = time.monotonic()
        status.reconciles += 1
        status.last_attempted_commit = rev.commit
        self.metrics.reconciles.labels(name, mode).inc()
        run = GatewayRun(name, mode, rev.commit, False)
        reason: Failure | None = None
        try:
            if mode is Mode.DETECT:
                plan = await self._plan(rev.repo, options)
                report = None
            else:
                outcome = await self._apply(rev.repo, options)
                plan, report = outcome.plan, outcome.reports.get(name)
            gplan = plan.gateways.get(name)
            if gplan is None:
                raise RuntimeError(f"the runner returned no plan for gateway {name}")
            status.last_plan = plan_summary(gplan, rev.commit, mode)
            run.counts = dict(status.last_plan["counts"])
            status.discovered_apis = sum(1 for c in gplan.changes if c.kind == "API" and c.actual is not None)
            pending = len(gplan.pending)
            run.refs = tuple(ObjectRef(c.kind, c.name, str(c.op)) for c in gplan.pending)
            errors = [strip_root(e, rev.path) for e in plan.errors]
            if gplan.error is not None:
                reason, run.error = Failure.READ, gplan.error
            elif errors:
                reason, run.error = Failure.PLAN, "; ".join(errors)
            elif report is not None and report.failed:
                failed = [r for r in report.results if not r.ok]
                run.refs = tuple(ObjectRef(r.kind, r.name, str(r.op)) for r in failed) or run.refs
                reason = Failure.APPLY
                run.error = report.error or "; ".join(f"{r.op} {r.kind}/{r.name}: {r.error}" for r in failed[:5])
            run.objects = changed_objects(gplan, report)
            if mode in (Mode.DETECT, Mode.HEAL):
                status.drift = run.drift = pending
                self.metrics.drift_objects.labels(name).set(pending)
                if pending:
                    drifted = [describe(c) for c in gplan.pending]
                    log.warning("drift on %s: %d object(s) differ from %s: %s", name, pending, rev.commit[:12],
                                listed(drifted), extra={"gateway": name, "commit": rev.commit, "drift": pending,
                                                        "mode": mode, "objects": drifted})
                run.reset = mode is Mode.DETECT and looks_reset(gplan)
            elif reason is None:
                status.drift = 0
                self.metrics.drift_objects.labels(name).set(0)
            self.metrics.record_report(name, report)
            run.ok = reason is None
        except ValidationFailed as exc:
            reason, run.error = Failure.VALIDATION, strip_root(str(exc), rev.path)
        except CoordinationError as exc:
            reason, run.error = Failure.LOCK, str(exc)
        except Exception as exc:  # noqa: BLE001 - a reconcile failure is reported, never fatal
            log.exception("reconcile of %s failed", name, extra={"gateway": name})
            reason, run.error = Failure.ERROR, sanitize(f"{type(exc).__name__}: {exc}", secrets=self.secrets)
        finally:
            elapsed = time.monotonic() - started
            self.metrics.reconcile_duration.labels(name, mode).observe(elapsed)
        if reason is None:
            status.last_error = None
            if mode is not Mode.DETECT or (run.drift == 0 and status.last_commit == rev.commit):
                status.last_sync = time.time()
                self.metrics.last_success.labels(name).set(status.last_sync)
            if mode is not Mode.DETECT:
                status.last_commit = rev.commit
            done = "changed " + listed(run.objects) if run.objects and mode is not Mode.DETECT else "no change"
            log.info("reconciled %s (%s) in %.3fs: %s", name, mode, elapsed, done,
                     extra={"gateway": name, "commit": rev.commit, "mode": mode, "duration": round(elapsed, 4),
                            "changes": sum(v for k, v in run.counts.items() if k != str(Op.NOOP)),
                            "objects": run.objects if mode is not Mode.DETECT else []})
        else:
            status.last_error = run.error
            self.metrics.failures.labels(name, reason).inc()
            log.error("reconcile of %s failed (%s): %s", name, reason, run.error,
                      extra={"gateway": name, "commit": rev.commit, "mode": mode, "reason": reason})
        return run

    # ------------------------------------------------------------------ heartbeat
    async def heartbeat(self) -> None:
        """`health_check` of every gateway; a gateway that comes back gets an immediate drift check."""
        rev = self.state.source.good
        mine = frozenset(n for n in self.gateway_workers if self.owns(n))  # the others are another member's job
        if rev is None or not mine:
            return
        try:
            adapters = state_adapters(rev.repo, RunOptions(gateways=mine,
                                                           endpoints=dict(self.settings.endpoints)))
        except Exception as exc:  # noqa: BLE001 - e.g. a missing credential: reported per gateway
            message = sanitize(f"cannot build adapters: {exc}", secrets=self.secrets)
            for name in mine:
                self._set_health(name, False, message)
            return

        async def one(name: str) -> None:
            adapter = adapters[name]
            try:
                # adapters retry connection errors for a long while; a heartbeat must answer sooner
                async with asyncio.timeout(max(2.0, min(10.0, self.settings.heartbeat_interval))):
                    result = await adapter.health_check()
                ok, error = result.success, result.error
            except TimeoutError:
                ok, error = False, "health_check timed out"
            except Exception as exc:  # noqa: BLE001
                ok, error = False, sanitize(f"{type(exc).__name__}: {exc}", secrets=adapter.secrets)
            finally:
                with contextlib.suppress(Exception):
                    await adapter.disconnect()
            was = self.state.gateway(name).healthy
            self._set_health(name, ok, error)
            if ok and was is False and name in self.gateway_workers:
                log.info("gateway %s is back; checking it for drift", name, extra={"gateway": name})
                self.gateway_workers[name].trigger(Trigger.DRIFT)

        await asyncio.gather(*(one(n) for n in adapters))

    def _set_health(self, name: str, ok: bool, error: str | None) -> None:
        status = self.state.gateway(name)
        if status.healthy is not False and not ok:
            log.warning("gateway %s is unhealthy: %s", name, error, extra={"gateway": name})
        status.healthy, status.health_error, status.last_check = ok, error, time.time()
        self.metrics.gateway_up.labels(name).set(1 if ok else 0)

    # ------------------------------------------------------------------ health
    def health(self) -> tuple[int, dict[str, Any]]:
        """`GET /health`: 503 when the daemon cannot do its job (no valid desired state, a dead task)."""
        st = self.state
        src = st.source
        problems: list[str] = [f"task {t} stopped" for t in st.dead_tasks]
        if st.stopping:
            problems.append("shutting down")
        if src.good is None:
            if src.last_fetch_error:
                problems.append(f"source: {src.last_fetch_error}")
            elif src.invalid is not None:
                problems.append(f"no valid commit yet (head {src.invalid.commit[:12]} is invalid)")
            else:
                problems.append("no revision fetched yet")
        warnings: list[str] = []
        if src.good is not None and src.last_fetch_error:
            warnings.append(f"source: {src.last_fetch_error}")
        if src.invalid is not None:
            warnings.append(f"commit {src.invalid.commit[:12]} is invalid; gateways stay on the last good commit")
        for g in st.gateways.values():
            if g.healthy is False:
                warnings.append(f"gateway {g.name} is unhealthy: {g.health_error}")
            if g.last_error:
                warnings.append(f"gateway {g.name}: {g.last_error}")
        membership = self.membership
        if membership is not None and not membership.ready:
            warnings.append(f"coordination: member {membership.member} holds no lease "
                            f"({membership.error or 'joining'}); applying nothing")
        status = "failing" if problems else ("degraded" if warnings else "ok")
        body = {
            "status": status, "version": VERSION, "problems": problems + warnings,
            "source": src.as_json(), "drift_mode": self.settings.drift_mode,
            "gateways": [g.health_json() for g in sorted(st.gateways.values(), key=lambda g: g.name)],
        }
        if self.coordination is not None:
            body["coordination"] = self.coordination.describe(self._known_gateways())
        return (503 if problems else 200), body

    def status_json(self) -> dict[str, Any]:
        """`GET /status`: the last plan of every gateway (and, coordinated, who owns and who locks what)."""
        body: dict[str, Any] = {
            "version": VERSION, "source": self.state.source.as_json(),
            "gateways": {name: {**g.health_json(), "last_attempted_commit": g.last_attempted_commit,
                                "last_check": g.last_check, "health_error": g.health_error, "reconciles": g.reconciles,
                                "last_plan": g.last_plan, "hold": g.hold}
                         for name, g in sorted(self.state.gateways.items())},
            "paused": self.pauses.as_json(),
        }
        if self.coordination is not None:
            body["coordination"] = self.coordination.describe(self._known_gateways())
            for name, g in body["gateways"].items():
                g["owner"] = self.coordination.owner_of(name)
                lock = self.membership.locks.get(name) if self.membership is not None else None
                g["lock"] = lock.as_json() if lock is not None else None
        return body

    # ------------------------------------------------------------------ supervision
    def _spawn(self, name: str, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks[name] = task

        def done(t: asyncio.Task[None]) -> None:
            if self._tasks.get(name) is t:
                self._tasks.pop(name, None)
            if t.cancelled() or self.state.stopping:
                return
            exc = t.exception()
            closed = name.startswith("gateway:") and name.split(":", 1)[1] not in self.gateway_workers
            if exc is not None or not closed:
                log.error("task %s stopped unexpectedly: %r", name, exc, extra={"task": name})
                self.state.dead_tasks.append(name)

        task.add_done_callback(done)

    def _configure_schedules(self) -> None:
        s = self.settings
        poll = s.poll_interval if self.source.kind == "git" else s.rescan_interval
        self.schedules.set("poll", poll, self._poll_job, jitter=s.poll_jitter)
        self.schedules.set("drift", s.drift_interval, self._drift_job, jitter=s.poll_jitter)
        self.schedules.set("heartbeat", s.heartbeat_interval, self.heartbeat, start_now=True)

    async def _poll_job(self) -> None:
        self.trigger_fetch(Trigger.POLL if self.source.kind == "git" else Trigger.RESCAN)

    async def _drift_job(self) -> None:
        self.trigger_drift()

    def _start_watch(self) -> None:
        self._watch_stop = asyncio.Event()
        self._spawn("source watcher", self.source.watch(self.trigger_fetch, self._watch_stop))

    def request_stop(self) -> None:
        if not self._stop.is_set():
            log.info("stopping: finishing the running reconciles")
            self._stop.set()

    async def reload(self) -> None:
        """SIGHUP: re-read the settings; invalid new settings are logged and the old ones kept."""
        try:
            new = await asyncio.to_thread(load_settings, self.config_file, dict(os.environ), self.flags)
        except SettingsError as exc:
            log.error("reload refused: %s", "; ".join(exc.problems))
            return
        old, self.settings = self.settings, new
        configure_logging(new.log_level, self.secrets, new.log_format)
        if (new.host, new.port) != (old.host, old.port):
            log.warning("host/port changes need a restart; still listening on %s:%s", old.host, old.port)
        source_keys = ("git_url", "git_branch", "git_path", "git_username", "git_token", "git_ssh_key_file",
                       "git_ssh_key_passphrase", "git_ssh_known_hosts_file", "git_ca_file", "local_path", "cache_dir")
        if any(getattr(new, k) != getattr(old, k) for k in source_keys):
            self._watch_stop.set()
            self.source = make_source(new)
            self.state.source = SourceStatus(self.source.kind, self.source.location, self.source.branch)
            self._start_watch()
        self._configure_schedules()
        log.info("settings reloaded")
        self.trigger_fetch(Trigger.RELOAD)

    def _signals(self) -> Generator[tuple[signal.Signals, Callable[[], object]], None, None]:
        yield signal.SIGTERM, self.request_stop
        yield signal.SIGINT, self.request_stop
        yield signal.SIGHUP, lambda: asyncio.ensure_future(self.reload())

    async def run(self, *, install_signals: bool = True, serve_http: bool = True) -> int:
        """Run until SIGTERM (or `request_stop`); returns the process exit code."""
        loop = asyncio.get_running_loop()
        if install_signals:
            for sig, handler in self._signals():
                loop.add_signal_handler(sig, handler)
        log.info("daemon starting", extra={"version": VERSION, "source": self.source.location,
                                           "drift_mode": self.settings.drift_mode})
        if self.coordination is None:
            log.info("no coordination configured: this single replica reconciles every gateway "
                     "(RECONCILER_ETCD_URL or RECONCILER_SHARDS share them between replicas)")
        elif isinstance(self.coordination, Membership):
            log.info("coordinating on etcd %s as member %s", self.coordination.etcd.url, self.coordination.member,
                     extra={"member": self.coordination.member})
            self._spawn("coordination", self.coordination.run(self._coordination_stop, self._ownership_changed))
        else:
            log.info("static shard %s of %d", self.coordination.member, self.settings.shards)
        self._spawn("source worker", self.source_worker.run())
        self.notifier.start()
        self._start_watch()
        if serve_http:
            from reconciler.daemon.http import build_app

            self.server = _QuietServer(uvicorn.Config(build_app(self), host=self.settings.host, port=self.settings.port,
                                                      log_level="warning", access_log=False, lifespan="off",
                                                      log_config=None))
            self._spawn("http server", self._serve_http(self.server))
        self.schedules.start()
        self._configure_schedules()
        self.trigger_fetch(Trigger.START)
        await self._stop.wait()
        return await self._shutdown(loop if install_signals else None)

    async def _serve_http(self, server: uvicorn.Server) -> None:
        try:
            await server.serve()
        except SystemExit:  # uvicorn exits when it cannot bind: stop cleanly instead of dying mid-run
            log.error("the HTTP server could not start on %s:%s", self.settings.host, self.settings.port)
            self._exit_code = 3
            self.request_stop()

    _exit_code = 0

    async def _shutdown(self, loop: asyncio.AbstractEventLoop | None) -> int:
        self.state.stopping = True
        self.schedules.shutdown()
        self._watch_stop.set()
        self.source_worker.close()
        for worker in self.gateway_workers.values():
            worker.close()
        workers = [t for n, t in self._tasks.items() if n == "source worker" or n.startswith("gateway:")]
        code = 0
        if workers:
            done, pending = await asyncio.wait(workers, timeout=self.settings.shutdown_timeout)
            # the source worker may fan out once more while closing: wait for gateway workers it started
            late = [t for n, t in self._tasks.items() if n.startswith("gateway:") and t not in done and t not in pending]
            if late:
                _, more = await asyncio.wait(late, timeout=self.settings.shutdown_timeout)
                pending |= more
            if pending:
                code = 1
                log.error("shutdown timeout: cancelling %s", ", ".join(sorted(t.get_name() for t in pending)))
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
        for timer in self._window_timers.values():
            timer.cancel()
        await self.notifier.close(timeout=min(5.0, self.settings.shutdown_timeout))  # bounded: a dead receiver
        self._coordination_stop.set()
        if self.membership is not None:
            with contextlib.suppress(Exception):
                await self.membership.close()
        if self.server is not None:
            self.server.should_exit = True
        rest = [t for t in self._tasks.values() if not t.done()]
        if rest:
            _, still = await asyncio.wait(rest, timeout=5)
            for task in still:
                task.cancel()
            await asyncio.gather(*rest, return_exceptions=True)
        if loop is not None:
            for sig, _ in self._signals():
                loop.remove_signal_handler(sig)
        code = max(code, self._exit_code)
        log.info("daemon stopped", extra={"exit_code": code})
        return code

    @property
    def bound_port(self) -> int | None:
        if self.server is None or not self.server.started:
            return None
        for server in getattr(self.server, "servers", []):
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return None


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handlers (the daemon owns SIGTERM: finish applies first), and
    with one "listening on" line once the socket is bound (the port may have been 0)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            for server in getattr(self, "servers", []):
                for sock in server.sockets:
                    host, port = sock.getsockname()[:2]
                    shown = f"[{host}]" if ":" in host else host
                    log.info("listening on http://%s:%s", shown, port, extra={"host": host, "port": port})


def make_notifier(settings: DaemonSettings, scrubber: Scrubber) -> Notifier:
    """The receivers configured (none: a notifier that sends nothing)."""
    urls = {"webhook": settings.notify_webhook_url, "slack": settings.notify_slack_url}
    receivers = receivers_from({k: v.get_secret_value() if v is not None else None for k, v in urls.items()})
    return Notifier(receivers, scrubber, events=[Event(e) for e in settings.notify_events],
                    retries=settings.notify_retries, backoff=settings.notify_backoff, timeout=settings.notify_timeout)


def make_coordination(settings: DaemonSettings) -> Coordination | None:
    """etcd membership, static StatefulSet shards, or None (one replica, as before)."""
    connection = settings.etcd_connection()
    if connection is not None:
        return Membership(connection, prefix=settings.etcd_prefix, member=settings.member_id,
                          ttl=settings.member_ttl, lock_timeout=settings.lock_timeout)
    if settings.shards:
        return StaticShards(settings.shard_index or 0, settings.shards)
    return None


def run_daemon(settings: DaemonSettings, *, config_file: Path | None = None,
               flags: Mapping[str, str] | None = None) -> int:
    """Entry point of `reconciler daemon`."""
    configure_logging(settings.log_level, (), settings.log_format)
    daemon = Daemon(settings, config_file=config_file, flags=flags)
    configure_logging(settings.log_level, daemon.secrets, settings.log_format)
    return asyncio.run(daemon.run())
