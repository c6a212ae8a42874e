"""Load → resolve → read every gateway → plan → apply: the one pipeline the CLI and the daemon share.

This is the imperative shell around the pure core (`manifests.loader.parse_tree`,
`engine.canonical`, `engine.plan`). Gateways are read and applied concurrently; one failing gateway
never blocks the others. A gateway that cannot be read gets an error and no changes (a failed read
never turns into deletes). Secrets are resolved here, kept in memory, and handed to adapters only at
apply time.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import importlib
import os
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

from reconciler.adapters import registry
from reconciler.adapters.base import GatewayAdapter
from reconciler.engine.canonical import desired_records, secret_refs
from reconciler.engine.conflicts import gateway_conflicts
from reconciler.engine.plan import PlanOptions, fingerprint, plan_gateway
from reconciler.engine.review import targeted
from reconciler.executor.apply import StopSignal, apply_gateway
from reconciler.manifests.loader import DesiredState, LoadError, ValidationFailed, load
from reconciler.manifests.models import GatewayInstance, SecretRef
from reconciler.manifests.secret_files import SecretPathError, base_dir, confined
from reconciler.model.changes import Change, GatewayReport, Op
from reconciler.model.checks import Problem
from reconciler.model.errors import GatewayError, sanitize
from reconciler.model.gateways import GatewayTypeInfo, gateway_type, gateway_types
from reconciler.model.kinds import KINDS
from reconciler.model.plans import ApplyOutcome, GatewayPlan, RepoPlan
from reconciler.model.records import API_KEY, secret_fingerprint
from reconciler.model.scrub import Scrubber, install, uninstall

__all__ = [
    "ApplyOutcome", "GatewayPlan", "LoadError", "LoadedRepo", "RepoPlan", "RunOptions", "ValidationFailed",
    "apply_repo", "apply_state", "build_adapters", "loaded", "plan_repo", "plan_state", "state_adapters",
]

class WriteGuard(Protocol):
    """Held around every apply of some gateways (the etcd locks of `reconciler.coordination`): the
    runner does not know what it is, only that it yields the stop signal the executor must check."""

    def hold(self, gateways: frozenset[str], stop: StopSignal | None) -> AbstractAsyncContextManager[StopSignal]: ...


@dataclass(frozen=True)
class RunOptions:
    gateways: frozenset[str] | None = None
    """Restrict the run to these gateway names (None: all)."""
    endpoints: Mapping[str, str] = field(default_factory=dict)
    """Gateway name -> base URL override (emulators on free ports, tunnels)."""
    adopt: bool = False
    max_deletes: int | None = None
    """Override the repo's maxDeletes; a negative value disables the guard."""
    prune: bool | None = None
    env: Mapping[str, str] | None = None
    """Where `{env: NAME}` references and `RECONCILER_SECRET_DIRS` are looked up (default: os.environ)."""
    concurrency: int = 10
    """Changes applied at once per gateway, unless the gateway's `options.concurrency` says otherwise."""
    timeout: float = 30.0
    require_secrets: bool = False
    """Refuse a plan whose secrets are not all available, as an apply does (the daemon: its drift checks
    run where the production keys must be, so a missing one is an error, not drift)."""
    stop: StopSignal | None = field(default=None, compare=False)
    """Set (by the CLI on SIGTERM/SIGINT) to start no new write; in-flight requests finish."""
    guard: WriteGuard | None = field(default=None, compare=False)
    """Taken before an apply reads its gateways and held until its last write (None: no coordination)."""
    targets: frozenset[tuple[str, str]] | None = None
    """`--target KIND/NAME`: plan only these (kind, name) and what they depend on (None: everything)."""
    keep_suspended: frozenset[str] | None = None
    """None: `spec.suspend` is not this run's business (the daemon pauses by itself, still planning for
    drift). A set (the CLI: its `--gateway` names): a suspended gateway is skipped, listed in
    `RepoPlan.skipped`, unless named here."""


@contextlib.asynccontextmanager
async def guarded(options: RunOptions, gateways: Iterable[str]) -> AsyncIterator[RunOptions]:
    """The options to apply with while holding `options.guard` on `gateways` (the same options without one)."""
    if options.guard is None:
        yield options
        return
    async with options.guard.hold(frozenset(gateways), options.stop) as stop:
        yield dataclasses.replace(options, stop=stop)


