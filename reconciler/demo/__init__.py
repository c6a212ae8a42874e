"""`reconciler demo`: the whole loop on emulated gateways, with no configuration and no network.

For every GatewayInstance of the repo it starts that type's emulator on 127.0.0.1 (moto for AWS),
with generated credentials handed to the manifests' secret references; then it applies the repo,
shows that a second plan is empty and a second apply sends zero writes, changes something out of
band, shows the drift, and heals it. Exit 0 only when every step behaved.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.resources import as_file, files
from pathlib import Path

from reconciler.emulators import emulator_class
from reconciler.emulators.server import Emulator
from reconciler.engine.canonical import secret_refs
from reconciler.manifests.loader import DesiredState, ValidationFailed, load
from reconciler.manifests.models import SecretRef
from reconciler.output import render
from reconciler.runner import RunOptions, apply_repo, plan_repo

from .stoa_admin import StoaAdmin, first_stoa


@contextmanager
def examples_repo() -> Iterator[Path]:
    """The demo repo shipped in the package, as a directory on disk."""
    with as_file(files("reconciler.examples") / "repo") as path:
        yield Path(path)


def _say(title: str) -> None:
    print(f"\n=== {title} " + "=" * max(0, 70 - len(title)), flush=True)


def _generated(ref: SecretRef, env: dict[str, str], length: int = 24) -> str:
    assert ref.env is not None
    env.setdefault(ref.env, "demo-" + secrets.token_urlsafe(length))
    return env[ref.env]


def start_gateways(root: Path, env: dict[str, str]) -> tuple[dict[str, str], dict[str, Emulator], Callable[[], None]]:
    """Start an emulator per gateway; returns endpoints, the emulators, and a stop function."""
    state = load(root)
    endpoints: dict[str, str] = {}
    running: dict[str, Emulator] = {}
    for name, gw in sorted(state.gateways.items()):
        creds = {}
        for field_name, ref in gw.spec.credentials:
            if isinstance(ref, SecretRef) and ref.env is not None:
                creds[field_name] = _generated(ref, env)
        try:
            emulator = emulator_class(gw.spec.gatewayType.value).from_credentials(creds, dict(gw.spec.options)).start()
        except ImportError as exc:  # moto for AWS is an extra: `pip install 'stoa-reconciler[demo]'`
            print(f"  {name}: skipped, its emulator needs {(exc.name or 'an extra package').split('.')[0]} "
                  "(pip install 'stoa-reconciler[demo]')", flush=True)
            continue
        for var, value in emulator.environment().items():
            os.environ.setdefault(var, value)
            env.setdefault(var, os.environ[var])
        running[name] = emulator
        endpoints[name] = emulator.url
    for refs in secret_refs(state).values():
        for ref in refs.values():
            if ref.env is not None:
                _generated(ref, env)

    def stop() -> None:
        for item in running.values():
            item.stop()

    return endpoints, running, stop


def _writes(running: dict[str, Emulator]) -> int:
    return sum(len(e.writes) for e in running.values())


async def _out_of_band_change(admin: StoaAdmin) -> str | None:
    """Delete one managed API directly on a STOA gateway, as an operator might by hand."""
    victim = next((r for r in await admin.routes() if str(r.get("id", "")).count(".") == 1), None)
    if victim is None:
        return None
    await admin.delete_route(str(victim["id"]))
    return f"deleted API route {victim['id']!r} directly on gateway {admin.gateway!r}"


class _Clock:
    """Seconds per step, printed at the end: the demo promises to finish in under 30 s."""

    def __init__(self) -> None:
        self.started = self.last = time.monotonic()
        self.steps: list[tuple[str, float]] = []

    def lap(self, step: str) -> None:
        now = time.monotonic()
        self.steps.append((step, now - self.last))
        self.last = now

    def summary(self) -> str:
        parts = ", ".join(f"{step} {seconds:.1f}s" for step, seconds in self.steps)
        return f"took {time.monotonic() - self.started:.1f}s ({parts})"


@contextmanager
def _exported(env: dict[str, str]) -> Iterator[None]:
    """The daemon reads secret references from os.environ, like a deployed one: lend it the demo's."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _tenant_of(state: DesiredState, gateway: str) -> str:
    for doc in state.of_kind("API").values():
        spec = getattr(doc.model, "spec", None)
        if spec is not None and gateway in getattr(spec, "gateways", ()):
            return str(spec.tenant)
    return "acme"


