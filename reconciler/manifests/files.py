"""The I/O edge of the loader: every manifest-like file of a repo, read or reported.

A `.yaml`, `.yml` or `.json` file below the root is either read (UTF-8) or an error naming it; none is
dropped silently, since a dropped file would turn its objects into deletes. Skipped on purpose only:
dot-files and dot-directories (`.git`, `.github`) and what `.reconcilerignore` (gitignore syntax, at
the repo root) excludes. Symlinks are followed when they stay inside the repo; one that leaves it,
or is broken, is an error. A file over the size limit is an error that says how to raise it.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

from reconciler.manifests.errors import LoadError

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_FILE_BYTES_ENV = "RECONCILER_MAX_FILE_BYTES"
IGNORE_FILE = ".reconcilerignore"


@dataclass
class RepoFiles:
    """What `read_tree` found: texts by relative posix path, and the files it could not read."""

    texts: dict[str, str] = field(default_factory=dict)
    errors: list[LoadError] = field(default_factory=list)
    """Paths relative to the root, like `texts`' keys (the loader adds the display root)."""
    ignored: set[str] = field(default_factory=set)
    """Manifest-like files and folders (`dir/`) excluded by `.reconcilerignore`."""


def max_file_bytes(env: dict[str, str] | None = None) -> int:
    """The size limit: `RECONCILER_MAX_FILE_BYTES` when set (bytes), else MAX_FILE_BYTES."""
    raw = (os.environ if env is None else env).get(MAX_FILE_BYTES_ENV, "").strip()
    if not raw:
        return MAX_FILE_BYTES
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{MAX_FILE_BYTES_ENV}={raw!r} is not a number of bytes") from None
    if value <= 0:
        raise ValueError(f"{MAX_FILE_BYTES_ENV} must be a positive number of bytes")
    return value


def read_tree(root: Path) -> RepoFiles:
    """Every manifest-like file below `root` (or `root` itself when it is a file)."""
    out = RepoFiles()
    try:
        limit = max_file_bytes()
    except ValueError as exc:
        out.errors.append(LoadError(".", None, "", str(exc)))
        return out
    if root.is_file():
        _read_one(root, root.name, limit, out)
        return out
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such directory")
    real_root = Path(os.path.realpath(root))
    spec = _ignore_spec(root, out)
    _walk(root, real_root, spec, limit, out)
    out.errors.sort(key=lambda e: e.file)
    return out


def _ignore_spec(root: Path, out: RepoFiles) -> pathspec.GitIgnoreSpec | None:
    path = root / IGNORE_FILE
    if not path.is_file():
        return None
    try:
        return pathspec.GitIgnoreSpec.from_lines(path.read_text(encoding="utf-8").splitlines())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        out.errors.append(LoadError(IGNORE_FILE, None, "", f"cannot read the ignore file: {exc}"))
        return None


def _walk(root: Path, real_root: Path, spec: pathspec.GitIgnoreSpec | None, limit: int, out: RepoFiles) -> None:
    """Depth-first in name order, without recursion. A file reached through a symlink is read under the
    link's path too (a manifest seen twice is a duplicate); a directory link back into its own path
    is an error (it would never end)."""
    pending: list[tuple[Path, str, frozenset[str]]] = [(root, "", frozenset({str(real_root)}))]
    while pending:
        directory, prefix, chain = pending.pop()
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name, reverse=True)
        except OSError as exc:
            out.errors.append(LoadError(prefix or ".", None, "", f"cannot list the directory: {exc.strerror}"))
            continue
        for entry in entries:
            rel = f"{prefix}{entry.name}"
            is_dir = _is_dir(entry)
            is_manifest = not is_dir and entry.name.lower().endswith(MANIFEST_SUFFIXES)
            if entry.name.startswith(".") or (spec is not None and spec.match_file(rel + "/" if is_dir else rel)):
                if (is_manifest or is_dir) and not entry.name.startswith("."):
                    out.ignored.add(rel + "/" if is_dir else rel)
                continue
            real = os.path.realpath(entry.path)
            if entry.is_symlink() and (is_dir or is_manifest or not os.path.exists(real)):
                problem = _link_problem(real, real_root, chain if is_dir else frozenset())
                if problem is not None:
                    if is_dir or is_manifest or entry.name.lower().endswith(MANIFEST_SUFFIXES):
                        out.errors.append(LoadError(rel, None, "", problem))
                    continue
            if is_dir:
                pending.append((Path(entry.path), rel + "/", chain | {real}))
            elif is_manifest:
                _read_one(Path(entry.path), rel, limit, out)


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()  # follows symlinks
    except OSError:
        return False


def _link_problem(real: str, real_root: Path, chain: frozenset[str]) -> str | None:
    """Why a symlink is not followed (broken, outside the repo, a loop), or None."""
    target = Path(real)
    if not target.exists():
        return "broken symlink (its target does not exist)"
    if target != real_root and real_root not in target.parents:
        return "symlink to a path outside the repository (only links inside the repository are followed)"
    if real in chain:
        return "symlink loop (the link points back to a directory that contains it)"
    return None


def _read_one(path: Path, rel: str, limit: int, out: RepoFiles) -> None:
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            out.errors.append(LoadError(rel, None, "", "not a regular file"))
            return
        if info.st_size > limit:
            out.errors.append(LoadError(rel, None, "", (
                f"file is {info.st_size:,} bytes, over the limit of {limit:,} bytes "
                f"(set {MAX_FILE_BYTES_ENV} to a larger number of bytes to read it)")))
            return
        data = path.read_bytes()
    except OSError as exc:
        out.errors.append(LoadError(rel, None, "", f"cannot read the file: {exc.strerror}"))
        return
    try:
        out.texts[rel] = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        out.errors.append(LoadError(rel, line, "", (
            f"not valid UTF-8: byte 0x{data[exc.start]:02X} at column {column}; save the file as UTF-8")))
