"""Sources of desired state: a Git remote (pygit2) or a local directory (watchfiles + rescans).

Both produce a `Revision`: an immutable snapshot directory named after the commit (or the content
hash of a local tree), so the runner never reads a tree that changes under it, and a force-push is
just another head. The Git clone is bare and lives in the cache directory; it is fetched with a
forced refspec of the one branch, and each new commit's tree is written to `snapshots/<commit>`
(written to a temporary directory, then renamed: a crash never leaves a half snapshot).

Credentials come from the settings (environment or files) and go to libgit2 through callbacks;
error messages are sanitized so neither the token nor URL user-info can reach a log.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import pygit2

from reconciler.daemon.modes import Trigger
from reconciler.daemon.settings import DaemonSettings
from reconciler.daemon.state import Revision
from reconciler.model.errors import sanitize

log = logging.getLogger("reconciler.daemon.source")

KEEP_SNAPSHOTS = 4
"""Snapshots kept on disk; older ones are removed (a run reads its files when it starts)."""


class SourceError(Exception):
    """The source could not be read (network, auth, missing branch or path). Message is sanitized."""


class Source(Protocol):
    kind: str
    location: str
    branch: str | None
    pinned: set[Path]
    """Snapshot paths that must survive pruning (the daemon pins the last good revision)."""

    async def fetch(self) -> Revision: ...

    async def watch(self, trigger: Callable[[Trigger], object], stop: asyncio.Event) -> None: ...


def _prune_snapshots(root: Path, keep: set[Path]) -> None:
    """Remove all but the newest snapshots, never one that is kept (the current and the last good one)."""
    dirs = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                  key=lambda p: p.stat().st_mtime, reverse=True)
    for old in dirs[KEEP_SNAPSHOTS:]:
        if not any(old == k or old in k.parents for k in keep):
            shutil.rmtree(old, ignore_errors=True)
    for tmp in root.glob(".tmp-*"):
        if time.time() - tmp.stat().st_mtime > 600:
            shutil.rmtree(tmp, ignore_errors=True)


class _Callbacks(pygit2.RemoteCallbacks):
    """Credentials for HTTPS (user + token) and SSH (key pair); strict host verification."""

    def __init__(self, settings: DaemonSettings) -> None:
        super().__init__()
        self.settings = settings
        self.attempts = 0

    def credentials(self, url: str, username_from_url: str | None, allowed_types: Any) -> Any:
        self.attempts += 1
        if self.attempts > 2:  # libgit2 asks again after a 401: stop instead of looping forever
            raise pygit2.GitError("authentication failed")
        s = self.settings
        if allowed_types & pygit2.enums.CredentialType.SSH_KEY and s.git_ssh_key_file is not None:
            pub = s.git_ssh_public_key_file or Path(str(s.git_ssh_key_file) + ".pub")
            phrase = s.git_ssh_key_passphrase.get_secret_value() if s.git_ssh_key_passphrase else ""
            return pygit2.Keypair(username_from_url or "git", str(pub), str(s.git_ssh_key_file), phrase)
        if allowed_types & pygit2.enums.CredentialType.USERPASS_PLAINTEXT and s.git_token is not None:
            return pygit2.UserPass(username_from_url or s.git_username, s.git_token.get_secret_value())
        raise pygit2.GitError("the remote asks for credentials and none are configured")

    def certificate_check(self, certificate: Any, valid: bool, host: bytes) -> bool:
        # libgit2 checked the TLS chain (or the SSH host key against known_hosts): trust its verdict.
        return valid


class GitSource:
    """A branch of a Git remote, cloned once (bare) into the cache directory, then fetched."""

    kind = "git"

    def __init__(self, settings: DaemonSettings) -> None:
        assert settings.git_url is not None
        self.settings = settings
        self.url = settings.git_url
        self.branch: str | None = settings.git_branch
        self.location = sanitize(self.url)
        key = hashlib.sha256(self.url.encode()).hexdigest()[:16]
        self.root = settings.cache_dir.expanduser() / "git" / key
        self.repo_dir = self.root / "repo.git"
        self.snapshots = self.root / "snapshots"
        self.pinned: set[Path] = set()
        self._secrets = tuple(s.get_secret_value() for s in (settings.git_token, settings.git_ssh_key_passphrase) if s)
        self._configure_libgit2()

    def _configure_libgit2(self) -> None:
        s = self.settings
        if s.git_ca_file is not None:
            pygit2.settings.set_ssl_cert_locations(str(s.git_ca_file), None)
        if s.git_ssh_known_hosts_file is not None:
            # libgit2 reads <homedir>/.ssh/known_hosts: give it a private home with our file.
            home = self.root / "ssh-home"
            (home / ".ssh").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(s.git_ssh_known_hosts_file, home / ".ssh" / "known_hosts")
            pygit2.settings.homedir = str(home)

    def _open(self) -> pygit2.Repository:
        if (self.repo_dir / "HEAD").exists():
            repo = pygit2.Repository(str(self.repo_dir))
            if repo.remotes["origin"].url != self.url:
                repo.remotes.set_url("origin", self.url)
            return repo
        self.root.mkdir(parents=True, exist_ok=True)
        repo = pygit2.init_repository(str(self.repo_dir), bare=True)
        repo.remotes.create("origin", self.url)
        return repo

    def _fetch_sync(self) -> Revision:
        repo = self._open()
        ref = f"refs/remotes/origin/{self.branch}"
        try:
            # prune: a branch deleted on the remote must not keep serving its last commit
            repo.remotes["origin"].fetch([f"+refs/heads/{self.branch}:{ref}"], callbacks=_Callbacks(self.settings),
                                         prune=pygit2.enums.FetchPrune.PRUNE)
        except (pygit2.GitError, KeyError, ValueError) as exc:
            raise SourceError(f"cannot fetch {self.location} ({self.branch}): {sanitize(str(exc), secrets=self._secrets)}") \
                from None
        try:
            commit = repo.references[ref].peel(pygit2.Commit)
        except (KeyError, pygit2.InvalidSpecError):
            raise SourceError(f"branch {self.branch!r} not found on {self.location}") from None
        cid = str(commit.id)
        self.snapshots.mkdir(parents=True, exist_ok=True)
        snap = self.snapshots / cid
        if not snap.is_dir():
            tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.snapshots))
            _write_tree(repo, commit.tree, tmp)
            try:
                tmp.rename(snap)
            except OSError:  # another fetch won the race: same content
                shutil.rmtree(tmp, ignore_errors=True)
        snap.touch()
        path = snap / self.settings.subpath if self.settings.subpath else snap
        if not path.is_dir():
            raise SourceError(f"path {self.settings.subpath!r} does not exist in commit {cid[:12]}")
        _prune_snapshots(self.snapshots, keep={snap, *self.pinned})
        return Revision(cid, path)

    async def fetch(self) -> Revision:
        return await asyncio.to_thread(self._fetch_sync)

    async def watch(self, trigger: Callable[[Trigger], object], stop: asyncio.Event) -> None:
        """A remote is polled and pushed to (webhook): nothing to watch."""
        await stop.wait()


def _write_tree(repo: pygit2.Repository, tree: pygit2.Tree, dest: Path) -> None:
    """Write a commit's tree to `dest` (blobs only; links and submodules are skipped on purpose)."""
    dest.mkdir(parents=True, exist_ok=True)
    for entry in tree:
        name = entry.name
        if not name or name in (".", "..") or "/" in name:
            continue
        if entry.filemode == pygit2.enums.FileMode.TREE:
            _write_tree(repo, repo[entry.id].peel(pygit2.Tree), dest / name)
        elif entry.filemode in (pygit2.enums.FileMode.BLOB, pygit2.enums.FileMode.BLOB_EXECUTABLE):
            (dest / name).write_bytes(repo[entry.id].peel(pygit2.Blob).data)