def _daemon_step(root: Path, state: DesiredState, admin: StoaAdmin | None, env: dict[str, str], *,
                 earlier_ok: bool) -> bool:
    from reconciler.demo.daemon_act import ActFailed, daemon_act

    if admin is None:
        print("  (no STOA gateway in this repo; skipped)")
        return True
    if not earlier_ok:
        print("  (skipped: an earlier step failed)")
        return False
    try:
        with _exported(env):
            times = asyncio.run(daemon_act(root, admin, _tenant_of(state, admin.gateway)))
    except ActFailed as exc:
        print(f"  FAILED: {exc}")
        return False
    print(f"\n  daemon: first reconcile {times.first_sync:.2f}s, webhook -> applied {times.webhook:.2f}s, "
          f"change by hand -> healed {times.heal:.2f}s")
    return True


def run_demo(repo: Path | None = None) -> int:
    if repo is not None:
        return _run(repo)
    with examples_repo() as root:
        return _run(root)


def _run(root: Path) -> int:
    clock = _Clock()
    try:
        state = load(root)
    except ValidationFailed as exc:
        for error in exc.errors:
            print(f"error: {error}", file=sys.stderr)
        return 1
    env = dict(os.environ)
    _say(f"Starting {len(state.gateways)} emulated gateway(s) on 127.0.0.1")
    endpoints, running, stop = start_gateways(root, env)
    for name, url in endpoints.items():
        print(f"  {name:<20} {state.gateways[name].spec.gatewayType.value:<16} {url}")
    options = RunOptions(gateways=frozenset(endpoints), endpoints=endpoints, env=env)
    admin = first_stoa(state.gateways, endpoints, env)
    clock.lap("start")
    ok = True
    try:
        _say("1. plan: what the repo wants")
        plan = asyncio.run(plan_repo(root, options))
        print(render.plan_text(plan))
        clock.lap("plan")

        _say("2. apply")
        outcome = asyncio.run(apply_repo(root, options))
        print(render.report_text(outcome.reports, outcome.plan))
        ok &= not outcome.failed
        clock.lap("apply")

        _say("3. plan again: nothing left to do")
        before = _writes(running)
        again = asyncio.run(plan_repo(root, options))
        print(render.plan_text(again))
        second = asyncio.run(apply_repo(root, options))
        sent = _writes(running) - before
        by_adapters = sum(r.writes for r in second.reports.values())
        print(f"\nA second apply sent {by_adapters} write request(s) (counted by the adapters, moto included); "
              f"the emulators logged {sent}.")
        ok &= not again.has_changes and sent == 0 and by_adapters == 0 and not second.failed
        clock.lap("re-plan")

        _say("4. drift: a change made outside Git")
        what = asyncio.run(_out_of_band_change(admin)) if admin is not None else None
        if what:
            print(f"  {what}")
            drift = asyncio.run(plan_repo(root, options))
            print(render.plan_text(drift))
            ok &= drift.has_changes

            _say("5. heal")
            healed = asyncio.run(apply_repo(root, options))
            print(render.report_text(healed.reports, healed.plan))
            final = asyncio.run(plan_repo(root, options))
            print("\n" + render.plan_text(final))
            ok &= not healed.failed and not final.has_changes
        else:
            print("  (no STOA gateway in this repo to change by hand; skipped)")
        clock.lap("drift")

        _say("6. the daemon: a Git repository, a webhook, drift healed")
        ok &= _daemon_step(root, state, admin, env, earlier_ok=ok)
        clock.lap("daemon")
    finally:
        stop()
    _say("demo " + ("succeeded" if ok else "FAILED"))
    print(f"The demo {clock.summary()}.")
    return 0 if ok else 1
