"""The desired state of a repo as it was at a Git ref (`plan --base`, `--changed-since`, `diff`).

Read with pygit2, never the git CLI: the ref's tree, for the same sub-path of the repository as the
path given, is written into a temporary directory and loaded by the one loader
(`manifests.loader.load`), so a relative OpenAPI or secret file resolves as it did at the ref, and
every rule (symlinks confined, size limits, `.reconcilerignore`) holds as for a working tree.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pygit2

from reconciler.manifests.loader import DesiredState, ValidationFailed, load

WORKING_TREE = "working tree"


class RefError(LookupError):
    """The path is not in a Git repository, or the ref does not name a commit that holds it."""


class InvalidAtRef(Exception):
    """The desired state at a ref is invalid: `errors` are the loader's, located at that ref."""

    def __init__(self, ref: str, commit: str, errors: ValidationFailed) -> None:
        super().__init__(f"the manifests at {ref} ({commit[:12]}) are invalid")
        self.ref, self.commit, self.errors = ref, commit, errors.errors


@dataclass(frozen=True)
class AtRef:
    state: DesiredState
    ref: str
    commit: str
    """The full commit id the ref resolved to."""


def _locate(path: Path, ref: str) -> tuple[pygit2.Repository, pygit2.Commit, str]:
    """The repository holding `path`, the commit `ref` names, and `path` relative to the work tree."""
    found = pygit2.discover_repository(str(path.resolve()))
    if found is None:
        raise RefError(f"{path} is not inside a Git repository")
    repo = pygit2.Repository(found)
    if repo.workdir is None:
        raise RefError(f"{path}: the repository has no work tree")
    try:
        commit = repo.revparse_single(ref).peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
        raise RefError(f"unknown Git ref {ref!r} in {repo.workdir.rstrip('/')}") from None
    try:
        relative = path.resolve().relative_to(Path(repo.workdir).resolve()).as_posix()
    except ValueError:
        raise RefError(f"{path} is outside the work tree of {repo.workdir}") from None
    return repo, commit, "" if relative == "." else relative


def _write_tree(repo: pygit2.Repository, tree: pygit2.Tree, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for entry in tree:
        target = dest / str(entry.name)
        if entry.filemode == pygit2.GIT_FILEMODE_TREE:
            _write_tree(repo, repo[entry.id].peel(pygit2.Tree), target)
        elif entry.filemode == pygit2.GIT_FILEMODE_LINK:  # kept a link: the loader confines it to the repo
            os.symlink(repo[entry.id].peel(pygit2.Blob).data.decode("utf-8", "surrogateescape"), target)
        elif entry.filemode in (pygit2.GIT_FILEMODE_BLOB, pygit2.GIT_FILEMODE_BLOB_EXECUTABLE):
            target.write_bytes(repo[entry.id].peel(pygit2.Blob).data)
        # a submodule (GIT_FILEMODE_COMMIT) has no content in this repository


@contextlib.contextmanager
def materialised(path: Path, ref: str) -> Iterator[tuple[Path, str]]:
    """A temporary directory holding `path` as it is at `ref`, and the commit id; removed on exit."""
    repo, commit, relative = _locate(path, ref)
    node: pygit2.Object = commit.tree
    if relative:
        try:
            node = commit.tree[relative]
        except KeyError:
            raise RefError(f"{path} does not exist at {ref} ({str(commit.id)[:12]})") from None
    with tempfile.TemporaryDirectory(prefix="reconciler-ref-") as tmp:
        root = Path(tmp) / "at-ref"
        if node.type == pygit2.GIT_OBJECT_TREE:
            _write_tree(repo, repo[node.id].peel(pygit2.Tree), root)
            yield root, str(commit.id)
        else:  # PATH is one file
            root.mkdir()
            (root / Path(relative).name).write_bytes(repo[node.id].peel(pygit2.Blob).data)
            yield root / Path(relative).name, str(commit.id)


def load_at(path: Path, ref: str) -> AtRef:
    """The validated desired state of `path` at `ref`; raises RefError, or InvalidAtRef naming the ref."""
    with materialised(path, ref) as (root, commit):
        try:
            state = load(root, display_root=f"{path}@{ref}")
        except ValidationFailed as exc:
            raise InvalidAtRef(ref, commit, exc) from None
    return AtRef(state, ref, commit)


def head_commit(path: Path) -> str | None:
    """HEAD of the repository holding `path` (None: not a repository, or no commit yet)."""
    try:
        found = pygit2.discover_repository(str(path.resolve()))
        if found is None:
            return None
        repo = pygit2.Repository(found)
        return None if repo.head_is_unborn else str(repo.head.target)
    except (pygit2.GitError, KeyError, ValueError):
        return None
