"""`reconciler daemon --check`: would this daemon work? Settings, source, repository, every gateway.

What a person wants to know before starting (or in a deployment's pre-flight job): the settings are
valid (else exit 3, before this runs), the Git URL answers with the branch (fetched into a
temporary directory, so a running daemon's cache is not touched) or the local directory exists,
the commit passes validation, and each gateway can be read — one plan, nothing applied. One line
per step; exit 0 when every step is OK, 1 otherwise.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from pathlib import Path

from reconciler.daemon.runner import prepare_revision, strip_root
from reconciler.daemon.settings import DaemonSettings
from reconciler.daemon.source import SourceError, make_source
from reconciler.manifests.loader import ValidationFailed
from reconciler.model.errors import sanitize
from reconciler.runner import RunOptions, plan_state

EXIT_OK, EXIT_FAILED = 0, 1

CHECK_TIMEOUT = 120.0
"""Bound on reading every gateway: adapters retry an unreachable gateway for a long while."""


def _secrets(settings: DaemonSettings) -> tuple[str, ...]:
    values = (settings.git_token, settings.git_ssh_key_passphrase, settings.webhook_secret, settings.api_token)
    return tuple(v.get_secret_value() for v in values if v is not None and v.get_secret_value())


async def check(settings: DaemonSettings, out: Callable[[str], object] = print) -> int:
    """Run every step once and report; the exit code of `daemon --check`."""
    secrets = _secrets(settings)
    out("settings    OK")
    with tempfile.TemporaryDirectory(prefix="reconciler-check-") as tmp:
        source = make_source(settings.model_copy(update={"cache_dir": Path(tmp)}))
        where = f"{source.kind} {source.location}" + (f" ({source.branch})" if source.branch else "")
        try:
            rev = await source.fetch()
        except SourceError as exc:
            out(f"source      error: {sanitize(str(exc), secrets=secrets)}")
            return EXIT_FAILED
        out(f"source      OK: {where}, commit {rev.commit[:12]}")
        issues, prepared = await asyncio.to_thread(prepare_revision, settings, rev)
        if prepared is None:
            out(f"repository  error: commit {rev.commit[:12]} is invalid; the daemon would apply nothing:")
            for issue in issues:
                out(f"              {issue.file}:{issue.line or ''}: {issue.field}: {issue.message}")
            return EXIT_FAILED
        out(f"repository  OK: {len(prepared.gateways)} gateway(s)")
        options = RunOptions(gateways=frozenset(prepared.gateways), endpoints=dict(settings.endpoints),
                             adopt=settings.adopt, max_deletes=settings.max_deletes, prune=settings.prune,
                             require_secrets=True)
        try:
            async with asyncio.timeout(CHECK_TIMEOUT):
                plan = await plan_state(prepared.repo, options)
        except ValidationFailed as exc:  # e.g. a secret the environment does not hold
            out("repository  error: the daemon could not plan this commit:")
            for line in strip_root(str(exc), rev.path).splitlines():
                out(f"              {line}")
            return EXIT_FAILED
        except TimeoutError:
            out(f"gateways    error: not all gateways answered within {CHECK_TIMEOUT:.0f}s")
            return EXIT_FAILED
        failed = False
        for error in plan.errors:
            failed = True
            out(f"repository  error: {strip_root(error, rev.path)}")
        for name, gateway_type in sorted(prepared.gateways.items()):
            gplan = plan.gateways.get(name)
            if gplan is None or gplan.error is not None:
                failed = True
                out(f"gateway     {name} ({gateway_type}): error: {gplan.error if gplan else 'not planned'}")
            else:
                pending = len(gplan.pending)
                state = f"{pending} change(s) to apply" if pending else "in sync"
                out(f"gateway     {name} ({gateway_type}): OK, {state}")
        return EXIT_FAILED if failed else EXIT_OK


def run_check(settings: DaemonSettings) -> int:
    return asyncio.run(check(settings))