# ------------------------------------------------------------------------------------- memory
_gc_pauses = 0


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector during a pure, allocation-heavy phase (load, canonical, diff).

    Those phases build large acyclic structures (records, changes), which reference counting frees;
    the cyclic collector would only rescan the whole desired state again and again: at 30,000
    objects it is about 70% of the engine's time. Re-entrant; restores the previous state.

    On the way out, what the phase built is moved to the oldest generation (`_promote`): left young,
    the first allocations after `gc.enable()` would scan all of it, then again as it ages, and a full
    collection would follow (at 90,000 objects: seconds, more than the phase itself).
    """
    global _gc_pauses
    was_enabled = gc.isenabled() if _gc_pauses == 0 else False
    _gc_pauses += 1
    gc.disable()
    try:
        yield
    finally:
        _gc_pauses -= 1
        if _gc_pauses == 0 and was_enabled:
            _promote()
            gc.enable()


def _promote() -> None:
    """Move every tracked object to the oldest generation and reset the young count (CPython's freeze
    then unfreeze: both O(1)). Nothing is exempt from collection: cyclic garbage among them goes at
    the next full collection. Skipped when someone else froze objects (unfreezing would undo that)."""
    if gc.get_freeze_count() == 0:
        gc.freeze()
        gc.unfreeze()


# ------------------------------------------------------------------------------------- secrets
def resolve_ref(ref: SecretRef, root: Path, env: Mapping[str, str]) -> str:
    """The value of a secret reference; raises LookupError naming the reference (never the value).

    A file must lie inside the repository (`root`) or a `RECONCILER_SECRET_DIRS` directory, checked
    again here after the loader's check because a symlink may have changed since: SecretPathError
    (a LookupError) otherwise. `env` holds both the `{env: NAME}` variables and that setting."""
    if ref.env is not None:
        value = env.get(ref.env)
        if value is None or value == "":
            raise LookupError(f"environment variable {ref.env} is not set")
        return value
    assert ref.file is not None
    path = confined(ref.file, root, env)
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        raise LookupError(f"secret file {ref.file} cannot be read") from None


def _ref_key(ref: SecretRef, root: Path) -> str:
    if ref.file is not None and not Path(ref.file).is_absolute():
        return f"file:{(base_dir(root) / ref.file).resolve()}"
    return ref.describe()


# ------------------------------------------------------------------------------------- loaded repo
@dataclass(frozen=True)
class LoadedRepo:
    """A validated repo and what follows from its text alone: built once, planned and applied many times.

    The daemon keeps one per commit for every gateway worker and heartbeat (the CLI builds one per
    run). Nothing here depends on secret values: those are resolved again by each plan or apply,
    because environment variables and secret files change without a commit.
    """

    state: DesiredState
    root: Path
    """Where relative secret files are found (the repo directory, or a file's parent)."""
    refs: Mapping[tuple[str, str], Mapping[str, SecretRef]]
    """`secret_refs(state)`: (kind, name) -> field -> reference."""


def loaded(state: DesiredState, root: Path) -> LoadedRepo:
    """Wrap an already loaded desired state, deriving its per-commit data."""
    with paused_gc():
        return LoadedRepo(state, root, secret_refs(state))


# ------------------------------------------------------------------------------------- adapters
def gateway_settings(name: str, gw: GatewayInstance, state: DesiredState, options: RunOptions) -> dict[str, Any]:
    """Connection settings of a gateway, secrets as references only (safe to print or save)."""
    creds = {key: ref.describe() for key, ref in gw.spec.credentials if isinstance(ref, SecretRef)}
    return {
        "name": name,
        "gateway_type": gw.spec.gatewayType.value,
        "base_url": options.endpoints.get(name, str(gw.spec.baseUrl)).rstrip("/"),
        "owner": state.settings.owner,
        "credentials": creds,
        "options": dict(gw.spec.options),
        "timeout": options.timeout,
    }


def adapter_from_settings(settings: Mapping[str, Any], root: Path, env: Mapping[str, str],
                          scrubber: Scrubber | None = None) -> GatewayAdapter:
    """Build an adapter, resolving its credential references; raises LookupError on a missing secret.

    `scrubber` is the run's: every adapter of one run shares it, so no gateway's messages can carry
    another gateway's credentials or any consumer key."""
    auth: dict[str, str] = {}
    fields = gateway_type(str(settings["gateway_type"])).credentials
    for key, described in (settings.get("credentials") or {}).items():
        kind, _, value = str(described).partition(":")
        ref = SecretRef(env=value) if kind == "env" else SecretRef(file=value)
        auth[fields.get(key, key)] = resolve_ref(ref, root, env)
    config = {k: v for k, v in settings.items() if k != "credentials"}
    config["auth"] = auth
    config["scrubber"] = scrubber if scrubber is not None else Scrubber()
    return registry.create(str(settings["gateway_type"]), config)


def build_adapters(path: Path, options: RunOptions = RunOptions()) -> dict[str, GatewayAdapter]:
    """Adapters of the selected gateways of a repo (for exports)."""
    return state_adapters(loaded(load(path), path), options)


def state_adapters(repo: LoadedRepo, options: RunOptions = RunOptions()) -> dict[str, GatewayAdapter]:
    """Adapters of the selected gateways of a loaded repo (heartbeats); credentials are resolved now."""
    state = repo.state
    env = os.environ if options.env is None else options.env
    out = {}
    for name, gw in sorted(state.gateways.items()):
        if options.gateways is None or name in options.gateways:
            out[name] = adapter_from_settings(gateway_settings(name, gw, state, options), repo.root, env)
    return out


async def read_live(adapter: GatewayAdapter) -> list[dict[str, Any]]:
    """Every canonical record of every kind the adapter supports; raises GatewayError on failure."""
    records: list[dict[str, Any]] = []
    for kind in sorted(k for k in adapter.supported_kinds if k in KINDS):
        records.extend(await adapter.fetch(kind))
    return records


# ------------------------------------------------------------------------------------- capability checks
def _checks_of(info: GatewayTypeInfo) -> Callable[..., Iterable[Problem]]:
    """The type's capability checks: the light module its table row names, else its adapter's `check`."""
    if info.checks is None:
        return registry.adapter_class(info.name).check
    module, _, path = info.checks.partition(":")
    target: Any = importlib.import_module(module)
    for part in path.split("."):
        target = getattr(target, part)
    return cast(Callable[..., Iterable[Problem]], target)


def capability_errors(state: DesiredState, gateways: Iterable[str] | None = None,
                      desired: Mapping[str, list[dict[str, Any]]] | None = None) -> list[LoadError]:
    """What the target gateways would refuse or could not store exactly, as validation errors (no I/O).

    Two kinds of rules: conflicts no gateway can hold (`engine.conflicts`: two APIs on one base path)
    and each gateway type's own (`GatewayAdapter.check`: Kong's one plugin of a name per service, the
    parts of a URL a Kong service cannot keep). Each names the manifest's file, line and field, and the
    other document of a conflict.
    """
    desired = desired_records(state, {}) if desired is None else desired
    wanted = set(state.gateways) if gateways is None else set(gateways)
    root = state.display_root.rstrip("/")
    errors: list[LoadError] = []
    for name in sorted(wanted & set(state.gateways)):
        gw = state.gateways[name]
        info = gateway_types().get(gw.spec.gatewayType.value)
        if info is None:
            continue  # the loader reported the unknown type
        problems = gateway_conflicts(desired[name]) + list(_checks_of(info)(desired[name], dict(gw.spec.options)))
        for problem in problems:
            doc = state.of_kind(problem.kind).get(problem.name)
            if doc is None:
                continue
            message = f"gateway {name} ({gw.spec.gatewayType.value}): {problem.message}"
            if problem.other is not None:
                other = state.of_kind(problem.other[0]).get(problem.other[1])
                if other is not None:
                    message += f" (see {root}/{other.file}:{other.line})"
            errors.append(LoadError(f"{root}/{doc.file}", doc.line, problem.field, message))
    unique: dict[tuple[str, int | None, str, str], LoadError] = {}
    for err in errors:  # one error per cause: an API on two Kong gateways is one finding per gateway
        unique.setdefault((err.file, err.line, err.field, err.message), err)
    return sorted(unique.values(), key=lambda e: (e.file, e.line or 0, e.field))


# ------------------------------------------------------------------------------------- pipeline
@dataclass
class _Prepared:
    state: DesiredState
    plan: RepoPlan
    adapters: dict[str, GatewayAdapter]
    secrets: dict[tuple[str, str], dict[str, str]]
    desired: dict[str, list[dict[str, Any]]]
    scrubber: Scrubber
    """Every secret of this run; scrubs the adapters' messages and, during the run, every log record."""


def _load(path: Path) -> LoadedRepo:
    with paused_gc():
        return loaded(load(path), path)


def _prepare(repo: LoadedRepo, options: RunOptions, *, for_apply: bool) -> _Prepared:
    with paused_gc():
        return _prepare_state(repo, options, for_apply=for_apply)


@dataclass
class _Resolved:
    """The secrets of a run's objects: values by reference, by object, and the ones not available."""

    values: dict[str, str] = field(default_factory=dict)
    by_object: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    refs: dict[str, dict[str, str]] = field(default_factory=dict)
    missing: dict[tuple[str, str, str], LoadError] = field(default_factory=dict)
    """(kind, name, field) -> the located error; a message names the reference, never a value."""


def _resolve_secrets(repo: LoadedRepo, env: Mapping[str, str]) -> _Resolved:
    """Resolve every object's secret reference; a file outside the allowed directories is a ValidationFailed
    (it would be one at load time already; here a symlink may have changed since)."""
    state, path = repo.state, repo.root
    out = _Resolved()
    escapes: list[LoadError] = []
    for (kind, name), refs in repo.refs.items():
        for field_name, ref in refs.items():
            out.refs.setdefault(f"{kind}/{name}", {})[field_name] = _ref_key(ref, path)
            doc = state.of_kind(kind)[name]
            where = "spec.credential.secretRef" if kind == "Consumer" else f"spec.{field_name}"
            try:
                value = resolve_ref(ref, path, env)
            except SecretPathError as exc:
                escapes.append(LoadError(f"{state.display_root.rstrip('/')}/{doc.file}", doc.line, where, str(exc)))
                continue
            except LookupError as exc:
                out.missing[(kind, name, field_name)] = LoadError(
                    f"{state.display_root.rstrip('/')}/{doc.file}", doc.line, where, str(exc))
                continue
            out.values[ref.describe()] = value
            out.by_object.setdefault((kind, name), {})[field_name] = value
    if escapes:
        raise ValidationFailed(escapes)
    return out


def _prepare_state(repo: LoadedRepo, options: RunOptions, *, for_apply: bool) -> _Prepared:
    """Resolve secrets, compute the desired records, build the adapters.

    A consumer's (or any object's) secret that is not available refuses an apply (ValidationFailed,
    before any gateway is contacted) but not a plan: a PR job has no production keys. The plan then
    shows the credential as unknown (`UNKNOWN_SECRET`) and lists the secret in `missing_secrets`.
    Gateway credentials are different: without them the gateway cannot be read, so its plan is an error.
    """
    state, path = repo.state, repo.root
    env = os.environ if options.env is None else options.env
    if options.gateways is not None:
        unknown = sorted(options.gateways - set(state.gateways))
        if unknown:
            raise ValidationFailed([LoadError(str(path), None, "--gateway", f"unknown gateway {n!r}") for n in unknown])
    selected = {n for n in state.gateways if options.gateways is None or n in options.gateways}
    suspended = _suspended(state, selected, options)
    selected -= set(suspended)

    resolved = _resolve_secrets(repo, env)
    values, secrets, refs_out = resolved.values, resolved.by_object, resolved.refs
    desired = desired_records(state, values)
    refused = capability_errors(state, selected, desired)
    if refused:
        raise ValidationFailed(refused)
    wanted = {(r["kind"], r["name"]) for gw in selected for r in desired[gw]}
    missing = [(key, err) for key, err in sorted(resolved.missing.items()) if key[:2] in wanted]
    if missing and (for_apply or options.require_secrets):
        raise ValidationFailed([err for _, err in missing])

    plan = RepoPlan(owner=state.settings.owner, secret_refs=refs_out,
                    missing_secrets=[f"{kind} {name}: {err.message}" for (kind, name, _), err in missing],
                    skipped=suspended)
    scrubber = Scrubber(values.values())
    adapters: dict[str, GatewayAdapter] = {}
    for name in sorted(selected):
        gw = state.gateways[name]
        settings = gateway_settings(name, gw, state, options)
        gplan = GatewayPlan(name, gw.spec.gatewayType.value, config=settings)
        plan.gateways[name] = gplan
        try:
            adapters[name] = adapter_from_settings(settings, path, env, scrubber)
        except (LookupError, TypeError, ValueError) as exc:
            gplan.error, gplan.error_kind = f"cannot configure gateway: {exc}", "config"
    return _Prepared(state, plan, adapters, secrets, desired, scrubber)


def _suspended(state: DesiredState, selected: Iterable[str], options: RunOptions) -> dict[str, str]:
    """Suspended gateways this run skips (Flux: a suspended object is not reconciled), with why."""
    if options.keep_suspended is None:
        return {}
    return {name: f"suspended (spec.suspend: true); pass --gateway {name} to plan or apply it anyway"
            for name in sorted(selected)
            if state.gateways[name].spec.suspend and name not in options.keep_suspended}


async def _plan_gateway(prep: _Prepared, name: str, options: RunOptions) -> None:
    gplan = prep.plan.gateways[name]
    adapter = prep.adapters.get(name)
    if adapter is None:
        return
    gw = prep.state.gateways[name]
    prune = options.prune if options.prune is not None else (
        gw.spec.prune if gw.spec.prune is not None else prep.state.settings.prune)
    try:
        await adapter.connect()
        live = await read_live(adapter)
    except GatewayError as exc:
        gplan.error = f"cannot read gateway: {exc.message}"
        return
    except Exception as exc:  # noqa: BLE001 - a broken adapter must not stop the other gateways
        gplan.error = sanitize(f"cannot read gateway: {type(exc).__name__}: {exc}", secrets=adapter.secrets)
        return
    with paused_gc():
        gplan.fingerprint = fingerprint(live)
        changes = plan_gateway(
            name, prep.desired.get(name, []), live,
            PlanOptions(owner=prep.state.settings.owner, prune=prune, adopt=options.adopt,
                        ignore=tuple(prep.state.settings.ignore)),
            view=adapter.desired_view,
            folds=adapter.folded_fields,
        )
        if options.targets is not None:
            changes = targeted(changes, options.targets, prep.desired.get(name, []))
        gplan.changes = [_with_adapter_notes(adapter, c) for c in changes]
        extra = adapter.batch_notes(gplan.changes)
        gplan.changes = [dataclasses.replace(c, notes=c.notes + tuple(extra[(c.kind, c.name)]))
                         if extra.get((c.kind, c.name)) else c for c in gplan.changes]


def _check_targets(prep: _Prepared, options: RunOptions) -> None:
    """Record the targets on the plan; one found neither desired nor live is an error naming it."""
    if options.targets is None:
        return
    prep.plan.targets = [f"{kind}/{name}" for kind, name in sorted(options.targets)]
    known = {(r["kind"], r["name"]) for records in prep.desired.values() for r in records}
    known |= {(c.kind, c.name) for g in prep.plan.gateways.values() for c in g.changes}
    for kind, name in sorted(options.targets - known):
        prep.plan.errors.append(f"--target {kind}/{name}: no such object in the desired state "
                                "nor among the managed objects of the gateways planned")


def _with_adapter_notes(adapter: GatewayAdapter, change: Change) -> Change:
    if change.op not in (Op.CREATE, Op.UPDATE) or change.desired is None:
        return change
    notes = adapter.plan_notes(change.kind, change.desired.get("spec") or {})
    return dataclasses.replace(change, notes=change.notes + tuple(notes)) if notes else change


def _check_deletes(plan: RepoPlan, limit: int) -> None:
    deletes, duplicates = plan.guarded_deletes()
    if limit >= 0 and deletes > limit:
        also = f" (and collapses {duplicates} owned duplicate(s), not counted)" if duplicates else ""
        plan.errors.append(
            f"the plan deletes {deletes} objects{also}, more than the limit of {limit} (maxDeletes); "
            f"check the source, or pass --max-deletes {deletes} to allow it"
        )


async def _close(adapters: Mapping[str, GatewayAdapter]) -> None:
    await asyncio.gather(*(a.disconnect() for a in adapters.values()), return_exceptions=True)


def _released(state: DesiredState) -> DesiredState:
    """What a run needs of its desired state once the records are computed: settings and gateways.

    A run that loaded the repo itself (`plan_repo`, `apply_repo`) drops the document models then,
    before reading the gateways: at 90,000 objects they are about 250 MB the live records can reuse.
    A `LoadedRepo` handed in (the daemon's, kept per commit) is left whole."""
    gateways = state.documents.get("GatewayInstance", {})
    return DesiredState(settings=state.settings, documents={"GatewayInstance": gateways} if gateways else {},
                        display_root=state.display_root)


async def plan_repo(path: Path, options: RunOptions = RunOptions()) -> RepoPlan:
    """Validate the repo and plan every selected gateway; raises ValidationFailed on invalid input."""
    return await _plan_state(_load(path), options, release=True)


async def plan_state(repo: LoadedRepo, options: RunOptions = RunOptions()) -> RepoPlan:
    """`plan_repo` of an already loaded repo; raises ValidationFailed (unknown gateway, missing secret)."""
    return await _plan_state(repo, options, release=False)


async def _plan_state(repo: LoadedRepo, options: RunOptions, *, release: bool) -> RepoPlan:
    prep = _prepare(repo, options, for_apply=False)
    if release:
        prep.state = _released(prep.state)
        del repo
    scrubbing = install(prep.scrubber)
    try:
        with paused_gc():  # reading back 90,000 objects builds acyclic records: the cyclic GC only rescans
            await asyncio.gather(*(_plan_gateway(prep, name, options) for name in prep.plan.gateways))
    finally:
        await _close(prep.adapters)
        uninstall(scrubbing)
    _check_targets(prep, options)
    limit = options.max_deletes if options.max_deletes is not None else prep.state.settings.maxDeletes
    _check_deletes(prep.plan, limit)
    return prep.plan


async def apply_repo(
    path: Path, options: RunOptions = RunOptions(), *, approve: Callable[[RepoPlan], bool] | None = None
) -> ApplyOutcome:
    """Plan, then apply every gateway whose plan has changes. Refuses the whole run on plan errors.

    `approve` sees the plan before anything is written (the CLI's "yes" prompt): exactly the plan it
    approved is applied; when it returns False nothing is.
    """
    return await _apply_state(_load(path), options, approve=approve, release=True)


async def apply_state(
    repo: LoadedRepo, options: RunOptions = RunOptions(), *, approve: Callable[[RepoPlan], bool] | None = None
) -> ApplyOutcome:
    """`apply_repo` of an already loaded repo."""
    return await _apply_state(repo, options, approve=approve, release=False)


async def _apply_state(repo: LoadedRepo, options: RunOptions, *, approve: Callable[[RepoPlan], bool] | None,
                       release: bool) -> ApplyOutcome:
    prep = _prepare(repo, options, for_apply=True)
    if release:
        prep.state = _released(prep.state)
        del repo
    outcome = ApplyOutcome(prep.plan)
    scrubbing = install(prep.scrubber)
    try:
        # locked before the live state is read: the plan applied is the plan of what this run saw
        async with guarded(options, prep.plan.gateways) as options:
            with paused_gc():  # reading back 90,000 objects builds acyclic records: the GC only rescans
                await asyncio.gather(*(_plan_gateway(prep, name, options) for name in prep.plan.gateways))
            _check_targets(prep, options)
            limit = options.max_deletes if options.max_deletes is not None else prep.state.settings.maxDeletes
            _check_deletes(prep.plan, limit)
            if approve is not None and not approve(prep.plan):
                outcome.declined = True
                return outcome
            if prep.plan.errors:
                return outcome
            await _apply_all(prep.plan, prep.adapters, prep.secrets, options, outcome)
    finally:
        await _close(prep.adapters)
        uninstall(scrubbing)
    return outcome


async def _apply_all(
    plan: RepoPlan,
    adapters: Mapping[str, GatewayAdapter],
    secrets: Mapping[tuple[str, str], dict[str, str]],
    options: RunOptions,
    outcome: ApplyOutcome,
) -> None:
    async def one(name: str) -> None:
        gplan = plan.gateways[name]
        if gplan.error is not None:
            outcome.reports[name] = GatewayReport(name, error=gplan.error)
            return
        if not gplan.pending:
            outcome.reports[name] = GatewayReport(name)
            return
        outcome.reports[name] = await apply_gateway(adapters[name], gplan.changes, secrets=secrets, stop=options.stop,
                                                    concurrency=options.concurrency)

    await asyncio.gather(*(one(name) for name in plan.gateways if name in adapters or plan.gateways[name].error))


def _restore_fingerprints(saved: RepoPlan, secrets: Mapping[tuple[str, str], dict[str, str]]) -> None:
    """Saved plans mask credential fingerprints; put back the ones of the re-resolved secrets."""
    for gplan in saved.gateways.values():
        for change in gplan.changes:
            credential = ((change.desired or {}).get("spec") or {}).get("credential")
            value = secrets.get((change.kind, change.name), {}).get(API_KEY)
            if isinstance(credential, dict) and value is not None:
                credential["fingerprint"] = secret_fingerprint(value)


async def apply_saved(saved: RepoPlan, root: Path, options: RunOptions = RunOptions()) -> ApplyOutcome:
    """Apply a saved plan, refusing any gateway whose live state changed since it was planned.

    A plan made without some secrets is refused whole: its credentials were unknown, so what it would
    write was never shown (plan again where the secrets are). File references are confined to `root`
    and `RECONCILER_SECRET_DIRS` like a repo's: a saved plan is input too."""
    env = os.environ if options.env is None else options.env
    outcome = ApplyOutcome(saved)
    if saved.missing_secrets:
        saved.errors.append(f"the plan was made without {len(saved.missing_secrets)} secret(s), so it shows "
                            "their credentials as unknown; run plan again with them available")
    if saved.errors:
        return outcome
    secrets: dict[tuple[str, str], dict[str, str]] = {}
    for key, fields in saved.secret_refs.items():
        kind, _, name = key.partition("/")
        for field_name, described in fields.items():
            ref_kind, _, value = described.partition(":")
            ref = SecretRef(env=value) if ref_kind == "env" else SecretRef(file=value)
            try:
                secrets.setdefault((kind, name), {})[field_name] = resolve_ref(ref, root, env)
            except LookupError as exc:
                if any(c.kind == kind and c.name == name and c.op in (Op.CREATE, Op.UPDATE)
                       for g in saved.gateways.values() for c in g.changes):
                    saved.errors.append(f"{kind} {name}: {exc}")
    if saved.errors:
        return outcome
    _restore_fingerprints(saved, secrets)
    scrubber = Scrubber(v for fields in secrets.values() for v in fields.values())
    adapters: dict[str, GatewayAdapter] = {}
    try:
        writes = [n for n, g in saved.gateways.items() if g.error is None and g.pending]
        async with guarded(options, writes) as options:
            for name, gplan in saved.gateways.items():
                if gplan.error is not None or not gplan.pending:
                    continue
                settings = dict(gplan.config)
                if name in options.endpoints:
                    settings["base_url"] = options.endpoints[name]
                try:
                    adapter = adapter_from_settings(settings, root, env, scrubber)
                    await adapter.connect()
                    live = await read_live(adapter)
                except (GatewayError, LookupError) as exc:
                    gplan.error = f"cannot read gateway: {getattr(exc, 'message', exc)}"
                    gplan.error_kind = "config" if isinstance(exc, LookupError) else "unreachable"
                    continue
                adapters[name] = adapter
                if fingerprint(live) != gplan.fingerprint:
                    gplan.error, gplan.error_kind = "the live state changed since this plan was made; run plan again", "stale"
                    continue
            await _apply_all(saved, adapters, secrets, options, outcome)
    finally:
        await _close(adapters)
    return outcome
