"""The demo's last act: the daemon follows a Git repository, applies a pushed commit on its webhook,
and heals a change made by hand on the gateway.

The repository is a copy of the demo repo committed with pygit2 (no git CLI: the image has none) in
a temporary directory; the daemon clones it like any remote. It runs in this process through its
Python API (`Daemon`, `DaemonSettings`) with polling off, so only the webhook can bring the commit,
and a drift check every second in `heal` mode. Its log lines are echoed, indented, as they come.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pygit2
from pydantic import SecretStr

from reconciler.daemon.runner import Daemon
from reconciler.daemon.settings import DaemonSettings
from reconciler.daemon.state import GatewayStatus
from reconciler.daemon.webhooks import github_signature
from reconciler.demo.stoa_admin import StoaAdmin
from reconciler.model.errors import sanitize

NEW_API = "daemon-demo"
"""The API the pushed commit adds (and the operator then deletes by hand)."""

DRIFT_INTERVAL = 1.0
TIMEOUT = 15.0
"""Seconds any one step may take before the act fails."""


@dataclass
class ActTimes:
    """Seconds measured by the act (printed by the demo)."""

    first_sync: float = 0.0
    """Daemon start → the repo's first commit reconciled."""
    webhook: float = 0.0
    """Webhook delivered → the pushed commit applied on the gateway."""
    heal: float = 0.0
    """Change by hand → drift found and healed by the daemon."""


class ActFailed(Exception):
    """A step of the act did not happen in time (the message says which)."""


def _commit(repo: pygit2.Repository, message: str) -> str:
    repo.index.add_all()
    repo.index.write()
    tree = repo.index.write_tree()
    who = pygit2.Signature("reconciler demo", "demo@localhost")
    parents = [] if repo.head_is_unborn else [repo.head.target]
    return str(repo.create_commit("HEAD", who, who, message, tree, parents))


def _new_api(gateway: str, tenant: str) -> str:
    return ("apiVersion: gostoa.dev/v1alpha1\nkind: API\n"
            f"metadata: {{name: {NEW_API}}}\n"
            f"spec:\n  displayName: Added by a commit the daemon applies\n  tenant: {tenant}\n  version: 1.0.0\n"
            f"  basePath: /{NEW_API}\n  backend: https://{NEW_API}.example.com/v1\n  methods: [GET]\n"
            f"  gateways: [{gateway}]\n")