def tree_digest(root: Path) -> str:
    """Content hash of a directory (paths and bytes, dot-entries skipped): the local 'commit id'."""
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        h.update(rel.as_posix().encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


class LocalSource:
    """A directory on disk (development): watched with watchfiles and rescanned periodically."""

    kind = "local"

    def __init__(self, settings: DaemonSettings, *, force_polling: bool | None = None) -> None:
        assert settings.local_path is not None
        self.dir = settings.local_path.expanduser().resolve()
        self.location = str(self.dir)
        self.branch: str | None = None
        key = hashlib.sha256(self.location.encode()).hexdigest()[:16]
        self.snapshots = settings.cache_dir.expanduser() / "local" / key
        self.force_polling = force_polling
        self.pinned: set[Path] = set()

    def _fetch_sync(self) -> Revision:
        if not self.dir.is_dir():
            raise SourceError(f"{self.location}: no such directory")
        digest = tree_digest(self.dir)
        cid = f"local-{digest[:16]}"
        self.snapshots.mkdir(parents=True, exist_ok=True)
        snap = self.snapshots / cid
        if not snap.is_dir():
            tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.snapshots))
            shutil.copytree(self.dir, tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".*"))
            if tree_digest(tmp) != digest:  # changed while copying: the watcher will trigger again
                shutil.rmtree(tmp, ignore_errors=True)
                raise SourceError(f"{self.location} changed while it was read; retrying on the next event")
            try:
                tmp.rename(snap)
            except OSError:
                shutil.rmtree(tmp, ignore_errors=True)
        snap.touch()
        _prune_snapshots(self.snapshots, keep={snap, *self.pinned})
        return Revision(cid, snap)

    async def fetch(self) -> Revision:
        return await asyncio.to_thread(self._fetch_sync)

    async def watch(self, trigger: Callable[[Trigger], object], stop: asyncio.Event) -> None:
        """Trigger a fetch on every batch of file events (the periodic rescan covers missed ones)."""
        from watchfiles import awatch

        async for _changes in awatch(self.dir, stop_event=stop, debounce=200, step=50,
                                     force_polling=self.force_polling, recursive=True):
            trigger(Trigger.WATCH)


def make_source(settings: DaemonSettings) -> GitSource | LocalSource:
    return GitSource(settings) if settings.git_url is not None else LocalSource(settings)


Fetcher = Callable[[], Awaitable[Revision]]
