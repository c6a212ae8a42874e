"""Sources: pygit2 over a file-path remote (clone, fetch, force-push, sub-path) and a watched local directory."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from reconciler.daemon.settings import load_settings
from reconciler.daemon.source import GitSource, LocalSource, SourceError, tree_digest
from tests.conftest import git
from tests.daemon.conftest import Origin


def git_source(tmp: Path, url: str, **env: str) -> GitSource:
    return GitSource(load_settings(None, {"RECONCILER_GIT_URL": url, "RECONCILER_CACHE_DIR": str(tmp / "cache"), **env}))


async def test_clone_then_fetch_new_commits_and_force_pushes(origin: Origin, tmp_path: Path) -> None:
    first = origin.push({"a.yaml": "one\n", "dir/b.yaml": "two\n"}, "first")
    source = git_source(tmp_path, str(origin.bare))
    rev = await source.fetch()
    assert rev.commit == first and (rev.path / "dir" / "b.yaml").read_text() == "two\n"
    assert (source.repo_dir / "HEAD").exists() and not (source.repo_dir / "a.yaml").exists()  # bare cache

    second = origin.push({"a.yaml": "changed\n"}, "second")
    rev2 = await source.fetch()
    assert rev2.commit == second and (rev2.path / "a.yaml").read_text() == "changed\n"
    assert not (rev2.path / "dir").exists()  # a deleted file is gone from the new snapshot
    assert (rev.path / "dir" / "b.yaml").exists()  # the old snapshot is immutable

    git(origin.work, "reset", "-q", "--hard", first)
    git(origin.work, "commit", "-q", "--amend", "-m", "rewritten")
    git(origin.work, "push", "-q", "--force", "origin", "main")
    rewritten = git(origin.work, "rev-parse", "HEAD")
    rev3 = await source.fetch()
    assert rev3.commit == rewritten != second and (rev3.path / "a.yaml").read_text() == "one\n"

    again = git_source(tmp_path, str(origin.bare))  # a restarted daemon reuses the cache
    assert (await again.fetch()).commit == rewritten


async def test_sub_path_branch_and_errors(origin: Origin, tmp_path: Path) -> None:
    origin.push({"envs/prod/x.yaml": "x\n", "README.md": "hi\n"}, "first")
    git(origin.work, "push", "-q", "origin", "main:release")
    rev = await git_source(tmp_path, str(origin.bare), RECONCILER_GIT_BRANCH="release",
                           RECONCILER_GIT_PATH="envs/prod").fetch()
    assert rev.path.name == "prod" and (rev.path / "x.yaml").exists()
    with pytest.raises(SourceError, match="does not exist in commit"):
        await git_source(tmp_path, str(origin.bare), RECONCILER_GIT_PATH="envs/dev").fetch()
    with pytest.raises(SourceError, match="branch 'nope' not found"):
        await git_source(tmp_path, str(origin.bare), RECONCILER_GIT_BRANCH="nope").fetch()
    git(origin.work, "push", "-q", "origin", ":release")  # deleted on the remote: no stale commit is served
    with pytest.raises(SourceError, match="branch 'release' not found"):
        await git_source(tmp_path, str(origin.bare), RECONCILER_GIT_BRANCH="release").fetch()
    with pytest.raises(SourceError, match="cannot fetch"):
        await git_source(tmp_path, str(tmp_path / "missing.git")).fetch()


async def test_local_directory_revisions_follow_content(tmp_path: Path) -> None:
    src = tmp_path / "manifests"
    (src / "apis").mkdir(parents=True)
    (src / "apis" / "a.yaml").write_text("a\n")
    (src / ".git").mkdir()
    (src / ".git" / "noise").write_text("ignored\n")
    source = LocalSource(load_settings(None, {"RECONCILER_LOCAL_PATH": str(src),
                                              "RECONCILER_CACHE_DIR": str(tmp_path / "cache")}))
    rev = await source.fetch()
    assert rev.commit.startswith("local-") and (rev.path / "apis" / "a.yaml").read_text() == "a\n"
    assert not (rev.path / ".git").exists()
    assert (await source.fetch()).commit == rev.commit  # same content, same revision
    (src / ".git" / "noise").write_text("still ignored\n")
    assert (await source.fetch()).commit == rev.commit
    (src / "apis" / "a.yaml").write_text("b\n")
    rev2 = await source.fetch()
    assert rev2.commit != rev.commit and tree_digest(rev2.path) == tree_digest(src)


@pytest.mark.parametrize("polling", [False, True], ids=["inotify", "polling"])
async def test_local_directory_watch_triggers_a_fetch(tmp_path: Path, polling: bool) -> None:
    src = tmp_path / "manifests"
    src.mkdir()
    source = LocalSource(load_settings(None, {"RECONCILER_LOCAL_PATH": str(src),
                                              "RECONCILER_CACHE_DIR": str(tmp_path / "cache")}), force_polling=polling)
    triggered = asyncio.Event()
    stop = asyncio.Event()
    task = asyncio.create_task(source.watch(lambda reason: triggered.set(), stop))
    await asyncio.sleep(0.3)
    (src / "new.yaml").write_text("x\n")
    await asyncio.wait_for(triggered.wait(), timeout=5)
    stop.set()
    await asyncio.wait_for(task, timeout=5)


def test_credentials_callback_picks_the_configured_kind_and_stops_after_a_rejection(tmp_path: Path) -> None:
    import pygit2

    from reconciler.daemon.source import _Callbacks

    token = load_settings(None, {"RECONCILER_GIT_URL": "https://x", "RECONCILER_GIT_TOKEN": "tok-abc"})
    cb = _Callbacks(token)
    both = pygit2.enums.CredentialType.USERPASS_PLAINTEXT | pygit2.enums.CredentialType.SSH_KEY
    cred = cb.credentials("https://x", None, both)
    assert isinstance(cred, pygit2.UserPass) and cred.credential_tuple == ("x-access-token", "tok-abc")
    cb.credentials("https://x", None, both)
    with pytest.raises(pygit2.GitError, match="authentication failed"):
        cb.credentials("https://x", None, both)  # libgit2 would ask forever after a 401
    assert cb.certificate_check(None, False, b"host") is False and cb.certificate_check(None, True, b"host") is True

    key = tmp_path / "id_ed25519"
    ssh = load_settings(None, {"RECONCILER_GIT_URL": "ssh://git@x/r.git", "RECONCILER_GIT_SSH_KEY_FILE": str(key),
                               "RECONCILER_GIT_SSH_KEY_PASSPHRASE": "pp"})
    pair = _Callbacks(ssh).credentials("ssh://git@x/r.git", "git", both)
    assert isinstance(pair, pygit2.Keypair)
    assert pair.credential_tuple == ("git", f"{key}.pub", str(key), "pp")
    with pytest.raises(pygit2.GitError, match="none are configured"):
        _Callbacks(load_settings(None, {"RECONCILER_GIT_URL": "https://x"})).credentials("https://x", None, both)


async def test_old_snapshots_are_pruned_but_the_pinned_good_one_stays(origin: Origin, tmp_path: Path) -> None:
    import os

    origin.push({"a.yaml": "0\n"}, "c0")
    source = git_source(tmp_path, str(origin.bare))
    good = await source.fetch()
    source.pinned = {good.path}
    os.utime(good.path, (1000, 1000))  # the oldest snapshot by far: first in line for pruning
    seen = []
    for i in range(1, 7):
        origin.push({"a.yaml": f"{i}\n"}, f"c{i}")
        seen.append((await source.fetch()).path)
    assert good.path.exists() and (good.path / "a.yaml").read_text() == "0\n"
    assert not seen[0].exists() and seen[-1].exists()  # unpinned old ones went
    assert sum(p.exists() for p in seen) == 4