class _Echo(logging.Handler):
    """Print the daemon's log lines, minus the periodic checks that found nothing to do."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__(logging.INFO)
        self.secrets = secrets

    def emit(self, record: logging.LogRecord) -> None:
        quiet_check = str(getattr(record, "mode", "")) in ("heal", "detect") and getattr(record, "changes", None) == 0
        if record.levelno < logging.WARNING and quiet_check:
            return
        print(f"    daemon | {sanitize(record.getMessage(), secrets=self.secrets)}", flush=True)


@contextmanager
def _echo_daemon_logs(secrets: tuple[str, ...]) -> Iterator[None]:
    logger = logging.getLogger("reconciler.daemon")
    handler = _Echo(secrets)
    saved = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


async def _until(what: str, predicate: Callable[[], bool], daemon_task: asyncio.Task[int]) -> float:
    """Wait for `predicate`; returns the seconds it took. Fails if the daemon stopped or time ran out."""
    started = time.monotonic()
    while not predicate():
        if daemon_task.done():
            raise ActFailed(f"the daemon stopped while waiting for {what}")
        if time.monotonic() - started > TIMEOUT:
            raise ActFailed(f"{what}: not within {TIMEOUT:.0f}s")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


@dataclass
class _Act:
    """One run of the act: the repository, the daemon and its task, and what was measured."""

    admin: StoaAdmin
    origin: Path
    repo: pygit2.Repository
    daemon: Daemon
    task: asyncio.Task[int]
    webhook_secret: str
    times: ActTimes

    @property
    def status(self) -> GatewayStatus:
        return self.daemon.state.gateway(self.admin.gateway)

    async def first_sync(self, first: str) -> None:
        status, daemon = self.status, self.daemon
        self.times.first_sync = await _until(
            "the first reconcile", lambda: status.last_commit == first and daemon.bound_port is not None, self.task)
        print(f"  daemon listening on 127.0.0.1:{daemon.bound_port}; commit {first[:12]} reconciled "
              f"in {self.times.first_sync:.2f}s after start (the gateway already matched it)")

    async def push_and_notify(self, tenant: str) -> str:
        """Commit a new API, deliver a signed push webhook, wait until it is on the gateway; its route id."""
        (self.origin / "apis").mkdir(exist_ok=True)
        (self.origin / "apis" / f"{NEW_API}.yaml").write_text(_new_api(self.admin.gateway, tenant))
        second = _commit(self.repo, f"add API {NEW_API}")
        body = json.dumps({"ref": "refs/heads/main", "after": second}).encode()
        headers = {"X-GitHub-Event": "push", "Content-Type": "application/json",
                   "X-Hub-Signature-256": github_signature(self.webhook_secret, body)}
        print(f"\n  git commit {second[:12]} \"add API {NEW_API}\"; POST /webhook (GitHub push, HMAC-signed)")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.daemon.bound_port}", timeout=10) as client:
            sent = time.monotonic()
            answer = await client.post("/webhook", content=body, headers=headers)
        print(f"  webhook answered {answer.status_code} {answer.json()}")
        if answer.status_code != 202:
            raise ActFailed(f"the webhook was refused: HTTP {answer.status_code}")
        status = self.status
        await _until("the pushed commit to be applied", lambda: status.last_commit == second, self.task)
        route = next((r for r in await self.admin.routes() if NEW_API in str(r.get("id", ""))), None)
        self.times.webhook = time.monotonic() - sent
        if route is None:
            raise ActFailed(f"commit {second[:12]} is applied but API {NEW_API} is not on {self.admin.gateway}")
        print(f"  applied {self.times.webhook:.2f}s after the webhook: route {route['id']!r} is on {self.admin.gateway}")
        return str(route["id"])

    async def change_by_hand_and_heal(self, route_id: str) -> None:
        await self.admin.delete_route(route_id)
        changed = time.monotonic()
        print(f"\n  by hand, outside Git: deleted route {route_id!r} on {self.admin.gateway}")
        status, seen = self.status, [0]

        def healed() -> bool:
            # a heal run records the drift it found once its apply is done; the next run sets it back to 0
            seen[0] = max(seen[0], status.drift)
            return seen[0] > 0 and status.last_error is None

        await _until("the drift to be found and healed", healed, self.task)
        back = any(str(r.get("id")) == route_id for r in await self.admin.routes())
        self.times.heal = time.monotonic() - changed
        if not back:
            raise ActFailed(f"the daemon reported drift but route {route_id!r} is not back")
        print(f"  drift found and healed {self.times.heal:.2f}s after the change: route {route_id!r} is back")


def _settings(origin: Path, cache: Path, admin: StoaAdmin, webhook_secret: str) -> DaemonSettings:
    """Polling off (only the webhook brings a commit), drift checked every second and healed."""
    return DaemonSettings(
        git_url=str(origin), git_branch="main", cache_dir=cache,
        poll_interval=0, poll_jitter=0, drift_interval=DRIFT_INTERVAL, drift_mode="heal", heartbeat_interval=0,
        webhook_secret=SecretStr(webhook_secret), gateways=(admin.gateway,), endpoints={admin.gateway: admin.url},
        host="127.0.0.1", port=0, shutdown_timeout=10)


async def daemon_act(root: Path, admin: StoaAdmin, tenant: str) -> ActTimes:
    """Run the act against the STOA gateway `admin` reaches; secrets must be in os.environ."""
    with tempfile.TemporaryDirectory(prefix="reconciler-demo-") as tmp:
        origin = Path(tmp) / "origin"
        shutil.copytree(root, origin, ignore=shutil.ignore_patterns(".git"))
        repo = pygit2.init_repository(str(origin), initial_head="main")
        first = _commit(repo, "the demo repository")
        print(f"  a Git repository in {origin}: commit {first[:12]} (a copy of the demo repo)")
        webhook_secret = secrets.token_urlsafe(24)
        daemon = Daemon(_settings(origin, Path(tmp) / "cache", admin, webhook_secret))
        print(f"  daemon: follows {origin} (branch main, polling off: webhooks only), gateway {admin.gateway}, "
              f"drift check every {DRIFT_INTERVAL:g}s in heal mode")
        with _echo_daemon_logs(daemon.secrets + (admin.token,)):
            act = _Act(admin, origin, repo, daemon, asyncio.create_task(daemon.run(install_signals=False)),
                       webhook_secret, ActTimes())
            try:
                await act.first_sync(first)
                await act.change_by_hand_and_heal(await act.push_and_notify(tenant))
            finally:
                daemon.request_stop()
                code = await act.task
        if code != 0:
            raise ActFailed(f"the daemon exited {code}")
    return act.times
